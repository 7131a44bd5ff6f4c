#include "stem-spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-fd.h"
#include "stem-i18n.h"
#include "stem-logwriter-wire.h"

#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* What travels up the status pipe from the forked processes. */
typedef enum
{
  REPORT_PID = 1,
  REPORT_SETSID,
  REPORT_FORK,
  REPORT_CHDIR,
  REPORT_EXEC,
  REPORT_USER,
  REPORT_WRITER,      /* the log writer could not be started */
  REPORT_WRITER_USER, /* nor switch to the worker's user */
  REPORT_PIDFILE,     /* the worker ran, but its pidfile could not be written: killed */
} ReportKind;

typedef struct
{
  int kind;
  int value; /* a pid or an errno */
} Report;

/* Crash safety of a detached start: the first child records the worker's
 * pid itself, the moment the worker's exec has succeeded and before it
 * exits, so that no worker ever runs without a pidfile whatever happens to
 * stem-multi meanwhile (SIGKILL included; the first child, in a session of
 * its own with every signal blocked, finishes its few steps).  Until it
 * exits it also holds the node's lock through the descriptor it inherited,
 * so the next stop cannot look before the pidfile is there.  stem-multi
 * opens the pidfile's directory and picks the temporary name beforehand:
 * the child then needs only async-signal-safe calls (openat, write, fsync,
 * renameat).  The directory is resolved as the pidfile's path always was;
 * the file itself is created O_EXCL|O_NOFOLLOW and renamed into place. */
typedef struct
{
  int dir_fd;
  char *name; /* the pidfile's name in dir_fd */
  char *temp; /* ".NAME.XXXXXXXX" in dir_fd */
} PidfileSlot;

