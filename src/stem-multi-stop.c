/* stem-multi stop and kill: a stop schedule for many nodes at once, then
 * what they left in their process groups. */

#include <signal.h>
#include <string.h>

#include "stem-duration.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-log.h"
#include "stem-multi-node.h"
#include "stem-pidfile.h"
#include "stem-progress.h"
#include "stem-schedule.h"

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
report_leftovers (StemMultiOptions *opts, const StemLeftovers *t)
{
  GPtrArray *members = stem_proc_group_members (t->group);
  guint survivors = 0;
  for (guint i = 0; i < members->len; i++)
    if (!stem_proc_has_exited (members->pdata[i]))
      survivors++;
  if (members->len > survivors)
    stem_multi_verbose (opts,
                        ngettext ("%s: ended %u process the worker left in its process group %d",
                                  "%s: ended %u processes the worker left in its process group %d",
                                  members->len - survivors),
                        t->node, members->len - survivors, (int)t->pid);
  if (survivors > 0)
    g_printerr (ngettext ("%s: %s: %u process the worker left in its process group %d is still "
                          "running\n",
                          "%s: %s: %u processes the worker left in its process group %d are "
                          "still running\n",
                          survivors),
                g_get_prgname (), t->node, survivors, (int)t->pid);
}

void
stem_multi_end_leftovers (StemMultiOptions *opts, GArray *exited, GArray *schedule)
{
  g_autoptr (GPtrArray) groups = g_ptr_array_new ();
  for (guint i = 0; i < exited->len; i++)
    {
      StemLeftovers *t = &g_array_index (exited, StemLeftovers, i);
      if (!stem_proc_group_is_empty (t->group))
        g_ptr_array_add (groups, t->group);
    }
  /* Once a worker has exited, only this call knows what it left: an
   * interrupted call ends it with SIGKILL before it goes. */
  if (groups->len > 0)
    stem_proc_hurry_on_signals (TRUE);
  gboolean hurrying = groups->len > 0;
  guint round;
  for (round = 0; round < LEFTOVER_ROUNDS && groups->len > 0; round++)
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
      if (!stem_proc_stop_tree (live, schedule, ignored, NULL))
        break;
    }
  /* Given up on a group that goes on starting processes: those it started
   * during the last round are among the survivors named below too. */
  if (round == LEFTOVER_ROUNDS)
    stem_proc_groups_collect (groups);
  int hurried = hurrying ? stem_proc_hurry_on_signals (FALSE) : 0;
  if (hurried != 0)
    g_printerr (_ ("%s: got SIG%s while ending what workers left in their process groups: sent "
                   "it SIGKILL, as no later call could find it\n"),
                g_get_prgname (), stem_signal_name (hurried));
  for (guint i = 0; i < exited->len; i++)
    report_leftovers (opts, &g_array_index (exited, StemLeftovers, i));
}

/* What the workers of TARGETS that have exited (RESULTS) left in their
 * process groups, ended with SCHEDULE. */
