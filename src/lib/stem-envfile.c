#include "stem-envfile.h"

#include "stem-error.h"
#include "stem-fd.h"
#include "stem-i18n.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The format is the subset of /bin/sh and systemd's EnvironmentFile= on which
 * both agree; anything either of them would read differently is an error. */

static gboolean
is_blank (char c)
{
  return c == ' ' || c == '\t';
}

static gboolean
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static gboolean
is_name_start (char c)
{
  return g_ascii_isalpha (c) || c == '_';
}

static gboolean
is_name_char (char c)
{
  return g_ascii_isalnum (c) || c == '_';
}

static gboolean
rest_is_blank (const char *p, const char *end)
{
  for (; p < end; p++)
    if (!is_space (*p))
      return FALSE;
  return TRUE;
}

/* Whether P starts with NAME= (another assignment on the same line). */
static gboolean
looks_like_assignment (const char *p, const char *end)
{
  if (p == end || !is_name_start (*p))
    return FALSE;
  while (p < end && is_name_char (*p))
    p++;
  return p < end && *p == '=';
}

/* What follows a complete value: only the end of the line. */
static gboolean
check_after_value (const char *p, const char *end, gboolean quoted, GError **error)
{
  if (p == end)
    return TRUE;
  if (is_space (*p))
    {
      const char *q = p;
      while (q < end && is_space (*q))
        q++;
      if (q == end)
        return stem_throw_code (error, STEM_ERROR_CONFIG,
                                _ ("trailing white space after the value (hint: remove it)"));
      if (*q == '#')
        return stem_throw_code (error, STEM_ERROR_CONFIG,
                                _ ("comments are only allowed on a line of their own (hint: "
                                   "move the comment to the line above)"));
      if (looks_like_assignment (q, end))
        return stem_throw_code (error, STEM_ERROR_CONFIG,
                                _ ("more than one assignment on a line (hint: put each "
                                   "NAME=VALUE on a line of its own)"));
      if (!quoted)
        return stem_throw_code (error, STEM_ERROR_CONFIG,
                                _ ("unquoted value contains a space (hint: quote it: "
                                   "NAME=\"a b\")"));
    }
  return stem_throw_code (error, STEM_ERROR_CONFIG,
                          _ ("text after the closing quote (hint: quote the whole value "
                             "once: NAME=\"ab\")"));
}

static gboolean
parse_single_quoted (const char *p, const char *end, GString *value, GError **error)
{
  const char *close = memchr (p, '\'', end - p);
  if (close == NULL)
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("unterminated single quote (hint: close it on the same line; "
                               "a value cannot span lines)"));
  g_string_append_len (value, p, close - p);
  return check_after_value (close + 1, end, TRUE, error);
}

static gboolean
parse_double_quoted (const char *p, const char *end, GString *value, GError **error)
{
  for (; p < end; p++)
    {
      switch (*p)
        {
        case '"':
          return check_after_value (p + 1, end, TRUE, error);
        case '$':
          return stem_throw_code (error, STEM_ERROR_CONFIG,
                                  _ ("unescaped “$” in a double-quoted value; variables are "
                                     "not expanded (hint: write \\$, or use single quotes)"));
        case '`':
          return stem_throw_code (error, STEM_ERROR_CONFIG,
                                  _ ("unescaped “`” in a double-quoted value; commands are "
                                     "not run (hint: write \\`, or use single quotes)"));
        case '\\':
          if (p + 1 == end)
            return stem_throw_code (error, STEM_ERROR_CONFIG,
                                    _ ("line continuation with a trailing backslash is not "
                                       "allowed (hint: put the whole value on one line)"));
          p++;
          if (strchr ("\"\\`$", *p) == NULL)
            {
              if (g_ascii_isprint (*p))
                return stem_throw_code (error, STEM_ERROR_CONFIG,
                                        _ ("unsupported escape “\\%c” in a double-quoted value "
                                           "(hint: only \\\", \\\\, \\` and \\$ are allowed; "
                                           "write a backslash as \\\\)"),
                                        *p);
              return stem_throw_code (error, STEM_ERROR_CONFIG,
                                      _ ("unsupported escape in a double-quoted value "
                                         "(hint: only \\\", \\\\, \\` and \\$ are allowed; "
                                         "write a backslash as \\\\)"));
            }
          g_string_append_c (value, *p);
          break;
        default:
          g_string_append_c (value, *p);
          break;
        }
    }
  return stem_throw_code (error, STEM_ERROR_CONFIG,
                          _ ("unterminated double quote (hint: close it on the same line; "
                             "a value cannot span lines)"));
}

