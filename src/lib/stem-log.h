#pragma once

#include <glib.h>

#include "stem-plan.h"

G_BEGIN_DECLS

/* A node's log file, as the worker's log writer writes it and stop, settle
 * and supervise wait for it. */

/* The byte of a log file that NODE's log writer holds locked
 * (stem_log_hold): its own among the nodes that share the file, unless two
 * of their names hash to the same one (about one chance in two billion),
 * when the second writer gets no lock.  From 1 to 2^31 - 1. */
guint32 stem_log_lock_at (const char *node);

/* Opens PLAN's log for appending, through its directory opened one
 * component at a time (stem-path.h), creating it for PLAN's user; refuses
 * anything but a regular file with no other name.  The descriptor holds
 * the node's byte of the file locked (stem_log_lock_at): the writer holds
 * that lock, on the open file description it inherits, for as long as it
 * writes there, which stem_log_wait waits for.  -1 with ERROR set on
 * failure. */
int stem_log_open (const StemNodePlan *plan, GError **error);

/* Waits, until DEADLINE_US at most (monotonic), until no log writer holds
 * NODE's byte of LOGFILE: the output of a worker that has exited has all
 * been written.  FALSE if one still does (a process the worker left
 * behind still has its output open). */
gboolean stem_log_wait (const char *logfile, const char *node, gint64 deadline_us);
/* How long stop and supervise wait for that, all nodes together. */
#define STEM_LOG_WAIT_US (5 * G_USEC_PER_SEC)

/* The last N_LINES lines of PATH (for reporting a worker that died at
 * start), valid UTF-8, each control character but newline and tab shown
 * as "?". */
char *stem_log_tail (const char *path, guint n_lines);

G_END_DECLS
