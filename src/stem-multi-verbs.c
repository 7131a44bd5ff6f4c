#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "stem-duration.h"
#include "stem-schedule.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-lock.h"
#include "stem-log.h"
#include "stem-multi.h"
#include "stem-output.h"
#include "stem-pidfile.h"
#include "stem-plan.h"
#include "stem-process.h"
#include "stem-spawn.h"
#include "stem-template.h"

#define LOG_TAIL_LINES 5

static void verbose (StemMultiOptions *opts, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
verbose (StemMultiOptions *opts, const char *format, ...)
{
  if (!opts->verbose)
    return;
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("%s: %s\n", g_get_prgname (), message);
}

/* What a node's pidfile says, after checking the process's identity. */
typedef enum
{
  NODE_NO_PIDFILE,
  NODE_RUNNING,
  NODE_FOREIGN, /* running, ours by identity, but another user's to signal */
  NODE_STALE,   /* dead, or the PID now belongs to another process */
  NODE_UNKNOWN, /* invalid or unreadable pidfile, or /proc unreadable: touch nothing */
} NodeState;

typedef struct
{
  NodeState state;
  StemProcState proc;
  pid_t pid;
  gint64 start_us;
  GError *error; /* why NODE_UNKNOWN */
} Inspection;

static void
inspection_clear (Inspection *in)
{
  g_clear_error (&in->error);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Inspection, inspection_clear)

static void
inspect (const StemNodePlan *plan, Inspection *in)
{
  StemPidfile pidfile;
  memset (in, 0, sizeof *in);
  if (!stem_pidfile_load (plan->pidfile, &pidfile, &in->error))
    {
      if (g_error_matches (in->error, STEM_ERROR, STEM_ERROR_NOT_FOUND))
        {
          g_clear_error (&in->error);
          in->state = NODE_NO_PIDFILE;
        }
      else
        in->state = NODE_UNKNOWN;
      return;
    }
  in->pid = pidfile.pid;
  in->proc = stem_proc_probe (in->pid, pidfile.mtime_us, &in->start_us);
  if ((in->proc == STEM_PROC_RUNNING || in->proc == STEM_PROC_NO_PERMISSION)
      && !stem_pidfile_check_owner (plan->pidfile, &pidfile, &in->error))
    {
      in->state = NODE_UNKNOWN;
      return;
    }
  switch (in->proc)
    {
    case STEM_PROC_RUNNING:
      in->state = NODE_RUNNING;
      break;
    case STEM_PROC_NO_PERMISSION:
      in->state = NODE_FOREIGN;
      break;
    case STEM_PROC_DEAD:
    case STEM_PROC_REUSED:
      in->state = NODE_STALE;
      break;
    case STEM_PROC_UNKNOWN:
    default:
      in->state = NODE_UNKNOWN;
      stem_throw_code (
          &in->error, STEM_ERROR_PERMISSION,
          _ ("Cannot tell whether pid %d from “%s” is the worker (is /proc readable?)"),
          (int)in->pid, plan->pidfile);
      break;
    }
}

static char *
describe_stale (const Inspection *in)
{
  if (in->proc == STEM_PROC_REUSED)
    return g_strdup_printf (_ ("pid %d now belongs to another process"), (int)in->pid);
  return g_strdup_printf (_ ("pid %d is not running"), (int)in->pid);
}

static void
remove_stale (StemMultiOptions *opts, const StemNodePlan *plan, const Inspection *in)
{
  g_autoptr (GError) error = NULL;
  if (!stem_pidfile_remove (plan->pidfile, in->pid, &error))
    g_printerr ("%s: %s: %s\n", g_get_prgname (), plan->node, error->message);
  else
    verbose (opts, _ ("%s: removed stale pidfile “%s”"), plan->node, plan->pidfile);
}

static gint
compare_pidfiles (gconstpointer a, gconstpointer b)
{
  const StemNodePlan *pa = *(StemNodePlan *const *)a, *pb = *(StemNodePlan *const *)b;
  return strcmp (pa->pidfile, pb->pidfile);
}

/* Node locks are always taken in pidfile order, so two calls naming the same
 * nodes in a different order cannot deadlock.  A node whose lock cannot be
 * had (refused, or not had in time) fails in REPORT and is left out of the
 * table; without CREATE (stop, kill), a node with no lock file was never
 * started here and needs no lock. */
static GHashTable *
lock_plans (StemMultiOptions *opts, GPtrArray *plans, gboolean create, StemReport *report)
{
  g_autoptr (GPtrArray) sorted = g_ptr_array_sized_new (plans->len);
  for (guint i = 0; i < plans->len; i++)
    g_ptr_array_add (sorted, plans->pdata[i]);
  g_ptr_array_sort (sorted, compare_pidfiles);
  GHashTable *locks = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify)stem_lock_release);
  for (guint i = 0; i < sorted->len; i++)
    {
      StemNodePlan *plan = sorted->pdata[i];
      g_autoptr (GError) error = NULL;
      StemLock *lock
          = create ? stem_lock_acquire (plan->pidfile, opts->lock_timeout_ms, &error)
                   : stem_lock_acquire_existing (plan->pidfile, opts->lock_timeout_ms, &error);
      if (lock != NULL)
        g_hash_table_insert (locks, plan, lock);
      else if (!create && g_error_matches (error, STEM_ERROR, STEM_ERROR_NOT_FOUND))
        verbose (opts, "%s: %s", plan->node, error->message);
      else
        stem_report_add (report, plan->node, "failed", TRUE, "%s", error->message);
    }
  return locks;
}