static gboolean
parse_unquoted (const char *start, const char *end, GString *value, GError **error)
{
  for (const char *p = start; p < end; p++)
    {
      char c = *p;
      if (is_space (c))
        return check_after_value (p, end, FALSE, error);
      switch (c)
        {
        case '\'':
        case '"':
          return stem_throw_code (error, STEM_ERROR_CONFIG,
                                  _ ("quote inside an unquoted value (hint: quote the whole "
                                     "value once: NAME='a b' or NAME=\"a b\")"));
        case '\\':
          if (p + 1 == end)
            return stem_throw_code (error, STEM_ERROR_CONFIG,
                                    _ ("line continuation with a trailing backslash is not "
                                       "allowed (hint: put the whole value on one line)"));
          return stem_throw_code (error, STEM_ERROR_CONFIG,
                                  _ ("backslash in an unquoted value (hint: quote it: "
                                     "NAME='a\\b')"));
        case '$':
          return stem_throw_code (error, STEM_ERROR_CONFIG,
                                  _ ("unquoted “$”; variables are not expanded (hint: quote "
                                     "it: NAME='a$b')"));
        case '`':
          return stem_throw_code (error, STEM_ERROR_CONFIG,
                                  _ ("unquoted “`”; commands are not run (hint: quote it: "
                                     "NAME='a`b')"));
        case '#':
          return stem_throw_code (error, STEM_ERROR_CONFIG,
                                  _ ("unquoted “#” in a value; comments are only allowed on "
                                     "a line of their own (hint: quote it: NAME='a#b')"));
        case ';':
        case '&':
        case '|':
        case '<':
        case '>':
        case '(':
        case ')':
          return stem_throw_code (error, STEM_ERROR_CONFIG,
                                  _ ("unquoted “%c” is special to /bin/sh (hint: quote it: "
                                     "NAME='a%cb')"),
                                  c, c);
        case '~':
          /* sh expands a tilde at the start of an assignment and after each
           * unquoted colon (PATH=a:~/bin); systemd keeps it. */
          if (p == start || p[-1] == ':')
            return stem_throw_code (error, STEM_ERROR_CONFIG,
                                    _ ("unquoted “~” would be expanded by /bin/sh to a home "
                                       "directory (hint: quote it: NAME='~/x', or write the "
                                       "full path)"));
          break;
        default:
          break;
        }
      g_string_append_c (value, c);
    }
  return TRUE;
}

/* Parses one line (without its line ending).  On success *OUT_NAME is NULL
 * for a blank or comment line.  Errors carry no location; the caller adds it. */
/* Bytes that systemd and /bin/sh would read differently anywhere in a line. */
static gboolean
check_line_bytes (const char *line, gsize length, GError **error)
{
  if (memchr (line, '\0', length) != NULL)
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("line contains a NUL byte (hint: remove it; a value cannot "
                               "contain NUL)"));
  /* systemd ends a line at a lone carriage return, /bin/sh keeps it. */
  if (memchr (line, '\r', length) != NULL)
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("carriage return inside a line (hint: use LF or CRLF line "
                               "endings only)"));
  return TRUE;
}

static gboolean
throw_export_alone (GError **error)
{
  return stem_throw_code (error, STEM_ERROR_CONFIG,
                          _ ("“export” without an assignment (hint: write "
                             "export NAME=VALUE, or just NAME=VALUE)"));
}

