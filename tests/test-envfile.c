#include "stem-envfile.h"
#include "stem-error.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every parse starts from this environment, so a test can see that an error
 * leaves it untouched and that a file overrides what was there. */
static const char *const preset[] = { "PRESET=old", NULL };

typedef struct
{
  const char *path;
  const char *input;
  gsize length; /* the input may hold NUL bytes */
  /* Accepted: the assignments expected on top of the preset, one per line. */
  const char *expect;
  /* Rejected: the line reported and a distinctive part of the message. */
  guint line;
  const char *message;
} EnvCase;

/* Each row is { ACCEPT (…) } or { REJECT (…) }; sizeof keeps embedded NULs. */
#define ACCEPT(path, input, expect) path, input, sizeof (input) - 1, expect, 0, NULL
#define REJECT(path, input, line, message) path, input, sizeof (input) - 1, NULL, line, message

static const EnvCase cases[] = {
  { ACCEPT ("/envfile/accept/empty-file", "", "") },
  { ACCEPT ("/envfile/accept/blank-lines", "\n  \n\t \nA=1\n\n\n", "A=1") },
  { ACCEPT ("/envfile/accept/comments", "# a comment\nA=1\n# another; with $ ` ' \" | & chars\n",
            "A=1") },
  { ACCEPT ("/envfile/accept/indented-comment", "  \t# indented comment\nA=1\n", "A=1") },
  { ACCEPT ("/envfile/accept/comments-only", "# one\n# two", "") },
  { ACCEPT ("/envfile/accept/indented-assignment", "  A=1\n\tB=2\n", "A=1\nB=2") },
  { ACCEPT ("/envfile/accept/export", "export A=1\nB=2\n", "A=1\nB=2") },
  { ACCEPT ("/envfile/accept/export-blanks", "  export \t A=1\n", "A=1") },
  { ACCEPT ("/envfile/accept/export-as-name", "export=1\nexported=2\n", "export=1\nexported=2") },
  { ACCEPT ("/envfile/accept/empty-value", "A=\n", "A=") },
  { ACCEPT ("/envfile/accept/empty-quotes", "A=''\nB=\"\"\n", "A=\nB=") },
  { ACCEPT ("/envfile/accept/unquoted-punctuation",
            "URL=amqp://user:pw@host:5672/vhost?x=1,y=%2F+z\nGLOB=*.[ch]{a,b}!^\n",
            "URL=amqp://user:pw@host:5672/vhost?x=1,y=%2F+z\nGLOB=*.[ch]{a,b}!^") },
  { ACCEPT ("/envfile/accept/tilde-inside", "A=a~b\nB=a:b~\n", "A=a~b\nB=a:b~") },
  { ACCEPT ("/envfile/accept/single-quoted", "A='a $HOME `id` # ; & | < > ( ) ~ \"x\" \\n b'\n",
            "A=a $HOME `id` # ; & | < > ( ) ~ \"x\" \\n b") },
  { ACCEPT ("/envfile/accept/single-quoted-backslash-last", "A='a\\'\n", "A=a\\") },
  { ACCEPT ("/envfile/accept/double-quoted", "A=\"a b # ; & | < > ( ) ~ 'x'\"\n",
            "A=a b # ; & | < > ( ) ~ 'x'") },
  { ACCEPT ("/envfile/accept/double-quoted-escapes", "A=\"q\\\"b\\\\s\\`t\\$d\"\n",
            "A=q\"b\\s`t$d") },
  { ACCEPT ("/envfile/accept/crlf", "# c\r\n\r\nA=1\r\nB='x y'\r\n", "A=1\nB=x y") },
  { ACCEPT ("/envfile/accept/no-final-newline", "A=1\nB=2", "A=1\nB=2") },
  { ACCEPT ("/envfile/accept/later-wins", "A=1\nB=x\nA=2\n", "A=2\nB=x") },
  { ACCEPT ("/envfile/accept/overrides-preset", "PRESET=new\n", "PRESET=new") },
  { ACCEPT ("/envfile/accept/underscore-names", "_=1\n_A=2\nA_1_=3\nlower=4\n",
            "_=1\n_A=2\nA_1_=3\nlower=4") },
  { ACCEPT ("/envfile/accept/utf8", "GREETING=grüße\nB='日本'\n", "GREETING=grüße\nB=日本") },
  { ACCEPT ("/envfile/accept/equals-in-value", "A=b=c\n", "A=b=c") },

  { REJECT ("/envfile/reject/unquoted-space", "A=1\nB=a b\n", 2,
            "unquoted value contains a space") },
  { REJECT ("/envfile/reject/second-value", "A=1 B=2\n", 1, "more than one assignment on a line") },
  /* The BOM would hide in the message about an invalid name “FOO”. */
  { REJECT ("/envfile/reject/byte-order-mark",
            "\xef\xbb\xbf"
            "FOO=1\n",
            1, "the file starts with a byte order mark") },
  { REJECT ("/envfile/reject/second-value-quoted", "A='1' B=2\n", 1,
            "more than one assignment on a line") },
  { REJECT ("/envfile/reject/unquoted-dollar", "A=$HOME/x\n", 1, "unquoted “$”") },
  { REJECT ("/envfile/reject/unquoted-backtick", "A=`id`\n", 1, "unquoted “`”") },
  { REJECT ("/envfile/reject/semicolon", "A=a;b\n", 1, "unquoted “;” is special") },
  { REJECT ("/envfile/reject/ampersand", "A=a&b\n", 1, "unquoted “&” is special") },
  { REJECT ("/envfile/reject/pipe", "A=a|b\n", 1, "unquoted “|” is special") },
  { REJECT ("/envfile/reject/less", "A=a<b\n", 1, "unquoted “<” is special") },
  { REJECT ("/envfile/reject/greater", "A=a>b\n", 1, "unquoted “>” is special") },
  { REJECT ("/envfile/reject/open-paren", "A=(a\n", 1, "unquoted “(” is special") },
  { REJECT ("/envfile/reject/close-paren", "A=a)\n", 1, "unquoted “)” is special") },
  { REJECT ("/envfile/reject/hash", "A=a#b\n", 1, "unquoted “#”") },
  { REJECT ("/envfile/reject/inline-comment", "A=a # note\n", 1,
            "comments are only allowed on a line of their own") },
  { REJECT ("/envfile/reject/backslash", "A=a\\b\n", 1, "backslash in an unquoted value") },
  { REJECT ("/envfile/reject/continuation", "A=a\\\nb\n", 1, "line continuation") },
  { REJECT ("/envfile/reject/continuation-double-quoted", "A=\"a\\\nb\"\n", 1,
            "line continuation") },
  { REJECT ("/envfile/reject/quote-in-middle", "A=a\"b\"\n", 1, "quote inside an unquoted value") },
  { REJECT ("/envfile/reject/single-quote-in-middle", "A=a'b'\n", 1,
            "quote inside an unquoted value") },
  { REJECT ("/envfile/reject/leading-tilde", "A=~/x\n", 1, "unquoted “~”") },
  { REJECT ("/envfile/reject/tilde-after-colon", "A=/bin:~/bin\n", 1, "unquoted “~”") },
  { REJECT ("/envfile/quote/unterminated", "A=1\nB='abc\n", 2, "unterminated single quote") },
  { REJECT ("/envfile/quote/unterminated-double", "A=\"abc\n", 1, "unterminated double quote") },
  { REJECT ("/envfile/quote/spans-lines", "A=\"abc\ndef\"\n", 1, "unterminated double quote") },
  { REJECT ("/envfile/quote/text-after-single", "A='a'b\n", 1, "text after the closing quote") },
  { REJECT ("/envfile/quote/text-after-double", "A=\"a\"\"b\"\n", 1,
            "text after the closing quote") },
  { REJECT ("/envfile/quote/double-dollar", "A=\"$HOME\"\n", 1, "unescaped “$”") },
  { REJECT ("/envfile/quote/double-backtick", "A=\"`id`\"\n", 1, "unescaped “`”") },
  { REJECT ("/envfile/quote/unknown-escape", "A=\"a\\nb\"\n", 1, "unsupported escape “\\n”") },
  { REJECT ("/envfile/reject/trailing-space", "A=1 \n", 1, "trailing white space") },
  { REJECT ("/envfile/reject/trailing-tab-after-quote", "A='1'\t\n", 1, "trailing white space") },
  { REJECT ("/envfile/reject/space-before-equals", "A =1\n", 1, "spaces around “=”") },
  { REJECT ("/envfile/reject/space-after-equals", "A= 1\n", 1, "spaces around “=”") },
  { REJECT ("/envfile/reject/space-only-value", "A= \n", 1, "trailing white space") },
  { REJECT ("/envfile/name/leading-digit", "1ABC=x\n", 1, "invalid variable name “1ABC”") },
  { REJECT ("/envfile/name/dash", "A-B=x\n", 1, "invalid variable name “A-B”") },
  { REJECT ("/envfile/name/non-ascii", "NÄME=x\n", 1, "invalid variable name") },
  { REJECT ("/envfile/name/semicolon-comment", "; systemd comment\n", 1, "invalid variable name") },
  { REJECT ("/envfile/name/missing", "=x\n", 1, "missing variable name") },
  { REJECT ("/envfile/name/no-equals", "A=1\nJUSTAWORD\n", 2, "missing “=”") },
  { REJECT ("/envfile/name/command", "FOO bar\n", 1, "missing “=”") },
  { REJECT ("/envfile/export/alone", "export\n", 1, "“export” without an assignment") },
  { REJECT ("/envfile/export/name-only", "export A\n", 1, "“export” without an assignment") },
  { REJECT ("/envfile/export/space-before-equals", "export A =1\n", 1, "spaces around “=”") },
  { REJECT ("/envfile/bytes/nul", "A=1\nB=a\0b\n", 2, "NUL byte") },
  { REJECT ("/envfile/bytes/nul-in-comment", "# a\0b\nA=1\n", 1, "NUL byte") },
  { REJECT ("/envfile/bytes/lone-cr", "A=1\nB=a\rC=b\n", 2, "carriage return inside a line") },
  { REJECT ("/envfile/bytes/cr-at-end-of-file", "A=1\r", 1, "carriage return inside a line") },
  { REJECT ("/envfile/bytes/invalid-utf8", "A=\xff\xfe\n", 1, "not valid UTF-8") },
  { REJECT ("/envfile/reject/comment-backslash", "# note \\\nA=1\n", 1,
            "comment ends with a backslash") },
  { REJECT ("/envfile/reject/line-number-after-valid-lines",
            "# c\n\nA=1\r\nexport B='2'\nC=\"x\"\nD=a b\nE=ok\n", 6,
            "unquoted value contains a space") },
  { REJECT ("/envfile/reject/last-line-without-newline", "A=1\nB=$x", 2, "unquoted “$”") },
};

