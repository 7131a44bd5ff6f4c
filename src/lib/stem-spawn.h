#pragma once

#include <glib.h>
#include <sys/types.h>

#include "stem-plan.h"

G_BEGIN_DECLS

/* One start in flight (the directories must exist).  The worker gets a
 * session of its own, stdin from /dev/null, stdout and stderr through a pipe
 * to a stem-logwriter that appends them to its log (or left as they are with
 * --logfile=-), and drops to its user.  When
 * DETACH, it is a grandchild that is no session leader (so it can never
 * acquire a controlling terminal) but leads a process group of its own, and
 * whose parent writes its pidfile as soon as its exec has succeeded, then
 * exits (so a worker never runs unrecorded, whatever happens to the caller);
 * otherwise it is our child (for supervise), and reaping it and its pidfile
 * are the caller's job.  An exec failure
 * comes back through a close-on-exec pipe, so stem_launch_finish knows whether
 * the program really started.  Beginning every node before finishing any
 * starts them all in parallel. */
typedef struct _StemLaunch StemLaunch;

StemLaunch *stem_launch_begin (const StemNodePlan *plan, gboolean detach, GError **error);
/* Waits for the exec to succeed or fail; on success the pid is the worker's. */
gboolean stem_launch_finish (StemLaunch *launch, pid_t *out_pid, GError **error);
void stem_launch_free (StemLaunch *launch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemLaunch, stem_launch_free)

/* Creates, 0755 when missing, the directory of PLAN's pidfile, its working
 * directory, and (when WITH_LOG) the directory of its log file; the last
 * two belong to PLAN's user. */
gboolean stem_spawn_prepare_dirs (const StemNodePlan *plan, gboolean with_log, GError **error);

/* Replaces this process with the worker (for --foreground): stdout/stderr
 * go to the log only when a logfile was given explicitly.  Returns only on
 * failure. */
gboolean stem_spawn_exec (const StemNodePlan *plan, GError **error);

/* Waits, until DEADLINE_US at most (monotonic), until no log writer holds
 * LOGFILE: the output of a worker that has exited has all been written.
 * FALSE if one still does (a process the worker left behind still has its
 * output open). */
gboolean stem_spawn_wait_log (const char *logfile, gint64 deadline_us);
/* How long stop and supervise wait for that, all nodes together. */
#define STEM_SPAWN_LOG_WAIT_US (5 * G_USEC_PER_SEC)

/* A helper program (stem-supervise, stem-logwriter): beside this program
 * in a build tree, else where it was installed. */
char *stem_spawn_helper_path (const char *name);

/* The last N_LINES lines of PATH (for reporting a worker that died at start). */
char *stem_spawn_log_tail (const char *path, guint n_lines);

G_END_DECLS
