/* Planning, table by table: nodes from counts, prefixes and the
 * environment; per-node selectors; env-file precedence; templates and
 * their errors; pidfile clashes; the defaults from STEMD_PID_FILE and
 * friends; the worker command and the environment a worker is given. */

#include <glib/gstdio.h>
#include <string.h>

#include "stem-error.h"
#include "stem-options.h"
#include "stem-plan.h"

static const StemOptionSpec specs[] = {
  { "pidfile", 0, "T", STEM_OPTION_PER_NODE, STEM_OPT_PIDFILE, "" },
  { "logfile", 0, "T", STEM_OPTION_PER_NODE, STEM_OPT_LOGFILE, "" },
  { "workdir", 0, "T", STEM_OPTION_PER_NODE, STEM_OPT_WORKDIR, "" },
  { "env-file", 0, "F", STEM_OPTION_PER_NODE | STEM_OPTION_REPEATABLE, STEM_OPT_ENV_FILE, "" },
  { "command", 0, "A", STEM_OPTION_PER_NODE | STEM_OPTION_REPEATABLE, STEM_OPT_COMMAND, "" },
  { "command-line", 0, "S", STEM_OPTION_PER_NODE, STEM_OPT_COMMAND_LINE, "" },
  { "queue", 'q', "Q", STEM_OPTION_PER_NODE | STEM_OPTION_REPEATABLE, STEM_OPT_QUEUE, "" },
  { "broadcast", 'b', "B", STEM_OPTION_PER_NODE | STEM_OPTION_REPEATABLE, STEM_OPT_BROADCAST, "" },
  { "prefix", 0, "P", 0, STEM_OPT_PREFIX, "" },
  { NULL },
};

/* A scratch directory with env files; ENV is the environment planning
 * starts from (never the test's own). */
typedef struct
{
  char *dir;
  GStrv env;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->dir = g_dir_make_tmp ("stem-plan-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  f->env = g_environ_setenv (NULL, "PATH", "/usr/bin:/bin", TRUE);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autoptr (GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (f->dir);
  g_free (f->dir);
  g_strfreev (f->env);
}

/* Writes NAME in the fixture's directory; returns its path. */
static char *
env_file (Fixture *f, const char *name, const char *contents)
{
  char *path = g_build_filename (f->dir, name, NULL);
  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
  g_chmod (path, 0600);
  return path;
}

/* LINE's words (split at spaces, "@" standing for the fixture directory)
 * parsed as a stem-multi command line after its verb. */
static StemArgs *
parse (Fixture *f, const char *line)
{
  g_autoptr (GString) expanded = g_string_new ("stem-multi ");
  for (const char *p = line; *p != '\0'; p++)
    if (*p == '@')
      g_string_append (expanded, f->dir);
    else
      g_string_append_c (expanded, *p);
  g_auto (GStrv) split = g_strsplit (expanded->str, " ", -1);
  g_autoptr (GPtrArray) words = g_ptr_array_new ();
  for (guint i = 0; split[i] != NULL; i++)
    if (*split[i] != '\0')
      g_ptr_array_add (words, split[i]);
  g_ptr_array_add (words, NULL);
  g_autoptr (GError) error = NULL;
  StemArgs *args = stem_args_parse (specs, words->len - 1, (char **)words->pdata, &error);
  g_assert_no_error (error);
  g_ptr_array_add (args->positionals, NULL);
  return args;
}

static StemPlanSet *
plan_paths (Fixture *f, StemArgs *args, GError **error)
{
  return stem_plan_build_paths (args, (const char *const *)args->positionals->pdata,
                                (const char *const *)f->env, error);
}

static const StemNodePlan *
plan_of (StemPlanSet *set, guint i)
{
  g_assert_cmpuint (i, <, set->plans->len);
  return set->plans->pdata[i];
}

/* ---- nodes ----------------------------------------------------------------- */

static const struct
{
  const char *line;
  const char *env_nodes; /* STEMD_NODES, or NULL */
  const char *want;      /* the nodes, space-separated */
} node_cases[] = {
  { "3", NULL, "stem1 stem2 stem3" },
  { "2 --prefix=w", NULL, "w1 w2" },
  { "alpha beta", NULL, "alpha beta" },
  { "alpha 2", NULL, "alpha stem1 stem2" },
  { "", "a b", "a b" },
  { "x", "a b", "x" },
};

static void
test_nodes (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (node_cases); i++)
    {
      g_auto (GStrv) saved = g_strdupv (f->env);
      if (node_cases[i].env_nodes != NULL)
        f->env = g_environ_setenv (f->env, "STEMD_NODES", node_cases[i].env_nodes, TRUE);
      g_autoptr (StemArgs) args = parse (f, node_cases[i].line);
      g_autoptr (GError) error = NULL;
      g_autoptr (StemPlanSet) set = plan_paths (f, args, &error);
      g_assert_no_error (error);
      g_autofree char *got = g_strjoinv (" ", set->nodes);
      g_assert_cmpstr (got, ==, node_cases[i].want);
      for (guint j = 0; j < set->plans->len; j++)
        g_assert_cmpuint (plan_of (set, j)->index, ==, j + 1);
      g_strfreev (f->env);
      f->env = g_steal_pointer (&saved);
    }
}

