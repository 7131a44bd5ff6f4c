/* stem-multi logs: the last lines of each node's log, and with --follow
 * what comes after, across logrotate's renames (the way the log writer
 * follows them: a rename or removal of the file is seen through inotify,
 * the old file is read to its end, and the new one from its start). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-fd.h"
#include "stem-i18n.h"
#include "stem-multi.h"
#include "stem-pidfile.h"
#include "stem-plan.h"
#include "stem-process.h"

#define FILE_EVENTS (IN_MODIFY | IN_MOVE_SELF)
#define DIR_EVENTS (IN_CREATE | IN_MOVED_TO)
/* Without inotify (a user's instances are limited), each log is looked at
 * this often instead, as tail -F does. */
#define POLL_INTERVAL_MS 1000

typedef struct
{
  const StemNodePlan *plan;
  const char *prefix; /* "NODE: " before each line, or "" */
  char *dir;
  char *base;
  int fd;               /* the log being read, or -1 */
  int file_wd;          /* its inotify watch, or -1 */
  int dir_wd;           /* the directory's, or -1 */
  GString *line;        /* an unfinished line, when lines are prefixed */
  gboolean on_terminal; /* standard output is one: no control character */
  gboolean after_c2;    /* held back: a byte 0xc2, maybe the start of a C1 */
  gboolean mid_line;    /* what was written last did not end a line */
} Follow;

static void
follow_clear (Follow *f)
{
  if (f->fd >= 0)
    close (f->fd);
  g_free (f->dir);
  g_free (f->base);
  if (f->line != NULL)
    g_string_free (f->line, TRUE);
}

/* A log is read by whoever asks, root included, in a directory the worker
 * may own: opened through the directory walk that follows no untrusted
 * link, never through a link itself, never a FIFO or a device. */
static int
open_log (const char *path, GError **error)
{
  char name[NAME_MAX + 1];
  g_auto (StemFd) dfd = stem_fd_open_parent (path, NULL, name, error);
  if (dfd < 0)
    {
      g_prefix_error (error, _ ("Cannot open log file “%s”: "), path);
      return -1;
    }
  g_auto (StemFd) fd
      = openat (dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      stem_throw_errno (error, _ ("Cannot open log file “%s”"), path);
      return -1;
    }
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      stem_throw (error, _ ("Log file “%s” is not a regular file"), path);
      return -1;
    }
  return stem_fd_steal (&fd);
}

/* Writes DATA to standard output.  To a terminal, a control character of
 * the worker's (C0 but newline and tab, DEL, and C1, which UTF-8 writes
 * as 0xc2 0x80 to 0xc2 0x9f) is shown as "?", as in --settle's lines:
 * whoever can write the log must not move the cursor, rewrite lines or
 * set the title of the terminal of whoever reads it (root, often).
 * Piped, the bytes go as they are. */
static void
put (Follow *f, const char *data, gsize len)
{
  if (len > 0)
    f->mid_line = data[len - 1] != '\n';
  if (!f->on_terminal)
    {
      fwrite (data, 1, len, stdout);
      return;
    }
  for (gsize i = 0; i < len; i++)
    {
      guchar b = (guchar)data[i];
      if (f->after_c2)
        {
          f->after_c2 = FALSE;
          if (b >= 0x80 && b <= 0x9f)
            {
              putchar ('?');
              continue;
            }
          putchar (0xc2);
        }
      if (b == 0xc2)
        f->after_c2 = TRUE;
      else if ((b < 0x20 && b != '\n' && b != '\t') || b == 0x7f)
        putchar ('?');
      else
        putchar (b);
    }
}

/* At the end of F's output: the byte put () held back, which no C1 follows. */
static void
put_held (Follow *f)
{
  if (f->after_c2)
    putchar (0xc2);
  f->after_c2 = FALSE;
}

/* Writes DATA to standard output, each line after F's prefix. */
static void
emit (Follow *f, const char *data, gsize len)
{
  if (*f->prefix == '\0')
    {
      put (f, data, len);
      return;
    }
  for (const char *end = data + len; data < end;)
    {
      const char *nl = memchr (data, '\n', end - data);
      const char *stop = nl != NULL ? nl + 1 : end;
      g_string_append_len (f->line, data, stop - data);
      if (nl != NULL)
        {
          fputs (f->prefix, stdout);
          put (f, f->line->str, f->line->len);
          g_string_truncate (f->line, 0);
        }
      data = stop;
    }
}

