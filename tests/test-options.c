#include <glib/gstdio.h>
#include <string.h>

#include "stem-command.h"
#include "stem-error.h"
#include "stem-options.h"

/* g_assert_cmpstrv is newer than the GLib this project supports. */
#define assert_strv(a, b) assert_strv_impl (G_STRLOC, (const char *const *)(a), (b))

static void
assert_strv_impl (const char *where, const char *const *got, const char *const *want)
{
  g_autofree char *g = g_strjoinv ("|", (char **)got);
  g_autofree char *w = g_strjoinv ("|", (char **)want);
  if (g_strv_length ((char **)got) != g_strv_length ((char **)want) || strcmp (g, w) != 0)
    g_error ("%s: got “%s”, expected “%s”", where, g, w);
}

static const StemOptionSpec specs[] = {
  { "pidfile", 0, "T", STEM_OPTION_PER_NODE, STEM_OPT_PIDFILE, "" },
  { "queue", 'q', "Q", STEM_OPTION_PER_NODE | STEM_OPTION_REPEATABLE, STEM_OPT_QUEUE, "" },
  { "json", 0, NULL, 0, STEM_OPT_JSON, "" },
  { "settle", 0, "D", 0, STEM_OPT_SETTLE, "" },
  { NULL },
};

static StemArgs *
parse (const char *line, GError **error)
{
  g_auto (GStrv) words = g_strsplit (line, " ", -1);
  return stem_args_parse (specs, g_strv_length (words), words, error);
}