/* ---- errors ------------------------------------------------------------------ */

static const struct
{
  const char *line;
  int code;
  const char *says; /* a part of the message */
} error_cases[] = {
  { "", STEM_ERROR_NO_NODES, "No nodes given" },
  { "a a", STEM_ERROR_USAGE, "a" },
  { "bad/name", STEM_ERROR_USAGE, "bad/name" },
  { "3 -q:5=x", STEM_ERROR_USAGE, "5" },
  { "a b --pidfile=/run/x.pid", STEM_ERROR_CONFIG, "/run/x.pid" },
  { "a --pidfile=/run/%d.pid", STEM_ERROR_CONFIG, "%d" },
  { "a --logfile=/log/%q.log", STEM_ERROR_CONFIG, "%q" },
  { "a --workdir=/w/%", STEM_ERROR_CONFIG, "/w/%" },
  { "a b --pidfile:a=/p/same.pid --pidfile:b=/p/same.pid", STEM_ERROR_CONFIG,
    "would share the pidfile" },
  { "a --pidfile=/r/%n.pid --logfile=/r/%n.pid", STEM_ERROR_CONFIG,
    "Log file “/r/a.pid” of node “a” is the pidfile of node “a”" },
  { "a b --pidfile=/r/%n.pid --logfile:a=/r/./b.pid", STEM_ERROR_CONFIG,
    "Log file “/r/b.pid” of node “a” is the pidfile of node “b”" },
  { "a b --pidfile=/r/%n.pid --logfile:b=/r/a.pid.lock", STEM_ERROR_CONFIG,
    "Log file “/r/a.pid.lock” of node “b” is the lock file of node “a”" },
  { "a --env-file=@/missing.env", STEM_ERROR_CONFIG, "missing.env" },
};

static void
test_errors (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (error_cases); i++)
    {
      g_autoptr (StemArgs) args = parse (f, error_cases[i].line);
      g_autoptr (GError) error = NULL;
      g_autoptr (StemPlanSet) set = plan_paths (f, args, &error);
      if (set != NULL || !g_error_matches (error, STEM_ERROR, error_cases[i].code)
          || strstr (error->message, error_cases[i].says) == NULL)
        g_error ("“%s”: expected error %d naming “%s”, got %s", error_cases[i].line,
                 error_cases[i].code, error_cases[i].says,
                 error != NULL ? error->message : "success");
    }
}

/* ---- paths ---------------------------------------------------------------- */

