#include "stem-log.h"
#include "stem-log-trust.h"
#include "stem-logwriter-wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-fd.h"
#include "stem-i18n.h"

/* Opens (creating) log NAME in DFD: O_NOFOLLOW, so that whoever can write
 * the log directory cannot point a root-started worker's output at another
 * file; O_NONBLOCK, so that a FIFO planted there cannot block us with the
 * node's lock held; O_APPEND, so that history survives restarts and
 * logrotate's copytruncate works.  A log we create belongs to the worker's
 * user, who may want to reopen it. */
static int
open_log_at (const StemNodePlan *plan, int dfd, const char *name, GError **error)
{
  const int flags = O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  g_auto (StemFd) fd = openat (dfd, name, flags | O_CREAT | O_EXCL, 0640);
  if (fd >= 0 && plan->user != NULL && plan->user->change
      && fchown (fd, plan->user->uid, plan->user->gid) < 0)
    {
      stem_throw_errno (error, _ ("Giving log file “%s” to uid %u"), plan->logfile,
                        (unsigned)plan->user->uid);
      return -1;
    }
  if (fd < 0 && errno == EEXIST)
    fd = openat (dfd, name, flags);
  if (fd < 0)
    {
      if (errno == ENXIO || errno == ELOOP)
        stem_throw (error, _ ("Opening log file “%s”: it is not a regular file"), plan->logfile);
      else
        stem_throw_errno (error, _ ("Opening log file “%s”"), plan->logfile);
      return -1;
    }
  return stem_fd_steal (&fd);
}

/* Whether the log open on FD may be written by PLAN's worker
 * (stem-log-trust.h), and, for a worker of another user, a file of that
 * user's: a file of root's (a lock file, a pidfile) moved into the log's
 * place must not get the worker's output, which would then pass for
 * root's words (a PID in a root-owned pidfile). */
static gboolean
check_log (const StemNodePlan *plan, int fd, GError **error)
{
  struct stat st;
  if (fstat (fd, &st) < 0)
    return stem_throw_errno (error, _ ("Opening log file “%s”"), plan->logfile);
  gboolean other_user = plan->user != NULL && plan->user->change;
  gboolean as_root = geteuid () == 0;
  uid_t worker_uid = other_user ? plan->user->uid : 0;
  switch (stem_log_judge (&st, as_root, other_user || as_root, worker_uid))
    {
    case STEM_LOG_NOT_REGULAR:
      return stem_throw (error, _ ("Opening log file “%s”: it is not a regular file"),
                         plan->logfile);
    case STEM_LOG_LINKED:
      return stem_throw (error, _ ("Opening log file “%s”: it has other hard links, not trusted"),
                         plan->logfile);
    case STEM_LOG_FOREIGN:
      return stem_throw (error,
                         _ ("Opening log file “%s”: it belongs to uid %u, not to the worker's uid "
                            "%u; not trusted (chown it, or remove it)"),
                         plan->logfile, (unsigned)st.st_uid, (unsigned)worker_uid);
    case STEM_LOG_TRUSTED:
    default:
      break;
    }
  if (fcntl (fd, F_SETFL, O_APPEND) < 0)
    return stem_throw_errno (error, _ ("Opening log file “%s”"), plan->logfile);
  return TRUE;
}

int
stem_log_open (const StemNodePlan *plan, GError **error)
{
  char name[NAME_MAX + 1];
  g_auto (StemFd) dfd = stem_fd_open_parent (plan->logfile, NULL, name, error);
  if (dfd < 0)
    return -1;
  g_auto (StemFd) fd = open_log_at (plan, dfd, name, error);
  if (fd < 0 || !check_log (plan, fd, error))
    return -1;
  stem_log_hold (fd, stem_log_lock_at (plan->node));
  return stem_fd_steal (&fd);
}

guint32
stem_log_lock_at (const char *node)
{
  /* FNV-1a: the same byte for the same name in every call; below 2^31,
   * where a 32-bit off_t reaches too. */
  guint32 hash = 2166136261u;
  for (const unsigned char *c = (const unsigned char *)node; *c != '\0'; c++)
    hash = (hash ^ *c) * 16777619u;
  return hash % 0x7fffffffu + 1;
}

