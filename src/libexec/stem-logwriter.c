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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __NR_close_range
#define __NR_close_range 436
#endif

#include "stem-exec.h"
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

/* Without a watch, a rotation is noticed when the worker next writes
 * (write_output looks at the path first); the log says so, once. */
static void
unwatched (int errsv)
{
  static bool said;
  if (!said)
    say (_ ("cannot watch %s for rotation (%s): a rotation is noticed when the worker next "
            "writes"),
         log_path, strerror (errsv));
  said = true;
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
  /* The user's watches used up (ENOSPC), not a path already gone. */
  if (watch < 0 && (errno == ENOSPC || errno == ENOMEM))
    unwatched (errno);
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
  /* The watch is on the file itself: its events carry no name. */
  char events[32 * sizeof (struct inotify_event)]
      __attribute__ ((aligned (__alignof__(struct inotify_event))));
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

  /* One instance per writer: a user's are limited (EMFILE past
   * fs.inotify.max_user_instances, 128 by default). */
  inotify_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0)
    unwatched (errno);
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
  memset (title_area, 0, title_room);
  snprintf (title_area, title_room, "%s %s", program_name, path);
}

/* Who a writer or a worker runs as. */
typedef struct
{
  bool change;
  uid_t uid;
  gid_t gid;
  size_t n_groups;
  gid_t groups[STEM_LOGWRITER_MAX_GROUPS];
} User;

static int
apply_user (const User *user)
{
  return stem_exec_switch_user (user->change, user->uid, user->gid, user->n_groups, user->groups);
}

/* Forks a log writer for PATH, reading DATA_FD and appending to LOG_FD as
 * USER; it says on ANSWER_FD when it runs, or what failed. */
static void
start_writer (const User *user, const char *path, int data_fd, int log_fd, int answer_fd)
{
  pid_t pid = fork ();
  if (pid < 0)
    stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_START, errno);
  if (pid != 0)
    return;

  /* The writer: a session of its own, the worker's user, nothing of ours
   * open (a node's lock must not live as long as its writer).  PATH needs
   * no copy: the server's next requests change its own memory, not ours,
   * and the caller's frame is never left. */
  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  signal (SIGCHLD, SIG_DFL);
  if (dup2 (data_fd, STDIN_FILENO) < 0 || dup2 (log_fd, STDOUT_FILENO) < 0
      || dup2 (log_fd, STDERR_FILENO) < 0 || (answer_fd != 3 && dup2 (answer_fd, 3) < 0))
    stem_exec_fail (answer_fd, STEM_LOGWRITER_FAILED_START, errno);
  if (syscall (__NR_close_range, 4U, ~0U, 0U) != 0)
    for (int fd = 4; fd < 65536; fd++)
      close (fd);
  if (setsid () < 0 || chdir ("/") < 0)
    stem_exec_fail (3, STEM_LOGWRITER_FAILED_START, errno);
  int errsv = apply_user (user);
  if (errsv != 0)
    stem_exec_fail (3, STEM_LOGWRITER_FAILED_USER, errsv);
  set_title (path);
  log_path = path;
  stem_exec_answer (3, STEM_LOGWRITER_RUNNING, (int)getpid ());
  close (3);
  _exit (run_writer ());
}

/* ---- requests ------------------------------------------------------------ */

/* One message and its descriptors. */
typedef struct
{
  const unsigned char *data;
  size_t len;
  int fds[4];
  size_t n_fds;
} Message;

static bool
read_user (const uint32_t *head, uint32_t n_groups, const unsigned char *groups, User *user)
{
  if (n_groups > STEM_LOGWRITER_MAX_GROUPS)
    return false;
  user->change = head[0] != 0;
  user->uid = (uid_t)head[1];
  user->gid = (gid_t)head[2];
  user->n_groups = n_groups;
  for (uint32_t i = 0; i < n_groups; i++)
    memcpy (&user->groups[i], groups + i * sizeof (uint32_t), sizeof (uint32_t));
  return true;
}