static guint
node_position (const char *const *nodes, const char *node)
{
  guint i = 0;
  while (nodes[i] != NULL && strcmp (nodes[i], node) != 0)
    i++;
  return i;
}

static gint
compare_results (gconstpointer a, gconstpointer b, gpointer nodes)
{
  const StemNodeResult *ra = *(StemNodeResult *const *)a, *rb = *(StemNodeResult *const *)b;
  guint pa = node_position (nodes, ra->node), pb = node_position (nodes, rb->node);
  return pa < pb ? -1 : pa > pb;
}

/* Results in the order of the nodes on the command line, whatever order the
 * work finished in (each node has one result). */
static void
sort_report (StemReport *report, StemPlanSet *set)
{
  g_ptr_array_sort_with_data (report->results, compare_results, set->nodes);
}

/* Creates the directories of PLANS (failures go to REPORT) and returns the
 * plans that can go ahead. */
static GPtrArray *
prepare_plans (GPtrArray *plans, StemReport *report)
{
  GPtrArray *ready = g_ptr_array_new ();
  for (guint i = 0; i < plans->len; i++)
    {
      StemNodePlan *plan = plans->pdata[i];
      g_autoptr (GError) error = NULL;
      if (stem_spawn_prepare_dirs (plan, TRUE, &error))
        g_ptr_array_add (ready, plan);
      else
        stem_report_add (report, plan->node, "failed", TRUE, "%s", error->message);
    }
  return ready;
}

/* ---- start ---------------------------------------------------------------- */

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
      inspect (plan, &in);
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
          remove_stale (opts, plan, &in);
          break;
        case NODE_NO_PIDFILE:
        default:
          break;
        }

      verbose (opts, _ ("%s: starting %s"), plan->node, plan->argv[0]);
      Start s = { .plan = plan, .launch = stem_launch_begin (plan, TRUE, writers, &error) };
      if (s.launch == NULL)
        stem_report_add (report, plan->node, "failed", TRUE, "%s", error->message);
      else
        g_array_append_val (launches, s);
    }

  /* Each first child has written its worker's pidfile by the time its
   * launch finishes (see stem-spawn.h). */
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

