#include "stem-lock.h"

#include "stem-error.h"
#include "stem-fd.h"
#include "stem-i18n.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

struct _StemLock
{
  int fd;
};

/* NAME in DFD opened with FLAGS; with DFD -1, NAME is the whole path, in
 * one lookup without links (stem_path_open_without_links). */
static int
lock_openat (int dfd, const char *name, int flags)
{
  if (dfd < 0)
    return stem_path_open_without_links (name, flags, 0644);
  return openat (dfd, name, flags, 0644);
}

/* Opens (with CREATE, makes) lock file NAME in DFD, read-only. */
static int
open_lock_file (int dfd, const char *name, gboolean create)
{
  const int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  if (create)
    {
      int fd = lock_openat (dfd, name, flags | O_CREAT | O_EXCL);
      /* 0644 whatever the umask: its service user must be able to open it. */
      if (fd >= 0 && fchmod (fd, 0644) < 0)
        {
          stem_fd_clear (&fd);
          return -1;
        }
      if (fd >= 0 || errno != EEXIST)
        return fd;
    }
  return lock_openat (dfd, name, flags);
}

/* Whether we may use the lock file with status ST: a regular file of root
 * or of ours.  Anyone else's could be held by them forever. */
static gboolean
check_lock_file (const char *path, const struct stat *st, GError **error)
{
  if (!S_ISREG (st->st_mode))
    return stem_throw (error, _ ("Cannot use lock file “%s”: it is not a regular file"), path);
  if (st->st_uid != 0 && st->st_uid != geteuid ())
    {
      g_autofree char *owner = stem_fd_describe_uid (st->st_uid);
      return stem_throw_code (error, STEM_ERROR_PERMISSION,
                              _ ("Refusing lock file “%s”: it belongs to %s, not to root or to "
                                 "us; run this as that user, or remove the file if that user "
                                 "should not control the node"),
                              path, owner);
    }
  return TRUE;
}

pid_t
stem_lock_holder (dev_t dev, ino_t ino)
{
  FILE *locks = fopen ("/proc/locks", "re");
  if (locks == NULL)
    return 0;
  char line[256];
  pid_t holder = 0;
  while (holder == 0 && fgets (line, sizeof line, locks) != NULL)
    {
      char type[16];
      int pid;
      unsigned int major, minor;
      unsigned long inode;
      /* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters have "->". */
      if (strstr (line, "->") == NULL
          && sscanf (line, "%*d: %15s %*s %*s %d %x:%x:%lu", type, &pid, &major, &minor, &inode)
                 == 5
          && strcmp (type, "FLOCK") == 0 && makedev (major, minor) == dev && inode == ino)
        holder = pid;
    }
  fclose (locks);
  return holder;
}

static void
on_alarm (int sig)
{
  (void)sig; /* only interrupts flock() */
}

/* flock(LOCK_EX) on FD for TIMEOUT_MS at most: a timer signals this very
 * thread at the deadline, and every 100 ms after it in case the signal came
 * just before flock() was entered.  FALSE with errno ETIMEDOUT on timeout. */
static gboolean
flock_bounded (int fd, gint64 timeout_ms)
{
  if (flock (fd, LOCK_EX | LOCK_NB) == 0)
    return TRUE;
  if (errno != EWOULDBLOCK)
    return FALSE;
  struct sigaction action = { .sa_handler = on_alarm }, old_action; /* no SA_RESTART */
  sigemptyset (&action.sa_mask);
  sigaction (SIGALRM, &action, &old_action);
  sigset_t alarm_set, old_mask;
  sigemptyset (&alarm_set);
  sigaddset (&alarm_set, SIGALRM);
  pthread_sigmask (SIG_UNBLOCK, &alarm_set, &old_mask);
  struct sigevent event = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
  event._sigev_un._tid = (pid_t)syscall (SYS_gettid);
  timer_t timer;
  gboolean timed = timer_create (CLOCK_MONOTONIC, &event, &timer) == 0;
  struct itimerspec when = { .it_interval = { 0, 100 * 1000 * 1000 } };
  when.it_value.tv_sec = timeout_ms / 1000;
  when.it_value.tv_nsec = (timeout_ms % 1000) * 1000 * 1000 + 1;
  if (timed)
    timer_settime (timer, 0, &when, NULL);
  gint64 deadline = g_get_monotonic_time () + timeout_ms * 1000;
  int result, errsv;
  while ((result = flock (fd, timed ? LOCK_EX : LOCK_EX | LOCK_NB)) < 0 && errno == EINTR
         && g_get_monotonic_time () < deadline)
    ;
  errsv = result < 0 && (errno == EINTR || errno == EWOULDBLOCK) ? ETIMEDOUT : errno;
  if (timed)
    timer_delete (timer);
  pthread_sigmask (SIG_SETMASK, &old_mask, NULL);
  sigaction (SIGALRM, &old_action, NULL);
  errno = errsv;
  return result == 0;
}

