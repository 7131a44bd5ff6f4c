#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

#define STEM_PIDFILE_MAX_SIZE 64

/* How far in the future a pidfile's mtime may be (clock granularity)
 * before the pidfile is not trusted. */
#define STEM_PIDFILE_FUTURE_TOLERANCE_US (G_USEC_PER_SEC)

/* What one fstat and one read of the same descriptor say about a pidfile. */
typedef struct
{
  pid_t pid;
  uid_t uid;       /* the file's owner */
  gint64 mtime_us; /* µs since the epoch */
} StemPidfile;

/* Reads a pidfile suspiciously: opened with O_NOFOLLOW (a symlink is refused),
 * must be a regular file of at most 64 bytes holding a decimal integer in
 * [2, pid_max] followed by at most one newline (surrounding blanks tolerated).
 * OUT_MTIME_US (may be NULL) receives the file's mtime in µs since the epoch.
 * Its directory is opened component by component, never through a link
 * that someone other than root could change (stem-path.h); owner, mtime
 * and content all come from the one descriptor read.  A pidfile dated in
 * the future is invalid.
 * Errors: STEM_ERROR_NOT_FOUND (no file), STEM_ERROR_PERMISSION (it may not
 * be read), STEM_ERROR_LEFTOVER_PIDFILE (a regular file whose content is no
 * PID, last written before this boot: what a power cut leaves of a pidfile,
 * which no running process can belong to), STEM_ERROR_INVALID_PIDFILE
 * (anything else, such as a link on the way that is not followed; nothing
 * may be signalled then). */
gboolean stem_pidfile_load (const char *path, StemPidfile *out, GError **error);
/* stem_pidfile_load for what needs no owner. */
gboolean stem_pidfile_read (const char *path, pid_t *out_pid, gint64 *out_mtime_us, GError **error);

/* Whether PIDFILE (as loaded from PATH) may be trusted to name its pid: its
 * owner must be root or the owner of the process.  Otherwise whoever can
 * write it could make root signal a process of someone else (an older one
 * passes the start-time check).  STEM_ERROR_INVALID_PIDFILE when it may
 * not.  The owner is the one read with the content, never looked up again. */
gboolean stem_pidfile_check_owner (const char *path, const StemPidfile *pidfile, GError **error);

/* Parses pidfile contents (the part of stem_pidfile_read after the I/O). */
gboolean stem_pidfile_parse (const char *path, const char *data, gsize length, pid_t *out_pid,
                             GError **error);

/* Writes "PID\n" atomically: a temporary file in the same directory (O_EXCL,
 * O_NOFOLLOW), mode 0644, then renameat() over PATH (which replaces
 * a symlink, never writes through it), all relative to the directory
 * opened as stem_pidfile_load does. */
gboolean stem_pidfile_write (const char *path, pid_t pid, GError **error);

/* A name for a temporary file beside pidfile NAME, in TEMP (NAME_MAX + 1
 * bytes): ".NAME.XXXXXXXX", NAME cut short where that would be too long. */
void stem_pidfile_temp_name (const char *name, char *temp);

/* Removes PATH if it still names EXPECTED_PID, or with EXPECTED_PID 0 if it
 * is still a leftover (STEM_ERROR_LEFTOVER_PIDFILE).  A missing file is
 * success. */
gboolean stem_pidfile_remove (const char *path, pid_t expected_pid, GError **error);

/* The system's pid_max (from /proc/sys/kernel/pid_max, 4194304 if unreadable), read
 * once per process. */
guint64 stem_pid_max (void);

G_END_DECLS