/* Waits --settle for all started nodes at once and fails those that died. */
static void
settle (StemMultiOptions *opts, GArray *started)
{
  if (opts->settle_ms <= 0 || started->len == 0)
    return;

  g_autoptr (GPtrArray) procs = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_free);
  g_autoptr (GArray) watched = g_array_new (FALSE, FALSE, sizeof (Start *));
  g_autoptr (GArray) dead = g_array_new (FALSE, FALSE, sizeof (Start *));
  for (guint i = 0; i < started->len; i++)
    {
      Start *s = &g_array_index (started, Start, i);
      gint64 start_us;
      StemProc *proc = NULL;
      if (stem_proc_start_time (s->pid, &start_us, NULL) && !stem_proc_is_dead (s->pid))
        proc = stem_proc_open (s->pid, start_us, NULL);
      if (proc == NULL)
        g_array_append_val (dead, s);
      else
        {
          g_ptr_array_add (procs, proc);
          g_array_append_val (watched, s);
        }
    }

  if (procs->len > 0)
    {
      /* One step with no signal: just wait, and see who exits meanwhile. */
      StemScheduleStep wait_only = { 0, opts->settle_ms };
      g_autoptr (GArray) steps = g_array_new (FALSE, FALSE, sizeof (StemScheduleStep));
      g_array_append_val (steps, wait_only);
      g_autofree int *results = g_new (int, procs->len);
      g_autoptr (GError) error = NULL;
      if (!stem_proc_stop_all (procs, steps, FALSE, results, &error))
        g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      else
        for (guint i = 0; i < procs->len; i++)
          if (results[i] >= 0)
            g_array_append_val (dead, g_array_index (watched, Start *, i));
    }

  g_autofree char *settle_text = stem_duration_format (opts->settle_ms);
  gint64 deadline = g_get_monotonic_time () + STEM_LOG_WAIT_US;
  for (guint i = 0; i < dead->len; i++)
    {
      Start *s = g_array_index (dead, Start *, i);
      stem_pidfile_remove (s->plan->pidfile, s->pid, NULL);
      stem_log_wait (s->plan->logfile, deadline);
      g_free (s->result->state);
      g_free (s->result->text);
      s->result->state = g_strdup ("exited");
      s->result->failed = TRUE;
      s->result->text = g_strdup_printf (_ ("exited within %s of starting (pid %d); see “%s”"),
                                         settle_text, (int)s->pid, s->plan->logfile);
      s->result->detail = stem_log_tail (s->plan->logfile, LOG_TAIL_LINES);
    }
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
  inspect (plan, &in);
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
      remove_stale (opts, plan, &in);
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
  verbose (opts, _ ("%s: running %s in the foreground (pid %d)"), plan->node, plan->argv[0],
           (int)getpid ());
  stem_lock_release (g_steal_pointer (&lock));
  stem_spawn_exec (plan, &local_error);
  stem_pidfile_remove (plan->pidfile, getpid (), NULL);
  g_printerr ("%s: %s: %s\n", g_get_prgname (), plan->node, local_error->message);
  return STEM_EXIT_FAILURE;
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

  g_autoptr (StemReport) report = stem_report_new ("start");
  g_autoptr (GArray) started = g_array_new (FALSE, TRUE, sizeof (Start));
  {
    g_autoptr (StemWriterServer) writers = stem_writer_server_new ();
    g_autoptr (GPtrArray) ready = prepare_plans (set->plans, report);
    g_autoptr (GHashTable) locks = lock_plans (opts, ready, TRUE, report);
    launch_nodes (opts, ready, locks, report, writers, FALSE, started);
  }
  settle (opts, started);
  sort_report (report, set);
  stem_report_print (report, opts->json, opts->quiet);
  return stem_report_any_failed (report) ? STEM_EXIT_FAILURE : STEM_EXIT_OK;
}

/* ---- stop, kill ----------------------------------------------------------- */

typedef struct
{
  StemNodePlan *plan;
  pid_t pid;
  StemProcGroup *group; /* what it may leave behind, unless --no-kill-group */
} Target;

static void
target_clear (Target *t)
{
  g_clear_pointer (&t->group, stem_proc_group_free);
}

/* The members of the groups of TARGETS found while every worker still
 * runs: once a worker has exited and been reaped, only they (and their
 * children) can still be proven to be its own. */
static void
collect_groups (GArray *targets)
{
  g_autoptr (GPtrArray) groups = g_ptr_array_new ();
  for (guint i = 0; i < targets->len; i++)
    if (g_array_index (targets, Target, i).group != NULL)
      g_ptr_array_add (groups, g_array_index (targets, Target, i).group);
  if (groups->len > 0)
    stem_proc_groups_collect (groups);
}

/* A worker that fork-bombs its group must not keep stop busy for ever. */
#define LEFTOVER_ROUNDS 8

