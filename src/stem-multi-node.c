/* What stem-multi's verbs share (stem-multi-node.h). */

#include "stem-multi-node.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-lock.h"
#include "stem-pidfile.h"
#include "stem-spawn.h"

void
stem_multi_verbose (StemMultiOptions *opts, const char *format, ...)
{
  if (!opts->verbose)
    return;
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("%s: %s\n", g_get_prgname (), message);
}

void
stem_multi_inspection_clear (Inspection *in)
{
  g_clear_error (&in->error);
}

/* stem_multi_inspect; with OUT_PROC, a running worker opened too. */
static void
inspect (const StemNodePlan *plan, Inspection *in, StemProc **out_proc, GError **open_error)
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
      /* Stale, with no PID (in->pid 0): stem_pidfile_remove takes it so. */
      else if (g_error_matches (in->error, STEM_ERROR, STEM_ERROR_LEFTOVER_PIDFILE))
        {
          g_clear_error (&in->error);
          in->proc = STEM_PROC_DEAD;
          in->state = NODE_STALE;
        }
      else
        in->state = NODE_UNKNOWN;
      return;
    }
  in->pid = pidfile.pid;
  StemProcClaim claim = stem_plan_claim (plan, &pidfile);
  if (out_proc != NULL)
    in->proc = stem_proc_probe_open (in->pid, &claim, &in->start_us, out_proc, open_error);
  else
    in->proc = stem_proc_probe (in->pid, &claim, &in->start_us);
  if ((in->proc == STEM_PROC_RUNNING || in->proc == STEM_PROC_NO_PERMISSION)
      && !stem_pidfile_check_owner (plan->pidfile, &pidfile, &in->error))
    {
      in->state = NODE_UNKNOWN;
      if (out_proc != NULL)
        {
          g_clear_pointer (out_proc, stem_proc_free);
          g_clear_error (open_error);
        }
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

void
stem_multi_inspect (const StemNodePlan *plan, Inspection *in)
{
  inspect (plan, in, NULL, NULL);
}

void
stem_multi_inspect_open (const StemNodePlan *plan, Inspection *in, StemProc **out_proc,
                         GError **open_error)
{
  *out_proc = NULL;
  inspect (plan, in, out_proc, open_error);
}

/* Each thread of stem_multi_inspect_all inspects the next node not taken. */
typedef struct
{
  GPtrArray *plans;
  Inspection *out;
  gint next;
} InspectJob;

static gpointer
inspect_some (gpointer data)
{
  InspectJob *job = data;
  for (;;)
    {
      gint i = g_atomic_int_add (&job->next, 1);
      if (i >= (gint)job->plans->len)
        return NULL;
      stem_multi_inspect (job->plans->pdata[i], &job->out[i]);
    }
}

static gpointer
inspect_thread (gpointer data)
{
  /* Signals are the main thread's business. */
  sigset_t all;
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, NULL);
  return inspect_some (data);
}

/* A thread costs about as much to start as a few nodes to inspect; below
 * this many nodes for each it gains nothing (make bench: status of 200
 * nodes). */
#define NODES_PER_THREAD 32
#define MAX_THREADS 4

Inspection *
stem_multi_inspect_all (GPtrArray *plans)
{
  InspectJob job = { plans, g_new0 (Inspection, MAX (plans->len, 1)), 0 };
  guint wanted = MIN (plans->len / NODES_PER_THREAD, MAX_THREADS);
  guint n_threads = wanted > 1 ? MIN (g_get_num_processors (), wanted) : wanted;
  GThread *threads[MAX_THREADS] = { NULL };
  for (guint t = 1; t < n_threads; t++)
    threads[t] = g_thread_try_new ("inspect", inspect_thread, &job, NULL);
  inspect_some (&job);
  for (guint t = 1; t < n_threads; t++)
    if (threads[t] != NULL)
      g_thread_join (threads[t]);
  return job.out;
}

