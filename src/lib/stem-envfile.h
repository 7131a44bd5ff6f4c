#pragma once

#include <glib.h>
#include <sys/stat.h>

G_BEGIN_DECLS

#define STEM_ENVFILE_MAX_LINE (64 * 1024)
#define STEM_ENVFILE_MAX_SIZE (1024 * 1024)

/* Parses the portable env-file format of stem.env(5) from DATA (LENGTH bytes,
 * which may contain NULs: that is an error).  NAME is used in messages, which
 * read "NAME:LINE: message (hint)".  On success each assignment is set into
 * *ENVP (a g_environ list; later assignments win); on error *ENVP is left
 * exactly as it was.  Errors are STEM_ERROR_CONFIG. */
gboolean stem_envfile_parse (const char *name, const char *data, gsize length, GStrv *envp,
                             GError **error);

/* Reads PATH (refusing more than STEM_ENVFILE_MAX_SIZE bytes) and parses it as
 * above: stem_envfile_open, then stem_envfile_read. */
gboolean stem_envfile_load (const char *path, gboolean check_safe, GStrv *envp, GError **error);

/* Opens env file PATH for reading and returns the descriptor, *OUT_STAT
 * its fstat; -1 on error.  It never blocks: a FIFO or a device under the
 * name is refused by its status before open(), which is O_NONBLOCK in case
 * one was swapped in meanwhile, and the fstat of the descriptor decides.
 * Anything but a regular file is an error that names PATH and says what
 * it is (STEM_ERROR_CONFIG).  When CHECK_SAFE is TRUE the root-safety rule
 * applies instead: PATH must not be a symbolic link, and the file must be
 * a regular file owned by root and not writable by group or others, else
 * STEM_ERROR_UNSAFE with a message that says how to fix it (chown root,
 * chmod go-w), and *OUT_STAT the status that was refused.  A missing file
 * is STEM_ERROR_NOT_FOUND, one that may not be opened
 * STEM_ERROR_PERMISSION. */
int stem_envfile_open (const char *path, gboolean check_safe, struct stat *out_stat,
                       GError **error);

/* Reads the env file open as FD (from stem_envfile_open; PATH for
 * messages), refusing more than STEM_ENVFILE_MAX_SIZE bytes, and parses
 * it into *ENVP as stem_envfile_parse does. */
gboolean stem_envfile_read (int fd, const char *path, GStrv *envp, GError **error);

/* Sets each NAME=VALUE of ASSIGNMENTS (as stem_envfile_load gives them)
 * into *ENVP, later ones winning: how an env file applies to an
 * environment, for every tool. */
void stem_envfile_apply (const char *const *assignments, GStrv *envp);

G_END_DECLS