static void
report_leftovers (StemMultiOptions *opts, const Target *t)
{
  GPtrArray *members = stem_proc_group_members (t->group);
  guint survivors = 0;
  for (guint i = 0; i < members->len; i++)
    if (!stem_proc_has_exited (members->pdata[i]))
      survivors++;
  if (members->len > survivors)
    verbose (opts,
             ngettext ("%s: ended %u process the worker left in its process group %d",
                       "%s: ended %u processes the worker left in its process group %d",
                       members->len - survivors),
             t->plan->node, members->len - survivors, (int)t->pid);
  if (survivors > 0)
    g_printerr (ngettext ("%s: %s: %u process the worker left in its process group %d is still "
                          "running\n",
                          "%s: %s: %u processes the worker left in its process group %d are "
                          "still running\n",
                          survivors),
                g_get_prgname (), t->plan->node, survivors, (int)t->pid);
}

/* Ends, with SCHEDULE, what the workers of TARGETS that have exited
 * (RESULTS) left in their process groups, scan after scan until one finds
 * nothing new: a leftover may fork while it is being stopped.  Before the
 * log writers are waited for: leftovers hold their pipes. */
static void
stop_leftovers (StemMultiOptions *opts, GArray *targets, const int *results, GArray *schedule)
{
  g_autoptr (GPtrArray) groups = g_ptr_array_new ();
  for (guint i = 0; i < targets->len; i++)
    {
      Target *t = &g_array_index (targets, Target, i);
      if (t->group != NULL && results[i] >= 0)
        g_ptr_array_add (groups, t->group);
    }
  if (groups->len == 0)
    return;
  for (guint round = 0; round < LEFTOVER_ROUNDS; round++)
    {
      if (stem_proc_groups_collect (groups) == 0 && round > 0)
        break;
      g_autoptr (GPtrArray) live = g_ptr_array_new ();
      for (guint i = 0; i < groups->len; i++)
        {
          GPtrArray *members = stem_proc_group_members (groups->pdata[i]);
          for (guint j = 0; j < members->len; j++)
            if (!stem_proc_has_exited (members->pdata[j]))
              g_ptr_array_add (live, members->pdata[j]);
        }
      if (live->len == 0)
        break;
      g_autofree int *ignored = g_new (int, live->len);
      if (!stem_proc_stop_all (live, schedule, TRUE, ignored, NULL))
        break;
    }
  for (guint i = 0; i < targets->len; i++)
    if (g_array_index (targets, Target, i).group != NULL && results[i] >= 0)
      report_leftovers (opts, &g_array_index (targets, Target, i));
}

/* Stops PLANS (locks held) with SCHEDULE, all at once. */
/* What a terminal shows while TARGETS stop (nothing off a terminal, with
 * --quiet or --json). */
static StemProgress *
progress_for (StemMultiOptions *opts, GArray *targets, int first_signal)
{
  g_autoptr (GPtrArray) nodes = g_ptr_array_new ();
  for (guint i = 0; i < targets->len; i++)
    g_ptr_array_add (nodes, g_array_index (targets, Target, i).plan->node);
  g_ptr_array_add (nodes, NULL);
  return stem_progress_new (first_signal == SIGKILL ? _ ("killing") : _ ("stopping"),
                            (const char *const *)nodes->pdata, !opts->quiet && !opts->json);
}

/* The running nodes of PLANS, as processes opened by pidfd (PROCS) and
 * their targets (TARGETS, in the same order); every other node gets its
 * result in REPORT now. */
static void
find_targets (StemMultiOptions *opts, GPtrArray *plans, StemReport *report, GPtrArray *procs,
              GArray *targets)
{
  for (guint i = 0; i < plans->len; i++)
    {
      StemNodePlan *plan = plans->pdata[i];
      g_auto (Inspection) in;
      inspect (plan, &in);
      switch (in.state)
        {
        case NODE_NO_PIDFILE:
          stem_report_add (report, plan->node, "not-running", FALSE, _ ("not running"));
          continue;
        case NODE_STALE:
          {
            g_autofree char *why = describe_stale (&in);
            remove_stale (opts, plan, &in);
            stem_report_add (report, plan->node, "not-running", FALSE,
                             _ ("not running (removed stale pidfile: %s)"), why);
            continue;
          }
        case NODE_FOREIGN:
          stem_report_add (report, plan->node, "permission-denied", TRUE,
                           _ ("pid %d belongs to another user: permission denied"), (int)in.pid);
          continue;
        case NODE_UNKNOWN:
          stem_report_add (report, plan->node, "unknown", TRUE, _ ("%s; nothing was signalled"),
                           in.error->message);
          continue;
        case NODE_RUNNING:
        default:
          break;
        }

      g_autoptr (GError) error = NULL;
      StemProc *proc = stem_proc_open (in.pid, in.start_us, &error);
      if (proc == NULL)
        {
          if (g_error_matches (error, STEM_ERROR, STEM_ERROR_NOT_FOUND))
            {
              stem_pidfile_remove (plan->pidfile, in.pid, NULL);
              stem_report_add (report, plan->node, "not-running", FALSE, _ ("not running"));
            }
          else
            stem_report_add (report, plan->node, "failed", TRUE, "%s", error->message);
          continue;
        }
      g_ptr_array_add (procs, proc);
      Target t = { plan, in.pid, NULL };
      if (!opts->no_kill_group && !opts->no_wait)
        t.group = stem_proc_group_new (proc);
      g_array_append_val (targets, t);
    }
}

