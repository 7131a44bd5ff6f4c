/* stem-multi start (detached, or --foreground) and restart (rolling). */

#include <string.h>
#include <unistd.h>

#include "stem-duration.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-lock.h"
#include "stem-log.h"
#include "stem-multi-node.h"
#include "stem-pidfile.h"
#include "stem-schedule.h"
#include "stem-spawn.h"

#define LOG_TAIL_LINES 5

/* A detached worker must not keep stem-multi's output (a terminal, a pipe
 * someone waits on): --logfile=- is for --foreground and supervise. */
static gboolean
check_detachable (StemPlanSet *set, GError **error)
{
  for (guint i = 0; i < set->plans->len; i++)
    if (((StemNodePlan *)set->plans->pdata[i])->logfile == NULL)
      return stem_throw_code (error, STEM_ERROR_USAGE,
                              _ ("--logfile=- (the output of stem-multi itself) needs --foreground "
                                 "or supervise: a detached worker must not keep the terminal"));
  return TRUE;
}

typedef struct
{
  StemNodePlan *plan;
  StemNodeResult *result;
  StemLaunch *launch;
  pid_t pid;
} Start;

/* Starts every node of PLANS that is not running and whose lock is held.
 * Nodes that started are appended to STARTED (Start). */
static void
launch_nodes (StemMultiOptions *opts, GPtrArray *plans, GHashTable *locks, StemReport *report,
              StemWriterServer *writers, gboolean restarting, GArray *started)
{
  g_autoptr (GArray) launches = g_array_new (FALSE, TRUE, sizeof (Start));
  for (guint i = 0; i < plans->len; i++)
    {
      StemNodePlan *plan = plans->pdata[i];
      g_autoptr (GError) error = NULL;
      if (g_hash_table_lookup (locks, plan) == NULL)
        continue; /* reported by lock_plans */

      g_auto (Inspection) in;
      stem_multi_inspect (plan, &in);
      switch (in.state)
        {
        case NODE_RUNNING:
        case NODE_FOREIGN:
          {
            StemNodeResult *r = stem_report_add (report, plan->node, "already-running", FALSE,
                                                 _ ("already running (pid %d)"), (int)in.pid);
            r->pid = in.pid;
            r->pidfile = g_strdup (plan->pidfile);
            continue;
          }
        case NODE_UNKNOWN:
          stem_report_add (report, plan->node, "failed", TRUE,
                           _ ("%s; not starting over it (check the process and remove the file)"),
                           in.error->message);
          continue;
        case NODE_STALE:
          stem_multi_remove_stale (opts, plan, &in);
          break;
        case NODE_NO_PIDFILE:
        default:
          break;
        }

      stem_multi_verbose (opts, _ ("%s: starting %s"), plan->node, plan->argv[0]);
      int lock_fd = stem_lock_fd (g_hash_table_lookup (locks, plan));
      Start s
          = { .plan = plan, .launch = stem_launch_begin (plan, TRUE, writers, lock_fd, &error) };
      if (s.launch == NULL)
        stem_report_add (report, plan->node, "failed", TRUE, "%s", error->message);
      else
        g_array_append_val (launches, s);
    }

  /* The server has written each worker's pidfile by the time its launch
   * finishes (see stem-spawn.h). */
  for (guint i = 0; i < launches->len; i++)
    {
      Start *s = &g_array_index (launches, Start, i);
      g_autoptr (StemLaunch) launch = g_steal_pointer (&s->launch);
      g_autoptr (GError) error = NULL;
      if (!stem_launch_finish (launch, &s->pid, &error))
        {
          stem_report_add (report, s->plan->node, "failed", TRUE, "%s", error->message);
          continue;
        }
      s->result = stem_report_add (
          report, s->plan->node, restarting ? "restarted" : "started", FALSE,
          restarting ? _ ("restarted (pid %d)") : _ ("started (pid %d)"), (int)s->pid);
      s->result->pid = s->pid;
      s->result->pidfile = g_strdup (s->plan->pidfile);
      g_array_append_val (started, *s);
    }
}

/* What START's worker, which exited within SETTLE_TEXT, did: it is still
 * our zombie (see settle). */