static gboolean
throw_timeout (const char *path, int fd, gint64 timeout_ms, GError **error)
{
  struct stat st;
  pid_t holder = fstat (fd, &st) == 0 ? stem_lock_holder (st.st_dev, st.st_ino) : 0;
  g_autofree char *seconds = g_strdup_printf ("%.1f", (double)timeout_ms / 1000);
  if (holder == 0)
    return stem_throw_code (error, STEM_ERROR_LOCKED, _ ("Gave up waiting %s s for lock file “%s”"),
                            seconds, path);
  g_autofree char *comm_path = g_strdup_printf ("/proc/%d/comm", (int)holder);
  g_autofree char *comm = NULL;
  if (g_file_get_contents (comm_path, &comm, NULL, NULL))
    g_strchomp (comm);
  return stem_throw_code (error, STEM_ERROR_LOCKED,
                          _ ("Gave up waiting %s s for lock file “%s”: it is held by pid %d (%s)"),
                          seconds, path, (int)holder, comm != NULL ? comm : "?");
}

static StemLock *
lock_acquire (const char *pidfile, gboolean create, gint64 timeout_ms, GError **error)
{
  g_autofree char *path = g_strconcat (pidfile, ".lock", NULL);
  g_auto (StemFd) fd = open_lock_file (-1, path, create);
  char name[NAME_MAX + 1];
  g_auto (StemFd) dfd = -1;
  /* Where the path holds a link, or anything failed: the walk decides. */
  if (fd < 0 && (dfd = stem_fd_open_parent (path, NULL, name, error)) < 0)
    return NULL;
  if (fd < 0 && (fd = open_lock_file (dfd, name, create)) < 0)
    {
      if (errno == ELOOP)
        stem_throw (error, _ ("Cannot use lock file “%s”: it is a symbolic link"), path);
      else
        stem_throw_errno (error, _ ("Cannot open lock file “%s”"), path);
      return NULL;
    }
  struct stat st;
  if (fstat (fd, &st) < 0)
    {
      stem_throw_errno (error, _ ("Cannot open lock file “%s”"), path);
      return NULL;
    }
  /* Its mode is left as it is: the file at this name may be any file of
   * ours that whoever can write the directory renamed here. */
  if (!check_lock_file (path, &st, error))
    return NULL;
  if (timeout_ms < 0)
    timeout_ms = STEM_LOCK_TIMEOUT_MS;
  if (!flock_bounded (fd, timeout_ms))
    {
      if (errno == ETIMEDOUT)
        throw_timeout (path, fd, timeout_ms, error);
      else
        stem_throw_errno (error, _ ("Cannot lock “%s”"), path);
      return NULL;
    }
  StemLock *lock = g_new0 (StemLock, 1);
  lock->fd = stem_fd_steal (&fd);
  return lock;
}

StemLock *
stem_lock_acquire (const char *pidfile, gint64 timeout_ms, GError **error)
{
  return lock_acquire (pidfile, TRUE, timeout_ms, error);
}

StemLock *
stem_lock_acquire_existing (const char *pidfile, gint64 timeout_ms, GError **error)
{
  return lock_acquire (pidfile, FALSE, timeout_ms, error);
}

void
stem_lock_release (StemLock *lock)
{
  if (lock == NULL)
    return;
  /* Unlock explicitly: a child forked but not yet exec'd shares the open file
   * description, and close() alone would leave the lock held through it. */
  flock (lock->fd, LOCK_UN);
  close (lock->fd);
  g_free (lock);
}

int
stem_lock_fd (const StemLock *lock)
{
  return lock->fd;
}
