#include "stem-pidfile.h"

#include "stem-error.h"
#include "stem-fd.h"
#include "stem-i18n.h"
#include "stem-process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The kernel's PID_MAX_LIMIT on 64-bit systems. */
#define STEM_PID_MAX_FALLBACK 4194304

static guint64
read_pid_max (void)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/proc/sys/kernel/pid_max", &text, NULL, NULL))
    return STEM_PID_MAX_FALLBACK;
  guint64 value;
  if (!g_ascii_string_to_unsigned (g_strstrip (text), 10, 2, STEM_PID_MAX_FALLBACK, &value, NULL))
    return STEM_PID_MAX_FALLBACK;
  return value;
}

guint64
stem_pid_max (void)
{
  /* Read once per process, not once per pidfile. */
  static gsize once = 0;
  if (g_once_init_enter (&once))
    g_once_init_leave (&once, (gsize)read_pid_max ());
  return (guint64)once;
}

static gboolean
is_blank (char c)
{
  return c == ' ' || c == '\t';
}

gboolean
stem_pidfile_parse (const char *path, const char *data, gsize length, pid_t *out_pid,
                    GError **error)
{
  gsize i = 0;
  while (i < length && is_blank (data[i]))
    i++;
  if (i == length || (data[i] == '\n' && i + 1 == length))
    return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                            _ ("Invalid pidfile “%s”: it is empty"), path);

  gsize digits_start = i;
  while (i < length && g_ascii_isdigit (data[i]))
    i++;
  if (i == digits_start)
    return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                            _ ("Invalid pidfile “%s”: it does not start with a decimal PID"), path);
  g_autofree char *digits = g_strndup (data + digits_start, i - digits_start);

  while (i < length && is_blank (data[i]))
    i++;
  if (i < length && data[i] == '\n')
    {
      i++;
      if (i < length)
        return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                                _ ("Invalid pidfile “%s”: it has more than one line"), path);
    }
  else if (i < length)
    return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                            _ ("Invalid pidfile “%s”: unexpected text after the PID"), path);

  guint64 pid_max = stem_pid_max ();
  guint64 pid;
  if (!g_ascii_string_to_unsigned (digits, 10, 2, pid_max, &pid, NULL))
    return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                            _ ("Invalid pidfile “%s”: %s is not a PID between 2 and %lu"), path,
                            digits, (unsigned long)pid_max);
  *out_pid = (pid_t)pid;
  return TRUE;
}

static gboolean
throw_not_regular (const char *path, const struct stat *st, GError **error)
{
  if (S_ISLNK (st->st_mode))
    return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                            _ ("Invalid pidfile “%s”: it is a symbolic link"), path);
  if (S_ISDIR (st->st_mode))
    return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                            _ ("Invalid pidfile “%s”: it is a directory"), path);
  return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                          _ ("Invalid pidfile “%s”: it is not a regular file"), path);
}

static gboolean
throw_open_errno (const char *path, GError **error)
{
  int errsv = errno;
  if (errsv == ELOOP)
    return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                            _ ("Invalid pidfile “%s”: it is a symbolic link"), path);
  if (errsv == ENXIO)
    return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                            _ ("Invalid pidfile “%s”: it is not a regular file"), path);
  return stem_throw_errno (error, _ ("Cannot read pidfile “%s”"), path);
}

/* Opens pidfile NAME in directory DFD without following a symlink and
 * without blocking on a FIFO; *OUT_STAT is the fstat of that descriptor. */
static int
open_pidfile (const char *path, int dfd, const char *name, struct stat *out_stat, GError **error)
{
  /* fstatat() first so that a device node is rejected before open() can
   * have side effects on it; the fstat() below is the authoritative check. */
  struct stat st;
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      stem_throw_errno (error, _ ("Cannot read pidfile “%s”"), path);
      return -1;
    }
  if (!S_ISREG (st.st_mode))
    {
      throw_not_regular (path, &st, error);
      return -1;
    }
  g_auto (StemFd) fd
      = openat (dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    {
      throw_open_errno (path, error);
      return -1;
    }
  if (fstat (fd, out_stat) < 0)
    {
      stem_throw_errno (error, _ ("Cannot read pidfile “%s”"), path);
      return -1;
    }
  if (!S_ISREG (out_stat->st_mode))
    {
      throw_not_regular (path, out_stat, error);
      return -1;
    }
  return stem_fd_steal (&fd);
}

static gboolean
throw_too_large (const char *path, GError **error)
{
  return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                          _ ("Invalid pidfile “%s”: it is larger than %d bytes"), path,
                          STEM_PIDFILE_MAX_SIZE);
}

