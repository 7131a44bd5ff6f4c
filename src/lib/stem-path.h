#pragma once

/* Opening paths that someone else may be able to change, one component at
 * a time, never through a symbolic link that anyone but root and us could
 * have planted.  Plain libc (errno, no GLib): stem-logwriter uses it too.
 *
 * A symbolic link is followed only when nobody but root and us can change
 * it: the link belongs to root or to us, and the directory holding it
 * belongs to root or to us and is writable by nobody else (or is sticky,
 * like /tmp, where only a link's owner can replace it).  So /var/run → /run
 * works, and a link that the worker's user made in its own directory is
 * refused with ELOOP.  Every component is opened O_PATH|O_DIRECTORY|
 * O_NOFOLLOW relative to the one before, so nothing can be swapped between
 * a check and a use. */

#include <sys/types.h>

/* How stem_path_open_dir creates missing directories. */
typedef struct
{
  mode_t mode;
  int give; /* non-zero: a directory we create is given to UID:GID */
  uid_t uid;
  gid_t gid;
} StemPathCreate;

/* Opens directory PATH (absolute, or relative to the working directory)
 * and returns an O_PATH descriptor for it (a dirfd for openat, mkdirat,
 * unlinkat, renameat, fstat), or -1 with errno: ELOOP for a link that is
 * not trusted, ENOTDIR for a component that is no directory.  With CREATE
 * (may be NULL), missing directories are made; each is given away through
 * its own descriptor, and only if it is still the empty directory we made.
 * *FAILED_LEN (may be NULL) receives, on failure, the length of the prefix
 * of PATH up to the component that failed. */
int stem_path_open_dir (const char *path, const StemPathCreate *create, size_t *failed_len);

/* Opens the directory holding PATH as stem_path_open_dir does and copies
 * PATH's last component to NAME (NAME_MAX + 1 bytes).  ENOENT for a path
 * that ends in a slash or names no file. */
int stem_path_open_parent (const char *path, const StemPathCreate *create, char *name,
                           size_t *failed_len);

/* Opens file PATH with FLAGS | O_NOFOLLOW (and MODE) in one lookup
 * (stem_path_open_without_links), or else with openat relative to its
 * directory, opened as stem_path_open_parent does; -1 with errno. */
int stem_path_open_file (const char *path, int flags, mode_t mode);

/* Opens PATH with FLAGS | O_NOFOLLOW (and MODE) in one lookup that
 * refuses any symbolic link on the way: where it succeeds, the walk would
 * have opened that same file or directory, in one system call.
 * Where it fails (a link, trusted or not, a missing directory, a kernel
 * older than 5.6, a seccomp filter), -1 with errno, and only EEXIST (an
 * O_EXCL creation, the path otherwise free of links) is an answer: for
 * anything else the walk is to decide, and to say why. */
int stem_path_open_without_links (const char *path, int flags, mode_t mode);

/* Opens regular file PATH with openat (FLAGS | O_NOFOLLOW) relative to its
 * directory, opened as stem_path_open_parent does.  A symbolic link as
 * PATH's last component is followed when it is to be trusted, as one in
 * the middle would be (ELOOP when it is not): a package may install a file
 * as a link.  Anything but a regular file is refused from its status,
 * before it is opened: EISDIR for a directory, ENXIO for anything else (a
 * FIFO, a device, a socket).  The caller still decides from the fstat of
 * the descriptor (something may be swapped in meanwhile: open O_NONBLOCK). */
int stem_path_open_regular (const char *path, int flags);