/* A blocking lock in a thread of its own, which says on an eventfd when it
 * got the lock: the lock's release is an event nothing else delivers
 * (inotify's close event comes before the kernel drops the lock), and a
 * blocking lock alone could not keep a deadline.  A waiter whose deadline
 * passed stays blocked until the lock goes, then cleans up after itself. */
typedef struct
{
  int log_fd;
  int event_fd;
  struct flock byte;
} LockWaiter;

static gpointer
wait_for_lock (gpointer data)
{
  LockWaiter *w = data;
  while (fcntl (w->log_fd, F_OFD_SETLKW, &w->byte) < 0 && errno == EINTR)
    ;
  close (w->log_fd);
  guint64 one = 1;
  while (write (w->event_fd, &one, sizeof one) < 0 && errno == EINTR)
    ;
  close (w->event_fd);
  g_free (w);
  return NULL;
}

gboolean
stem_log_wait (const char *logfile, const char *node, gint64 deadline_us)
{
  if (logfile == NULL)
    return TRUE;
  /* Through its directory: root must not lock a file someone else chose. */
  g_auto (StemFd) fd
      = stem_path_open_file (logfile, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
  /* A read lock on the node's byte, which the writer holds write-locked;
   * let go when FD is closed. */
  struct flock byte
      = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = stem_log_lock_at (node), .l_len = 1 };
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || fcntl (fd, F_OFD_SETLK, &byte) == 0
      || (errno != EAGAIN && errno != EACCES))
    return TRUE; /* released already, or no locks here: nothing to wait for */

  g_auto (StemFd) event_fd = eventfd (0, EFD_CLOEXEC);
  g_auto (StemFd) thread_event_fd = event_fd < 0 ? -1 : fcntl (event_fd, F_DUPFD_CLOEXEC, 3);
  if (thread_event_fd < 0)
    return FALSE; /* cannot wait: say it may not all be written yet */
  LockWaiter *w = g_new (LockWaiter, 1);
  *w = (LockWaiter){ fd, thread_event_fd, byte };
  GThread *thread = g_thread_try_new ("wait-log", wait_for_lock, w, NULL);
  if (thread == NULL)
    {
      g_free (w);
      return FALSE;
    }
  g_thread_unref (thread);
  fd = thread_event_fd = -1; /* the thread's now */

  struct pollfd pfd = { .fd = event_fd, .events = POLLIN };
  for (;;)
    {
      gint64 left_us = deadline_us - g_get_monotonic_time ();
      if (left_us <= 0)
        return FALSE;
      int n = poll (&pfd, 1, (int)MIN ((left_us + 999) / 1000, G_MAXINT));
      if (n > 0)
        return TRUE;
      if (n < 0 && errno != EINTR)
        return FALSE;
    }
}

char *
stem_log_tail (const char *path, guint n_lines)
{
  g_auto (StemFd) fd = stem_path_open_file (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    return NULL;
  char buf[4096];
  off_t end = lseek (fd, 0, SEEK_END);
  off_t start = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
  ssize_t n = pread (fd, buf, sizeof buf, start);
  if (n <= 0)
    return NULL;
  gsize len = (gsize)n;
  while (len > 0 && buf[len - 1] == '\n')
    len--;
  gsize from = len;
  for (guint seen = 0; from > 0; from--)
    if (buf[from - 1] == '\n' && ++seen == n_lines)
      break;
  /* The worker's words go to the caller's terminal: no escape sequence or
   * other control character of theirs (C0, DEL, C1) reaches it. */
  g_autofree char *valid = g_utf8_make_valid (buf + from, len - from);
  GString *shown = g_string_sized_new (len - from);
  for (const char *c = valid; *c != '\0'; c = g_utf8_next_char (c))
    {
      gunichar u = g_utf8_get_char (c);
      if ((u < 0x20 && u != '\n' && u != '\t') || (u >= 0x7f && u <= 0x9f))
        g_string_append_c (shown, '?');
      else
        g_string_append_len (shown, c, g_utf8_next_char (c) - c);
    }
  return g_string_free (shown, FALSE);
}
