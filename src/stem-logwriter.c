/* stem-logwriter: writes one worker's output to its log file and follows
 * the file when logrotate renames or removes it, so rotation loses no line.
 *
 * stem-multi and stem-supervise start it with the worker's output pipe on
 * standard input and the log file, opened and share-locked, on standard
 * output and standard error; the only argument is the log's path.  It exits
 * when the last writer of the pipe has gone.  Not meant to be run by hand.
 *
 * Plain libc on purpose: one of these runs beside every worker. */

#include <errno.h>
#include <fcntl.h>
#include <libintl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define _(text) dgettext (GETTEXT_PACKAGE, text)

/* A line that never ends does not hold a rotation back for longer than
 * this many bytes. */
#define MAX_HELD_LINE 65536

static const char *log_path;
static int inotify_fd = -1;
static int watch = -1; /* on the file open on fd 1, or -1 */
static bool at_line_start = true;
static bool move_pending;  /* the path names another file than ours */
static size_t held;        /* bytes written since MOVE_PENDING was set */
static bool reopen_failed; /* said so once; said again after a success */
static unsigned long long lost_bytes;
static int lost_errno;

/* 0, or the errno of the write that failed, with *WRITTEN what was
 * written before it. */
static int
write_all (int fd, const char *data, size_t len, size_t *written)
{
  *written = 0;
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno;
      data += n;
      len -= (size_t)n;
      *written += (size_t)n;
    }
  return 0;
}

/* A line of our own in the log, on a line of its own. */
static int
say (const char *format, ...)
{
  char text[1024];
  int at = 0;
  if (!at_line_start)
    text[at++] = '\n';
  at += snprintf (text + at, sizeof text - (size_t)at, "stem-logwriter: ");
  va_list args;
  va_start (args, format);
  vsnprintf (text + at, sizeof text - (size_t)at, format, args);
  va_end (args);
  size_t len = strlen (text);
  if (len < sizeof text - 1)
    text[len++] = '\n';
  size_t written;
  int errsv = write_all (STDOUT_FILENO, text, len, &written);
  if (errsv == 0)
    at_line_start = true;
  return errsv;
}

/* Output that cannot be written (a full disk, a file size limit) is
 * dropped rather than left to block the worker; the log says how much once
 * writing works again. */
static void
emit (const char *data, size_t len)
{
  if (len == 0)
    return;
  if (lost_bytes > 0
      && say (_ ("%llu bytes of output lost: %s"), lost_bytes, strerror (lost_errno)) != 0)
    {
      lost_bytes += len;
      return;
    }
  lost_bytes = 0;
  size_t written;
  int errsv = write_all (STDOUT_FILENO, data, len, &written);
  if (written > 0)
    at_line_start = data[written - 1] == '\n';
  if (errsv != 0)
    {
      lost_bytes += len - written;
      lost_errno = errsv;
    }
}

static void
watch_log (void)
{
  if (inotify_fd < 0)
    return;
  if (watch >= 0)
    inotify_rm_watch (inotify_fd, watch);
  /* IN_ATTRIB: a removal shows as a change of the link count (the file we
   * hold open is never deleted under us). */
  watch = inotify_add_watch (inotify_fd, log_path,
                             IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB | IN_DONT_FOLLOW);
}

/* Whether LOG_PATH still names the file we write to. */
static bool
path_is_ours (void)
{
  struct stat path_st, ours;
  if (fstat (STDOUT_FILENO, &ours) < 0)
    return true; /* nothing to compare: keep what we have */
  if (lstat (log_path, &path_st) < 0)
    return false;
  return path_st.st_dev == ours.st_dev && path_st.st_ino == ours.st_ino;
}

/* Opens LOG_PATH afresh (creating it, as the user we run as) and writes
 * there from now on.  If it cannot be opened, output keeps going to the file
 * we have, wherever it now is: late rather than lost. */
