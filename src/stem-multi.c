#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stem-command.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-lock.h"
#include "stem-multi.h"
#include "stem-options.h"
#include "stem-plan.h"
#include "stem-schedule.h"

typedef int (*StemVerbFunc) (StemMultiOptions *opts, GError **error);

typedef struct
{
  const char *name;
  const char *args; /* for --help */
  guint min_words;
  guint max_words;
  StemVerbFunc func;
  const char *description;
} StemVerb;

static const StemVerb verbs[] = {
  { "start", N_ ("[NODE…|N]"), 0, G_MAXUINT, stem_multi_start,
    N_ ("Start nodes in the background (or one in the foreground)") },
  { "stop", N_ ("[NODE…|N]"), 0, G_MAXUINT, stem_multi_stop,
    N_ ("Stop nodes and wait for them (escalating per --retry)") },
  { "stopwait", N_ ("[NODE…|N]"), 0, G_MAXUINT, stem_multi_stop, N_ ("The same as stop") },
  { "restart", N_ ("[NODE…|N]"), 0, G_MAXUINT, stem_multi_restart,
    N_ ("Stop and start nodes one at a time") },
  { "kill", N_ ("[NODE…|N]"), 0, G_MAXUINT, stem_multi_kill, N_ ("Send SIGKILL and wait") },
  { "supervise", N_ ("[NODE…|N]"), 0, G_MAXUINT, stem_multi_supervise,
    N_ ("Run nodes as children, restart crashed ones, forward signals") },
  { "status", N_ ("[NODE…|N]"), 0, G_MAXUINT, stem_multi_status,
    N_ ("Show node state (LSB exit codes)") },
  { "show", N_ ("[NODE…|N]"), 0, G_MAXUINT, stem_multi_show,
    N_ ("Show what start would run, changing nothing") },
  { "names", N_ ("[NODE…|N]"), 0, G_MAXUINT, stem_multi_names, N_ ("List node names") },
  { "expand", N_ ("TEMPLATE [NODE…|N]"), 1, G_MAXUINT, stem_multi_expand,
    N_ ("Expand a template for each node") },
  { "get", N_ ("NODE [NODE…|N]"), 1, G_MAXUINT, stem_multi_get,
    N_ ("Print the command line of one node") },
  { "logs", N_ ("[NODE…|N]"), 0, G_MAXUINT, stem_multi_logs,
    N_ ("Print the last lines of each node's log (--follow: and what comes)") },
};