/* --no-wait: the first signal of the schedule, and no waiting. */
static void
signal_only (GPtrArray *procs, GArray *targets, int signum, StemReport *report)
{
  const char *first = stem_signal_name (signum);
  for (guint i = 0; i < procs->len; i++)
    {
      Target *t = &g_array_index (targets, Target, i);
      g_autoptr (GError) error = NULL;
      if (!stem_proc_signal (procs->pdata[i], signum, &error))
        stem_report_add (report, t->plan->node, "failed", TRUE, "%s", error->message);
      else
        stem_report_add (report, t->plan->node, "signalled", FALSE, _ ("sent SIG%s (pid %d)"),
                         first, (int)t->pid)
            ->pid
            = t->pid;
    }
}

/* Each target's result in REPORT, from the step of SCHEDULE it exited in
 * (RESULTS), once its last words are in its log. */
static void
report_stopped (StemMultiOptions *opts, GArray *targets, const int *results, GArray *schedule,
                const char *schedule_text, StemReport *report)
{
  const StemScheduleStep *steps = (const StemScheduleStep *)schedule->data;
  gint64 deadline = g_get_monotonic_time () + STEM_LOG_WAIT_US;
  for (guint i = 0; i < targets->len; i++)
    {
      Target *t = &g_array_index (targets, Target, i);
      int step = results[i];
      StemNodeResult *r;
      if (step < 0)
        {
          r = stem_report_add (report, t->plan->node, "still-running", TRUE,
                               _ ("still running (pid %d) after %s"), (int)t->pid, schedule_text);
          r->pid = t->pid;
          continue;
        }
      stem_pidfile_remove (t->plan->pidfile, t->pid, NULL);
      /* Its last words are in the log before we say it stopped. */
      if (t->plan->logfile != NULL && !stem_log_wait (t->plan->logfile, deadline))
        verbose (
            opts,
            _ ("%s: “%s” is still being written: a process the worker started is still running"),
            t->plan->node, t->plan->logfile);
      if (step == 0 && steps[0].signum == SIGKILL)
        r = stem_report_add (report, t->plan->node, "killed", FALSE, _ ("killed (pid %d)"),
                             (int)t->pid);
      else if (step == 0)
        r = stem_report_add (report, t->plan->node, "stopped", FALSE, _ ("stopped (pid %d)"),
                             (int)t->pid);
      else
        {
          g_autofree char *waited = stem_duration_format (steps[step - 1].timeout_ms);
          r = stem_report_add (report, t->plan->node,
                               steps[step].signum == SIGKILL ? "killed" : "stopped", FALSE,
                               _ ("stopped (pid %d) by SIG%s: still running %s after SIG%s"),
                               (int)t->pid, stem_signal_name (steps[step].signum), waited,
                               stem_signal_name (steps[step - 1].signum));
        }
      r->pid = t->pid;
    }
}