static const struct
{
  const char *line;
  const char *env_name;
  const char *env_value;
  guint node;
  const char *pidfile, *logfile, *workdir;
} path_cases[] = {
  { "a b --pidfile=/r/%n.pid --logfile=/l/%N-%I.log", NULL, NULL, 1, "/r/b.pid", "/l/B-2.log",
    "/" },
  { "a b --pidfile:b=/other/b.pid --pidfile=/r/%n.pid", NULL, NULL, 1, "/other/b.pid",
    STEM_LOCALSTATEDIR "/log/stem/b.log", "/" },
  { "a --workdir=/w/%n", NULL, NULL, 0, STEM_RUNSTATEDIR "/stem/a.pid",
    STEM_LOCALSTATEDIR "/log/stem/a.log", "/w/a" },
  { "a", "STEMD_PID_FILE", "/p/%n.pid", 0, "/p/a.pid", STEM_LOCALSTATEDIR "/log/stem/a.log", "/" },
  { "a", "STEM_PID_DIR", "/pd", 0, "/pd/a.pid", STEM_LOCALSTATEDIR "/log/stem/a.log", "/" },
  { "a", "STEMD_LOG_FILE", "/lf/%n.log", 0, STEM_RUNSTATEDIR "/stem/a.pid", "/lf/a.log", "/" },
  { "a", "STEM_LOG_DIR", "/ld", 0, STEM_RUNSTATEDIR "/stem/a.pid", "/ld/a.log", "/" },
  { "a --pidfile=/given/%n.pid", "STEMD_PID_FILE", "/p/%n.pid", 0, "/given/a.pid",
    STEM_LOCALSTATEDIR "/log/stem/a.log", "/" },
  { "a --logfile=-", NULL, NULL, 0, STEM_RUNSTATEDIR "/stem/a.pid", NULL, "/" },
};

static void
test_paths (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (path_cases); i++)
    {
      g_auto (GStrv) saved = g_strdupv (f->env);
      if (path_cases[i].env_name != NULL)
        f->env = g_environ_setenv (f->env, path_cases[i].env_name, path_cases[i].env_value, TRUE);
      g_autoptr (StemArgs) args = parse (f, path_cases[i].line);
      g_autoptr (GError) error = NULL;
      g_autoptr (StemPlanSet) set = plan_paths (f, args, &error);
      g_assert_no_error (error);
      const StemNodePlan *plan = plan_of (set, path_cases[i].node);
      g_assert_cmpstr (plan->pidfile, ==, path_cases[i].pidfile);
      g_assert_cmpstr (plan->logfile, ==, path_cases[i].logfile);
      g_assert_cmpstr (plan->workdir, ==, path_cases[i].workdir);
      g_strfreev (f->env);
      f->env = g_steal_pointer (&saved);
    }
}

/* ---- commands and the worker's environment --------------------------------- */

static void
test_env_file_precedence (Fixture *f, gconstpointer data)
{
  g_autofree char *one = env_file (f, "one.env", "STEMD_NODES=a\nX=one\nY=one\n");
  g_autofree char *two = env_file (f, "two.env", "X=two\nSTEM_WORKER_COMMAND=/bin/true\n");
  g_autofree char *node = env_file (f, "node.env", "Y=node\n");
  f->env = g_environ_setenv (f->env, "X", "caller", TRUE);
  f->env = g_environ_setenv (f->env, "Z", "caller", TRUE);
  g_autoptr (StemArgs) args
      = parse (f, "--env-file=@/one.env --env-file=@/two.env --env-file:a=@/node.env");
  g_autoptr (GError) error = NULL;
  g_autoptr (StemPlanSet) set
      = stem_plan_build_paths (args, NULL, (const char *const *)f->env, &error);
  g_assert_no_error (error);
  g_autofree char *nodes = g_strjoinv (" ", set->nodes);
  g_assert_cmpstr (nodes, ==, "a");
  /* Later files win over earlier ones and over the caller's environment. */
  g_assert_cmpstr (g_environ_getenv (set->base_env, "X"), ==, "two");
  g_assert_cmpstr (g_environ_getenv (set->base_env, "Z"), ==, "caller");
  g_assert_cmpstr (g_environ_getenv (set->base_env, "Y"), ==, "one");
}