static void
serve_writer (const Message *m)
{
  static User user;
  StemLogwriterRequest req;
  if (m->n_fds != 3 || m->len < sizeof req)
    return;
  memcpy (&req, m->data, sizeof req);
  size_t groups_len = (size_t)req.n_groups * sizeof (uint32_t);
  if (req.n_groups > STEM_LOGWRITER_MAX_GROUPS || req.path_len == 0
      || req.path_len >= STEM_LOGWRITER_MAX_PATH
      || m->len != sizeof req + groups_len + req.path_len)
    return;
  uint32_t head[3] = { req.change_user, req.uid, req.gid };
  if (!read_user (head, req.n_groups, m->data + sizeof req, &user))
    return;
  char path[STEM_LOGWRITER_MAX_PATH];
  memcpy (path, m->data + sizeof req + groups_len, req.path_len);
  path[req.path_len] = '\0';
  start_writer (&user, path, m->fds[0], m->fds[1], m->fds[2]);
}

/* A launch, as read from its message: pointers into the message. */
typedef struct
{
  User user;
  bool with_writer;
  const char *log_path;
  const char *pidfile_name;
  const char *temp_name;
  StemExecWorker exec; /* its user is USER */
} Launch;

/* Splits the NUL-terminated strings of a launch: exactly 4 + ARGC + ENVC
 * of them, filling L's pointers.  *STRINGS is all of them. */
static bool
read_strings (const StemLogwriterLaunch *req, const char *strings, Launch *l)
{
  static char *pointers[4 + 2 * (STEM_LOGWRITER_MAX_ARGS + 1)];
  size_t want = 4 + (size_t)req->argc + req->envc, n = 0;
  if (req->argc == 0 || req->argc > STEM_LOGWRITER_MAX_ARGS || req->envc > STEM_LOGWRITER_MAX_ARGS
      || req->strings_len == 0 || strings[req->strings_len - 1] != '\0')
    return false;
  for (size_t at = 0; at < req->strings_len; at += strlen (strings + at) + 1)
    {
      if (n == want)
        return false;
      /* Room for the NULL ending argv before envp starts. */
      pointers[n < 4 + req->argc ? n : n + 1] = (char *)strings + at;
      n++;
    }
  if (n != want)
    return false;
  l->log_path = pointers[0];
  l->exec.workdir = pointers[1];
  l->pidfile_name = pointers[2];
  l->temp_name = pointers[3];
  l->exec.argv = pointers + 4;
  l->exec.argv[req->argc] = NULL;
  l->exec.envp = l->exec.argv + req->argc + 1;
  l->exec.envp[req->envc] = NULL;
  return true;
}

static bool
read_launch (const Message *m, Launch *l)
{
  StemLogwriterLaunch req;
  if (m->n_fds != 4 || m->len < sizeof req)
    return false;
  memcpy (&req, m->data, sizeof req);
  size_t groups_len = (size_t)req.n_groups * sizeof (uint32_t);
  if (req.n_groups > STEM_LOGWRITER_MAX_GROUPS || req.strings_len > STEM_LOGWRITER_MAX_STRINGS
      || m->len != sizeof req + groups_len + req.strings_len)
    return false;
  uint32_t head[3] = { req.change_user, req.uid, req.gid };
  l->with_writer = req.with_writer != 0;
  if (!read_user (head, req.n_groups, m->data + sizeof req, &l->user)
      || !read_strings (&req, (const char *)m->data + sizeof req + groups_len, l))
    return false;
  l->exec.change_user = l->user.change;
  l->exec.uid = l->user.uid;
  l->exec.gid = l->user.gid;
  l->exec.n_groups = l->user.n_groups;
  l->exec.groups = l->user.groups;
  l->exec.has_umask = req.has_umask != 0;
  l->exec.umask = (mode_t)(req.umask & 0777);
  return true;
}

/* Writes "PID\n" to a new temporary file in DIR_FD, mode 0644 whatever the
 * umask, flushed to disk, and renames it over the pidfile (replacing a
 * symbolic link, never following it).  0 or an errno. */