static const StemOptionSpec options[] = {
  { "pidfile", 0, N_ ("TEMPLATE"), STEM_OPTION_PER_NODE, STEM_OPT_PIDFILE,
    N_ ("Pidfile of each node (see Defaults below)") },
  { "logfile", 0, N_ ("TEMPLATE"), STEM_OPTION_PER_NODE, STEM_OPT_LOGFILE,
    N_ ("Log file of each node (see Defaults below)") },
  { "workdir", 0, N_ ("TEMPLATE"), STEM_OPTION_PER_NODE, STEM_OPT_WORKDIR,
    N_ ("Working directory of the worker (default /)") },
  { "env-file", 0, N_ ("FILE"), STEM_OPTION_PER_NODE | STEM_OPTION_REPEATABLE, STEM_OPT_ENV_FILE,
    N_ ("Read variables from FILE (repeatable, later files win)") },
  { "command", 0, N_ ("ARG"), STEM_OPTION_PER_NODE | STEM_OPTION_REPEATABLE, STEM_OPT_COMMAND,
    N_ ("One word of the worker command (repeatable)") },
  { "command-line", 0, N_ ("STRING"), STEM_OPTION_PER_NODE, STEM_OPT_COMMAND_LINE,
    N_ ("The worker command, split like a shell would (never run by one)") },
  { "queue", 'q', N_ ("QUEUE"), STEM_OPTION_PER_NODE | STEM_OPTION_REPEATABLE, STEM_OPT_QUEUE,
    N_ ("Queue to consume (repeatable, or a comma list)") },
  { "broadcast", 'b', N_ ("CHANNEL"), STEM_OPTION_PER_NODE | STEM_OPTION_REPEATABLE,
    STEM_OPT_BROADCAST, N_ ("Broadcast channel to subscribe (repeatable)") },
  { "routing-config", 0, N_ ("FILE"), 0, STEM_OPT_ROUTING_CONFIG,
    N_ ("Routing file that names the queues (default $STEM_ROUTING_CONFIG)") },
  { "prefix", 0, N_ ("PREFIX"), 0, STEM_OPT_PREFIX,
    N_ ("Name prefix when nodes are given as a count (default stem)") },
  { "uid", 0, N_ ("USER"), STEM_OPTION_PER_NODE, STEM_OPT_UID,
    N_ ("Run the worker as USER (name or number; root only)") },
  { "gid", 0, N_ ("GROUP"), STEM_OPTION_PER_NODE, STEM_OPT_GID,
    N_ ("Run the worker in GROUP (default: USER's primary group)") },
  { "umask", 0, N_ ("MODE"), STEM_OPTION_PER_NODE, STEM_OPT_UMASK,
    N_ ("File mode creation mask of the worker (octal)") },
  { "detach", 0, NULL, 0, STEM_OPT_DETACH, N_ ("Start in the background (the default)") },
  { "foreground", 0, NULL, 0, STEM_OPT_FOREGROUND,
    N_ ("Write the pidfile, then run one node in place of stem-multi") },
  { "settle", 0, N_ ("DURATION"), 0, STEM_OPT_SETTLE,
    N_ ("After start, report nodes that died within DURATION (default 0.5s)") },
  { "timeout", 0, N_ ("DURATION"), 0, STEM_OPT_TIMEOUT,
    N_ ("Wait this long after the first stop signal before SIGKILL (default 30s)") },
  { "lock-timeout", 0, N_ ("DURATION"), 0, STEM_OPT_LOCK_TIMEOUT,
    N_ ("Wait at most this long for another call on the same node (default 60s)") },
  { "mode", 0, N_ ("warm|soft|hard"), 0, STEM_OPT_MODE,
    N_ ("First stop signal: TERM, INT or QUIT (default warm)") },
  { "retry", 0, N_ ("SCHEDULE"), 0, STEM_OPT_RETRY,
    N_ ("Stop schedule such as TERM/30/KILL/5 (overrides --mode and --timeout)") },
  { "restart", 0, N_ ("on-failure|always|never"), 0, STEM_OPT_RESTART,
    N_ ("supervise: which exits restart a node (default on-failure)") },
  { "max-restarts", 0, N_ ("N"), 0, STEM_OPT_MAX_RESTARTS,
    N_ ("supervise: give a node up after N restarts in a row (default 10)") },
  { "no-wait", 0, NULL, 0, STEM_OPT_NO_WAIT, N_ ("Send the stop signal and return at once") },
  { "no-clean", 0, NULL, 0, STEM_OPT_NO_CLEAN, N_ ("Let status leave stale pidfiles alone") },
  { "lines", 'n', N_ ("N"), 0, STEM_OPT_LINES,
    N_ ("logs: print the last N lines of each log (default 10)") },
  { "follow", 'f', NULL, 0, STEM_OPT_FOLLOW,
    N_ ("logs: keep printing what is written, across log rotations") },
  { "no-kill-group", 0, NULL, 0, STEM_OPT_NO_KILL_GROUP,
    N_ ("Let stop, --settle and supervise leave what a worker left in its process group") },
  { "no-log-writer", 0, NULL, 0, STEM_OPT_NO_LOG_WRITER,
    N_ ("Let workers append to their log files themselves (rotate with copytruncate)") },
  { "json", 0, NULL, 0, STEM_OPT_JSON, N_ ("Print one JSON document") },
  { "quiet", 0, NULL, 0, STEM_OPT_QUIET, N_ ("Print only errors") },
  { "verbose", 'v', NULL, 0, STEM_OPT_VERBOSE, N_ ("Say what is being done") },
  { "version", 0, NULL, 0, STEM_OPT_VERSION, N_ ("Print the version and exit") },
  { "help", 'h', NULL, 0, STEM_OPT_HELP, N_ ("Print this help and exit") },
  { NULL },
};

