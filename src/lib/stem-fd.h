#pragma once

#include <errno.h>
#include <glib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stem-path.h"

G_BEGIN_DECLS

/* A descriptor that closes itself: g_auto (StemFd) fd = -1; hand it over
 * with stem_fd_steal.  Closing keeps errno. */
typedef int StemFd;

static inline void
stem_fd_clear (StemFd *fd)
{
  if (*fd >= 0)
    {
      int errsv = errno;
      close (*fd);
      errno = errsv;
      *fd = -1;
    }
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (StemFd, stem_fd_clear)

static inline int
stem_fd_steal (StemFd *fd)
{
  int value = *fd;
  *fd = -1;
  return value;
}

/* stem_path_open_parent with a GError: the directory holding PATH (an
 * O_PATH descriptor) and, in NAME (NAME_MAX + 1 bytes), PATH's last
 * component.  The message names the component that could not be opened,
 * and says why a symbolic link was not followed.  ENOENT maps to
 * STEM_ERROR_NOT_FOUND. */
int stem_fd_open_parent (const char *path, const StemPathCreate *create, char *name,
                         GError **error);

/* stem_path_open_dir with a GError, as stem_fd_open_parent; with CREATE,
 * a failure is "Creating directory “PREFIX”: …" for the first directory
 * that could not be opened or made. */
int stem_fd_open_dir (const char *path, const StemPathCreate *create, GError **error);

/* Appends what FD holds, to its end, to TEXT: 0, EFBIG once TEXT holds
 * more than MAX bytes (a file may grow while it is read), or the errno of
 * the read that failed. */
int stem_fd_read_bounded (int fd, gsize max, GString *text);

/* Reads regular file PATH, at most MAX bytes, into *OUT_TEXT
 * (NUL-terminated); *OUT_STAT (may be NULL) gets the fstat of the
 * descriptor read.  Opened as stem_path_open_regular does, and
 * O_NONBLOCK: a FIFO or a device is never waited on or read, a link is
 * followed only when it is to be trusted.  Errors name PATH:
 * STEM_ERROR_NOT_FOUND, STEM_ERROR_PERMISSION (also for a link not
 * followed), STEM_ERROR_CONFIG for anything but a regular file, or one
 * larger than MAX. */
gboolean stem_fd_read_file (const char *path, gsize max, char **out_text, struct stat *out_stat,
                            GError **error);

/* The user name of UID, or its number. */
char *stem_fd_describe_uid (uid_t uid);

G_END_DECLS
