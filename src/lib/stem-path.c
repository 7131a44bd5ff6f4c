#include "stem-path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(SYS_openat2) && __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif

/* As the kernel's own limit on links followed in one lookup. */
#define MAX_HOPS 40

static int walk (int dfd, const char *path, const StemPathCreate *create, int *hops,
                 size_t *failed_len);

static int
close_keep_errno (int fd)
{
  int errsv = errno;
  close (fd);
  errno = errsv;
  return -1;
}

static int
open_start (const char *path, int dfd)
{
  if (path[0] == '/')
    return open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return openat (dfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* Whether the link LINK_ST in directory DFD can only have been made by
 * root or by us (see stem-path.h). */
static int
link_trusted (int dfd, const struct stat *link_st)
{
  uid_t me = geteuid ();
  struct stat dir_st;
  if (fstat (dfd, &dir_st) < 0)
    return 0;
  if ((link_st->st_uid != 0 && link_st->st_uid != me)
      || (dir_st.st_uid != 0 && dir_st.st_uid != me))
    return 0;
  return (dir_st.st_mode & (S_IWGRP | S_IWOTH)) == 0 || (dir_st.st_mode & S_ISVTX) != 0;
}

/* Whether the directory open on FD (for reading) has no entry but "." and
 * "..": a count of links would not see the files in it. */
static int
dir_is_empty (int fd)
{
  char buf[1024] __attribute__ ((aligned (8)));
  for (;;)
    {
      long n = syscall (SYS_getdents64, fd, buf, sizeof buf);
      if (n <= 0)
        return n == 0;
      for (long at = 0; at < n;)
        {
          const char *name = buf + at + 19; /* d_ino, d_off, d_reclen, d_type */
          unsigned short reclen;
          memcpy (&reclen, buf + at + 16, sizeof reclen);
          if (strcmp (name, ".") != 0 && strcmp (name, "..") != 0)
            return 0;
          at += reclen;
        }
    }
}

/* Makes directory NAME in DFD and opens it.  Its mode is set, and it is
 * given away, only if it is still an empty directory of ours: whoever can
 * write DFD may have renamed another directory of ours there meanwhile
 * (one with files in it), which must be neither opened up nor handed to
 * anyone.  Found so, it is left as it is, and EEXIST says to look again. */
static int
make_dir (int dfd, const char *name, const StemPathCreate *create)
{
  if (mkdirat (dfd, name, create->mode) < 0)
    return -1;
  int fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return fd;
  struct stat st;
  if (fstat (fd, &st) < 0)
    return close_keep_errno (fd);
  if (st.st_uid != geteuid () || !dir_is_empty (fd))
    {
      close (fd);
      errno = EEXIST;
      return -1;
    }
  /* mkdirat () took the umask off: a directory of ours gets the mode
   * asked for (0755, so that the service user and monitoring can read a
   * pidfile that root's umask 077 would hide). */
  if ((st.st_mode & 07777) != create->mode && fchmod (fd, create->mode) < 0)
    return close_keep_errno (fd);
  if (create->give && fchown (fd, create->uid, create->gid) < 0)
    return close_keep_errno (fd);
  return fd;
}

/* Follows the link NAME in DFD, if it is to be trusted. */
/* The target of link NAME in DFD (status ST), in TARGET (PATH_MAX bytes),
 * when the link is to be trusted and *HOPS allows one more; -1 with errno
 * (ELOOP: not to be followed) otherwise. */
static int
read_trusted_link (int dfd, const char *name, const struct stat *st, int *hops, char *target)
{
  if (!link_trusted (dfd, st) || ++*hops > MAX_HOPS)
    {
      errno = ELOOP;
      return -1;
    }
  ssize_t n = readlinkat (dfd, name, target, PATH_MAX - 1);
  if (n < 0)
    return -1;
  target[n] = '\0';
  return 0;
}

static int
follow (int dfd, const char *name, const StemPathCreate *create, int *hops)
{
  struct stat st;
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return -1;
  if (!S_ISLNK (st.st_mode))
    {
      errno = ENOTDIR;
      return -1;
    }
  char target[PATH_MAX];
  if (read_trusted_link (dfd, name, &st, hops, target) < 0)
    return -1;
  int start = open_start (target, dfd);
  if (start < 0)
    return -1;
  return walk (start, target, create, hops, NULL);
}

/* The directory NAME in DFD. */
static int
step (int dfd, const char *name, const StemPathCreate *create, int *hops)
{
  for (int attempt = 0; attempt < 2; attempt++)
    {
      int fd = openat (dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0)
        return fd;
      if (errno == ENOENT && create != NULL)
        {
          fd = make_dir (dfd, name, create);
          if (fd >= 0 || errno != EEXIST || attempt > 0)
            return fd;
          continue; /* made meanwhile by someone else: look again */
        }
      if (errno == ENOTDIR || errno == ELOOP)
        return follow (dfd, name, create, hops);
      return -1;
    }
  return -1;
}

/* Walks PATH's components from DFD, which it consumes. */
static int
walk (int dfd, const char *path, const StemPathCreate *create, int *hops, size_t *failed_len)
{
  const char *p = path;
  for (;;)
    {
      while (*p == '/')
        p++;
      if (*p == '\0')
        return dfd;
      const char *end = strchrnul (p, '/');
      char name[NAME_MAX + 1];
      if ((size_t)(end - p) > NAME_MAX)
        errno = ENAMETOOLONG;
      else
        {
          memcpy (name, p, (size_t)(end - p));
          name[end - p] = '\0';
        }
      int next = (size_t)(end - p) > NAME_MAX ? -1 : step (dfd, name, create, hops);
      if (next < 0)
        {
          if (failed_len != NULL)
            *failed_len = (size_t)(end - path);
          return close_keep_errno (dfd);
        }
      close (dfd);
      dfd = next;
      p = end;
    }
}

int
stem_path_open_without_links (const char *path, int flags, mode_t mode)
{
#if defined(SYS_openat2) && __has_include(<linux/openat2.h>)
  struct open_how how = {
    .flags = (unsigned)(flags | O_NOFOLLOW),
    .mode = (flags & O_CREAT) != 0 ? mode : 0,
    .resolve = RESOLVE_NO_SYMLINKS,
  };
  return (int)syscall (SYS_openat2, AT_FDCWD, path, &how, sizeof how);
#else
  (void)path;
  (void)flags;
  (void)mode;
  errno = ENOSYS;
  return -1;
#endif
}

int
stem_path_open_dir (const char *path, const StemPathCreate *create, size_t *failed_len)
{
  /* Where the one lookup succeeds, every component was a directory and
   * none a link: the walk would have opened the same directory, at two
   * system calls for each component. */
  int fd = stem_path_open_without_links (path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd >= 0)
    return fd;
  int start = open_start (path, AT_FDCWD);
  if (start < 0)
    {
      if (failed_len != NULL)
        *failed_len = 0;
      return -1;
    }
  int hops = 0;
  return walk (start, path, create, &hops, failed_len);
}

int
stem_path_open_parent (const char *path, const StemPathCreate *create, char *name,
                       size_t *failed_len)
{
  size_t len = strlen (path);
  if (len == 0 || path[len - 1] == '/')
    {
      if (failed_len != NULL)
        *failed_len = len;
      errno = ENOENT;
      return -1;
    }
  const char *slash = strrchr (path, '/');
  const char *base = slash != NULL ? slash + 1 : path;
  size_t base_len = len - (size_t)(base - path);
  if (base_len > NAME_MAX)
    {
      if (failed_len != NULL)
        *failed_len = len;
      errno = ENAMETOOLONG;
      return -1;
    }
  char dir[PATH_MAX];
  size_t dir_len = slash == NULL ? 0 : (size_t)(slash - path) + 1; /* keeps "/" for "/x" */
  if (dir_len >= sizeof dir)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (dir, path, dir_len);
  dir[dir_len] = '\0';
  if (dir_len == 0)
    strcpy (dir, ".");
  memcpy (name, base, base_len + 1);
  return stem_path_open_dir (dir, create, failed_len);
}

int
stem_path_open_file (const char *path, int flags, mode_t mode)
{
  int fd = stem_path_open_without_links (path, flags, mode);
  if (fd >= 0 || errno == EEXIST)
    return fd;
  char name[NAME_MAX + 1];
  int dfd = stem_path_open_parent (path, NULL, name, NULL);
  if (dfd < 0)
    return -1;
  fd = openat (dfd, name, flags | O_NOFOLLOW, mode);
  close_keep_errno (dfd);
  return fd;
}

/* Opens regular file NAME in DFD with FLAGS; a symbolic link there is
 * followed only when it is to be trusted, and its target's directories are
 * walked as any.  Anything else is refused by its status before open()
 * could block on it or wake a device. */
static int
open_regular_at (int dfd, const char *name, int flags, int *hops)
{
  struct stat st;
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return -1;
  if (S_ISREG (st.st_mode))
    return openat (dfd, name, flags | O_NOFOLLOW);
  if (!S_ISLNK (st.st_mode))
    {
      errno = S_ISDIR (st.st_mode) ? EISDIR : ENXIO;
      return -1;
    }
  char target[PATH_MAX];
  if (read_trusted_link (dfd, name, &st, hops, target) < 0)
    return -1;
  char *slash = strrchr (target, '/');
  const char *base = slash != NULL ? slash + 1 : target;
  if (*base == '\0')
    {
      errno = EISDIR;
      return -1;
    }
  int start = open_start (target, dfd);
  if (start < 0)
    return -1;
  if (slash != NULL)
    {
      slash[0] = '\0';
      start = walk (start, target, NULL, hops, NULL);
      slash[0] = '/';
      if (start < 0)
        return -1;
    }
  int fd = open_regular_at (start, base, flags, hops);
  close_keep_errno (start);
  return fd;
}

int
stem_path_open_regular (const char *path, int flags)
{
  char name[NAME_MAX + 1];
  int dfd = stem_path_open_parent (path, NULL, name, NULL);
  if (dfd < 0)
    return -1;
  int hops = 0;
  int fd = open_regular_at (dfd, name, flags, &hops);
  close_keep_errno (dfd);
  return fd;
}