static void
usage (void)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_string_append_printf (out, _ ("Usage: %s VERB [NODE…|N] [OPTION…] [-- WORKER-ARG…]\n"),
                          g_get_prgname ());
  g_string_append (out, _ ("\nManage Stem worker processes.\n\nVerbs:\n"));
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    {
      g_autofree char *left = g_strdup_printf ("  %s %s", verbs[i].name, _ (verbs[i].args));
      glong width = g_utf8_strlen (left, -1);
      g_string_append_printf (out, "%s%*s%s\n", left, (int)(width < 32 ? 32 - width : 1), "",
                              _ (verbs[i].description));
    }
  g_string_append (out, _ ("\nOptions:\n"));
  stem_options_print_help (options, out);
  g_string_append_printf (out, _ ("\nDefaults: --pidfile=%s --logfile=%s\n"),
                          stem_plan_default_pidfile (), stem_plan_default_logfile ());
  g_string_append (
      out, _ ("\nOptions marked [:SEL] may apply to some nodes only: SEL is a comma list of "
              "names,\npositions and ranges, e.g. --queue:alpha,2-3=images.\nTemplates expand %n "
              "%N %h %I %i %d %%.\n"
              "See stem-multi(1).\n"));
  fputs (out->str, stdout);
}

static const StemVerb *
find_verb (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    if (strcmp (verbs[i].name, name) == 0)
      return &verbs[i];
  return NULL;
}

/* The values of the options only some verbs use, checked for every verb
 * as the others are: a value that is wrong is a usage error whatever the
 * verb (--uid and --gid are looked up only where a worker is run). */
static gboolean
parse_other_values (StemMultiOptions *opts, GError **error)
{
  StemArgs *args = opts->args;
  const char *text = stem_args_get (args, STEM_OPT_RESTART);
  if (text == NULL || strcmp (text, "on-failure") == 0)
    opts->restart = STEM_RESTART_ON_FAILURE;
  else if (strcmp (text, "always") == 0)
    opts->restart = STEM_RESTART_ALWAYS;
  else if (strcmp (text, "never") == 0)
    opts->restart = STEM_RESTART_NEVER;
  else
    return stem_throw_code (error, STEM_ERROR_USAGE,
                            _ ("Invalid --restart “%s” (on-failure, always or never)"), text);

  guint64 value = 10;
  text = stem_args_get (args, STEM_OPT_MAX_RESTARTS);
  if (text != NULL && !g_ascii_string_to_unsigned (text, 10, 0, 1000000, &value, NULL))
    return stem_throw_code (error, STEM_ERROR_USAGE,
                            _ ("Invalid --max-restarts “%s” (a number from 0 to 1000000)"), text);
  opts->max_restarts = (guint)value;

  value = 10;
  text = stem_args_get (args, STEM_OPT_LINES);
  if (text != NULL && !g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT - 1, &value, NULL))
    return stem_throw_code (error, STEM_ERROR_USAGE,
                            _ ("Invalid --lines “%s” (a number of lines, 0 or more)"), text);
  opts->lines = (guint)value;

  /* The form of every value of the options that start reads, given for
   * any node: a mistake in a shared variable such as STEMD_OPTS shows with
   * whatever verb runs first. */
  for (guint i = 0; i < args->values->len; i++)
    {
      const StemOptionValue *v = args->values->pdata[i];
      mode_t mask;
      g_auto (GStrv) words = NULL;
      if ((v->spec->id == STEM_OPT_UMASK && !stem_plan_parse_umask (v->value, &mask, error))
          || (v->spec->id == STEM_OPT_QUEUE && !stem_plan_check_names ("--queue", v->value, error))
          || (v->spec->id == STEM_OPT_BROADCAST
              && !stem_plan_check_names ("--broadcast", v->value, error))
          || (v->spec->id == STEM_OPT_COMMAND_LINE
              && !stem_command_split ("--command-line", v->value, &words, error)))
        return FALSE;
    }
  return TRUE;
}

