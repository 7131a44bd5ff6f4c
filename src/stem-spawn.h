#pragma once

#include <glib.h>
#include <sys/types.h>

#include "stem-plan.h"

G_BEGIN_DECLS

/* One start in flight (the directories must exist).  The worker gets a
 * session of its own, stdin from /dev/null, stdout and stderr appended to its
 * log (or left as they are with --logfile=-), and drops to its user.  When
 * DETACH, it is a grandchild that is no session leader (so it can never
 * acquire a controlling terminal) and whose parent exits; otherwise it is our
 * child (for supervise), and reaping it is the caller's job.  An exec failure
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

/* The last N_LINES lines of PATH (for reporting a worker that died at start). */
char *stem_spawn_log_tail (const char *path, guint n_lines);

G_END_DECLS