void
stem_multi_inspections_free (Inspection *all, guint n)
{
  for (guint i = 0; i < n; i++)
    stem_multi_inspection_clear (&all[i]);
  g_free (all);
}

char *
stem_multi_describe_stale (const Inspection *in)
{
  if (in->pid == 0)
    return g_strdup (_ ("it holds no PID and dates from before this boot"));
  if (in->proc == STEM_PROC_REUSED)
    return g_strdup_printf (_ ("pid %d now belongs to another process"), (int)in->pid);
  return g_strdup_printf (_ ("pid %d is not running"), (int)in->pid);
}

gboolean
stem_multi_remove_stale (StemMultiOptions *opts, const StemNodePlan *plan, const Inspection *in)
{
  g_autoptr (GError) error = NULL;
  if (!stem_pidfile_remove (plan->pidfile, in->pid, &error))
    {
      g_printerr ("%s: %s: %s\n", g_get_prgname (), plan->node, error->message);
      return FALSE;
    }
  stem_multi_verbose (opts, _ ("%s: removed stale pidfile “%s”"), plan->node, plan->pidfile);
  return TRUE;
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
 * started here and needs no lock.  With BUSY, a lock held by another
 * process is not waited for: its node goes to BUSY. */
GHashTable *
stem_multi_lock_plans (StemMultiOptions *opts, GPtrArray *plans, gboolean create, GPtrArray *busy,
                       StemReport *report)
{
  gint64 timeout_ms = busy != NULL ? 0 : opts->lock_timeout_ms;
  g_autoptr (GPtrArray) sorted = g_ptr_array_sized_new (plans->len);
  for (guint i = 0; i < plans->len; i++)
    g_ptr_array_add (sorted, plans->pdata[i]);
  g_ptr_array_sort (sorted, compare_pidfiles);
  GHashTable *locks = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify)stem_lock_release);
  for (guint i = 0; i < sorted->len; i++)
    {
      StemNodePlan *plan = sorted->pdata[i];
      g_autoptr (GError) error = NULL;
      StemLock *lock = create ? stem_lock_acquire (plan->pidfile, timeout_ms, &error)
                              : stem_lock_acquire_existing (plan->pidfile, timeout_ms, &error);
      if (lock != NULL)
        g_hash_table_insert (locks, plan, lock);
      else if (busy != NULL && g_error_matches (error, STEM_ERROR, STEM_ERROR_LOCKED))
        g_ptr_array_add (busy, plan);
      else if (!create && g_error_matches (error, STEM_ERROR, STEM_ERROR_NOT_FOUND))
        stem_multi_verbose (opts, "%s: %s", plan->node, error->message);
      else
        stem_report_add (report, plan->node, "failed", TRUE, "%s", error->message);
    }
  return locks;
}

/* A result's node's position on the command line (from 1; last if it is
 * not there), in POSITIONS: node -> position. */
static guint
node_position (GHashTable *positions, const StemNodeResult *r)
{
  guint position = GPOINTER_TO_UINT (g_hash_table_lookup (positions, r->node));
  return position != 0 ? position : G_MAXUINT;
}

static gint
compare_results (gconstpointer a, gconstpointer b, gpointer positions)
{
  guint pa = node_position (positions, *(StemNodeResult *const *)a);
  guint pb = node_position (positions, *(StemNodeResult *const *)b);
  return pa < pb ? -1 : pa > pb;
}

/* Results in the order of the nodes on the command line, whatever order the
 * work finished in (each node has one result). */
void
stem_multi_sort_report (StemReport *report, StemPlanSet *set)
{
  g_autoptr (GHashTable) positions = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; set->nodes[i] != NULL; i++)
    g_hash_table_insert (positions, set->nodes[i], GUINT_TO_POINTER (i + 1));
  g_ptr_array_sort_with_data (report->results, compare_results, positions);
}

/* Creates the directories of PLANS (failures go to REPORT) and returns the
 * plans that can go ahead. */
GPtrArray *
stem_multi_prepare_plans (GPtrArray *plans, StemReport *report)
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