static int
record_worker (int dir_fd, const Launch *l, pid_t worker)
{
  char text[16];
  int len = snprintf (text, sizeof text, "%d\n", (int)worker);
  int fd = openat (dir_fd, l->temp_name,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0)
    return errno;
  /* A few bytes to a new regular file: written whole or not at all (a
   * short count here means a full disk). */
  int errsv = 0;
  ssize_t n_written = fchmod (fd, 0644) < 0 ? -1 : write (fd, text, (size_t)len);
  if (n_written != len || fsync (fd) < 0)
    errsv = n_written < 0 || n_written == len ? errno : ENOSPC;
  if (close (fd) < 0 && errsv == 0 && errno != EINTR)
    errsv = errno;
  if (errsv == 0 && renameat (dir_fd, l->temp_name, dir_fd, l->pidfile_name) < 0)
    errsv = errno;
  if (errsv != 0)
    unlinkat (dir_fd, l->temp_name, 0);
  return errsv;
}

/* The worker's output, in *OUT_FD: the log itself, or the write end of a
 * pipe to a new log writer, which says on *STATUS_FD whether it runs (not
 * waited for here: the worker starts meanwhile, and is killed should the
 * writer fail).  FALSE, answered, on failure. */
static bool
launch_output (const Launch *l, int log_fd, int answer_fd, int *out_fd, int *status_fd)
{
  *status_fd = -1;
  if (!l->with_writer)
    {
      if ((*out_fd = dup (log_fd)) < 0)
        stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_START, errno);
      return *out_fd >= 0;
    }
  int data[2], status[2];
  if (pipe2 (data, O_CLOEXEC) < 0)
    {
      stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_START, errno);
      return false;
    }
  if (pipe2 (status, O_CLOEXEC) < 0)
    {
      stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_START, errno);
      close (data[0]);
      close (data[1]);
      return false;
    }
  start_writer (&l->user, l->log_path, data[0], log_fd, status[1]);
  close (status[1]);
  close (data[0]);
  *out_fd = data[1];
  *status_fd = status[0];
  return true;
}

/* What the writer said on STATUS_FD (-1: there is none). */
static StemLogwriterAnswer
writer_status (int status_fd)
{
  StemLogwriterAnswer a = { STEM_LOGWRITER_RUNNING, 0 };
  if (status_fd < 0)
    return a;
  StemLogwriterAnswer got;
  ssize_t n;
  while ((n = read (status_fd, &got, sizeof got)) < 0 && errno == EINTR)
    ;
  close (status_fd);
  if (n == sizeof got)
    return got;
  return (StemLogwriterAnswer){ STEM_LOGWRITER_FAILED_START, EIO };
}

static void
serve_launch (const Message *m, int null_fd)
{
  static Launch l;
  int log_fd = m->fds[0], dir_fd = m->fds[1], answer_fd = m->fds[3];
  int out_fd, writer_fd, status[2];
  if (!read_launch (m, &l))
    return; /* no answer: stem-multi says the server failed it */
  if (!launch_output (&l, log_fd, answer_fd, &out_fd, &writer_fd))
    return;
  if (pipe2 (status, O_CLOEXEC) < 0)
    {
      stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_FORK, errno);
      close (out_fd);
      writer_status (writer_fd);
      return;
    }
  /* A process group of its own, in our session; we wait only until its
   * exec.  It is stem-multi's child, not ours: stem-multi reaps none of
   * its workers, so that one that dies at once stays a zombie, its PID
   * its own, until stem-multi has ended what it left in its process group
   * (--settle), and exits. */
  StemExecChild c = { &l.exec, false, null_fd, out_fd, status[1] };
  pid_t worker = stem_exec_vfork_sibling (stem_exec_child, &c);
  int errsv = errno;
  close (status[1]);
  close (out_fd);
  StemLogwriterAnswer failed;
  ssize_t n = 0;
  if (worker > 0)
    while ((n = read (status[0], &failed, sizeof failed)) < 0 && errno == EINTR)
      ;
  close (status[0]);
  /* No worker without its writer.  The worker is stem-multi's child,
   * which stem-multi does not reap: its PID cannot have been reused. */
  StemLogwriterAnswer writer = writer_status (writer_fd);
  if (worker < 0)
    stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_FORK, errsv);
  else if (n == sizeof failed)
    stem_exec_answer (answer_fd, failed.kind, failed.value); /* it did not start, and has exited */
  else if (writer.kind != STEM_LOGWRITER_RUNNING)
    {
      kill (worker, SIGKILL);
      stem_exec_answer (answer_fd, writer.kind, writer.value);
    }
  else if ((errsv = record_worker (dir_fd, &l, worker)) != 0)
    {
      /* Nothing could find it again. */
      kill (worker, SIGKILL);
      stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_PIDFILE, errsv);
    }
  else
    stem_exec_answer (answer_fd, STEM_LOGWRITER_RUNNING, (int)worker);
}