/* How much of a log is read at most to show its last lines, or what was
 * added to it at once: a log with no line end in that much (a sparse file
 * of terabytes that the worker's user made) is shown from there on, not
 * read for hours. */
#define MAX_READ_BACK ((off_t)64 << 20)

/* Says that what comes before F's log offset AT was left out. */
static void
say_cut (const Follow *f, off_t at)
{
  fflush (stdout);
  g_printerr (_ ("%s: %s: the first %lld bytes of “%s” are not shown (no line ends in the last "
                 "64 MiB)\n"),
              g_get_prgname (), f->plan->node, (long long)at, f->plan->logfile);
}

/* Reads F's log to its end, starting over if it was truncated
 * (copytruncate). */
static void
drain (Follow *f)
{
  struct stat st;
  off_t pos = lseek (f->fd, 0, SEEK_CUR);
  if (fstat (f->fd, &st) == 0)
    {
      if (st.st_size < pos)
        pos = lseek (f->fd, 0, SEEK_SET);
      if (st.st_size - pos > MAX_READ_BACK)
        {
          say_cut (f, st.st_size - MAX_READ_BACK);
          lseek (f->fd, st.st_size - MAX_READ_BACK, SEEK_SET);
        }
    }
  char buffer[65536];
  ssize_t n;
  while ((n = read (f->fd, buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0)
      emit (f, buffer, n);
  fflush (stdout);
}

/* Where the last LINES lines of FD's first END bytes begin, looked for in
 * the last MAX_READ_BACK bytes only. */
static off_t
tail_offset (int fd, guint lines, off_t end)
{
  guint seen = 0;
  char buffer[65536];
  if (lines == 0)
    return end;
  off_t floor = end > MAX_READ_BACK ? end - MAX_READ_BACK : 0;
  /* A final newline ends the last line; it does not start another. */
  for (off_t pos = end; pos > floor;)
    {
      size_t len = pos - floor < (off_t)sizeof buffer ? (size_t)(pos - floor) : sizeof buffer;
      pos -= len;
      if (pread (fd, buffer, len, pos) != (ssize_t)len)
        return floor;
      for (size_t i = len; i-- > 0;)
        if (buffer[i] == '\n' && pos + (off_t)i != end - 1 && ++seen == lines)
          return pos + i + 1;
    }
  return floor;
}

/* Prints FD's bytes from START to END: the tail as it was when the log was
 * opened, however much the worker writes meanwhile. */
static void
print_range (Follow *f, off_t start, off_t end)
{
  char buffer[65536];
  while (start < end)
    {
      size_t want = MIN ((off_t)sizeof buffer, end - start);
      ssize_t n = pread (f->fd, buffer, want, start);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      emit (f, buffer, n);
      start += n;
    }
  fflush (stdout);
}

/* The unit of ours that a running node belongs to ("stem-worker@alpha.service"),
 * or NULL.  Only a hint is made of it, so the pidfile's word is taken as
 * it is. */
static char *
unit_of_node (const StemNodePlan *plan)
{
  pid_t pid;
  if (!stem_pidfile_read (plan->pidfile, &pid, NULL, NULL))
    return NULL;
  g_autofree char *unit = stem_proc_unit (pid);
  return unit != NULL && g_str_has_prefix (unit, "stem-") ? g_steal_pointer (&unit) : NULL;
}

/* Says where the output of a node without a readable log goes, or, with
 * WAITING (--follow watches its directory), that a log not there yet is
 * waited for.  FALSE when that is nowhere we know of. */
static gboolean
explain_missing (const StemNodePlan *plan, const GError *problem, gboolean follow, gboolean waiting)
{
  g_autofree char *unit = unit_of_node (plan);
  const char *tail = follow ? " -f" : "";
  if (unit != NULL)
    {
      g_printerr (_ ("%s: %s: its output goes to the journal: journalctl -u %s%s\n"),
                  g_get_prgname (), plan->node, unit, tail);
      return TRUE;
    }
  if (plan->logfile == NULL)
    {
      g_printerr (_ ("%s: %s: it logs to the output of whatever started it (--logfile=-); "
                     "under systemd: journalctl -u stem-worker@%s%s\n"),
                  g_get_prgname (), plan->node, plan->node, tail);
      return TRUE;
    }
  if (waiting && g_error_matches (problem, STEM_ERROR, STEM_ERROR_NOT_FOUND))
    {
      g_printerr (_ ("%s: %s: no log file “%s” yet: waiting for it\n"), g_get_prgname (),
                  plan->node, plan->logfile);
      return TRUE;
    }
  g_printerr ("%s: %s: %s\n", g_get_prgname (), plan->node, problem->message);
  return FALSE;
}

/* (Re)opens F's log and reads it from OFFSET_LINES lines before its end
 * (G_MAXUINT: from the start). */
static gboolean
follow_open (Follow *f, int inotify_fd, guint offset_lines, GError **error)
{
  if (inotify_fd >= 0 && f->file_wd < 0)
    {
      /* Watched before it is opened, so nothing written in between is missed. */
      f->file_wd = inotify_add_watch (inotify_fd, f->plan->logfile, FILE_EVENTS | IN_DONT_FOLLOW);
    }
  f->fd = open_log (f->plan->logfile, error);
  if (f->fd < 0)
    return FALSE;
  struct stat st;
  off_t end = fstat (f->fd, &st) == 0 ? st.st_size : 0;
  off_t start = offset_lines == G_MAXUINT ? 0 : tail_offset (f->fd, offset_lines, end);
  if (offset_lines == G_MAXUINT && end > MAX_READ_BACK)
    start = end - MAX_READ_BACK;
  if (start > 0 && start == end - MAX_READ_BACK)
    say_cut (f, start);
  print_range (f, start, end);
  /* Following, what comes next is read from there. */
  lseek (f->fd, end, SEEK_SET);
  if (inotify_fd >= 0)
    drain (f);
  return TRUE;
}

/* A file is now under the log's name: the old one (if any) is read to its
 * end and closed, the new one read from its start.  The log writer creates
 * the new file only once it is done with the old, so nothing written to the
 * old file after its rename is missed. */
static void
follow_switch (Follow *f, int inotify_fd)
{
  if (f->fd >= 0)
    {
      drain (f);
      close (f->fd);
      f->fd = -1;
    }
  if (f->file_wd >= 0)
    inotify_rm_watch (inotify_fd, f->file_wd);
  f->file_wd = -1;
  follow_open (f, inotify_fd, G_MAXUINT, NULL);
}

/* Whether another file than the one F reads is now under the log's name:
 * a regular file, opened as every log is, and told apart by the fstat of
 * what was opened, never by the path. */
static gboolean
follow_replaced (const Follow *f)
{
  g_auto (StemFd) fd = open_log (f->plan->logfile, NULL);
  struct stat now, ours;
  if (fd < 0 || fstat (fd, &now) < 0)
    return FALSE;
  return f->fd < 0 || fstat (f->fd, &ours) < 0 || now.st_ino != ours.st_ino
         || now.st_dev != ours.st_dev;
}

static void
handle_event (Follow *follows, guint n, int inotify_fd, const struct inotify_event *ev)
{
  for (guint i = 0; i < n; i++)
    {
      Follow *f = &follows[i];
      /* Renamed or removed, the file is still read through F->fd until a
       * new one takes its name. */
      if (ev->wd == f->file_wd && f->fd >= 0)
        drain (f);
      else if (ev->wd == f->dir_wd && ev->len > 0 && strcmp (ev->name, f->base) == 0
               && follow_replaced (f))
        follow_switch (f, inotify_fd);
    }
}

static int
follow_forever (Follow *follows, guint n, int inotify_fd)
{
  char buffer[4096] __attribute__ ((aligned (__alignof__(struct inotify_event))));
  for (;;)
    {
      struct pollfd pfd = { .fd = inotify_fd, .events = POLLIN };
      if (poll (&pfd, 1, -1) < 0 && errno != EINTR)
        return STEM_EXIT_FAILURE;
      ssize_t len = read (inotify_fd, buffer, sizeof buffer);
      for (char *p = buffer; len > 0 && p < buffer + len;)
        {
          const struct inotify_event *ev = (const struct inotify_event *)p;
          handle_event (follows, n, inotify_fd, ev);
          p += sizeof *ev + ev->len;
        }
    }
}

/* Without inotify: every POLL_INTERVAL_MS, what was appended to each log,
 * and a new file that took its name (read from its start once the old one
 * is read to its end, as with inotify). */
static int
follow_polling (Follow *follows, guint n)
{
  for (;;)
    {
      for (guint i = 0; i < n; i++)
        {
          Follow *f = &follows[i];
          if (f->plan->logfile == NULL)
            continue;
          if (f->fd >= 0)
            drain (f);
          if (follow_replaced (f))
            follow_switch (f, -1);
        }
      if (poll (NULL, 0, POLL_INTERVAL_MS) < 0 && errno != EINTR)
        return STEM_EXIT_FAILURE;
    }
}

int
stem_multi_logs (StemMultiOptions *opts, GError **error)
{
  guint lines = opts->lines;
  if (opts->json)
    {
      stem_throw_code (error, STEM_ERROR_USAGE,
                       _ ("--json cannot be used with logs: it prints the logs' own lines"));
      return -1;
    }
  gboolean follow = stem_args_has (opts->args, STEM_OPT_FOLLOW);
  g_autoptr (StemPlanSet) set = stem_plan_build_paths (opts->args, opts->words, NULL, error);
  if (set == NULL)
    return -1;

  int inotify_fd = follow ? inotify_init1 (IN_CLOEXEC | IN_NONBLOCK) : -1;
  if (follow && inotify_fd < 0)
    g_printerr (_ ("%s: cannot watch the logs (%s): looking at them every second instead\n"),
                g_get_prgname (), g_strerror (errno));

  guint n = set->plans->len;
  gboolean on_terminal = isatty (STDOUT_FILENO);
  Follow *follows = g_new0 (Follow, n);
  int status = STEM_EXIT_OK;
  guint followed = 0;
  for (guint i = 0; i < n; i++)
    {
      Follow *f = &follows[i];
      f->plan = set->plans->pdata[i];
      f->prefix = n > 1 ? g_strdup_printf ("%s: ", f->plan->node) : "";
      f->line = g_string_new (NULL);
      f->on_terminal = on_terminal;
      f->fd = f->file_wd = f->dir_wd = -1;
      g_autoptr (GError) problem = NULL;
      if (f->plan->logfile != NULL && follow)
        {
          f->dir = g_path_get_dirname (f->plan->logfile);
          f->base = g_path_get_basename (f->plan->logfile);
          if (inotify_fd >= 0)
            f->dir_wd = inotify_add_watch (inotify_fd, f->dir, DIR_EVENTS | IN_ONLYDIR);
          followed += inotify_fd < 0 || f->dir_wd >= 0;
        }
      if (f->plan->logfile == NULL || !follow_open (f, inotify_fd, lines, &problem))
        {
          gboolean waiting = follow && (inotify_fd < 0 || f->dir_wd >= 0);
          if (!explain_missing (f->plan, problem, follow, waiting))
            status = STEM_EXIT_FAILURE;
        }
      else if (!follow && f->line->len > 0)
        {
          /* The last line, not ended yet, is shown all the same, ended. */
          fputs (f->prefix, stdout);
          put (f, f->line->str, f->line->len);
          put_held (f);
          putchar ('\n');
          g_string_truncate (f->line, 0);
        }
      else if (!follow && f->mid_line)
        {
          put_held (f);
          putchar ('\n'); /* the same, unprefixed */
        }
    }

  if (follow && followed > 0)
    status
        = inotify_fd >= 0 ? follow_forever (follows, n, inotify_fd) : follow_polling (follows, n);
  for (guint i = 0; i < n; i++)
    {
      if (n > 1)
        g_free ((char *)follows[i].prefix);
      follow_clear (&follows[i]);
    }
  g_free (follows);
  if (inotify_fd >= 0)
    close (inotify_fd);
  return status;
}
