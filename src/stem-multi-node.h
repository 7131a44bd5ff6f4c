#pragma once

/* What stem-multi's verbs share: inspecting a node, its lock, the report's
 * order, verbose messages.  The verbs themselves are in stem-multi-start.c
 * (start, restart), stem-multi-stop.c (stop, kill), stem-multi-query.c
 * (status, show, names, expand, get), stem-multi-supervise.c and
 * stem-multi-logs.c. */

#include <glib.h>

#include "stem-multi.h"
#include "stem-output.h"
#include "stem-plan.h"
#include "stem-process.h"
#include "stem-writer.h"

G_BEGIN_DECLS

void stem_multi_verbose (StemMultiOptions *opts, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* What a node's pidfile says, after checking the process's identity. */
typedef enum
{
  NODE_NO_PIDFILE,
  NODE_RUNNING,
  NODE_FOREIGN, /* running, ours by identity, but another user's to signal */
  NODE_STALE,   /* dead, the PID now belongs to another process, or (pid 0) a
                   pidfile left with no PID from before this boot */
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

void stem_multi_inspection_clear (Inspection *in);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Inspection, stem_multi_inspection_clear)

void stem_multi_inspect (const StemNodePlan *plan, Inspection *in);
/* stem_multi_inspect, and a running worker (NODE_RUNNING) opened in the
 * same look at /proc (stem_proc_probe_open): *OUT_PROC, or NULL and
 * OPEN_ERROR when it could not be. */
void stem_multi_inspect_open (const StemNodePlan *plan, Inspection *in, StemProc **out_proc,
                              GError **open_error);
/* The inspection of each plan of PLANS, in their order (free with
 * stem_multi_inspections_free): on several threads, one for every 32
 * nodes, up to the number of processors and at most four. */
Inspection *stem_multi_inspect_all (GPtrArray *plans);
void stem_multi_inspections_free (Inspection *all, guint n);
/* Why IN (NODE_STALE) is stale. */
char *stem_multi_describe_stale (const Inspection *in);
gboolean stem_multi_remove_stale (StemMultiOptions *opts, const StemNodePlan *plan,
                                  const Inspection *in);

/* The lock of each plan of PLANS (a table from plan to StemLock); with
 * CREATE (start, restart) a missing lock file is created.  With BUSY (may
 * be NULL), the plans whose locks another process holds go there, not
 * waited for. */
GHashTable *stem_multi_lock_plans (StemMultiOptions *opts, GPtrArray *plans, gboolean create,
                                   GPtrArray *busy, StemReport *report);
/* Results in the order of the nodes on the command line. */
void stem_multi_sort_report (StemReport *report, StemPlanSet *set);
/* Creates the directories of PLANS (failures go to REPORT) and returns the
 * plans that can go ahead. */
GPtrArray *stem_multi_prepare_plans (GPtrArray *plans, StemReport *report);

/* A worker that has exited and the process group it led. */
typedef struct
{
  const char *node;
  pid_t pid;
  StemProcGroup *group; /* not owned */
} StemLeftovers;

/* Ends, with SCHEDULE, what the workers of EXITED (StemLeftovers) left in
 * their process groups, scan after scan until one finds nothing new: a
 * leftover may fork while it is being stopped.  A group known to be empty
 * needs no scan at all.  Says what it ended (--verbose) and what survived
 * (stem-multi-stop.c).  Before the log writers are waited for: leftovers
 * hold their pipes. */
void stem_multi_end_leftovers (StemMultiOptions *opts, GArray *exited, GArray *schedule);

/* Stops the nodes of PLANS with SCHEDULE (stem-multi-stop.c); restart uses
 * it one node at a time. */
void stem_multi_stop_nodes (StemMultiOptions *opts, GPtrArray *plans, GArray *schedule,
                            StemReport *report);

G_END_DECLS
