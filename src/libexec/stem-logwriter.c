/* stem-logwriter: writes one worker's output to its log file and follows
 * the file when logrotate renames or removes it, so rotation loses no line.
 *
 * "stem-logwriter --serve" forks a log writer for each request that
 * stem-multi sends on standard input (see stem-logwriter-wire.h), and exits
 * when stem-multi closes it: the one way stem-multi starts log writers
 * (start, restart, supervise, --foreground).  "stem-logwriter /PATH/OF/LOG"
 * is one log writer run directly, with the output to write on standard
 * input and the log file, opened and share-locked, on standard output and
 * standard error: for tests and debugging.  A log writer exits when the
 * last writer of its pipe has gone.  Not meant to be run by hand.
 *
 * Plain libc on purpose: one of these runs beside every worker. */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stem-logwriter-wire.h"
#include "stem-path.h"

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

/* Opens LOG_PATH relative to its directory, which is opened one component
 * at a time, never through a link someone other than root could change
 * (stem-path.h): whoever can write a directory on the way must not be able
 * to send the output to another file. */
static int
open_log_path (void)
{
  return stem_path_open_file (
      log_path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC | O_NONBLOCK, 0640);
}

/* Opens LOG_PATH afresh (creating it, as the user we run as) and writes
 * there from now on.  If it cannot be opened, output keeps going to the file
 * we have, wherever it now is: late rather than lost. */
