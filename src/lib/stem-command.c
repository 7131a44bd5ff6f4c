#include "stem-command.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-path.h"

#define STEM_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static gboolean
split_error (GError **error, const char *origin, const char *line, const char *what)
{
  return stem_throw_code (error, STEM_ERROR_CONFIG,
                          _ ("%s: %s in “%s” (the command is not run through a shell: quote the "
                             "character, or put shell syntax in a script)"),
                          origin, what, line);
}

/* Appends to WORD what double quotes keep of the text at P, which follows
 * the opening quote: where the text goes on after the closing one, or
 * NULL (ERROR set) for what the split refuses. */
static const char *
read_double_quoted (const char *p, GString *word, const char *origin, const char *line,
                    GError **error)
{
  for (; *p != '"'; p++)
    {
      const char *refused = NULL;
      if (*p == '\0')
        refused = _ ("unterminated double quote");
      else if (*p == '$' || *p == '`')
        refused = _ ("“$” or “`” inside double quotes (write \\$ or \\`)");
      if (refused != NULL)
        {
          split_error (error, origin, line, refused);
          return NULL;
        }
      if (*p == '\\' && p[1] == '\n')
        {
          p++; /* a line continuation */
          continue;
        }
      if (*p == '\\' && strchr ("\"\\$`", p[1]) != NULL)
        p++;
      g_string_append_c (word, *p);
    }
  return p + 1;
}

gboolean
stem_command_split (const char *origin, const char *line, GStrv *out_argv, GError **error)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) word = NULL;
  const char *p = line;

  while (TRUE)
    {
      char c = *p;
      if (c == '\0' || c == ' ' || c == '\t' || c == '\n')
        {
          if (word != NULL)
            g_ptr_array_add (words, g_string_free (g_steal_pointer (&word), FALSE));
          if (c == '\0')
            break;
          p++;
          continue;
        }
      if (c == '\\' && p[1] == '\n')
        {
          /* A line continuation, removed as a shell removes it. */
          p += 2;
          continue;
        }
      if (word == NULL)
        {
          if (c == '#')
            return split_error (error, origin, line,
                                _ ("a word starts with “#” (a shell comment)"));
          word = g_string_new (NULL);
        }
      if (c == '\'')
        {
          const char *end = strchr (p + 1, '\'');
          if (end == NULL)
            return split_error (error, origin, line, _ ("unterminated single quote"));
          g_string_append_len (word, p + 1, end - (p + 1));
          p = end + 1;
        }
      else if (c == '"')
        {
          if ((p = read_double_quoted (p + 1, word, origin, line, error)) == NULL)
            return FALSE;
        }
      else if (c == '\\')
        {
          if (p[1] == '\0')
            return split_error (error, origin, line, _ ("a trailing backslash"));
          g_string_append_c (word, p[1]);
          p += 2;
        }
      else if (strchr ("$`;&|<>()", c) != NULL)
        {
          g_autofree char *what = g_strdup_printf (_ ("an unquoted “%c”"), c);
          return split_error (error, origin, line, what);
        }
      else
        {
          g_string_append_c (word, c);
          p++;
        }
    }

  if (words->len == 0)
    return stem_throw_code (error, STEM_ERROR_CONFIG, _ ("%s: the command is empty"), origin);
  g_ptr_array_add (words, NULL);
  *out_argv = (GStrv)g_ptr_array_free (g_steal_pointer (&words), FALSE);
  return TRUE;
}

const char *
stem_command_from_env (const char *const *envp, const char **out_variable)
{
  static const char *const variables[] = { "STEM_WORKER_COMMAND", "STEMD_COMMAND" };
  for (guint i = 0; i < G_N_ELEMENTS (variables); i++)
    {
      const char *text = g_environ_getenv ((char **)envp, variables[i]);
      if (text != NULL && *text != '\0')
        {
          *out_variable = variables[i];
          return text;
        }
    }
  return NULL;
}