/* NAME= at *PP (after any "export"): *OUT_NAME gets the name and *PP moves
 * past the "=". */
static gboolean
parse_name (const char **pp, const char *end, gboolean exported, char **out_name, GError **error)
{
  const char *p = *pp;
  const char *name_start = p;
  while (p < end && is_name_char (*p))
    p++;
  if (p == name_start && p < end && *p == '=')
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("missing variable name before “=” (hint: write NAME=VALUE)"));
  if (p == name_start || !is_name_start (*name_start) || (p < end && *p != '=' && !is_space (*p)))
    {
      const char *q = p > name_start ? p : p + 1;
      while (q < end && *q != '=' && !is_space (*q))
        q++;
      g_autofree char *bad = g_strndup (name_start, q - name_start);
      return stem_throw_code (error, STEM_ERROR_CONFIG,
                              _ ("invalid variable name “%s” (hint: use letters, digits and _, "
                                 "not starting with a digit)"),
                              bad);
    }
  const char *name_end = p;

  if (p < end && is_space (*p))
    {
      while (p < end && is_space (*p))
        p++;
      if (p < end && *p == '=')
        return stem_throw_code (error, STEM_ERROR_CONFIG,
                                _ ("spaces around “=” are not allowed; /bin/sh would run a "
                                   "command (hint: write NAME=VALUE)"));
    }
  if (p == end || *p != '=')
    {
      if (exported)
        return throw_export_alone (error);
      return stem_throw_code (error, STEM_ERROR_CONFIG,
                              _ ("missing “=” after the variable name (hint: write "
                                 "NAME=VALUE)"));
    }
  *out_name = g_strndup (name_start, name_end - name_start);
  *pp = p + 1;
  return TRUE;
}

/* The value from P (just after the "=") to END. */
static char *
parse_value (const char *p, const char *end, GError **error)
{
  if (p < end && is_space (*p) && !rest_is_blank (p, end))
    {
      stem_throw_code (error, STEM_ERROR_CONFIG,
                       _ ("spaces around “=” are not allowed; /bin/sh would run a "
                          "command (hint: write NAME=VALUE)"));
      return NULL;
    }

  g_autoptr (GString) value = g_string_new (NULL);
  gboolean ok;
  if (p < end && *p == '\'')
    ok = parse_single_quoted (p + 1, end, value, error);
  else if (p < end && *p == '"')
    ok = parse_double_quoted (p + 1, end, value, error);
  else
    ok = parse_unquoted (p, end, value, error);
  if (!ok)
    return NULL;

  /* systemd ignores an assignment whose value is not UTF-8. */
  if (!g_utf8_validate (value->str, value->len, NULL))
    {
      stem_throw_code (error, STEM_ERROR_CONFIG,
                       _ ("value is not valid UTF-8; systemd would ignore it (hint: "
                          "convert the file to UTF-8)"));
      return NULL;
    }
  return g_string_free (g_steal_pointer (&value), FALSE);
}

static gboolean
parse_line (const char *line, gsize length, char **out_name, char **out_value, GError **error)
{
  const char *end = line + length;
  const char *p = line;

  if (!check_line_bytes (line, length, error))
    return FALSE;

  while (p < end && is_blank (*p))
    p++;
  if (p == end)
    {
      *out_name = NULL;
      return TRUE;
    }
  if (*p == '#')
    {
      /* systemd before v254 continued such a comment onto the next line. */
      if (end[-1] == '\\')
        return stem_throw_code (error, STEM_ERROR_CONFIG,
                                _ ("comment ends with a backslash; older systemd versions "
                                   "would ignore the next line (hint: remove the backslash)"));
      *out_name = NULL;
      return TRUE;
    }

  gboolean exported = FALSE;
  if (end - p >= 6 && memcmp (p, "export", 6) == 0 && (end - p == 6 || is_blank (p[6])))
    {
      exported = TRUE;
      p += 6;
      while (p < end && is_blank (*p))
        p++;
      if (p == end)
        return throw_export_alone (error);
    }

  g_autofree char *name = NULL;
  if (!parse_name (&p, end, exported, &name, error))
    return FALSE;
  char *value = parse_value (p, end, error);
  if (value == NULL)
    return FALSE;
  *out_name = g_steal_pointer (&name);
  *out_value = value;
  return TRUE;
}