/* Reads the pidfile open at FD, SIZE bytes long by its fstat (). */
static gboolean
read_content (const char *path, int fd, off_t size, pid_t *out_pid, GError **error)
{
  /* One byte more than allowed, to notice a file that grew after fstat(). */
  char buffer[STEM_PIDFILE_MAX_SIZE + 1];
  gsize length = 0;
  /* Once the SIZE bytes fstat () saw have come, no read () for the end:
   * it could only find what was written after them, and the file is
   * taken as it was (a pidfile is written whole, then renamed in). */
  while (length < sizeof buffer && (size <= 0 || length != (gsize)size))
    {
      ssize_t n = read (fd, buffer + length, sizeof buffer - length);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return stem_throw_errno (error, _ ("Cannot read pidfile “%s”"), path);
      if (n == 0)
        break;
      length += (gsize)n;
    }
  if (length > STEM_PIDFILE_MAX_SIZE)
    return throw_too_large (path, error);
  return stem_pidfile_parse (path, buffer, length, out_pid, error);
}

/* Whether a pidfile last changed at MTIME_US was written before this boot.
 * A clock stepped forward since the boot moves the boot later (a file
 * written before the step then counts as older); only a pidfile that names
 * no process is ever decided by it. */
static gboolean
before_this_boot (gint64 mtime_us)
{
  return mtime_us < stem_proc_boot_time_us ();
}

/* Reads pidfile NAME in DFD: owner, mtime and content all from one
 * descriptor, so that what is decided is what was read (a second look by
 * path would see whatever someone renamed there meanwhile).  *OUT_STAT,
 * when given, is that descriptor's fstat whenever the file was opened. */
static gboolean
read_pidfile_at (const char *path, int dfd, const char *name, StemPidfile *out,
                 struct stat *out_stat, GError **error)
{
  struct stat st;
  g_auto (StemFd) fd = open_pidfile (path, dfd, name, &st, error);
  if (fd < 0)
    return FALSE;
  if (out_stat != NULL)
    *out_stat = st;
  if (st.st_size > STEM_PIDFILE_MAX_SIZE)
    return throw_too_large (path, error);
  gint64 mtime_us = (gint64)st.st_mtim.tv_sec * G_USEC_PER_SEC + st.st_mtim.tv_nsec / 1000;
  pid_t pid;
  g_autoptr (GError) content_error = NULL;
  if (!read_content (path, fd, st.st_size, &pid, &content_error))
    {
      /* Pidfiles are not flushed to disk before their rename (a process
       * does not outlive a boot, and the flush cost a disk write per node):
       * a power cut can leave one empty, or holding whatever the disk had
       * there.  Written before this boot, it cannot name a running worker. */
      if (g_error_matches (content_error, STEM_ERROR, STEM_ERROR_INVALID_PIDFILE)
          && before_this_boot (mtime_us))
        return stem_throw_code (error, STEM_ERROR_LEFTOVER_PIDFILE,
                                _ ("Pidfile “%s” holds no PID and dates from before this boot "
                                   "(a power cut?): no worker runs under it"),
                                path);
      g_propagate_error (error, g_steal_pointer (&content_error));
      return FALSE;
    }
  /* A date in the future would let any older process pass for the one the
   * pidfile was written for. */
  if (mtime_us > g_get_real_time () + STEM_PIDFILE_FUTURE_TOLERANCE_US)
    return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                            _ ("Invalid pidfile “%s”: it is dated in the future, not trusted"),
                            path);
  *out = (StemPidfile){ .pid = pid, .uid = st.st_uid, .mtime_us = mtime_us };
  return TRUE;
}

gboolean
stem_pidfile_load (const char *path, StemPidfile *out, GError **error)
{
  char name[NAME_MAX + 1];
  g_auto (StemFd) dfd = stem_fd_open_parent (path, NULL, name, error);
  if (dfd < 0)
    {
      /* A link on the way that someone other than root could have made:
       * the pidfile cannot be trusted (the message names the link), which
       * is not the same as one that may not be read. */
      if (errno == ELOOP && error != NULL && *error != NULL)
        (*error)->code = STEM_ERROR_INVALID_PIDFILE;
      return FALSE;
    }
  return read_pidfile_at (path, dfd, name, out, NULL, error);
}

gboolean
stem_pidfile_read (const char *path, pid_t *out_pid, gint64 *out_mtime_us, GError **error)
{
  StemPidfile pidfile;
  if (!stem_pidfile_load (path, &pidfile, error))
    return FALSE;
  *out_pid = pidfile.pid;
  if (out_mtime_us != NULL)
    *out_mtime_us = pidfile.mtime_us;
  return TRUE;
}

static gboolean
write_all (int fd, const char *data, gsize length)
{
  while (length > 0)
    {
      ssize_t n = write (fd, data, length);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      data += n;
      length -= (gsize)n;
    }
  return TRUE;
}

static gboolean
fill_temp_file (int fd, pid_t pid)
{
  g_autofree char *text = g_strdup_printf ("%d\n", (int)pid);
  /* fchmod, not the creation mode: the umask must not decide who can read it.
   * No fsync: what a power cut leaves is read as such (read_pidfile_at). */
  return fchmod (fd, 0644) == 0 && write_all (fd, text, strlen (text));
}