static void
test_forms (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (StemArgs) args = parse (
      "prog start a --pidfile=/x/%n.pid -q one -qtwo --queue three b --json -- w1 --json", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (args->positionals->len, ==, 3);
  g_assert_cmpstr (args->positionals->pdata[2], ==, "b");
  assert_strv (args->trailing, ((const char *const[]){ "w1", "--json", NULL }));
  g_assert_cmpstr (stem_args_get (args, STEM_OPT_PIDFILE), ==, "/x/%n.pid");
  g_assert_true (stem_args_has (args, STEM_OPT_JSON));
  g_auto (GStrv) queues = stem_args_get_all_for_node (args, STEM_OPT_QUEUE, "a", 1);
  assert_strv (queues, ((const char *const[]){ "one", "two", "three", NULL }));
}

typedef struct
{
  const char *line;
  const char *message;
} BadCase;

static const BadCase bad_cases[] = {
  { "prog --nope", "Unknown option “--nope”" },
  { "prog -x", "Unknown option “-x”" },
  { "prog --json=1", "takes no value" },
  { "prog --settle", "needs a value" },
  { "prog --settle --", "needs a value" },
  { "prog --json:a", "cannot be given per node" },
  { "prog --settle:a=1", "cannot be given per node" },
  { "prog --queue:=x", "Empty node selector" },
  { "prog --queue:a", "needs a value" },
};

static void
test_bad (gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (StemArgs) args = parse (c->line, &error);
  g_assert_null (args);
  g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
  if (strstr (error->message, c->message) == NULL)
    g_error ("“%s” does not contain “%s”", error->message, c->message);
}

typedef struct
{
  const char *selector;
  const char *node;
  guint index;
  gboolean match;
} SelectorCase;

static const SelectorCase selector_cases[] = {
  { "alpha", "alpha", 1, TRUE },     { "alpha", "beta", 2, FALSE },
  { "alpha,beta", "beta", 2, TRUE }, { "2", "beta", 2, TRUE },
  { "2", "alpha", 1, FALSE },        { "1-3", "c", 3, TRUE },
  { "1-3", "d", 4, FALSE },          { "4-4", "d", 4, TRUE },
  { "x,2-3,z", "y", 3, TRUE },       { "stem10", "stem10", 10, TRUE },
};

static void
test_selector (gconstpointer data)
{
  const SelectorCase *c = data;
  g_autoptr (GError) error = NULL;
  gboolean match = !c->match;
  g_assert_true (stem_selector_match (c->selector, c->node, c->index, &match, &error));
  g_assert_no_error (error);
  g_assert_cmpint (match, ==, c->match);
}

static void
test_selector_bad (void)
{
  static const char *const bad[] = { "a,,b", "3-1", "0", "1-x", "-2", ",", NULL };
  for (guint i = 0; bad[i] != NULL; i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean match;
      if (stem_selector_match (bad[i], "a", 1, &match, &error))
        g_error ("selector “%s” was accepted", bad[i]);
      g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
    }
}

static void
test_scoped_values (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (StemArgs) args
      = parse ("prog -q all -q:b,3=special -q:3=third --pidfile=/g --pidfile:a=/a", &error);
  g_assert_no_error (error);
  const char *const nodes[] = { "a", "b", "c", NULL };
  g_assert_true (stem_args_check_selectors (args, nodes, &error));

  g_auto (GStrv) qa = stem_args_get_all_for_node (args, STEM_OPT_QUEUE, "a", 1);
  g_auto (GStrv) qb = stem_args_get_all_for_node (args, STEM_OPT_QUEUE, "b", 2);
  g_auto (GStrv) qc = stem_args_get_all_for_node (args, STEM_OPT_QUEUE, "c", 3);
  assert_strv (qa, ((const char *const[]){ "all", NULL }));
  assert_strv (qb, ((const char *const[]){ "special", NULL }));
  assert_strv (qc, ((const char *const[]){ "special", "third", NULL }));
  g_assert_cmpstr (stem_args_get_for_node (args, STEM_OPT_PIDFILE, "a", 1), ==, "/a");
  g_assert_cmpstr (stem_args_get_for_node (args, STEM_OPT_PIDFILE, "b", 2), ==, "/g");
}

static void
test_unmatched_selector (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (StemArgs) args = parse ("prog -q:a,9=x", &error);
  g_assert_no_error (error);
  const char *const one[] = { "a", NULL };
  g_assert_true (stem_args_check_selectors (args, one, &error));
  g_autoptr (StemArgs) args2 = parse ("prog -q:z,9=x", &error);
  g_assert_false (stem_args_check_selectors (args2, one, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
  g_assert_nonnull (strstr (error->message, "“z,9”"));
}

typedef struct
{
  const char *line;
  const char *const words[6]; /* NULL-terminated; words[0] NULL means an error */
} SplitCase;

static const SplitCase split_cases[] = {
  { "worker run", { "worker", "run", NULL } },
  { "  worker\t run  ", { "worker", "run", NULL } },
  { "worker 'a b' \"c d\"", { "worker", "a b", "c d", NULL } },
  { "worker a\\ b", { "worker", "a b", NULL } },
  { "worker \"\\$HOME \\\" \\\\ \\`\"", { "worker", "$HOME \" \\ `", NULL } },
  { "worker '$HOME;|&'", { "worker", "$HOME;|&", NULL } },
  { "worker x''y \"\"", { "worker", "xy", "", NULL } },
  { "worker a=b --c=%n", { "worker", "a=b", "--c=%n", NULL } },
  /* Line continuations, as a shell removes them. */
  { "worker a\\\nb", { "worker", "ab", NULL } },
  { "worker a \\\n b", { "worker", "a", "b", NULL } },
  { "worker \"x\\\ny\"", { "worker", "xy", NULL } },
  { "worker 'x\\\ny'", { "worker", "x\\\ny", NULL } },
  { "worker $HOME", { NULL } },
  { "worker `id`", { NULL } },
  { "worker; rm", { NULL } },
  { "worker && x", { NULL } },
  { "worker | x", { NULL } },
  { "worker > log", { NULL } },
  { "worker < in", { NULL } },
  { "(worker)", { NULL } },
  { "worker #comment", { NULL } },
  { "worker 'open", { NULL } },
  { "worker \"open", { NULL } },
  { "worker \"$x\"", { NULL } },
  { "worker \\", { NULL } },
  { "", { NULL } },
  { "   ", { NULL } },
};

static void
test_split (gconstpointer data)
{
  const SplitCase *c = data;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = NULL;
  gboolean ok = stem_command_split ("TEST", c->line, &argv, &error);
  if (c->words[0] == NULL)
    {
      g_assert_false (ok);
      g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
      g_assert_true (g_str_has_prefix (error->message, "TEST: "));
      return;
    }
  g_assert_no_error (error);
  assert_strv (argv, c->words);
}

static void
test_resolve_order (void)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = NULL;
  g_autofree char *origin = NULL;
  const char *const env[] = { "STEMD_COMMAND=second", "STEM_WORKER_COMMAND=first x", NULL };
  const char *const extra[] = { "--more", NULL };
  g_assert_true (stem_command_resolve (NULL, NULL, env, extra, &argv, &origin, &error));
  assert_strv (argv, ((const char *const[]){ "first", "x", "--more", NULL }));
  g_assert_cmpstr (origin, ==, "STEM_WORKER_COMMAND");

  g_clear_pointer (&argv, g_strfreev);
  g_clear_pointer (&origin, g_free);
  g_assert_true (stem_command_resolve (NULL, "line 'a b'", env, NULL, &argv, &origin, &error));
  assert_strv (argv, ((const char *const[]){ "line", "a b", NULL }));

  g_clear_pointer (&argv, g_strfreev);
  const char *const words[] = { "w o r d", "$x", NULL };
  g_assert_true (stem_command_resolve (words, "line", env, NULL, &argv, NULL, &error));
  assert_strv (argv, words);

  g_clear_pointer (&argv, g_strfreev);
  const char *const only_stemd[] = { "STEMD_COMMAND=second", NULL };
  g_assert_true (stem_command_resolve (NULL, NULL, only_stemd, NULL, &argv, NULL, &error));
  assert_strv (argv, ((const char *const[]){ "second", NULL }));

  g_clear_pointer (&argv, g_strfreev);
  const char *const none[] = { "PATH=/bin", NULL };
  g_assert_false (stem_command_resolve (NULL, NULL, none, NULL, &argv, NULL, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "STEM_WORKER_COMMAND"));
}

static void
test_find_program (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("stem-test-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *exe = g_build_filename (dir, "tool", NULL);
  g_autofree char *plain = g_build_filename (dir, "plain", NULL);
  g_assert_true (g_file_set_contents (exe, "#!/bin/sh\n", -1, NULL));
  g_assert_true (g_file_set_contents (plain, "#!/bin/sh\n", -1, NULL));
  g_assert_cmpint (g_chmod (exe, 0755), ==, 0);
  g_assert_cmpint (g_chmod (plain, 0644), ==, 0);

  g_autofree char *path_var = g_strdup_printf ("PATH=relative:%s:/nonexistent", dir);
  const char *const env[] = { path_var, NULL };
  g_autofree char *found = stem_command_find_program ("tool", env, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (found, ==, exe);

  g_autofree char *missing = stem_command_find_program ("plain", env, &error);
  g_assert_null (missing);
  g_assert_nonnull (strstr (error->message, "is not executable"));
  g_clear_error (&error);

  g_autofree char *nowhere = stem_command_find_program ("no-such-tool", env, &error);
  g_assert_null (nowhere);
  g_assert_nonnull (strstr (error->message, "not found on PATH"));
  g_clear_error (&error);

  g_autofree char *absolute = stem_command_find_program (dir, env, &error);
  g_assert_null (absolute);
  g_assert_nonnull (strstr (error->message, "not a regular file"));
  g_clear_error (&error);

  g_unlink (exe);
  g_unlink (plain);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/options/forms", test_forms);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/options/bad/%u", i);
      g_test_add_data_func (path, &bad_cases[i], test_bad);
    }
  for (guint i = 0; i < G_N_ELEMENTS (selector_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/selector/match/%u", i);
      g_test_add_data_func (path, &selector_cases[i], test_selector);
    }
  g_test_add_func ("/selector/bad", test_selector_bad);
  g_test_add_func ("/selector/scoped-values", test_scoped_values);
  g_test_add_func ("/selector/unmatched", test_unmatched_selector);
  for (guint i = 0; i < G_N_ELEMENTS (split_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/command/split/%u", i);
      g_test_add_data_func (path, &split_cases[i], test_split);
    }
  g_test_add_func ("/command/resolve-order", test_resolve_order);
  g_test_add_func ("/command/find-program", test_find_program);
  return g_test_run ();
}
