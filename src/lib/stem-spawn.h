#pragma once

#include <glib.h>
#include <sys/types.h>

#include "stem-plan.h"
#include "stem-writer.h"

G_BEGIN_DECLS

/* Launching a worker.
 *
 * One start in flight (the directories must exist).  The worker gets stdin
 * from /dev/null, stdout and stderr through a pipe to a log writer that
 * WRITERS forks (stem-writer.h), or the log itself with --no-log-writer,
 * or (--logfile=-, not detached) ours, and drops to its user.
 *
 * When DETACH, WRITERS' server starts it (stem-logwriter-wire.h): the
 * worker leads a process group of its own in the server's session (so it
 * can never acquire a controlling terminal), and the server writes its
 * pidfile as soon as its exec has succeeded, holding the node's lock
 * LOCK_FD until then (so a worker never runs unrecorded, whatever happens
 * to the caller).  The server handles launches one at a time, and the
 * caller prepares the next while it does: beginning every node before
 * finishing any starts them without waiting for each.
 *
 * Otherwise (supervise) it is our child (vforked: nothing of our memory
 * is copied for it), in a session of its own, and
 * reaping it and its pidfile are the caller's job; an exec failure comes
 * back through a close-on-exec pipe, so stem_launch_finish knows whether
 * the program really started. */
typedef struct _StemLaunch StemLaunch;

StemLaunch *stem_launch_begin (const StemNodePlan *plan, gboolean detach, StemWriterServer *writers,
                               int lock_fd, GError **error);
/* Waits for the exec to succeed or fail; on success the pid is the worker's. */
gboolean stem_launch_finish (StemLaunch *launch, pid_t *out_pid, GError **error);
void stem_launch_free (StemLaunch *launch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemLaunch, stem_launch_free)

/* Creates, 0755 when missing, the directory of PLAN's pidfile, its working
 * directory, and (when WITH_LOG) the directory of its log file; the last
 * two belong to PLAN's user. */
gboolean stem_spawn_prepare_dirs (const StemNodePlan *plan, gboolean with_log, GError **error);

/* Replaces this process with the worker (for --foreground): stdout/stderr
 * go to the log (through a log writer that is not our child) only when a
 * logfile was given explicitly.  Returns only on failure: with our own
 * standard error back and, when we were root, as root again. */
gboolean stem_spawn_exec (const StemNodePlan *plan, GError **error);

/* A helper program (stem-supervise, stem-logwriter): beside this program
 * in a build tree, else where it was installed. */
char *stem_spawn_helper_path (const char *name);

G_END_DECLS
