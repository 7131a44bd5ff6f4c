#include "stem-error.h"
#include "stem-i18n.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <string.h>
#include <unistd.h>

/* Spelled out: G_DEFINE_QUARK stringifies its first argument, and
 * clang-format puts spaces around the hyphens of a bare token. */
GQuark
stem_error_quark (void)
{
  return g_quark_from_static_string ("stem-error-quark");
}

gboolean
stem_throw (GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, STEM_ERROR, STEM_ERROR_FAILED, message);
  return FALSE;
}

gboolean
stem_throw_code (GError **error, StemErrorCode code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, STEM_ERROR, code, message);
  return FALSE;
}

static StemErrorCode
code_from_errno (int errsv)
{
  switch (errsv)
    {
    case ENOENT:
    case ESRCH:
      return STEM_ERROR_NOT_FOUND;
    case EACCES:
    case EPERM:
      return STEM_ERROR_PERMISSION;
    default:
      return STEM_ERROR_FAILED;
    }
}

gboolean
stem_throw_errno (GError **error, const char *format, ...)
{
  int errsv = errno;
  va_list args;
  va_start (args, format);
  g_autofree char *prefix = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, STEM_ERROR, code_from_errno (errsv), "%s: %s", prefix, g_strerror (errsv));
  errno = errsv;
  return FALSE;
}

void
stem_error_prefix (GError **error, const char *format, ...)
{
  if (error == NULL || *error == NULL)
    return;
  va_list args;
  va_start (args, format);
  g_autofree char *prefix = g_strdup_vprintf (format, args);
  va_end (args);
  g_prefix_error (error, "%s: ", prefix);
}

StemExit
stem_error_exit_code (const GError *error)
{
  if (error->domain == STEM_ERROR
      && (error->code == STEM_ERROR_USAGE || error->code == STEM_ERROR_CONFIG
          || error->code == STEM_ERROR_UNSAFE || error->code == STEM_ERROR_NO_NODES))
    return STEM_EXIT_USAGE;
  return STEM_EXIT_FAILURE;
}

void
stem_program_init (const char *name)
{
  /* Started with a standard descriptor closed (as some init systems do),
   * the next file we open would take its place and be written over. */
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++)
    if (fcntl (fd, F_GETFD) < 0 && errno == EBADF && open ("/dev/null", O_RDWR | O_NOCTTY) != fd)
      break; /* no /dev/null (a broken chroot): nothing better to do */
  /* Only the categories the tools use: the characters and the messages.
   * Every number and time they print is in a fixed format, and each
   * category loaded is a dozen system calls on every call (make bench:
   * the fixed cost of "stem-multi status"). */
  setlocale (LC_CTYPE, "");
  setlocale (LC_MESSAGES, "");
  /* STEM_LOCALEDIR: catalogues of a tree that is not installed (the tests). */
  const char *dir = g_getenv ("STEM_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, dir != NULL && *dir != '\0' ? dir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname (name);
}

void
stem_error_print (const GError *error)
{
  g_auto (GStrv) lines = g_strsplit (error->message, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    g_printerr ("%s: %s\n", g_get_prgname (), *line);
}