/* The worker command and what a worker is given (SPEC 3.3, 3.7): planned
 * from the process's environment, which this test sets itself. */
static void
test_commands (Fixture *f, gconstpointer data)
{
  g_setenv ("STEM_WORKER_COMMAND", "/bin/echo from-env", TRUE);
  g_unsetenv ("STEMD_NODES");
  g_unsetenv ("STEM_WORKER_NODES");
  g_unsetenv ("STEM_DEFAULT_QUEUE");
  {
    g_autoptr (StemArgs) args = parse (f, "a b -q x,y -q:b=z -b ctl");
    g_autoptr (GError) error = NULL;
    g_autoptr (StemPlanSet) set
        = stem_plan_build_commands (args, (const char *const *)args->positionals->pdata, &error);
    g_assert_no_error (error);
    const StemNodePlan *a = plan_of (set, 0), *b = plan_of (set, 1);
    g_assert_cmpstr (a->argv[0], ==, "/bin/echo");
    g_assert_cmpstr (a->argv[1], ==, "from-env");
    g_assert_cmpstr (g_environ_getenv (a->envp, "STEM_WORKER_NODE"), ==, "a");
    g_assert_cmpstr (g_environ_getenv (b->envp, "STEM_WORKER_INDEX"), ==, "2");
    g_assert_cmpstr (g_environ_getenv (a->envp, "STEM_WORKER_QUEUES"), ==, "x,y");
    g_assert_cmpstr (g_environ_getenv (b->envp, "STEM_WORKER_QUEUES"), ==, "z");
    g_assert_cmpstr (g_environ_getenv (a->envp, "STEM_DEFAULT_QUEUE"), ==, "x");
    g_assert_cmpstr (g_environ_getenv (a->envp, "STEM_WORKER_BROADCASTS"), ==, "ctl");
    g_assert_cmpstr (g_environ_getenv (a->envp, "STEM_WORKER_PIDFILE"), ==, a->pidfile);
  }
  {
    /* --command wins over the environment; %n expands in its words. */
    g_autoptr (StemArgs) args = parse (f, "a --command=/bin/echo --command=node-%n");
    g_autoptr (GError) error = NULL;
    g_autoptr (StemPlanSet) set
        = stem_plan_build_commands (args, (const char *const *)args->positionals->pdata, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (plan_of (set, 0)->argv[1], ==, "node-a");
  }
  {
    g_autoptr (StemArgs) args = parse (f, "a --command=no-such-stem-program");
    g_autoptr (GError) error = NULL;
    g_autoptr (StemPlanSet) set
        = stem_plan_build_commands (args, (const char *const *)args->positionals->pdata, &error);
    g_assert_null (set);
    g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
    g_assert_nonnull (strstr (error->message, "no-such-stem-program"));
  }
  g_unsetenv ("STEM_WORKER_COMMAND");
  {
    /* Two nodes wrong at once: both are named. */
    g_autoptr (StemArgs) args = parse (f, "a b --command:a=/bin/true");
    g_autoptr (GError) error = NULL;
    g_autoptr (StemPlanSet) set
        = stem_plan_build_commands (args, (const char *const *)args->positionals->pdata, &error);
    g_assert_null (set);
    g_assert_nonnull (error);
    g_assert_nonnull (strstr (error->message, "b: "));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/plan/nodes", test_nodes);
  ADD ("/plan/errors", test_errors);
  ADD ("/plan/paths", test_paths);
  ADD ("/plan/env-file/precedence", test_env_file_precedence);
  ADD ("/plan/commands", test_commands);
#undef ADD
  return g_test_run ();
}