static gboolean
throw_too_large (GError **error, const char *name)
{
  return stem_throw_code (error, STEM_ERROR_CONFIG,
                          _ ("%s: file is larger than %d bytes (hint: keep env files small; "
                             "they hold settings, not data)"),
                          name, STEM_ENVFILE_MAX_SIZE);
}

gboolean
stem_envfile_parse (const char *name, const char *data, gsize length, GStrv *envp, GError **error)
{
  if (length > STEM_ENVFILE_MAX_SIZE)
    return throw_too_large (error, name);

  /* Invisible in the message about the first name that it would spoil. */
  if (length >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("%s:1: the file starts with a byte order mark (hint: save it as "
                               "UTF-8 without one: /bin/sh would read it as part of the first "
                               "name)"),
                            name);

  /* Applied to a copy, so that *envp changes only when the whole file is valid. */
  g_auto (GStrv) env = g_strdupv (*envp);
  const char *end = data + length;
  guint lineno = 0;

  for (const char *line = data; line < end;)
    {
      lineno++;
      const char *newline = memchr (line, '\n', end - line);
      const char *line_end = newline != NULL ? newline : end;
      const char *next = newline != NULL ? newline + 1 : end;
      if (newline != NULL && line_end > line && line_end[-1] == '\r')
        line_end--;

      if (line_end - line > STEM_ENVFILE_MAX_LINE)
        return stem_throw_code (error, STEM_ERROR_CONFIG,
                                _ ("%s:%u: line is longer than %d bytes (hint: keep long data in a "
                                   "file of its own and put its path here)"),
                                name, lineno, STEM_ENVFILE_MAX_LINE);

      g_autofree char *var = NULL;
      g_autofree char *value = NULL;
      if (!parse_line (line, line_end - line, &var, &value, error))
        {
          stem_error_prefix (error, "%s:%u", name, lineno);
          return FALSE;
        }
      if (var != NULL)
        env = g_environ_setenv (g_steal_pointer (&env), var, value, TRUE);
      line = next;
    }

  g_strfreev (*envp);
  *envp = g_steal_pointer (&env);
  return TRUE;
}

static gboolean
throw_symlink (const char *path, GError **error)
{
  return stem_throw_code (error, STEM_ERROR_UNSAFE,
                          _ ("%s: is a symbolic link; as root only a regular file is "
                             "read (hint: name the file it points to, owned by root and "
                             "not writable by group or others)"),
                          path);
}

/* What a file that is not a regular one is, for messages. */
static const char *
describe_file_type (mode_t mode)
{
  if (S_ISFIFO (mode))
    return _ ("a FIFO");
  if (S_ISCHR (mode))
    return _ ("a character device");
  if (S_ISBLK (mode))
    return _ ("a block device");
  if (S_ISSOCK (mode))
    return _ ("a socket");
  if (S_ISLNK (mode))
    return _ ("a symbolic link");
  return _ ("not a file");
}