static void
pidfile_slot_clear (PidfileSlot *slot)
{
  if (slot->dir_fd >= 0)
    close (slot->dir_fd);
  slot->dir_fd = -1;
  g_clear_pointer (&slot->name, g_free);
  g_clear_pointer (&slot->temp, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PidfileSlot, pidfile_slot_clear)

static gboolean
pidfile_slot_init (PidfileSlot *slot, const char *pidfile, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (pidfile);
  slot->name = g_path_get_basename (pidfile);
  slot->temp = g_strdup_printf (".%s.%08x", slot->name, g_random_int ());
  slot->dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
  if (slot->dir_fd < 0)
    return stem_throw_errno (error, _ ("Cannot write pidfile “%s”"), pidfile);
  return TRUE;
}

struct _StemLaunch
{
  char *node;
  char *program;
  char *writer;
  char *workdir;
  char *pidfile;
  PidfileSlot slot; /* detached: where the first child records the worker */
  gboolean detach;
  gboolean uses_server; /* holds a use of the writer server */
  pid_t child;
  int status_fd;
};

static void server_release (void);

void
stem_launch_free (StemLaunch *launch)
{
  if (launch == NULL)
    return;
  if (launch->status_fd >= 0)
    close (launch->status_fd);
  if (launch->detach && launch->child > 0)
    while (waitpid (launch->child, NULL, 0) < 0 && errno == EINTR)
      ;
  if (launch->uses_server)
    server_release ();
  pidfile_slot_clear (&launch->slot);
  g_free (launch->node);
  g_free (launch->program);
  g_free (launch->writer);
  g_free (launch->workdir);
  g_free (launch->pidfile);
  g_free (launch);
}

static gboolean
ensure_dir_of (const char *path, const StemUser *user, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  return stem_mkdir_owned (dir, 0755, user, error);
}

gboolean
stem_spawn_prepare_dirs (const StemNodePlan *plan, gboolean with_log, GError **error)
{
  /* The pidfile's directory is not given to the worker's user: whoever can
   * write it can replace a pidfile that root later acts on. */
  if (!ensure_dir_of (plan->pidfile, NULL, error))
    return FALSE;
  if (with_log && plan->logfile != NULL && !ensure_dir_of (plan->logfile, plan->user, error))
    return FALSE;
  return stem_mkdir_owned (plan->workdir, 0755, plan->user, error);
}

/* Opens (creating) log NAME in DFD: O_NOFOLLOW, so that whoever can write
 * the log directory cannot point a root-started worker's output at another
 * file; O_NONBLOCK, so that a FIFO planted there cannot block us with the
 * node's lock held; O_APPEND, so that history survives restarts and
 * logrotate's copytruncate works.  A log we create belongs to the worker's
 * user, who may want to reopen it. */
static int
open_log_at (const StemNodePlan *plan, int dfd, const char *name, GError **error)
{
  const int flags = O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  g_auto (StemFd) fd = openat (dfd, name, flags | O_CREAT | O_EXCL, 0640);
  if (fd >= 0 && plan->user != NULL && plan->user->change
      && fchown (fd, plan->user->uid, plan->user->gid) < 0)
    {
      stem_throw_errno (error, _ ("Giving log file “%s” to uid %u"), plan->logfile,
                        (unsigned)plan->user->uid);
      return -1;
    }
  if (fd < 0 && errno == EEXIST)
    fd = openat (dfd, name, flags);
  if (fd < 0)
    {
      if (errno == ENXIO || errno == ELOOP)
        stem_throw (error, _ ("Opening log file “%s”: it is not a regular file"), plan->logfile);
      else
        stem_throw_errno (error, _ ("Opening log file “%s”"), plan->logfile);
      return -1;
    }
  return stem_fd_steal (&fd);
}

/* Whether the log open on FD may be written by PLAN's worker: a regular
 * file, and, when we are root, one with no other name (a hard link to a
 * file the worker's user must not write). */
static gboolean
check_log (const StemNodePlan *plan, int fd, GError **error)
{
  struct stat st;
  if (fstat (fd, &st) < 0)
    return stem_throw_errno (error, _ ("Opening log file “%s”"), plan->logfile);
  if (!S_ISREG (st.st_mode))
    return stem_throw (error, _ ("Opening log file “%s”: it is not a regular file"), plan->logfile);
  if (geteuid () == 0 && st.st_nlink > 1)
    return stem_throw (error, _ ("Opening log file “%s”: it has other hard links, not trusted"),
                       plan->logfile);
  if (fcntl (fd, F_SETFL, O_APPEND) < 0)
    return stem_throw_errno (error, _ ("Opening log file “%s”"), plan->logfile);
  return TRUE;
}

/* PLAN's log, opened relative to its directory, which was opened one
 * component at a time (stem-path.h). */
static int
open_log (const StemNodePlan *plan, GError **error)
{
  char name[NAME_MAX + 1];
  g_auto (StemFd) dfd = stem_fd_open_parent (plan->logfile, NULL, name, error);
  if (dfd < 0)
    return -1;
  g_auto (StemFd) fd = open_log_at (plan, dfd, name, error);
  if (fd < 0 || !check_log (plan, fd, error))
    return -1;
  return stem_fd_steal (&fd);
}

static void
report (int fd, ReportKind kind, int value)
{
  Report r = { kind, value };
  while (write (fd, &r, sizeof r) < 0 && errno == EINTR)
    ;
}

static G_GNUC_NORETURN void
fail (int status_fd, ReportKind kind, int errsv)
{
  report (status_fd, kind, errsv);
  _exit (127);
}

/* In a forked child about to exec: the program must not inherit our
 * dispositions or mask, nor any stray fd.  Async-signal-safe. */
static void
reset_for_exec (void)
{
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      sigaction (sig, &dfl, NULL);
  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  if (syscall (__NR_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    for (int fd = 3; fd < 65536; fd++)
      fcntl (fd, F_SETFD, FD_CLOEXEC);
}

/* Before a vfork in a child that is about to exit anyway: no handler of
 * ours may run in the vforked child, on memory it shares with us, before
 * reset_for_exec has restored the defaults (and then the mask). */
static void
block_all_signals (void)
{
  sigset_t all;
  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);
}

char *
stem_spawn_helper_path (const char *name)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  if (self != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (self);
      g_autofree char *beside = g_build_filename (dir, name, NULL);
      if (g_file_test (beside, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&beside);
    }
  return g_build_filename (STEM_PKGLIBEXECDIR, name, NULL);
}

/* Runs in the forked log writer: async-signal-safe calls only.  It reads
 * DATA_FD and appends to LOG_FD, as the worker's user. */
static G_GNUC_NORETURN void
become_log_writer (const StemNodePlan *plan, char *program, int data_fd, int log_fd, int status_fd)
{
  if (dup2 (data_fd, STDIN_FILENO) < 0 || dup2 (log_fd, STDOUT_FILENO) < 0
      || dup2 (log_fd, STDERR_FILENO) < 0)
    fail (status_fd, REPORT_WRITER, errno);
  int errsv = stem_user_apply (plan->user);
  if (errsv != 0)
    fail (status_fd, REPORT_WRITER_USER, errsv);
  if (chdir ("/") < 0)
    fail (status_fd, REPORT_WRITER, errno);
  reset_for_exec ();
  char *argv[] = { program, plan->logfile, NULL };
  execv (program, argv);
  fail (status_fd, REPORT_WRITER, errno);
}

/* Starts a log writer and waits until it runs, in a forked child: writes
 * the failure, if any, to STATUS_FD and returns FALSE. */
static gboolean
fork_log_writer (const StemNodePlan *plan, char *program, int data_fd, int log_fd, int status_fd)
{
  int wfds[2];
  pid_t writer = -1;
  Report r = { REPORT_WRITER, 0 };
  block_all_signals ();
  if (pipe2 (wfds, O_CLOEXEC) < 0)
    r.value = errno;
  else if ((writer = vfork ()) < 0)
    r = (Report){ REPORT_FORK, errno };
  else if (writer == 0)
    become_log_writer (plan, program, data_fd, log_fd, wfds[1]);
  if (writer < 0)
    {
      report (status_fd, r.kind, r.value);
      return FALSE;
    }
  close (wfds[1]);
  ssize_t n;
  while ((n = read (wfds[0], &r, sizeof r)) < 0 && errno == EINTR)
    ;
  close (wfds[0]);
  if (n != sizeof r)
    return TRUE; /* EOF: it runs */
  report (status_fd, r.kind, r.value);
  return FALSE;
}

/* The writer server ("stem-logwriter --serve", see stem-logwriter-wire.h):
 * started for the first detached launch that needs a log writer, and told
 * to exit (by closing its socket) once the last of them is freed.  Nodes
 * started together share it; a rolling restart starts one per node. */
static int server_fd = -1;
static pid_t server_pid = -1;
static guint server_users;

static gboolean
server_acquire (const char *node, GError **error)
{
  if (server_users > 0)
    {
      server_users++;
      return TRUE;
    }
  g_autofree char *program = stem_spawn_helper_path ("stem-logwriter");
  int sv[2] = { -1, -1 }, status[2] = { -1, -1 };
  Report failure = { 0, 0 };
  pid_t pid = -1;
  int null_fd = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd < 0 || socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0
      || pipe2 (status, O_CLOEXEC) < 0)
    failure = (Report){ REPORT_WRITER, errno };
  else if ((pid = fork ()) < 0)
    failure = (Report){ REPORT_FORK, errno };
  else if (pid == 0)
    {
      if (dup2 (sv[1], STDIN_FILENO) < 0 || dup2 (null_fd, STDOUT_FILENO) < 0)
        fail (status[1], REPORT_WRITER, errno);
      reset_for_exec ();
      char *argv[] = { program, (char *)"--serve", NULL };
      execv (program, argv);
      fail (status[1], REPORT_WRITER, errno);
    }
  if (null_fd >= 0)
    close (null_fd);
  if (sv[1] >= 0)
    close (sv[1]);
  if (status[1] >= 0)
    close (status[1]);
  if (pid > 0)
    {
      ssize_t n;
      while ((n = read (status[0], &failure, sizeof failure)) < 0 && errno == EINTR)
        ;
      if (n > 0 && n != sizeof failure)
        failure = (Report){ REPORT_WRITER, EIO };
      if (failure.kind != 0)
        while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
          ;
    }
  if (status[0] >= 0)
    close (status[0]);
  if (failure.kind != 0)
    {
      if (sv[0] >= 0)
        close (sv[0]);
      errno = failure.value;
      return stem_throw_errno (error, _ ("Starting the log writer “%s” for “%s”"), program, node);
    }
  server_fd = sv[0];
  server_pid = pid;
  server_users = 1;
  return TRUE;
}

static void
server_release (void)
{
  if (server_users == 0 || --server_users > 0)
    return;
  close (server_fd); /* it exits once the first children's copies are gone */
  server_fd = -1;
  while (waitpid (server_pid, NULL, 0) < 0 && errno == EINTR)
    ;
  server_pid = -1;
}

/* PLAN's request to the server: its user and log path. */
static GBytes *
writer_request (const StemNodePlan *plan, GError **error)
{
  const StemUser *user = plan->user;
  gboolean change = user != NULL && user->change;
  gsize path_len = strlen (plan->logfile);
  guint n_groups = change ? (guint)user->n_groups : 0;
  if (path_len >= STEM_LOGWRITER_MAX_PATH)
    {
      errno = ENAMETOOLONG;
      stem_throw_errno (error, _ ("Opening log file “%s”"), plan->logfile);
      return NULL;
    }
  if (n_groups > STEM_LOGWRITER_MAX_GROUPS)
    {
      errno = E2BIG;
      stem_throw_errno (error, _ ("Preparing to start “%s”"), plan->node);
      return NULL;
    }
  StemLogwriterRequest req = {
    .change_user = change,
    .uid = change ? (uint32_t)user->uid : 0,
    .gid = change ? (uint32_t)user->gid : 0,
    .n_groups = n_groups,
    .path_len = (uint32_t)path_len,
  };
  GByteArray *bytes = g_byte_array_sized_new (sizeof req + n_groups * 4 + path_len);
  g_byte_array_append (bytes, (const guint8 *)&req, sizeof req);
  for (guint i = 0; i < n_groups; i++)
    {
      uint32_t gid = (uint32_t)user->groups[i];
      g_byte_array_append (bytes, (const guint8 *)&gid, sizeof gid);
    }
  g_byte_array_append (bytes, (const guint8 *)plan->logfile, (guint)path_len);
  return g_byte_array_free_to_bytes (bytes);
}

/* In the first child: asks the server for a log writer reading DATA_FD and
 * writing LOG_FD, and waits until it runs.  Async-signal-safe; writes the
 * failure, if any, to STATUS_FD and returns FALSE. */
static gboolean
request_log_writer (GBytes *request, int data_fd, int log_fd, int status_fd)
{
  int answer[2];
  if (pipe2 (answer, O_CLOEXEC) < 0)
    {
      report (status_fd, REPORT_WRITER, errno);
      return FALSE;
    }
  int fds[3] = { data_fd, log_fd, answer[1] };
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof fds)];
  } control;
  memset (&control, 0, sizeof control);
  gsize len;
  const void *data = g_bytes_get_data (request, &len);
  struct iovec iov = { (void *)data, len };
  struct msghdr msg = {
    .msg_iov = &iov,
    .msg_iovlen = 1,
    .msg_control = control.buf,
    .msg_controllen = sizeof control.buf,
  };
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof fds);
  memcpy (CMSG_DATA (c), fds, sizeof fds);
  ssize_t n;
  while ((n = sendmsg (server_fd, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
    ;
  int send_errno = errno;
  close (answer[1]);
  StemLogwriterAnswer a = { STEM_LOGWRITER_FAILED_START, EPIPE }; /* no answer: no server */
  if (n < 0)
    a.value = send_errno;
  else
    {
      StemLogwriterAnswer got;
      while ((n = read (answer[0], &got, sizeof got)) < 0 && errno == EINTR)
        ;
      if (n == sizeof got)
        a = got;
    }
  close (answer[0]);
  if (a.kind == STEM_LOGWRITER_RUNNING)
    return TRUE;
  report (status_fd, a.kind == STEM_LOGWRITER_FAILED_USER ? REPORT_WRITER_USER : REPORT_WRITER,
          a.value);
  return FALSE;
}

static gboolean
throw_writer_failure (GError **error, const Report *failure, const char *program, const char *node)
{
  errno = failure->value;
  if (failure->kind == REPORT_WRITER_USER)
    return stem_throw_errno (error, _ ("Switching user for the log writer of “%s”"), node);
  return stem_throw_errno (error, _ ("Starting the log writer “%s” for “%s”"), program, node);
}

/* Opens PLAN's log and makes the pipe to its writer: *DATA the pipe, the
 * log's descriptor returned (-1 with ERROR set).  The writer holds a shared
 * lock on the log for as long as it writes there (on the open file
 * description it inherits), which stem_spawn_wait_log waits for. */
static int
prepare_log (const StemNodePlan *plan, int data[2], GError **error)
{
  int log_fd = open_log (plan, error);
  if (log_fd < 0)
    return -1;
  if (pipe2 (data, O_CLOEXEC) < 0)
    {
      stem_throw_errno (error, _ ("Preparing to start “%s”"), plan->node);
      close (log_fd);
      return -1;
    }
  flock (log_fd, LOCK_SH | LOCK_NB);
  return log_fd;
}

/* Starts stem-logwriter for PLAN and returns the write end of its pipe,
 * which becomes the worker's output; -1 on failure, before any worker
 * exists.  The writer is orphaned at once (a grandchild whose parent exits)
 * in a session of its own: never the child of a worker that replaces this
 * process and might wait for all its children. */
static int
start_log_writer (const StemNodePlan *plan, GError **error)
{
  g_autofree char *program = stem_spawn_helper_path ("stem-logwriter");
  int data[2], status[2];
  int log_fd = prepare_log (plan, data, error);
  if (log_fd < 0)
    return -1;
  if (pipe2 (status, O_CLOEXEC) < 0)
    {
      stem_throw_errno (error, _ ("Preparing to start “%s”"), plan->node);
      close (log_fd);
      close (data[0]);
      close (data[1]);
      return -1;
    }

  pid_t child = fork ();
  if (child == 0)
    {
      close (status[0]);
      if (setsid () < 0)
        fail (status[1], REPORT_SETSID, errno);
      _exit (fork_log_writer (plan, program, data[0], log_fd, status[1]) ? 0 : 127);
    }
  int fork_errno = errno;
  close (log_fd);
  close (data[0]);
  close (status[1]);
  Report failure = { 0, 0 };
  if (child < 0)
    failure = (Report){ REPORT_FORK, fork_errno };
  else
    {
      while (waitpid (child, NULL, 0) < 0 && errno == EINTR)
        ;
      ssize_t n;
      while ((n = read (status[0], &failure, sizeof failure)) < 0 && errno == EINTR)
        ;
      if (n > 0 && n != sizeof failure)
        failure = (Report){ REPORT_WRITER, EIO };
    }
  close (status[0]);
  if (failure.kind == 0)
    return data[1];
  close (data[1]);
  throw_writer_failure (error, &failure, program, plan->node);
  return -1;
}

/* The worker's output for PLAN: a pipe to a log writer when it has a log
 * file, else -1 (output left as it is).  -2 on failure. */
static int
open_output (const StemNodePlan *plan, gboolean with_log, GError **error)
{
  if (!with_log || plan->logfile == NULL)
    return -1;
  int out_fd = start_log_writer (plan, error);
  return out_fd < 0 ? -2 : out_fd;
}

/* A blocking flock in a thread of its own, which says on an eventfd when it
 * got the lock: the lock's release is an event nothing else delivers
 * (inotify's close event comes before the kernel drops the lock), and a
 * blocking flock alone could not keep a deadline.  A waiter whose deadline
 * passed stays blocked until the lock goes, then cleans up after itself. */
typedef struct
{
  int log_fd;
  int event_fd;
} LockWaiter;

static gpointer
wait_for_lock (gpointer data)
{
  LockWaiter *w = data;
  while (flock (w->log_fd, LOCK_EX) < 0 && errno == EINTR)
    ;
  flock (w->log_fd, LOCK_UN);
  close (w->log_fd);
  guint64 one = 1;
  while (write (w->event_fd, &one, sizeof one) < 0 && errno == EINTR)
    ;
  close (w->event_fd);
  g_free (w);
  return NULL;
}

gboolean
stem_spawn_wait_log (const char *logfile, gint64 deadline_us)
{
  if (logfile == NULL)
    return TRUE;
  /* Through its directory: root must not lock a file someone else chose. */
  int fd = stem_path_open_file (logfile, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
  if (fd < 0)
    return TRUE;
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || flock (fd, LOCK_EX | LOCK_NB) == 0
      || (errno != EWOULDBLOCK && errno != EINTR))
    {
      close (fd); /* released already, or no locks here: nothing to wait for */
      return TRUE;
    }

  int event_fd = eventfd (0, EFD_CLOEXEC);
  LockWaiter *w = g_new (LockWaiter, 1);
  w->log_fd = fd;
  w->event_fd = event_fd < 0 ? -1 : fcntl (event_fd, F_DUPFD_CLOEXEC, 3);
  GThread *thread = w->event_fd < 0 ? NULL : g_thread_try_new ("wait-log", wait_for_lock, w, NULL);
  if (thread == NULL)
    {
      if (w->event_fd >= 0)
        close (w->event_fd);
      if (event_fd >= 0)
        close (event_fd);
      close (fd);
      g_free (w);
      return FALSE; /* cannot wait: say it may not all be written yet */
    }
  g_thread_unref (thread);

  gboolean released = FALSE;
  struct pollfd pfd = { .fd = event_fd, .events = POLLIN };
  for (;;)
    {
      gint64 left_us = deadline_us - g_get_monotonic_time ();
      if (left_us <= 0)
        break;
      int n = poll (&pfd, 1, (int)MIN ((left_us + 999) / 1000, G_MAXINT));
      if (n > 0)
        released = TRUE;
      if (n > 0 || (n < 0 && errno != EINTR))
        break;
    }
  close (event_fd);
  return released;
}

/* Runs in the forked or vforked worker: async-signal-safe calls only, and
 * nothing written to memory but its own stack and errno.  LOG_FD < 0
 * keeps stdout and stderr as they are. */
static G_GNUC_NORETURN void
become_worker (const StemNodePlan *plan, int null_fd, int log_fd, int status_fd)
{
  if (dup2 (null_fd, STDIN_FILENO) < 0)
    fail (status_fd, REPORT_EXEC, errno);
  if (log_fd >= 0 && (dup2 (log_fd, STDOUT_FILENO) < 0 || dup2 (log_fd, STDERR_FILENO) < 0))
    fail (status_fd, REPORT_EXEC, errno);
  int errsv = stem_user_apply (plan->user);
  if (errsv != 0)
    fail (status_fd, REPORT_USER, errsv);
  /* After the switch, so a directory only the user may enter works, and
   * one the user may not enter fails as it would for the user. */
  if (chdir (plan->workdir) < 0)
    fail (status_fd, REPORT_CHDIR, errno);
  if (plan->has_umask)
    umask (plan->umask);

  reset_for_exec ();
  execve (plan->argv[0], plan->argv, plan->envp);
  fail (status_fd, REPORT_EXEC, errno);
}

/* In the first child of a detached start: the worker, with vfork, since it
 * only sets itself up and execs (become_worker's calls are fit for that),
 * and a copy of our address space for every node would cost more than
 * its exec.  Its pid, or -1. */
static G_GNUC_NO_INLINE pid_t
vfork_worker (const StemNodePlan *plan, int null_fd, int out_fd, int status_fd)
{
  block_all_signals ();
  pid_t worker = vfork ();
  if (worker == 0)
    {
      /* The leader of a process group of its own (in the first child's
       * session): what it leaves there is what stop may end after it. */
      if (setpgid (0, 0) < 0)
        fail (status_fd, REPORT_SETSID, errno);
      become_worker (plan, null_fd, out_fd, status_fd);
    }
  return worker;
}

/* In the first child, once the worker's exec has succeeded: writes "PID\n"
 * to a new temporary file, mode 0644 whatever the umask, flushed to disk,
 * renamed over the pidfile (replacing a symbolic link, never following it).
 * Async-signal-safe.  Returns 0 or an errno. */
static int
record_worker (const PidfileSlot *slot, pid_t worker)
{
  char digits[16], text[16];
  size_t n = 0, len = 0;
  for (unsigned long v = (unsigned long)worker; n == 0 || v > 0; v /= 10)
    digits[n++] = (char)('0' + v % 10);
  while (n > 0)
    text[len++] = digits[--n];
  text[len++] = '\n';

  int fd = openat (slot->dir_fd, slot->temp,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0)
    return errno;
  /* A few bytes to a new regular file, signals blocked: written whole or
   * not at all (a short count here means a full disk). */
  int errsv = 0;
  ssize_t n_written = fchmod (fd, 0644) < 0 ? -1 : write (fd, text, len);
  if (n_written != (ssize_t)len || fsync (fd) < 0)
    errsv = n_written < 0 || n_written == (ssize_t)len ? errno : ENOSPC;
  if (close (fd) < 0 && errsv == 0 && errno != EINTR)
    errsv = errno;
  if (errsv == 0 && renameat (slot->dir_fd, slot->temp, slot->dir_fd, slot->name) < 0)
    errsv = errno;
  if (errsv != 0)
    unlinkat (slot->dir_fd, slot->temp, 0);
  return errsv;
}

/* The first child of a detached start, in a session of its own: starts the
 * log writer (no writer, no worker), vforks the worker, which is no session
 * leader and can never acquire a terminal, learns from a close-on-exec pipe
 * of its own whether the exec succeeded, and records the worker.  Signals
 * stay blocked (the worker resets its mask): nothing but SIGKILL may come
 * between a running worker and its pidfile. */
static G_GNUC_NORETURN void
run_first_child (const StemNodePlan *plan, GBytes *request, int data_fd, int log_fd, int null_fd,
                 int out_fd, const PidfileSlot *slot, int status_fd)
{
  block_all_signals ();
  if (log_fd >= 0 && !request_log_writer (request, data_fd, log_fd, status_fd))
    _exit (127);
  int exec_status[2];
  if (pipe2 (exec_status, O_CLOEXEC) < 0)
    fail (status_fd, REPORT_FORK, errno);
  pid_t worker = vfork_worker (plan, null_fd, out_fd, exec_status[1]);
  int errsv = errno;
  close (exec_status[1]);
  if (worker < 0)
    fail (status_fd, REPORT_FORK, errsv);
  Report r;
  ssize_t n;
  while ((n = read (exec_status[0], &r, sizeof r)) < 0 && errno == EINTR)
    ;
  if (n == sizeof r)
    fail (status_fd, r.kind, r.value); /* it did not start, and has exited */
  report (status_fd, REPORT_PID, worker);
  errsv = record_worker (slot, worker);
  if (errsv != 0)
    {
      /* Nothing could find it again.  Our own child, not yet reaped, so
       * its PID cannot have been reused. */
      kill (worker, SIGKILL);
      fail (status_fd, REPORT_PIDFILE, errsv);
    }
  _exit (0);
}

StemLaunch *
stem_launch_begin (const StemNodePlan *plan, gboolean detach, GError **error)
{
  /* Detached, the first child asks the writer server for the log writer,
   * so that many nodes start in parallel and no writer costs an exec;
   * otherwise it is started before the fork. */
  g_autofree char *writer = NULL;
  g_autoptr (GBytes) request = NULL;
  g_auto (PidfileSlot) slot = { -1, NULL, NULL };
  int data[2] = { -1, -1 }, log_fd = -1, out_fd;
  if (detach && !pidfile_slot_init (&slot, plan->pidfile, error))
    return NULL;
  if (detach && plan->logfile != NULL)
    {
      if ((request = writer_request (plan, error)) == NULL || !server_acquire (plan->node, error))
        return NULL;
      if ((log_fd = prepare_log (plan, data, error)) < 0)
        {
          server_release ();
          return NULL;
        }
      writer = stem_spawn_helper_path ("stem-logwriter");
      out_fd = data[1];
    }
  else if ((out_fd = open_output (plan, TRUE, error)) == -2)
    return NULL;
  int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  int fds[2] = { -1, -1 };
  if (null_fd < 0 || pipe2 (fds, O_CLOEXEC) < 0)
    stem_throw_errno (error, _ ("Preparing to start “%s”"), plan->node);

  pid_t child = fds[0] < 0 ? -1 : fork ();
  if (child == 0)
    {
      close (fds[0]);
      if (setsid () < 0)
        fail (fds[1], REPORT_SETSID, errno);
      if (!detach)
        become_worker (plan, null_fd, out_fd, fds[1]);
      run_first_child (plan, request, data[0], log_fd, null_fd, out_fd, &slot, fds[1]);
    }
  int fork_errno = errno;
  if (fds[1] >= 0)
    close (fds[1]);
  if (out_fd >= 0)
    close (out_fd);
  if (log_fd >= 0)
    close (log_fd);
  if (data[0] >= 0)
    close (data[0]);
  if (null_fd >= 0)
    close (null_fd);
  if (fds[0] < 0 || child < 0)
    {
      if (request != NULL)
        server_release ();
    }
  if (fds[0] < 0)
    return NULL; /* error set above */
  if (child < 0)
    {
      close (fds[0]);
      errno = fork_errno;
      stem_throw_errno (error, _ ("Forking “%s”"), plan->node);
      return NULL;
    }

  StemLaunch *launch = g_new0 (StemLaunch, 1);
  launch->node = g_strdup (plan->node);
  launch->program = g_strdup (plan->argv[0]);
  launch->writer = g_steal_pointer (&writer);
  launch->workdir = g_strdup (plan->workdir);
  launch->pidfile = g_strdup (plan->pidfile);
  launch->slot = slot;
  slot = (PidfileSlot){ -1, NULL, NULL };
  launch->detach = detach;
  launch->uses_server = request != NULL;
  launch->child = child;
  launch->status_fd = fds[0];
  return launch;
}

gboolean
stem_launch_finish (StemLaunch *launch, pid_t *out_pid, GError **error)
{
  pid_t worker = launch->detach ? 0 : launch->child;
  Report failure = { 0, 0 };
  Report r;
  ssize_t n;
  /* EOF comes once the worker has exec'd (closing the close-on-exec pipe)
   * or died, and, when detached, the first child has exited. */
  while ((n = read (launch->status_fd, &r, sizeof r)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n != sizeof r)
        return stem_throw_errno (error, _ ("Reading the start status of “%s”"), launch->program);
      if (r.kind == REPORT_PID)
        worker = r.value;
      else if (failure.kind == 0)
        failure = r;
    }
  close (launch->status_fd);
  launch->status_fd = -1;
  if (launch->detach)
    {
      while (waitpid (launch->child, NULL, 0) < 0 && errno == EINTR)
        ;
      launch->child = 0;
    }

  errno = failure.value;
  switch (failure.kind)
    {
    case 0:
      break;
    case REPORT_CHDIR:
      return stem_throw_errno (error, _ ("Entering working directory “%s”"), launch->workdir);
    case REPORT_EXEC:
      return stem_throw_errno (error, _ ("Executing “%s”"), launch->program);
    case REPORT_USER:
      return stem_throw_errno (error, _ ("Switching user for “%s”"), launch->program);
    case REPORT_WRITER:
    case REPORT_WRITER_USER:
      return throw_writer_failure (error, &failure, launch->writer, launch->node);
    case REPORT_PIDFILE:
      return stem_throw_errno (error, _ ("Cannot write pidfile “%s”"), launch->pidfile);
    default:
      return stem_throw_errno (error, _ ("Detaching “%s”"), launch->program);
    }
  if (worker <= 0)
    return stem_throw (error, _ ("Starting “%s”: the worker's pid was not reported"),
                       launch->program);
  *out_pid = worker;
  return TRUE;
}

gboolean
stem_spawn_exec (const StemNodePlan *plan, GError **error)
{
  int log_fd = open_output (plan, plan->logfile_given, error);
  if (log_fd == -2)
    return FALSE;
  if (log_fd >= 0)
    {
      if (dup2 (log_fd, STDOUT_FILENO) < 0 || dup2 (log_fd, STDERR_FILENO) < 0)
        return stem_throw_errno (error, _ ("Redirecting output to “%s”"), plan->logfile);
      close (log_fd);
    }
  int errsv = stem_user_apply (plan->user);
  if (errsv != 0)
    {
      errno = errsv;
      return stem_throw_errno (error, _ ("Switching to uid %u"), (unsigned)plan->user->uid);
    }
  if (chdir (plan->workdir) < 0)
    return stem_throw_errno (error, _ ("Entering working directory “%s”"), plan->workdir);
  if (plan->has_umask)
    umask (plan->umask);
  execve (plan->argv[0], plan->argv, plan->envp);
  return stem_throw_errno (error, _ ("Executing “%s”"), plan->argv[0]);
}

char *
stem_spawn_log_tail (const char *path, guint n_lines)
{
  int fd = stem_path_open_file (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  struct stat st;
  if (fd >= 0 && (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)))
    stem_fd_clear (&fd);
  if (fd < 0)
    return NULL;
  char buf[4096];
  off_t end = lseek (fd, 0, SEEK_END);
  off_t start = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
  ssize_t n = pread (fd, buf, sizeof buf, start);
  close (fd);
  if (n <= 0)
    return NULL;
  gsize len = (gsize)n;
  while (len > 0 && buf[len - 1] == '\n')
    len--;
  gsize from = len;
  for (guint seen = 0; from > 0; from--)
    if (buf[from - 1] == '\n' && ++seen == n_lines)
      break;
  return g_utf8_make_valid (buf + from, len - from);
}