static char *
describe_early_exit (const Start *start, const char *settle_text)
{
  siginfo_t info;
  gboolean clean;
  if (!stem_proc_child_exit (start->pid, &info))
    return g_strdup_printf (_ ("exited within %s of starting (pid %d); see “%s”"), settle_text,
                            (int)start->pid, start->plan->logfile);
  g_autofree char *how = stem_proc_describe_exit (&info, &clean);
  /* A worker that forks into the background and exits 0 leaves nothing
   * that stop, status or supervise could follow; but status 0 is also
   * what some workers give a failure (Celery for a pidfile it takes for
   * another worker's), so the log comes first. */
  if (info.si_code == CLD_EXITED && info.si_status == 0)
    /* TRANSLATORS: the first %s is “exited with status 0”. */
    return g_strdup_printf (_ ("%s within %s of starting (pid %d); see “%s” (if it put itself "
                               "in the background, as celery --detach does, nothing can follow "
                               "it: a worker must run in the foreground)"),
                            how, settle_text, (int)start->pid, start->plan->logfile);
  /* TRANSLATORS: the first %s: “exited with status 3”, “killed by SIGSEGV”. */
  return g_strdup_printf (_ ("%s within %s of starting (pid %d); see “%s”"), how, settle_text,
                          (int)start->pid, start->plan->logfile);
}

/* Waits --settle for all started nodes at once and fails those that died,
 * after ending what they left in their process groups.  Each worker is
 * our child (stem-logwriter's serve_launch), which we do not reap: one
 * that has died is a zombie until we exit, so its PID is still its own
 * and every process in its group is provably one it left. */
static void
settle (StemMultiOptions *opts, GArray *started)
{
  if (opts->settle_ms <= 0 || started->len == 0)
    return;

  g_autoptr (GPtrArray) procs = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_free);
  g_autoptr (GPtrArray) groups
      = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_group_free);
  g_autoptr (GPtrArray) alive = g_ptr_array_new ();
  g_autoptr (GArray) watched = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) dead = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint i = 0; i < started->len; i++)
    {
      Start *s = &g_array_index (started, Start, i);
      gint64 start_us;
      StemProc *proc = NULL;
      if (stem_proc_start_time (s->pid, &start_us, NULL))
        proc = stem_proc_open (s->pid, start_us, NULL);
      g_ptr_array_add (procs, proc);
      g_ptr_array_add (groups,
                       proc != NULL && !opts->no_kill_group ? stem_proc_group_new (proc) : NULL);
      if (proc == NULL || stem_proc_is_dead (s->pid))
        g_array_append_val (dead, i);
      else
        {
          g_ptr_array_add (alive, proc);
          g_array_append_val (watched, i);
        }
    }

  if (alive->len > 0)
    {
      /* One step with no signal: just wait, and see who exits meanwhile. */
      StemScheduleStep wait_only = { 0, opts->settle_ms };
      g_autoptr (GArray) steps = g_array_new (FALSE, FALSE, sizeof (StemScheduleStep));
      g_array_append_val (steps, wait_only);
      g_autofree int *results = g_new (int, alive->len);
      g_autoptr (GError) error = NULL;
      if (!stem_proc_stop_all (alive, steps, FALSE, results, &error))
        g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      else
        for (guint i = 0; i < alive->len; i++)
          if (results[i] >= 0)
            g_array_append_val (dead, g_array_index (watched, guint, i));
    }

  g_autoptr (GArray) exited = g_array_new (FALSE, FALSE, sizeof (StemLeftovers));
  for (guint i = 0; i < dead->len; i++)
    {
      guint at = g_array_index (dead, guint, i);
      Start *s = &g_array_index (started, Start, at);
      StemLeftovers l = { s->plan->node, s->pid, groups->pdata[at] };
      if (l.group != NULL)
        g_array_append_val (exited, l);
    }
  stem_multi_end_leftovers (opts, exited, opts->schedule);

  g_autofree char *settle_text = stem_duration_format (opts->settle_ms);
  gint64 deadline = g_get_monotonic_time () + STEM_LOG_WAIT_US;
  for (guint i = 0; i < dead->len; i++)
    {
      Start *s = &g_array_index (started, Start, g_array_index (dead, guint, i));
      stem_pidfile_remove (s->plan->pidfile, s->pid, NULL);
      stem_log_wait (s->plan->logfile, s->plan->node, deadline);
      g_free (s->result->state);
      g_free (s->result->text);
      s->result->state = g_strdup ("exited");
      s->result->failed = TRUE;
      s->result->text = describe_early_exit (s, settle_text);
      s->result->detail = stem_log_tail (s->plan->logfile, LOG_TAIL_LINES);
    }
}