static gboolean
parse_options (StemMultiOptions *opts, GError **error)
{
  StemArgs *args = opts->args;
  opts->json = stem_args_has (args, STEM_OPT_JSON);
  opts->quiet = stem_args_has (args, STEM_OPT_QUIET);
  opts->verbose = stem_args_has (args, STEM_OPT_VERBOSE);
  opts->foreground = stem_args_has (args, STEM_OPT_FOREGROUND);
  opts->no_wait = stem_args_has (args, STEM_OPT_NO_WAIT);
  opts->no_clean = stem_args_has (args, STEM_OPT_NO_CLEAN);
  opts->no_kill_group = stem_args_has (args, STEM_OPT_NO_KILL_GROUP);

  opts->settle_ms = 500;
  opts->lock_timeout_ms = STEM_LOCK_TIMEOUT_MS;
  gint64 timeout_ms = 30 * 1000;
  if (!stem_args_get_duration (args, STEM_OPT_SETTLE, &opts->settle_ms, error)
      || !stem_args_get_duration (args, STEM_OPT_LOCK_TIMEOUT, &opts->lock_timeout_ms, error)
      || !stem_args_get_duration (args, STEM_OPT_TIMEOUT, &timeout_ms, error))
    return FALSE;

  StemStopMode mode = STEM_STOP_WARM;
  const char *text;
  if ((text = stem_args_get (args, STEM_OPT_MODE)) != NULL
      && !stem_stop_mode_parse (text, &mode, error))
    {
      stem_error_prefix (error, "--mode");
      return FALSE;
    }
  if ((text = stem_args_get (args, STEM_OPT_RETRY)) != NULL)
    {
      if (!stem_schedule_parse (text, &opts->schedule, error))
        {
          stem_error_prefix (error, "--retry");
          return FALSE;
        }
    }
  else
    opts->schedule = stem_schedule_new (mode, timeout_ms, 5 * 1000);
  return parse_other_values (opts, error);
}

/* As PID 1 of a PID namespace (a container), a signal left to its default
 * is dropped: a SIGTERM (docker stop) before supervise has its handlers
 * would be lost, and the container killed at the end of its grace period,
 * the workers started meanwhile with it.  Held from the start, it waits
 * for supervise's signalfd instead: the mask and what is pending survive
 * the exec of stem-supervise.  The other verbs let go of them once they
 * know they are not supervise, and the kernel drops them as before. */
static void
hold_stop_signals (int how)
{
  if (getpid () != 1)
    return;
  sigset_t stop_signals;
  sigemptyset (&stop_signals);
  sigaddset (&stop_signals, SIGTERM);
  sigaddset (&stop_signals, SIGINT);
  sigaddset (&stop_signals, SIGQUIT);
  sigaddset (&stop_signals, SIGHUP);
  sigprocmask (how, &stop_signals, NULL);
}

int
main (int argc, char **argv)
{
  hold_stop_signals (SIG_BLOCK);
  stem_program_init ("stem-multi");

  int exit_status;
  g_autoptr (StemArgs) args = stem_args_parse_main (options, argc, argv, usage, &exit_status);
  if (args == NULL)
    return exit_status;

  g_autoptr (GError) error = NULL;
  if (args->positionals->len == 0)
    {
      g_printerr (_ ("%s: no verb given (try “%s --help”)\n"), g_get_prgname (), g_get_prgname ());
      return STEM_EXIT_USAGE;
    }

  const char *name = args->positionals->pdata[0];
  const StemVerb *verb = find_verb (name);
  if (verb == NULL)
    {
      g_printerr (_ ("%s: unknown verb “%s” (try “%s --help”)\n"), g_get_prgname (), name,
                  g_get_prgname ());
      return STEM_EXIT_USAGE;
    }
  if (verb->func != stem_multi_supervise)
    hold_stop_signals (SIG_UNBLOCK);
  guint n_words = args->positionals->len - 1;
  if (n_words < verb->min_words || n_words > verb->max_words)
    {
      g_printerr (_ ("%s: usage: %s %s %s\n"), g_get_prgname (), g_get_prgname (), verb->name,
                  _ (verb->args));
      return STEM_EXIT_USAGE;
    }
  g_ptr_array_add (args->positionals, NULL);

  StemMultiOptions opts = {
    .args = args,
    .verb = verb->name,
    .words = (const char *const *)args->positionals->pdata + 1,
  };
  int status = STEM_EXIT_USAGE;
  if (parse_options (&opts, &error))
    status = verb->func (&opts, &error);
  if (opts.schedule != NULL)
    g_array_unref (opts.schedule);
  if (error != NULL)
    {
      stem_error_print (error);
      return stem_error_exit_code (error);
    }
  return status;
}