static void
stop_nodes (StemMultiOptions *opts, GPtrArray *plans, GArray *schedule, StemReport *report)
{
  g_autoptr (GPtrArray) procs = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_free);
  g_autoptr (GArray) targets = g_array_new (FALSE, FALSE, sizeof (Target));
  g_array_set_clear_func (targets, (GDestroyNotify)target_clear);

  find_targets (opts, plans, report, procs, targets);
  if (procs->len == 0)
    return;
  collect_groups (targets);

  const StemScheduleStep *steps = (const StemScheduleStep *)schedule->data;
  if (opts->no_wait)
    {
      signal_only (procs, targets, steps[0].signum, report);
      return;
    }
  g_autofree char *schedule_text = stem_schedule_format (schedule);
  verbose (opts, ngettext ("stopping %u node with %s", "stopping %u nodes with %s", procs->len),
           procs->len, schedule_text);
  g_autofree int *results = g_new (int, procs->len);
  g_autoptr (GError) error = NULL;
  g_autoptr (StemProgress) progress = progress_for (opts, targets, steps[0].signum);
  gboolean waited = stem_proc_stop_all_shown (procs, schedule, TRUE, progress, results, &error);
  stem_progress_clear (progress);
  if (!waited)
    {
      for (guint i = 0; i < procs->len; i++)
        stem_report_add (report, g_array_index (targets, Target, i).plan->node, "failed", TRUE,
                         "%s", error->message);
      return;
    }

  stop_leftovers (opts, targets, results, schedule);
  report_stopped (opts, targets, results, schedule, schedule_text, report);
}

/* The plans of PLANS that have no result in REPORT yet. */
static GPtrArray *
plans_without_result (GPtrArray *plans, StemReport *report)
{
  GPtrArray *left = g_ptr_array_new ();
  for (guint i = 0; i < plans->len; i++)
    {
      StemNodePlan *plan = plans->pdata[i];
      gboolean reported = FALSE;
      for (guint j = 0; j < report->results->len && !reported; j++)
        reported = strcmp (((StemNodeResult *)report->results->pdata[j])->node, plan->node) == 0;
      if (!reported)
        g_ptr_array_add (left, plan);
    }
  return left;
}

static int
stop_verb (StemMultiOptions *opts, const char *verb, GArray *schedule, GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_paths (opts->args, opts->words, NULL, error);
  if (set == NULL)
    return -1;
  g_autoptr (StemReport) report = stem_report_new (verb);
  {
    g_autoptr (GHashTable) locks = lock_plans (opts, set->plans, FALSE, report);
    g_autoptr (GPtrArray) unreported = plans_without_result (set->plans, report);
    stop_nodes (opts, unreported, schedule, report);
  }
  sort_report (report, set);
  stem_report_print (report, opts->json, opts->quiet);
  return stem_report_any_failed (report) ? STEM_EXIT_FAILURE : STEM_EXIT_OK;
}

int
stem_multi_stop (StemMultiOptions *opts, GError **error)
{
  return stop_verb (opts, "stop", opts->schedule, error);
}

int
stem_multi_kill (StemMultiOptions *opts, GError **error)
{
  StemScheduleStep kill_step = { SIGKILL, 5 * 1000 };
  g_autoptr (GArray) schedule = g_array_new (FALSE, FALSE, sizeof (StemScheduleStep));
  g_array_append_val (schedule, kill_step);
  return stop_verb (opts, "kill", schedule, error);
}

/* ---- restart -------------------------------------------------------------- */

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
        g_autoptr (GPtrArray) ready = prepare_plans (one, report);
        g_autoptr (GHashTable) locks = lock_plans (opts, ready, TRUE, report);
        if (g_hash_table_size (locks) == 0)
          {
            halted = TRUE;
            continue;
          }
        g_autoptr (StemReport) stopping = stem_report_new ("stop");
        stop_nodes (opts, one, opts->schedule, stopping);
        StemNodeResult *stopped = stopping->results->pdata[0];
        if (stopped->failed)
          {
            g_ptr_array_add (report->results, g_ptr_array_steal_index (stopping->results, 0));
            halted = TRUE;
            continue;
          }
        launch_nodes (opts, one, locks, report, writers,
                      strcmp (stopped->state, "not-running") != 0, started);
      }
      settle (opts, started);
      halted = stem_report_any_failed (report);
    }
  stem_report_print (report, opts->json, opts->quiet);
  return stem_report_any_failed (report) ? STEM_EXIT_FAILURE : STEM_EXIT_OK;
}

/* ---- status --------------------------------------------------------------- */