/* The type rule, and with CHECK_SAFE the root-safety rule, on ST. */
static gboolean
check_stat (const char *path, const struct stat *st, gboolean check_safe, GError **error)
{
  if (check_safe)
    {
      if (S_ISLNK (st->st_mode))
        return throw_symlink (path, error);
      if (!S_ISREG (st->st_mode))
        /* Never "replace it": it may be /dev/null. */
        return stem_throw_code (error, STEM_ERROR_UNSAFE,
                                _ ("%s: not a regular file; it chooses the program that root "
                                   "starts (hint: name a regular file, owned by root and not "
                                   "writable by group or others)"),
                                path);
      if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return stem_throw_code (error, STEM_ERROR_UNSAFE,
                                _ ("%s: writable by group or others (mode %04o); it chooses "
                                   "the program that root starts (hint: chown root %s "
                                   "&& chmod go-w %s)"),
                                path, (unsigned)(st->st_mode & 07777), path, path);
      if (st->st_uid != 0)
        return stem_throw_code (error, STEM_ERROR_UNSAFE,
                                _ ("%s: owned by uid %u, not root; it chooses the program "
                                   "that root starts (hint: chown root %s && chmod go-w "
                                   "%s)"),
                                path, (unsigned)st->st_uid, path, path);
      return TRUE;
    }
  if (S_ISDIR (st->st_mode))
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("%s: is a directory, not an env file (hint: name a file "
                               "inside it)"),
                            path);
  if (!S_ISREG (st->st_mode))
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("%s: not a regular file but %s; an env file is read whole "
                               "(hint: name the file itself)"),
                            path, describe_file_type (st->st_mode));
  return TRUE;
}

int
stem_envfile_open (const char *path, gboolean check_safe, struct stat *out_stat, GError **error)
{
  /* The status first, so that a FIFO or a device planted under the name is
   * refused before open() could block on it or touch it; the fstat() of the
   * descriptor below is the one that decides. */
  struct stat st;
  if (fstatat (AT_FDCWD, path, &st, check_safe ? AT_SYMLINK_NOFOLLOW : 0) < 0)
    {
      stem_throw_errno (error, _ ("%s: cannot open env file"), path);
      return -1;
    }
  if (!check_stat (path, &st, check_safe, error))
    {
      *out_stat = st;
      return -1;
    }

  /* O_NONBLOCK: whatever was swapped in meanwhile must not hang us before
   * fstat() refuses it.  O_NOFOLLOW: as root, a link may point anywhere. */
  int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (check_safe ? O_NOFOLLOW : 0);
  g_auto (StemFd) fd = open (path, flags);
  if (fd < 0 && check_safe && errno == ELOOP)
    {
      /* A link swapped in since the status: what was refused is a link. */
      out_stat->st_mode = S_IFLNK | (st.st_mode & 07777);
      throw_symlink (path, error);
      return -1;
    }
  if (fd < 0)
    {
      stem_throw_errno (error, _ ("%s: cannot open env file"), path);
      return -1;
    }
  if (fstat (fd, &st) < 0)
    {
      stem_throw_errno (error, _ ("%s: cannot read env file"), path);
      return -1;
    }
  *out_stat = st;
  if (!check_stat (path, &st, check_safe, error))
    return -1;
  return stem_fd_steal (&fd);
}

gboolean
stem_envfile_read (int fd, const char *path, GStrv *envp, GError **error)
{
  g_autoptr (GString) contents = g_string_new (NULL);
  /* Bounded even for a regular file: it may grow while we read. */
  int errsv = stem_fd_read_bounded (fd, STEM_ENVFILE_MAX_SIZE, contents);
  if (errsv == EFBIG)
    return throw_too_large (error, path);
  if (errsv != 0)
    {
      errno = errsv;
      return stem_throw_errno (error, _ ("%s: cannot read env file"), path);
    }
  return stem_envfile_parse (path, contents->str, contents->len, envp, error);
}

gboolean
stem_envfile_load (const char *path, gboolean check_safe, GStrv *envp, GError **error)
{
  struct stat st;
  g_auto (StemFd) fd = stem_envfile_open (path, check_safe, &st, error);
  if (fd < 0)
    return FALSE;
  if (st.st_size > STEM_ENVFILE_MAX_SIZE)
    return throw_too_large (error, path);
  return stem_envfile_read (fd, path, envp, error);
}

void
stem_envfile_apply (const char *const *assignments, GStrv *envp)
{
  for (guint i = 0; assignments[i] != NULL; i++)
    {
      const char *eq = strchr (assignments[i], '=');
      g_autofree char *name = g_strndup (assignments[i], eq - assignments[i]);
      *envp = g_environ_setenv (*envp, name, eq + 1, TRUE);
    }
}