/* Receives one message on standard input: its length, 0 at the end, -1
 * on failure (EINTR: try again). */
static ssize_t
receive (unsigned char *buffer, size_t size, Message *m)
{
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE (4 * sizeof (int))];
  } control;
  struct iovec iov = { buffer, size };
  struct msghdr msg = {
    .msg_iov = &iov,
    .msg_iovlen = 1,
    .msg_control = control.buf,
    .msg_controllen = sizeof control.buf,
  };
  ssize_t n = recvmsg (STDIN_FILENO, &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0)
    return n;
  m->data = buffer;
  m->len = (size_t)n;
  m->n_fds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c != NULL; c = CMSG_NXTHDR (&msg, c))
    {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        continue;
      size_t count = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
      for (size_t i = 0; i < count; i++)
        {
          int got;
          memcpy (&got, CMSG_DATA (c) + i * sizeof (int), sizeof (int));
          if (m->n_fds < 4)
            m->fds[m->n_fds++] = got;
          else
            close (got);
        }
    }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
    m->len = 0; /* matches no request */
  return n;
}

/* Reaps every child that has exited (writers; the workers are stem-multi's
 * children) when the signal descriptor says so. */
static void
reap_children (int signal_fd)
{
  struct signalfd_siginfo info;
  while (read (signal_fd, &info, sizeof info) > 0)
    ;
  while (waitpid (-1, NULL, WNOHANG) > 0)
    ;
}

static int
serve (char **argv)
{
  prepare_title (argv);
  signal (SIGPIPE, SIG_IGN);
  /* A session of our own: the workers we start lead process groups in it,
   * and none can ever acquire a terminal. */
  setsid ();
  /* Every signal blocked (children reset their mask): we finish what we
   * were sent whatever happens to stem-multi, and exit when it has closed
   * our socket.  SIGCHLD is read from a descriptor. */
  sigset_t all, child;
  sigfillset (&all);
  sigprocmask (SIG_BLOCK, &all, NULL);
  sigemptyset (&child);
  sigaddset (&child, SIGCHLD);
  int signal_fd = signalfd (-1, &child, SFD_NONBLOCK | SFD_CLOEXEC);
  int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (signal_fd < 0 || null_fd < 0)
    return 1;
  static unsigned char buffer[sizeof (StemLogwriterLaunch) + STEM_LOGWRITER_MAX_GROUPS * 4
                              + STEM_LOGWRITER_MAX_STRINGS];
  struct pollfd fds[2] = {
    { .fd = STDIN_FILENO, .events = POLLIN },
    { .fd = signal_fd, .events = POLLIN },
  };
  for (;;)
    {
      if (poll (fds, 2, -1) < 0 && errno != EINTR)
        return 1;
      if (fds[1].revents & POLLIN)
        reap_children (signal_fd);
      if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      Message m;
      ssize_t n = receive (buffer, sizeof buffer, &m);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n == 0 ? 0 : 1;
      uint32_t kind = 0;
      if (m.len >= sizeof kind)
        memcpy (&kind, m.data, sizeof kind);
      if (kind == STEM_LOGWRITER_WRITER)
        serve_writer (&m);
      else if (kind == STEM_LOGWRITER_LAUNCH)
        serve_launch (&m, null_fd);
      for (size_t i = 0; i < m.n_fds; i++)
        close (m.fds[i]);
    }
}

int
main (int argc, char **argv)
{
  /* As the tools: its messages and their characters, nothing else. */
  setlocale (LC_CTYPE, "");
  setlocale (LC_MESSAGES, "");
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