int
stem_multi_status (StemMultiOptions *opts, GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_paths (opts->args, opts->words, NULL, error);
  if (set == NULL)
    return -1;

  g_autoptr (StemReport) report = stem_report_new ("status");
  gboolean any_unknown = FALSE, any_stale = FALSE, any_stopped = FALSE;
  gint64 now_us = g_get_real_time ();
  for (guint i = 0; i < set->plans->len; i++)
    {
      StemNodePlan *plan = set->plans->pdata[i];
      g_auto (Inspection) in;
      inspect (plan, &in);
      StemNodeResult *r = NULL;
      switch (in.state)
        {
        case NODE_NO_PIDFILE:
          r = stem_report_add (report, plan->node, "stopped", FALSE, _ ("stopped"));
          any_stopped = TRUE;
          break;
        case NODE_RUNNING:
        case NODE_FOREIGN:
          {
            gint64 up = MAX (0, (now_us - in.start_us) / G_USEC_PER_SEC);
            g_autofree char *uptime = stem_uptime_format (up);
            r = stem_report_add (report, plan->node, "running", FALSE,
                                 _ ("running (pid %d, up %s)"), (int)in.pid, uptime);
            r->pid = in.pid;
            r->uptime_s = up;
            break;
          }
        case NODE_STALE:
          {
            g_autofree char *why = describe_stale (&in);
            if (!opts->no_clean)
              remove_stale (opts, plan, &in);
            r = stem_report_add (
                report, plan->node, "stale", FALSE,
                opts->no_clean ? _ ("stale pidfile: %s") : _ ("stale pidfile: %s (removed)"), why);
            r->pid = in.pid;
            any_stale = TRUE;
            break;
          }
        case NODE_UNKNOWN:
        default:
          r = stem_report_add (report, plan->node, "unknown", TRUE, "%s", in.error->message);
          any_unknown = TRUE;
          break;
        }
      r->pidfile = g_strdup (plan->pidfile);
    }
  stem_report_print (report, opts->json, opts->quiet);
  if (any_unknown)
    return STEM_LSB_UNKNOWN;
  if (any_stale)
    return STEM_LSB_DEAD_PIDFILE;
  if (any_stopped)
    return STEM_LSB_NOT_RUNNING;
  return STEM_LSB_RUNNING;
}

/* ---- show, names, expand, get -------------------------------------------- */

static char *
quote_argv (char **argv)
{
  g_autoptr (GString) line = g_string_new (NULL);
  for (guint i = 0; argv[i] != NULL; i++)
    {
      g_autofree char *quoted = g_shell_quote (argv[i]);
      if (i > 0)
        g_string_append_c (line, ' ');
      g_string_append (line, strpbrk (argv[i], " \t\n'\"\\$`;&|<>()*?[]#~") == NULL && *argv[i]
                                 ? argv[i]
                                 : quoted);
    }
  return g_string_free (g_steal_pointer (&line), FALSE);
}

int
stem_multi_show (StemMultiOptions *opts, GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_commands (opts->args, opts->words, error);
  if (set == NULL)
    return -1;

  if (opts->json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "verb");
      json_builder_add_string_value (b, "show");
      json_builder_set_member_name (b, "nodes");
      json_builder_begin_array (b);
      for (guint i = 0; i < set->plans->len; i++)
        {
          StemNodePlan *plan = set->plans->pdata[i];
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "node");
          json_builder_add_string_value (b, plan->node);
          json_builder_set_member_name (b, "index");
          json_builder_add_int_value (b, plan->index);
          json_builder_set_member_name (b, "argv");
          json_builder_begin_array (b);
          for (guint j = 0; plan->argv[j] != NULL; j++)
            json_builder_add_string_value (b, plan->argv[j]);
          json_builder_end_array (b);
          json_builder_set_member_name (b, "workdir");
          json_builder_add_string_value (b, plan->workdir);
          json_builder_set_member_name (b, "pidfile");
          json_builder_add_string_value (b, plan->pidfile);
          json_builder_set_member_name (b, "logfile");
          json_builder_add_string_value (b, plan->logfile != NULL ? plan->logfile : "-");
          json_builder_set_member_name (b, "env");
          json_builder_begin_object (b);
          for (guint j = 0; plan->added_env[j] != NULL; j++)
            {
              const char *eq = strchr (plan->added_env[j], '=');
              g_autofree char *name = g_strndup (plan->added_env[j], eq - plan->added_env[j]);
              json_builder_set_member_name (b, name);
              json_builder_add_string_value (b, eq + 1);
            }
          json_builder_end_object (b);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
      g_autoptr (JsonNode) root = json_builder_get_root (b);
      stem_json_print (root);
      return STEM_EXIT_OK;
    }

  for (guint i = 0; i < set->plans->len; i++)
    {
      StemNodePlan *plan = set->plans->pdata[i];
      g_autofree char *command = quote_argv (plan->argv);
      g_print ("%s:\n", plan->node);
      g_print ("  %-9s %s\n", "argv:", command);
      g_print ("  %-9s %s\n", "workdir:", plan->workdir);
      g_print ("  %-9s %s\n", "pidfile:", plan->pidfile);
      g_print ("  %-9s %s\n", "logfile:", plan->logfile != NULL ? plan->logfile : "-");
      for (guint j = 0; plan->added_env[j] != NULL; j++)
        g_print ("  %-9s %s\n", "env:", plan->added_env[j]);
    }
  return STEM_EXIT_OK;
}

