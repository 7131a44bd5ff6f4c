#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A per-node lock: flock(LOCK_EX) on "PIDFILE.lock".  The file is created
 * mode 0644 and locked through a read-only descriptor (flock works on any
 * descriptor), so that a node first started by root can later be started
 * by its service user, e.g. under systemd's User=.  Since anyone who can
 * read it can hold it, the wait is bounded and names the holder.  A lock
 * file is used only if it belongs to root or to the caller: one planted by
 * another user is refused, naming its owner.  It is opened relative to its
 * directory, never through a link someone other than root could change
 * (stem-path.h), O_NOFOLLOW|O_NONBLOCK (a FIFO there must not block) and
 * O_CLOEXEC (the fd must never reach a worker, or the lock would live as
 * long as the worker).  Lock files are never deleted: deleting breaks
 * flock's mutual exclusion. */
typedef struct _StemLock StemLock;

/* How long a lock is waited for by default: longer than a stop with the
 * default schedule (TERM/30/KILL/5) takes. */
#define STEM_LOCK_TIMEOUT_MS (60 * 1000)

/* Waits up to TIMEOUT_MS (< 0: STEM_LOCK_TIMEOUT_MS) for the lock; on
 * timeout the error names the file and the pid holding it. */
StemLock *stem_lock_acquire (const char *pidfile, gint64 timeout_ms, GError **error);
/* The same, but only when the lock file exists: STEM_ERROR_NOT_FOUND when it
 * does not (stop and kill need no lock for a node that was never started). */
StemLock *stem_lock_acquire_existing (const char *pidfile, gint64 timeout_ms, GError **error);
void stem_lock_release (StemLock *lock);
/* The locked descriptor, to hand over to a process that must hold the lock
 * for as long as it has it open. */
int stem_lock_fd (const StemLock *lock);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemLock, stem_lock_release)

/* The pid holding a flock on the file with status ST (from /proc/locks),
 * or 0 when none is known. */
pid_t stem_lock_holder (dev_t dev, ino_t ino);

G_END_DECLS