void
stem_pidfile_temp_name (const char *name, char *temp)
{
  g_snprintf (temp, NAME_MAX + 1, ".%.*s.%08x", NAME_MAX - 10, name, g_random_int ());
}

/* Creates a temporary file beside NAME in DFD: its descriptor, its name in
 * TEMP (NAME_MAX + 1 bytes). */
static int
create_temp_at (int dfd, const char *name, char *temp)
{
  for (int attempt = 0; attempt < 100; attempt++)
    {
      stem_pidfile_temp_name (name, temp);
      int fd = openat (dfd, temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                       0644);
      if (fd >= 0 || errno != EEXIST)
        return fd;
    }
  return -1;
}

gboolean
stem_pidfile_write (const char *path, pid_t pid, GError **error)
{
  if (pid < 2)
    return stem_throw (error, _ ("Refusing to write PID %d to pidfile “%s”"), (int)pid, path);

  char name[NAME_MAX + 1], temp[NAME_MAX + 1];
  g_auto (StemFd) dfd = stem_fd_open_parent (path, NULL, name, error);
  if (dfd < 0)
    {
      stem_error_prefix (error, _ ("Cannot write pidfile “%s”"), path);
      return FALSE;
    }
  struct stat st;
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (st.st_mode))
    return stem_throw (error, _ ("Cannot write pidfile “%s”: it is a directory"), path);

  g_auto (StemFd) fd = create_temp_at (dfd, name, temp);
  if (fd < 0)
    return stem_throw_errno (error, _ ("Cannot create a temporary file for pidfile “%s”"), path);
  /* renameat() replaces a symlink at NAME instead of writing through it. */
  if (!fill_temp_file (fd, pid) || close (stem_fd_steal (&fd)) < 0
      || renameat (dfd, temp, dfd, name) < 0)
    {
      int errsv = errno;
      unlinkat (dfd, temp, 0);
      errno = errsv;
      return stem_throw_errno (error, _ ("Cannot write pidfile “%s”"), path);
    }
  return TRUE;
}

/* Whether NAME in DFD is still the pidfile of EXPECTED_PID that was read,
 * or with EXPECTED_PID 0 still a leftover from before this boot (FALSE, no
 * error: leave it alone). */
static gboolean
still_names (const char *path, int dfd, const char *name, pid_t expected_pid, gboolean *out_ours,
             GError **error)
{
  StemPidfile pidfile = { 0 };
  struct stat st, now;
  *out_ours = FALSE;
  g_autoptr (GError) local_error = NULL;
  if (!read_pidfile_at (path, dfd, name, &pidfile, &st, &local_error)
      && !(expected_pid == 0
           && g_error_matches (local_error, STEM_ERROR, STEM_ERROR_LEFTOVER_PIDFILE)))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (pidfile.pid != expected_pid)
    return TRUE;
  /* Callers hold the node lock; this only narrows the window left to
   * anything that replaces the pidfile without taking it. */
  if (fstatat (dfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? TRUE
                           : stem_throw_errno (error, _ ("Cannot remove pidfile “%s”"), path);
  *out_ours = now.st_dev == st.st_dev && now.st_ino == st.st_ino;
  return TRUE;
}

gboolean
stem_pidfile_remove (const char *path, pid_t expected_pid, GError **error)
{
  char name[NAME_MAX + 1];
  g_autoptr (GError) local_error = NULL;
  g_auto (StemFd) dfd = stem_fd_open_parent (path, NULL, name, &local_error);
  gboolean ours = FALSE;
  if (dfd >= 0)
    still_names (path, dfd, name, expected_pid, &ours, &local_error);
  if (local_error != NULL)
    {
      if (g_error_matches (local_error, STEM_ERROR, STEM_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (ours && unlinkat (dfd, name, 0) < 0 && errno != ENOENT)
    return stem_throw_errno (error, _ ("Cannot remove pidfile “%s”"), path);
  return TRUE;
}

gboolean
stem_pidfile_check_owner (const char *path, const StemPidfile *pidfile, GError **error)
{
  if (pidfile->uid == 0)
    return TRUE;
  struct stat proc_st;
  g_autofree char *proc = g_strdup_printf ("/proc/%d", (int)pidfile->pid);
  if (stat (proc, &proc_st) < 0)
    return stem_throw_errno (error, _ ("Cannot read “%s”"), proc);
  if (proc_st.st_uid != pidfile->uid)
    return stem_throw_code (error, STEM_ERROR_INVALID_PIDFILE,
                            _ ("Pidfile “%s” belongs to uid %u but names pid %d of uid %u: not "
                               "trusted"),
                            path, (unsigned)pidfile->uid, (int)pidfile->pid,
                            (unsigned)proc_st.st_uid);
  return TRUE;
}