static GStrv
preset_env (void)
{
  return g_strdupv ((char **)preset);
}

static void
assert_env (GStrv env, const char *expect)
{
  g_auto (GStrv) want = preset_env ();
  g_auto (GStrv) lines = g_strsplit (expect, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      if (**l == '\0')
        continue;
      const char *eq = strchr (*l, '=');
      g_assert_nonnull (eq);
      g_autofree char *name = g_strndup (*l, eq - *l);
      want = g_environ_setenv (g_steal_pointer (&want), name, eq + 1, TRUE);
    }

  g_assert_cmpuint (g_strv_length (env), ==, g_strv_length (want));
  for (char **w = want; *w != NULL; w++)
    if (!g_strv_contains ((const char *const *)env, *w))
      {
        g_autofree char *got = g_strjoinv ("\n", env);
        g_error ("“%s” missing; got:\n%s", *w, got);
      }
}

static void
assert_message (const GError *error, const char *prefix, const char *part)
{
  g_assert_nonnull (error);
  if (!g_str_has_prefix (error->message, prefix))
    g_error ("“%s” does not start with “%s”", error->message, prefix);
  if (strstr (error->message, part) == NULL)
    g_error ("“%s” does not contain “%s”", error->message, part);
  if (strstr (error->message, "(hint: ") == NULL)
    g_error ("“%s” has no hint", error->message);
}