static void
print_list (StemMultiOptions *opts, const char *verb, GPtrArray *nodes, GPtrArray *values)
{
  if (opts->json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "verb");
      json_builder_add_string_value (b, verb);
      json_builder_set_member_name (b, "nodes");
      json_builder_begin_array (b);
      for (guint i = 0; i < nodes->len; i++)
        {
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "node");
          json_builder_add_string_value (b, nodes->pdata[i]);
          if (values != NULL)
            {
              json_builder_set_member_name (b, "value");
              json_builder_add_string_value (b, values->pdata[i]);
            }
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
      g_autoptr (JsonNode) root = json_builder_get_root (b);
      stem_json_print (root);
      return;
    }
  for (guint i = 0; i < nodes->len; i++)
    g_print ("%s\n", (const char *)(values != NULL ? values->pdata[i] : nodes->pdata[i]));
}

int
stem_multi_names (StemMultiOptions *opts, GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_paths (opts->args, opts->words, NULL, error);
  if (set == NULL)
    return -1;
  g_autoptr (GPtrArray) nodes = g_ptr_array_new ();
  for (guint i = 0; set->nodes[i] != NULL; i++)
    g_ptr_array_add (nodes, set->nodes[i]);
  print_list (opts, "names", nodes, NULL);
  return STEM_EXIT_OK;
}

int
stem_multi_expand (StemMultiOptions *opts, GError **error)
{
  const char *tmpl = opts->words[0];
  if (!stem_template_validate (tmpl, error))
    return -1;
  g_autoptr (StemPlanSet) set = stem_plan_build_paths (opts->args, opts->words + 1, NULL, error);
  if (set == NULL)
    return -1;
  g_autoptr (GPtrArray) nodes = g_ptr_array_new ();
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; set->nodes[i] != NULL; i++)
    {
      StemTemplateContext ctx = { set->nodes[i], i + 1, set->host, set->timestamp };
      char *value = stem_template_expand (tmpl, &ctx, error);
      if (value == NULL)
        return -1;
      g_ptr_array_add (nodes, set->nodes[i]);
      g_ptr_array_add (values, value);
    }
  print_list (opts, "expand", nodes, values);
  return STEM_EXIT_OK;
}

/* get NODE [NODE…]: NODE is picked among the nodes that follow it, else among
 * STEMD_NODES when it is one of them, else it stands alone, so that %I and
 * STEM_WORKER_INDEX match what start would use. */
int
stem_multi_get (StemMultiOptions *opts, GError **error)
{
  const char *wanted = opts->words[0];
  g_autoptr (StemPlanSet) set = NULL;
  if (opts->words[1] != NULL)
    set = stem_plan_build_commands (opts->args, opts->words + 1, error);
  else
    {
      g_autoptr (StemPlanSet) configured = stem_plan_build_paths (opts->args, NULL, NULL, NULL);
      gboolean listed
          = configured != NULL && g_strv_contains ((const char *const *)configured->nodes, wanted);
      set = stem_plan_build_commands (opts->args, listed ? NULL : opts->words, error);
    }
  if (set == NULL)
    return -1;
  for (guint i = 0; i < set->plans->len; i++)
    {
      StemNodePlan *plan = set->plans->pdata[i];
      if (strcmp (plan->node, wanted) != 0)
        continue;
      g_autoptr (GPtrArray) nodes = g_ptr_array_new ();
      g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (nodes, plan->node);
      g_ptr_array_add (values, quote_argv (plan->argv));
      print_list (opts, "get", nodes, values);
      return STEM_EXIT_OK;
    }
  return stem_throw_code (error, STEM_ERROR_USAGE,
                          _ ("Node “%s” is not among the nodes of this call"), wanted),
         -1;
}