gboolean
stem_command_resolve (const char *const *words, const char *line, const char *const *envp,
                      const char *const *extra, GStrv *out_argv, char **out_origin, GError **error)
{
  g_auto (GStrv) argv = NULL;
  const char *origin;

  if (words != NULL && words[0] != NULL)
    {
      origin = "--command";
      argv = g_strdupv ((char **)words);
    }
  else
    {
      const char *text = line;
      origin = "--command-line";
      if (text == NULL)
        text = stem_command_from_env (envp, &origin);
      if (text == NULL)
        return stem_throw_code (error, STEM_ERROR_CONFIG,
                                _ ("No worker command: give --command or --command-line, or set "
                                   "STEM_WORKER_COMMAND (or STEMD_COMMAND) in the environment or "
                                   "an --env-file"));
      if (!stem_command_split (origin, text, &argv, error))
        return FALSE;
    }

  if (extra != NULL && extra[0] != NULL)
    {
      guint n = g_strv_length (argv), m = g_strv_length ((char **)extra);
      argv = g_renew (char *, argv, n + m + 1);
      for (guint i = 0; i < m; i++)
        argv[n + i] = g_strdup (extra[i]);
      argv[n + m] = NULL;
    }

  *out_argv = g_steal_pointer (&argv);
  if (out_origin != NULL)
    *out_origin = g_strdup (origin);
  return TRUE;
}

int
stem_command_check_executable (const char *path)
{
  struct stat st;
  if (stat (path, &st) != 0)
    return ENOENT;
  if (!S_ISREG (st.st_mode))
    return EISDIR;
  if (access (path, X_OK) != 0)
    return EACCES;
  return 0;
}

char *
stem_command_find_program (const char *program, const char *const *envp, GError **error)
{
  if (strchr (program, '/') != NULL)
    {
      g_autofree char *path = g_canonicalize_filename (program, NULL);
      switch (stem_command_check_executable (path))
        {
        case 0:
          return g_steal_pointer (&path);
        case ENOENT:
          stem_throw_code (error, STEM_ERROR_CONFIG, _ ("Program “%s” does not exist"), path);
          return NULL;
        case EISDIR:
          stem_throw_code (error, STEM_ERROR_CONFIG, _ ("Program “%s” is not a regular file"),
                           path);
          return NULL;
        default:
          stem_throw_code (error, STEM_ERROR_CONFIG, _ ("Program “%s” is not executable"), path);
          return NULL;
        }
    }

  const char *search = g_environ_getenv ((char **)envp, "PATH");
  if (search == NULL || *search == '\0')
    search = STEM_DEFAULT_PATH;
  g_auto (GStrv) dirs = g_strsplit (search, ":", -1);
  g_autofree char *not_executable = NULL;
  for (char **dir = dirs; *dir != NULL; dir++)
    {
      if (**dir != '/')
        continue; /* a relative PATH entry would depend on the worker's directory */
      g_autofree char *path = g_build_filename (*dir, program, NULL);
      int reason = stem_command_check_executable (path);
      if (reason == 0)
        return g_steal_pointer (&path);
      if (reason == EACCES && not_executable == NULL)
        not_executable = g_steal_pointer (&path);
    }
  if (not_executable != NULL)
    stem_throw_code (error, STEM_ERROR_CONFIG, _ ("Program “%s” is not executable"),
                     not_executable);
  else
    stem_throw_code (error, STEM_ERROR_CONFIG, _ ("Program “%s” not found on PATH (%s)"), program,
                     search);
  return NULL;
}

char *
stem_command_interpreter (const char *program)
{
  /* Read as root too, often in a directory of the worker's user (a
   * virtualenv in a home): at the end of its links, and only when that is
   * a regular file (a device could act on being opened), opened as
   * stem-path.h says, so that nothing else can be put there meanwhile
   * but a link (refused) or a FIFO (opened without waiting, not read). */
  g_autofree char *real = realpath (program, NULL);
  struct stat before;
  if (real == NULL || lstat (real, &before) != 0 || !S_ISREG (before.st_mode))
    return NULL;
  int fd = stem_path_open_file (real, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
  if (fd < 0)
    return NULL;
  struct stat st;
  char head[256];
  ssize_t n = fstat (fd, &st) == 0 && S_ISREG (st.st_mode) ? read (fd, head, sizeof head - 1) : -1;
  close (fd);
  if (n < 2 || head[0] != '#' || head[1] != '!')
    return NULL;
  head[n] = '\0';
  const char *start = head + 2;
  while (*start == ' ' || *start == '\t')
    start++;
  size_t len = strcspn (start, " \t\n");
  return len > 0 ? g_strndup (start, len) : NULL;
}