static void
assert_unchanged (GStrv env)
{
  g_assert_true (g_strv_equal ((const char *const *)env, preset));
}

static void
test_case (gconstpointer data)
{
  const EnvCase *c = data;
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  gboolean ok = stem_envfile_parse ("test.env", c->input, c->length, &env, &error);
  if (c->message == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      assert_env (env, c->expect);
      return;
    }

  g_assert_false (ok);
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  g_autofree char *prefix = g_strdup_printf ("test.env:%u: ", c->line);
  assert_message (error, prefix, c->message);
  assert_unchanged (env);
}

static GString *
line_of (gsize length, const char *ending)
{
  GString *s = g_string_new ("A=");
  while (s->len < length)
    g_string_append_c (s, 'x');
  g_string_append (s, ending);
  return s;
}

static void
test_line_at_limit (void)
{
  g_autoptr (GString) lf = line_of (STEM_ENVFILE_MAX_LINE, "\n");
  g_autoptr (GString) crlf = line_of (STEM_ENVFILE_MAX_LINE, "\r\n");
  g_autoptr (GString) last = line_of (STEM_ENVFILE_MAX_LINE, "");

  for (GString **s = (GString *[]){ lf, crlf, last, NULL }; *s != NULL; s++)
    {
      g_auto (GStrv) env = preset_env ();
      g_autoptr (GError) error = NULL;
      g_assert_true (stem_envfile_parse ("test.env", (*s)->str, (*s)->len, &env, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (strlen (g_environ_getenv (env, "A")), ==, STEM_ENVFILE_MAX_LINE - 2);
    }
}

static void
test_line_too_long (void)
{
  g_autoptr (GString) data = line_of (STEM_ENVFILE_MAX_LINE + 1, "\n");
  g_string_prepend (data, "# first\n");
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  g_assert_false (stem_envfile_parse ("test.env", data->str, data->len, &env, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  assert_message (error, "test.env:2: ", "line is longer than 65536 bytes");
  assert_unchanged (env);
}

static GString *
comments_of (gsize size)
{
  GString *s = g_string_new ("A=1\n");
  while (s->len + 64 <= size)
    g_string_append (s, "# padding padding padding padding padding padding padding pad\n");
  while (s->len < size)
    g_string_append_c (s, '\n');
  return s;
}

static void
test_parse_size_limit (void)
{
  g_autoptr (GString) data = comments_of (STEM_ENVFILE_MAX_SIZE);
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  g_assert_cmpuint (data->len, ==, STEM_ENVFILE_MAX_SIZE);
  g_assert_true (stem_envfile_parse ("test.env", data->str, data->len, &env, &error));
  g_assert_no_error (error);
  assert_env (env, "A=1");

  g_strfreev (env);
  env = preset_env ();
  g_string_append_c (data, '\n');
  g_assert_false (stem_envfile_parse ("test.env", data->str, data->len, &env, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  assert_message (error, "test.env: ", "larger than 1048576 bytes");
  assert_unchanged (env);
}

static char *
write_file (StemScratch *s, const char *name, const char *contents, gssize length, mode_t mode)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (s->dir, name, NULL);
  g_file_set_contents (path, contents, length, &error);
  g_assert_no_error (error);
  g_assert_cmpint (chmod (path, mode), ==, 0);
  return path;
}

static void
test_load_regular (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = write_file (s, "stem.env", "A=1\nB='x y'\n", -1, 0644);
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  g_assert_true (stem_envfile_load (path, FALSE, &env, &error));
  g_assert_no_error (error);
  assert_env (env, "A=1\nB=x y");
}

static void
test_load_later_files_win (StemScratch *s, gconstpointer data)
{
  g_autofree char *first = write_file (s, "first.env", "A=1\nB=1\n", -1, 0644);
  g_autofree char *second = write_file (s, "second.env", "B=2\nC=2\n", -1, 0644);
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  g_assert_true (stem_envfile_load (first, FALSE, &env, &error));
  g_assert_true (stem_envfile_load (second, FALSE, &env, &error));
  g_assert_no_error (error);
  assert_env (env, "A=1\nB=2\nC=2");
}

static void
test_load_missing (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = g_build_filename (s->dir, "missing.env", NULL);
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  g_assert_false (stem_envfile_load (path, FALSE, &env, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_NOT_FOUND);
  g_assert_true (g_str_has_prefix (error->message, path));
  assert_unchanged (env);

  g_clear_error (&error);
  g_assert_false (stem_envfile_load (path, TRUE, &env, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_NOT_FOUND);
  assert_unchanged (env);
}

static void
test_load_error_location (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = write_file (s, "stem.env", "A=1\nB=a b\n", -1, 0644);
  g_autofree char *prefix = g_strconcat (path, ":2: ", NULL);
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  g_assert_false (stem_envfile_load (path, FALSE, &env, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  assert_message (error, prefix, "unquoted value contains a space");
  assert_unchanged (env);
}

static void
test_load_too_large (StemScratch *s, gconstpointer data)
{
  g_autoptr (GString) contents = comments_of (STEM_ENVFILE_MAX_SIZE + 1);
  g_autofree char *path = write_file (s, "big.env", contents->str, contents->len, 0644);
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  g_assert_false (stem_envfile_load (path, FALSE, &env, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  g_autofree char *prefix = g_strconcat (path, ": ", NULL);
  assert_message (error, prefix, "larger than 1048576 bytes");
  assert_unchanged (env);
}

static void
test_load_symlink_unchecked (StemScratch *s, gconstpointer data)
{
  g_autofree char *target = write_file (s, "real.env", "A=1\n", -1, 0644);
  g_autofree char *link = g_build_filename (s->dir, "link.env", NULL);
  g_assert_cmpint (symlink (target, link), ==, 0);
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  g_assert_true (stem_envfile_load (link, FALSE, &env, &error));
  g_assert_no_error (error);
  assert_env (env, "A=1");
}

static void
test_load_directory (StemScratch *s, gconstpointer data)
{
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  g_assert_false (stem_envfile_load (s->dir, FALSE, &env, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "is a directory"));
  assert_unchanged (env);
}

/* Nobody writes to the FIFO: the load must refuse it, naming it, without
 * blocking in open() (the test would hang; the harness's timeout ends it). */
static void
test_load_fifo (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = g_build_filename (s->dir, "fifo.env", NULL);
  g_assert_cmpint (mkfifo (path, 0644), ==, 0);
  g_autofree char *link = g_build_filename (s->dir, "link.env", NULL);
  g_assert_cmpint (symlink (path, link), ==, 0);
  g_auto (GStrv) env = preset_env ();
  const char *const paths[] = { path, link };
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *prefix = g_strconcat (paths[i], ": ", NULL);
      g_assert_false (stem_envfile_load (paths[i], FALSE, &env, &error));
      g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
      assert_message (error, prefix, "not a regular file but a FIFO");
      assert_unchanged (env);
    }
}

static void
test_load_device (void)
{
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;
  g_assert_false (stem_envfile_load ("/dev/null", FALSE, &env, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  assert_message (error, "/dev/null: ", "not a regular file but a character device");
  assert_unchanged (env);
}

/* Loads PATH with the root-safety rule and expects it to be refused with a
 * message that contains PART and says how to fix the file. */
static void
assert_unsafe (const char *path, const char *part, gboolean fix_in_message)
{
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;
  g_autofree char *prefix = g_strconcat (path, ": ", NULL);

  g_assert_false (stem_envfile_load (path, TRUE, &env, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_UNSAFE);
  assert_message (error, prefix, part);
  if (fix_in_message)
    {
      g_autofree char *fix = g_strdup_printf ("chown root %s && chmod go-w %s)", path, path);
      if (strstr (error->message, fix) == NULL)
        g_error ("“%s” does not say “%s”", error->message, fix);
    }
  assert_unchanged (env);
}

static void
own_by_root_if_possible (const char *path)
{
  if (geteuid () == 0)
    g_assert_cmpint (chown (path, 0, 0), ==, 0);
}

static void
test_safe_group_writable (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = write_file (s, "stem.env", "A=1\n", -1, 0664);
  own_by_root_if_possible (path);
  assert_unsafe (path, "writable by group or others (mode 0664)", TRUE);
}

static void
test_safe_world_writable (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = write_file (s, "stem.env", "A=1\n", -1, 0646);
  own_by_root_if_possible (path);
  assert_unsafe (path, "writable by group or others (mode 0646)", TRUE);
}

static void
test_safe_symlink (StemScratch *s, gconstpointer data)
{
  g_autofree char *target = write_file (s, "real.env", "A=1\n", -1, 0644);
  own_by_root_if_possible (target);
  g_autofree char *link = g_build_filename (s->dir, "link.env", NULL);
  g_assert_cmpint (symlink (target, link), ==, 0);
  assert_unsafe (link, "is a symbolic link", FALSE);
}

static void
test_safe_directory (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = g_build_filename (s->dir, "stem.env", NULL);
  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  /* chown and chmod cannot fix it (it may be /dev/null): never suggested. */
  assert_unsafe (path, "not a regular file", FALSE);
  assert_unsafe (path, "(hint: name a regular file, owned by root", FALSE);
}

static void
test_safe_fifo (StemScratch *s, gconstpointer data)
{
  /* Nobody writes to it: the load must refuse it without blocking in open(). */
  g_autofree char *path = g_build_filename (s->dir, "stem.env", NULL);
  g_assert_cmpint (mkfifo (path, 0644), ==, 0);
  assert_unsafe (path, "not a regular file", FALSE);
}

static void
test_safe_foreign_owner (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = write_file (s, "stem.env", "A=1\n", -1, 0644);
  /* As root, hand the file to nobody; otherwise it already belongs to a
   * user who is not root. */
  uid_t owner = geteuid ();
  if (owner == 0)
    {
      owner = 65534;
      g_assert_cmpint (chown (path, owner, owner), ==, 0);
    }
  g_autofree char *part = g_strdup_printf ("owned by uid %u, not root", (unsigned)owner);
  assert_unsafe (path, part, TRUE);
}

static void
test_safe_root_owned (StemScratch *s, gconstpointer data)
{
  if (geteuid () != 0)
    {
      g_test_skip ("needs root: only root can create a file owned by root");
      return;
    }
  g_autofree char *path = write_file (s, "stem.env", "A=1\n", -1, 0644);
  g_assert_cmpint (chown (path, 0, 0), ==, 0);
  g_auto (GStrv) env = preset_env ();
  g_autoptr (GError) error = NULL;

  g_assert_true (stem_envfile_load (path, TRUE, &env, &error));
  g_assert_no_error (error);
  assert_env (env, "A=1");
}

static void
add_scratch_test (const char *path, void (*func) (StemScratch *, gconstpointer))
{
  g_test_add (path, StemScratch, NULL, stem_scratch_setup, func, stem_scratch_teardown);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    g_test_add_data_func (cases[i].path, &cases[i], test_case);

  g_test_add_func ("/envfile/limits/line-at-limit", test_line_at_limit);
  g_test_add_func ("/envfile/limits/line-too-long", test_line_too_long);
  g_test_add_func ("/envfile/limits/parse-size", test_parse_size_limit);

  add_scratch_test ("/envfile/load/regular", test_load_regular);
  add_scratch_test ("/envfile/load/later-files-win", test_load_later_files_win);
  add_scratch_test ("/envfile/load/missing", test_load_missing);
  add_scratch_test ("/envfile/load/error-location", test_load_error_location);
  add_scratch_test ("/envfile/load/too-large", test_load_too_large);
  add_scratch_test ("/envfile/load/symlink-unchecked", test_load_symlink_unchecked);
  add_scratch_test ("/envfile/load/directory", test_load_directory);
  add_scratch_test ("/envfile/load/fifo", test_load_fifo);
  g_test_add_func ("/envfile/load/device", test_load_device);
  add_scratch_test ("/envfile/safe/group-writable", test_safe_group_writable);
  add_scratch_test ("/envfile/safe/world-writable", test_safe_world_writable);
  add_scratch_test ("/envfile/safe/symlink", test_safe_symlink);
  add_scratch_test ("/envfile/safe/directory", test_safe_directory);
  add_scratch_test ("/envfile/safe/fifo", test_safe_fifo);
  add_scratch_test ("/envfile/safe/foreign-owner", test_safe_foreign_owner);
  add_scratch_test ("/envfile/safe/root-owned", test_safe_root_owned);

  return g_test_run ();
}