/* Our workers are our children (see settle): a SIGCHLD ignored by
 * whoever ran us would have the kernel reap them as they die. */
static void
keep_dead_children (void)
{
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  sigaction (SIGCHLD, &dfl, NULL);
}

static int
start_foreground (StemMultiOptions *opts, StemPlanSet *set, GError **error)
{
  if (set->plans->len != 1)
    {
      stem_throw_code (error, STEM_ERROR_USAGE, _ ("--foreground runs exactly one node (%u given)"),
                       set->plans->len);
      return -1;
    }
  StemNodePlan *plan = set->plans->pdata[0];
  if (!stem_spawn_prepare_dirs (plan, plan->logfile_given, error))
    return -1;
  g_autoptr (StemLock) lock = stem_lock_acquire (plan->pidfile, opts->lock_timeout_ms, error);
  if (lock == NULL)
    return -1;

  g_auto (Inspection) in;
  stem_multi_inspect (plan, &in);
  switch (in.state)
    {
    case NODE_RUNNING:
    case NODE_FOREIGN:
      g_printerr (_ ("%s: %s: already running (pid %d)\n"), g_get_prgname (), plan->node,
                  (int)in.pid);
      return STEM_EXIT_FAILURE;
    case NODE_UNKNOWN:
      g_printerr ("%s: %s: %s\n", g_get_prgname (), plan->node, in.error->message);
      return STEM_EXIT_FAILURE;
    case NODE_STALE:
      stem_multi_remove_stale (opts, plan, &in);
      break;
    case NODE_NO_PIDFILE:
    default:
      break;
    }

  /* The pidfile names this very process, which exec turns into the worker:
   * a supervisor such as systemd then tracks the worker itself. */
  g_autoptr (GError) local_error = NULL;
  if (!stem_pidfile_write (plan->pidfile, getpid (), &local_error))
    {
      g_printerr ("%s: %s: %s\n", g_get_prgname (), plan->node, local_error->message);
      return STEM_EXIT_FAILURE;
    }
  stem_multi_verbose (opts, _ ("%s: running %s in the foreground (pid %d)"), plan->node,
                      plan->argv[0], (int)getpid ());
  stem_lock_release (g_steal_pointer (&lock));
  stem_spawn_exec (plan, &local_error);
  stem_pidfile_remove (plan->pidfile, getpid (), NULL);
  g_printerr ("%s: %s: %s\n", g_get_prgname (), plan->node, local_error->message);
  return STEM_EXIT_FAILURE;
}

/* Every node of a start or restart report names its pidfile, whatever
 * became of the node (stem-multi(1), JSON), not only a started one. */
static void
name_pidfiles (StemReport *report, StemPlanSet *set)
{
  for (guint i = 0; i < report->results->len; i++)
    {
      StemNodeResult *r = report->results->pdata[i];
      for (guint j = 0; r->pidfile == NULL && j < set->plans->len; j++)
        {
          const StemNodePlan *plan = set->plans->pdata[j];
          if (strcmp (plan->node, r->node) == 0)
            r->pidfile = g_strdup (plan->pidfile);
        }
    }
}

/* Starts the nodes of PLANS under their locks, held until the nodes have
 * settled: a stop meanwhile waits for this start's verdict rather than
 * ending a worker it is still watching.  With BUSY, only the nodes whose
 * locks are free now, none waited for; the others go to BUSY.  Without,
 * the locks are waited for in pidfile order, as every call waits for
 * them, so that no two calls can deadlock. */
static void
start_nodes (StemMultiOptions *opts, GPtrArray *plans, GPtrArray *busy, StemReport *report)
{
  g_autoptr (GArray) started = g_array_new (FALSE, TRUE, sizeof (Start));
  g_autoptr (GHashTable) locks = stem_multi_lock_plans (opts, plans, TRUE, busy, report);
  {
    g_autoptr (StemWriterServer) writers = stem_writer_server_new ();
    stem_writer_server_set_width (writers, stem_writer_server_width (g_hash_table_size (locks)));
    launch_nodes (opts, plans, locks, report, writers, FALSE, started);
  }
  settle (opts, started);
}