static void
reopen_log (void)
{
  move_pending = false;
  held = 0;
  int fd = open_log_path ();
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

/* The log writer's loop, with its pipe on fd 0 and LOG_PATH open on fds 1
 * and 2. */
static int
run_writer (void)
{
  /* The worker's session or group may be signalled as a whole: we stay
   * until its output ends.  SIGHUP reopens the log, for rotation schemes of its own. */
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
  /* Everything is written: let stop know now, not after the exit's slow
   * teardown of the inotify instance, which may come before the log's. */
  flock (STDOUT_FILENO, LOCK_UN);
  return 0;
}

/* --serve: the area of the original argument and environment strings,
 * which each writer overwrites with a title naming its log, as
 * "stem-logwriter /PATH/OF/LOG" would read in ps.  The environment is
 * copied elsewhere first. */
static char *title_area;
static size_t title_room;
static const char *program_name;

extern char **environ;

static void
prepare_title (char **argv)
{
  program_name = strdup (argv[0]);
  char *end = argv[0];
  for (int i = 0; argv[i] != NULL; i++)
    if (argv[i] == end)
      end += strlen (argv[i]) + 1;
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **copy = calloc (n + 1, sizeof *copy);
  char *env_end = end;
  bool copied = copy != NULL && program_name != NULL;
  for (size_t i = 0; copied && i < n; i++)
    {
      if (environ[i] == env_end)
        env_end += strlen (environ[i]) + 1;
      copied = (copy[i] = strdup (environ[i])) != NULL;
    }
  if (copied)
    {
      environ = copy;
      end = env_end;
    }
  title_area = argv[0];
  title_room = (size_t)(end - argv[0]);
}

static void
set_title (const char *path)
{
  if (program_name == NULL || title_room < 2)
    return;
  char title[STEM_LOGWRITER_MAX_PATH + 512];
  int len = snprintf (title, sizeof title, "%s %s", program_name, path);
  if (len < 0)
    return;
  size_t n = (size_t)len < title_room - 1 ? (size_t)len : title_room - 1;
  memset (title_area, 0, title_room);
  memcpy (title_area, title, n);
}

static void
answer (int answer_fd, int kind, int value)
{
  StemLogwriterAnswer a = { kind, value };
  while (write (answer_fd, &a, sizeof a) < 0 && errno == EINTR)
    ;
}

static _Noreturn void
writer_failed (int answer_fd, int kind, int errsv)
{
  answer (answer_fd, kind, errsv);
  _exit (127);
}

/* Forks the log writer REQ asks for, with FDS (pipe, log, answer). */
static void
start_writer (const StemLogwriterRequest *req, const int fds[3])
{
  pid_t pid = fork ();
  if (pid < 0)
    {
      answer (fds[2], STEM_LOGWRITER_FAILED_START, errno);
      return;
    }
  if (pid > 0)
    return;

  /* The writer: a session of its own, the worker's user. */
  static char path[STEM_LOGWRITER_MAX_PATH];
  static gid_t groups[STEM_LOGWRITER_MAX_GROUPS];
  const uint32_t *req_groups = (const uint32_t *)(req + 1);
  for (uint32_t i = 0; i < req->n_groups; i++)
    groups[i] = (gid_t)req_groups[i];
  memcpy (path, req_groups + req->n_groups, req->path_len);
  path[req->path_len] = '\0';
  if (setsid () < 0)
    writer_failed (fds[2], STEM_LOGWRITER_FAILED_START, errno);
  if (req->change_user
      && (setgroups (req->n_groups, groups) < 0 || setgid ((gid_t)req->gid) < 0
          || setuid ((uid_t)req->uid) < 0))
    writer_failed (fds[2], STEM_LOGWRITER_FAILED_USER, errno);
  if (dup2 (fds[0], STDIN_FILENO) < 0 || dup2 (fds[1], STDOUT_FILENO) < 0
      || dup2 (fds[1], STDERR_FILENO) < 0 || chdir ("/") < 0)
    writer_failed (fds[2], STEM_LOGWRITER_FAILED_START, errno);
  close (fds[0]);
  close (fds[1]);
  set_title (path);
  log_path = path;
  answer (fds[2], STEM_LOGWRITER_RUNNING, (int)getpid ());
  close (fds[2]);
  _exit (run_writer ());
}

static int
serve (char **argv)
{
  prepare_title (argv);
  signal (SIGPIPE, SIG_IGN);
  /* Our writers are reaped by the kernel as they exit: under supervise we
   * live as long as the supervisor, and they come and go with workers. */
  struct sigaction no_zombies = { .sa_handler = SIG_DFL, .sa_flags = SA_NOCLDWAIT };
  sigaction (SIGCHLD, &no_zombies, NULL);
  static uint32_t
      message[(sizeof (StemLogwriterRequest) + STEM_LOGWRITER_MAX_PATH) / sizeof (uint32_t)
              + STEM_LOGWRITER_MAX_GROUPS + 1];
  for (;;)
    {
      union
      {
        struct cmsghdr align;
        char buf[CMSG_SPACE (3 * sizeof (int))];
      } control;
      struct iovec iov = { message, sizeof message };
      struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof control.buf,
      };
      ssize_t n = recvmsg (STDIN_FILENO, &msg, MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n == 0 ? 0 : 1;

      int fds[3] = { -1, -1, -1 };
      size_t n_fds = 0;
      for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c != NULL; c = CMSG_NXTHDR (&msg, c))
        {
          if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
          size_t count = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
          for (size_t i = 0; i < count; i++)
            {
              int got;
              memcpy (&got, CMSG_DATA (c) + i * sizeof (int), sizeof (int));
              if (n_fds < 3)
                fds[n_fds++] = got;
              else
                close (got);
            }
        }
      const StemLogwriterRequest *req = (const StemLogwriterRequest *)message;
      if (n_fds == 3 && (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0 && (size_t)n >= sizeof *req
          && req->n_groups <= STEM_LOGWRITER_MAX_GROUPS && req->path_len > 0
          && req->path_len < STEM_LOGWRITER_MAX_PATH
          && (size_t)n == sizeof *req + req->n_groups * sizeof (uint32_t) + req->path_len)
        start_writer (req, fds);
      for (size_t i = 0; i < n_fds; i++)
        close (fds[i]);
    }
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  const char *dir = getenv ("STEM_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, dir != NULL && *dir != '\0' ? dir : LOCALEDIR);

  if (argc == 2 && strcmp (argv[1], "--serve") == 0)
    return serve (argv);
  if (argc != 2 || argv[1][0] != '/')
    {
      fprintf (stderr, _ ("Usage: stem-logwriter /PATH/OF/LOG (run by “stem-multi start”)\n"));
      return 2;
    }
  log_path = argv[1];
  return run_writer ();
}