static void
stop_leftovers (StemMultiOptions *opts, GArray *targets, const int *results, GArray *schedule)
{
  g_autoptr (GArray) exited = g_array_new (FALSE, FALSE, sizeof (StemLeftovers));
  for (guint i = 0; i < targets->len; i++)
    {
      const Target *t = &g_array_index (targets, Target, i);
      StemLeftovers l = { t->plan->node, t->pid, t->group };
      if (t->group != NULL && results[i] >= 0)
        g_array_append_val (exited, l);
    }
  stem_multi_end_leftovers (opts, exited, schedule);
}

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
      g_autoptr (GError) error = NULL;
      StemProc *proc;
      stem_multi_inspect_open (plan, &in, &proc, &error);
      /* The result of a node whose pidfile named a process, which --json
       * gives as "pid". */
      StemNodeResult *r = NULL;
      switch (in.state)
        {
        case NODE_NO_PIDFILE:
          stem_report_add (report, plan->node, "not-running", FALSE, _ ("not running"));
          continue;
        case NODE_STALE:
          {
            g_autofree char *why = stem_multi_describe_stale (&in);
            if (stem_multi_remove_stale (opts, plan, &in))
              r = stem_report_add (report, plan->node, "not-running", FALSE,
                                   _ ("not running (removed stale pidfile: %s)"), why);
            else
              r = stem_report_add (report, plan->node, "not-running", FALSE,
                                   _ ("not running (stale pidfile: %s; it could not be removed)"),
                                   why);
            break;
          }
        case NODE_FOREIGN:
          r = stem_report_add (report, plan->node, "permission-denied", TRUE,
                               _ ("pid %d belongs to another user: permission denied"),
                               (int)in.pid);
          break;
        case NODE_UNKNOWN:
          r = stem_report_add (report, plan->node, "unknown", TRUE, _ ("%s; nothing was signalled"),
                               in.error->message);
          break;
        case NODE_RUNNING:
        default:
          if (proc != NULL)
            break;
          if (g_error_matches (error, STEM_ERROR, STEM_ERROR_NOT_FOUND))
            {
              stem_pidfile_remove (plan->pidfile, in.pid, NULL);
              r = stem_report_add (report, plan->node, "not-running", FALSE, _ ("not running"));
            }
          else
            r = stem_report_add (report, plan->node, "failed", TRUE, "%s", error->message);
          break;
        }
      if (r != NULL)
        {
          if (in.pid > 0)
            r->pid = in.pid;
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
        stem_report_add (report, t->plan->node, "failed", TRUE, "%s", error->message)->pid = t->pid;
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
      /* Its pidfile went as it exited (remove_pidfile); its last words
       * are in the log before we say it stopped. */
      if (t->plan->logfile != NULL && !stem_log_wait (t->plan->logfile, t->plan->node, deadline))
        stem_multi_verbose (
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
          /* The report's first word is its state, as for the others. */
          g_autofree char *waited = stem_duration_format (steps[step - 1].timeout_ms);
          gboolean killed = steps[step].signum == SIGKILL;
          r = stem_report_add (report, t->plan->node, killed ? "killed" : "stopped", FALSE,
                               killed
                                   ? _ ("killed (pid %d) by SIG%s: still running %s after SIG%s")
                                   : _ ("stopped (pid %d) by SIG%s: still running %s after SIG%s"),
                               (int)t->pid, stem_signal_name (steps[step].signum), waited,
                               stem_signal_name (steps[step - 1].signum));
        }
      r->pid = t->pid;
    }
}

/* A stopped worker's pidfile goes as soon as the worker has exited, while
 * the other nodes are still stopping rather than after the last. */
static void
remove_pidfile (guint index, gpointer user_data)
{
  const Target *t = &g_array_index ((GArray *)user_data, Target, index);
  stem_pidfile_remove (t->plan->pidfile, t->pid, NULL);
}

/* Stops PLANS (locks held) with SCHEDULE, all at once. */
void
stem_multi_stop_nodes (StemMultiOptions *opts, GPtrArray *plans, GArray *schedule,
                       StemReport *report)
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
  stem_multi_verbose (
      opts, ngettext ("stopping %u node with %s", "stopping %u nodes with %s", procs->len),
      procs->len, schedule_text);
  g_autofree int *results = g_new (int, procs->len);
  g_autoptr (GError) error = NULL;
  g_autoptr (StemProgress) progress = progress_for (opts, targets, steps[0].signum);
  gboolean waited = stem_proc_stop_all_shown (procs, schedule, TRUE, progress, remove_pidfile,
                                              targets, results, &error);
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
  g_autoptr (GHashTable) reported = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < report->results->len; i++)
    g_hash_table_add (reported, ((StemNodeResult *)report->results->pdata[i])->node);
  GPtrArray *left = g_ptr_array_new ();
  for (guint i = 0; i < plans->len; i++)
    {
      StemNodePlan *plan = plans->pdata[i];
      if (!g_hash_table_contains (reported, plan->node))
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
    g_autoptr (GHashTable) locks = stem_multi_lock_plans (opts, set->plans, FALSE, NULL, report);
    g_autoptr (GPtrArray) unreported = plans_without_result (set->plans, report);
    stem_multi_stop_nodes (opts, unreported, schedule, report);
  }
  stem_multi_sort_report (report, set);
  stem_report_print (report, opts->json, opts->quiet);
  return stem_report_any_failed (report) ? STEM_EXIT_FAILURE : STEM_EXIT_OK;
}

int
stem_multi_stop (StemMultiOptions *opts, GError **error)
{
  return stop_verb (opts, opts->verb, opts->schedule, error);
}

int
stem_multi_kill (StemMultiOptions *opts, GError **error)
{
  StemScheduleStep kill_step = { SIGKILL, 5 * 1000 };
  g_autoptr (GArray) schedule = g_array_new (FALSE, FALSE, sizeof (StemScheduleStep));
  g_array_append_val (schedule, kill_step);
  return stop_verb (opts, "kill", schedule, error);
}