static void
reopen_log (void)
{
  move_pending = false;
  held = 0;
  int fd
      = open (log_path,
              O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
  struct stat st;
  int errsv = 0;
  if (fd < 0)
    errsv = errno;
  else if (fstat (fd, &st) < 0)
    errsv = errno;
  else if (!S_ISREG (st.st_mode))
    errsv = EINVAL;
  else if (fcntl (fd, F_SETFL, O_APPEND) < 0)
    errsv = errno;
  if (errsv != 0)
    {
      if (fd >= 0)
        close (fd);
      if (!reopen_failed)
        say (errsv == EINVAL ? _ ("cannot reopen %s: not a regular file; still writing to the "
                                  "file it was rotated to")
                             : _ ("cannot reopen %s: %s; still writing to the file it was "
                                  "rotated to"),
             log_path, strerror (errsv));
      reopen_failed = true;
      return;
    }
  /* stem-multi stop waits for this lock to go before it reports a node
   * stopped, so the worker's last words are in the log by then. */
  flock (fd, LOCK_SH | LOCK_NB);
  dup2 (fd, STDOUT_FILENO);
  dup2 (fd, STDERR_FILENO);
  close (fd);
  reopen_failed = false;
  at_line_start = true;
  watch_log ();
}

/* Called when the path may have moved: switch files now, or once the line
 * being written is complete. */
static void
check_path (void)
{
  if (path_is_ours ())
    return;
  if (at_line_start)
    reopen_log ();
  else
    move_pending = true;
}

static void
write_output (const char *data, size_t len)
{
  if (inotify_fd < 0 || watch < 0)
    check_path (); /* no notification: look before every write */
  if (move_pending)
    {
      /* Finish the current line in the file it started in. */
      const char *newline = memchr (data, '\n', len);
      size_t head = newline != NULL ? (size_t)(newline - data) + 1 : len;
      emit (data, head);
      held += head;
      data += head;
      len -= head;
      if (newline != NULL || held >= MAX_HELD_LINE)
        reopen_log ();
    }
  emit (data, len);
}

static void
drain_inotify (void)
{
  char events[4096] __attribute__ ((aligned (__alignof__(struct inotify_event))));
  while (read (inotify_fd, events, sizeof events) > 0)
    ;
  check_path ();
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  const char *dir = getenv ("STEM_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, dir != NULL && *dir != '\0' ? dir : LOCALEDIR);

  if (argc != 2 || argv[1][0] != '/')
    {
      fprintf (stderr, _ ("Usage: stem-logwriter /PATH/OF/LOG (run by “stem-multi start”)\n"));
      return 2;
    }
  log_path = argv[1];

  /* The worker's session may be signalled as a whole: we stay until its
   * output ends.  SIGHUP reopens the log, for rotation schemes of its own. */
  signal (SIGTERM, SIG_IGN);
  signal (SIGINT, SIG_IGN);
  signal (SIGQUIT, SIG_IGN);
  signal (SIGUSR1, SIG_IGN);
  signal (SIGUSR2, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);
  signal (SIGXFSZ, SIG_IGN); /* a file size limit: EFBIG, counted as lost */
  sigset_t hup;
  sigemptyset (&hup);
  sigaddset (&hup, SIGHUP);
  sigprocmask (SIG_BLOCK, &hup, NULL);
  int signal_fd = signalfd (-1, &hup, SFD_NONBLOCK | SFD_CLOEXEC);

  inotify_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  watch_log ();
  check_path ();

  static char buffer[65536];
  struct pollfd fds[3] = {
    { .fd = STDIN_FILENO, .events = POLLIN },
    { .fd = inotify_fd, .events = POLLIN },
    { .fd = signal_fd, .events = POLLIN },
  };
  for (;;)
    {
      if (poll (fds, 3, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return 1;
        }
      /* Moves first: output read after a rotation goes to the new file. */
      if (fds[1].revents & POLLIN)
        drain_inotify ();
      if (fds[2].revents & POLLIN)
        {
          struct signalfd_siginfo info;
          while (read (signal_fd, &info, sizeof info) > 0)
            ;
          if (at_line_start)
            reopen_log ();
          else
            move_pending = true;
        }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
        {
          ssize_t n = read (STDIN_FILENO, buffer, sizeof buffer);
          if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
          if (n <= 0)
            break;
          write_output (buffer, (size_t)n);
        }
    }
  if (lost_bytes > 0)
    say (_ ("%llu bytes of output lost: %s"), lost_bytes, strerror (lost_errno));
  return 0;
}
