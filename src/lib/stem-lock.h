#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A per-node lock: flock(LOCK_EX) on "PIDFILE.lock", created 0600 (flock
 * works on any descriptor, so a lock others could open is one they could hold
 * forever) with O_NOFOLLOW|O_CLOEXEC (the fd must never reach a worker, or
 * the lock would live as long as the worker).  Lock files are never deleted: deleting breaks
 * flock's mutual exclusion. */
typedef struct _StemLock StemLock;

/* Blocks until the lock is held. */
StemLock *stem_lock_acquire (const char *pidfile, GError **error);
/* The same, but only when the lock file exists: STEM_ERROR_NOT_FOUND when it
 * does not (stop and kill need no lock for a node that was never started). */
StemLock *stem_lock_acquire_existing (const char *pidfile, GError **error);
void stem_lock_release (StemLock *lock);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemLock, stem_lock_release)

G_END_DECLS
