#include "stem-lock.h"

#include "stem-error.h"
#include "stem-i18n.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct _StemLock
{
  int fd;
};

static StemLock *
lock_acquire (const char *pidfile, int create_flag, GError **error)
{
  g_autofree char *path = g_strconcat (pidfile, ".lock", NULL);

  /* O_NONBLOCK only keeps open() from hanging on a FIFO planted at PATH;
   * flock() below still blocks. */
  int fd = open (path, O_RDWR | create_flag | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
  if (fd < 0)
    {
      if (errno == ELOOP)
        {
          stem_throw (error, _ ("Cannot use lock file “%s”: it is a symbolic link"), path);
          return NULL;
        }
      stem_throw_errno (error, _ ("Cannot open lock file “%s”"), path);
      return NULL;
    }

  struct stat st;
  if (fstat (fd, &st) < 0)
    {
      int errsv = errno;
      close (fd);
      errno = errsv;
      stem_throw_errno (error, _ ("Cannot open lock file “%s”"), path);
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      close (fd);
      stem_throw (error, _ ("Cannot use lock file “%s”: it is not a regular file"), path);
      return NULL;
    }

  while (flock (fd, LOCK_EX) < 0)
    {
      if (errno == EINTR)
        continue;
      int errsv = errno;
      close (fd);
      errno = errsv;
      stem_throw_errno (error, _ ("Cannot lock “%s”"), path);
      return NULL;
    }

  StemLock *lock = g_new0 (StemLock, 1);
  lock->fd = fd;
  return lock;
}

StemLock *
stem_lock_acquire (const char *pidfile, GError **error)
{
  return lock_acquire (pidfile, O_CREAT, error);
}

StemLock *
stem_lock_acquire_existing (const char *pidfile, GError **error)
{
  return lock_acquire (pidfile, 0, error);
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