int
stem_multi_start (StemMultiOptions *opts, GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_commands (opts->args, opts->words, error);
  if (set == NULL)
    return -1;
  if (opts->foreground)
    return start_foreground (opts, set, error);
  if (!check_detachable (set, error))
    return -1;

  keep_dead_children ();
  g_autoptr (StemReport) report = stem_report_new ("start");
  g_autoptr (GPtrArray) ready = stem_multi_prepare_plans (set->plans, report);
  g_autoptr (GPtrArray) busy = g_ptr_array_new ();
  start_nodes (opts, ready, busy, report);
  /* A node busy elsewhere (a stop still waiting for its worker) holds up
   * none of the others: the busy ones are waited for, in turn, once the
   * others have started and their locks are gone. */
  if (busy->len > 0)
    {
      g_autofree char *at_most = stem_duration_format (opts->lock_timeout_ms);
      for (guint i = 0; i < busy->len && !opts->quiet && opts->lock_timeout_ms > 0; i++)
        {
          const StemNodePlan *plan = busy->pdata[i];
          g_autofree char *waiting = g_strdup_printf (
              _ ("its lock file “%s.lock” is held by another process: waiting for it, %s at most"),
              plan->pidfile, at_most);
          g_printerr ("%s: %s: %s\n", g_get_prgname (), plan->node, waiting);
        }
      start_nodes (opts, busy, NULL, report);
    }
  name_pidfiles (report, set);
  stem_multi_sort_report (report, set);
  stem_report_print (report, opts->json, opts->quiet);
  return stem_report_any_failed (report) ? STEM_EXIT_FAILURE : STEM_EXIT_OK;
}

int
stem_multi_restart (StemMultiOptions *opts, GError **error)
{
  if (opts->no_wait)
    {
      stem_throw_code (error, STEM_ERROR_USAGE,
                       _ ("--no-wait cannot be used with restart: a node must be stopped "
                          "before it is started again"));
      return -1;
    }
  g_autoptr (StemPlanSet) set = stem_plan_build_commands (opts->args, opts->words, error);
  if (set == NULL || !check_detachable (set, error))
    return -1;

  keep_dead_children ();
  g_autoptr (StemReport) report = stem_report_new ("restart");
  g_autoptr (StemWriterServer) writers = stem_writer_server_new ();
  gboolean halted = FALSE;
  /* Rolling: one node is down at a time, and a node that fails to come back
   * stops the roll before it takes down the rest. */
  for (guint i = 0; i < set->plans->len; i++)
    {
      StemNodePlan *plan = set->plans->pdata[i];
      if (halted)
        {
          stem_report_add (report, plan->node, "skipped", TRUE,
                           _ ("not restarted: an earlier node failed"));
          continue;
        }
      g_autoptr (GPtrArray) one = g_ptr_array_new ();
      g_ptr_array_add (one, plan);
      g_autoptr (GArray) started = g_array_new (FALSE, TRUE, sizeof (Start));
      {
        g_autoptr (GPtrArray) ready = stem_multi_prepare_plans (one, report);
        g_autoptr (GHashTable) locks = stem_multi_lock_plans (opts, ready, TRUE, NULL, report);
        if (g_hash_table_size (locks) == 0)
          {
            halted = TRUE;
            continue;
          }
        g_autoptr (StemReport) stopping = stem_report_new ("stop");
        stem_multi_stop_nodes (opts, one, opts->schedule, stopping);
        StemNodeResult *stopped = stopping->results->pdata[0];
        if (stopped->failed)
          {
            g_ptr_array_add (report->results, g_ptr_array_steal_index (stopping->results, 0));
            halted = TRUE;
            continue;
          }
        launch_nodes (opts, one, locks, report, writers,
                      strcmp (stopped->state, "not-running") != 0, started);
        settle (opts, started); /* its lock held, as start holds it */
      }
      halted = stem_report_any_failed (report);
    }
  name_pidfiles (report, set);
  stem_report_print (report, opts->json, opts->quiet);
  return stem_report_any_failed (report) ? STEM_EXIT_FAILURE : STEM_EXIT_OK;
}
