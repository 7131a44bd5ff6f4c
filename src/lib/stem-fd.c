#include "stem-fd.h"

#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>

#include "stem-error.h"
#include "stem-i18n.h"

/* The error of a failed walk of PATH: it names the component that failed
 * (with CREATING, as the directory that could not be made). */
static int
throw_walk (const char *path, size_t failed_len, gboolean creating, GError **error)
{
  int errsv = errno;
  g_autofree char *at = g_strndup (path, failed_len > 0 ? failed_len : strlen (path));
  if (errsv == ELOOP)
    stem_throw_code (error, STEM_ERROR_PERMISSION,
                     _ ("Opening “%s”: “%s” is a symbolic link that a user other than root could "
                        "have made or changed: not followed (see SECURITY in stem-multi(1))"),
                     path, at);
  else if (creating)
    stem_throw_errno (error, _ ("Creating directory “%s”"), at);
  else
    stem_throw_errno (error, _ ("Opening “%s”"), at);
  errno = errsv;
  return -1;
}

int
stem_fd_open_parent (const char *path, const StemPathCreate *create, char *name, GError **error)
{
  size_t failed_len = 0;
  int fd = stem_path_open_parent (path, create, name, &failed_len);
  if (fd < 0)
    return throw_walk (path, failed_len, FALSE, error);
  return fd;
}

int
stem_fd_open_dir (const char *path, const StemPathCreate *create, GError **error)
{
  size_t failed_len = 0;
  int fd = stem_path_open_dir (path, create, &failed_len);
  if (fd < 0)
    return throw_walk (path, failed_len, create != NULL, error);
  return fd;
}

char *
stem_fd_describe_uid (uid_t uid)
{
  struct passwd *pw = getpwuid (uid);
  if (pw != NULL)
    return g_strdup_printf ("%s (uid %u)", pw->pw_name, (unsigned)uid);
  return g_strdup_printf ("uid %u", (unsigned)uid);
}

int
stem_fd_read_bounded (int fd, gsize max, GString *text)
{
  char buffer[16 * 1024];
  for (;;)
    {
      ssize_t n = read (fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno;
      if (n == 0)
        return 0;
      g_string_append_len (text, buffer, n);
      if (text->len > max)
        return EFBIG;
    }
}

static gboolean
throw_read (const char *path, GError **error)
{
  if (errno == ELOOP)
    return stem_throw_code (error, STEM_ERROR_PERMISSION,
                            _ ("Opening “%s”: a symbolic link on the way that a user other than "
                               "root could have made or changed: not followed (see SECURITY in "
                               "stem-multi(1))"),
                            path);
  if (errno == ENXIO || errno == EISDIR)
    return stem_throw_code (error, STEM_ERROR_CONFIG, _ ("Cannot read “%s”: not a regular file"),
                            path);
  return stem_throw_errno (error, _ ("Cannot read “%s”"), path);
}

gboolean
stem_fd_read_file (const char *path, gsize max, char **out_text, struct stat *out_stat,
                   GError **error)
{
  /* O_NONBLOCK: a FIFO under the name must not hang us before fstat()
   * refuses it. */
  g_auto (StemFd) fd = stem_path_open_regular (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0)
    return throw_read (path, error);
  if (!S_ISREG (st.st_mode))
    return stem_throw_code (error, STEM_ERROR_CONFIG, _ ("Cannot read “%s”: not a regular file"),
                            path);
  g_autoptr (GString) text = g_string_new (NULL);
  int errsv = stem_fd_read_bounded (fd, max, text);
  if (errsv == EFBIG)
    return stem_throw_code (error, STEM_ERROR_CONFIG, _ ("Cannot read “%s”: larger than %lu bytes"),
                            path, (unsigned long)max);
  if (errsv != 0)
    {
      errno = errsv;
      return throw_read (path, error);
    }
  *out_text = g_string_free (g_steal_pointer (&text), FALSE);
  if (out_stat != NULL)
    *out_stat = st;
  return TRUE;
}
