#include "stem-spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-fd.h"
#include "stem-i18n.h"
#include "stem-log.h"
#include "stem-writer.h"

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
  stem_fd_clear (&slot->dir_fd);
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
  char *workdir;
  char *pidfile;
  const StemWriterServer *writers;
  gboolean detach;
  pid_t child;
  int status_fd;
};

void
stem_launch_free (StemLaunch *launch)
{
  if (launch == NULL)
    return;
  stem_fd_clear (&launch->status_fd);
  if (launch->detach && launch->child > 0)
    while (waitpid (launch->child, NULL, 0) < 0 && errno == EINTR)
      ;
  g_free (launch->node);
  g_free (launch->program);
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

void
stem_spawn_reset_for_exec (void)
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

  stem_spawn_reset_for_exec ();
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

/* The first child of a detached start, in a session of its own: has the
 * log writer started (no writer, no worker), vforks the worker, which is no
 * session leader and can never acquire a terminal, learns from a
 * close-on-exec pipe of its own whether the exec succeeded, and records the
 * worker.  Signals stay blocked (the worker resets its mask): nothing but
 * SIGKILL may come between a running worker and its pidfile. */
static G_GNUC_NORETURN void
run_first_child (const StemNodePlan *plan, const StemWriterRequest *writer, int null_fd, int out_fd,
                 const PidfileSlot *slot, int status_fd)
{
  block_all_signals ();
  if (writer->message != NULL)
    {
      StemLogwriterAnswer a = stem_writer_request_send (writer);
      if (a.kind != STEM_LOGWRITER_RUNNING)
        fail (status_fd, a.kind == STEM_LOGWRITER_FAILED_USER ? REPORT_WRITER_USER : REPORT_WRITER,
              a.value);
    }
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

/* Not detached, the log writer is started before the fork: then only the
 * worker's end of its pipe is left in WRITER. */
static gboolean
start_writer_now (StemWriterRequest *writer, const StemWriterServer *writers, GError **error)
{
  StemLogwriterAnswer a = stem_writer_request_send (writer);
  if (a.kind != STEM_LOGWRITER_RUNNING)
    return stem_writer_throw (error, a, writers, writer->node);
  stem_fd_clear (&writer->log_fd);
  stem_fd_clear (&writer->pipe[0]);
  return TRUE;
}

StemLaunch *
stem_launch_begin (const StemNodePlan *plan, gboolean detach, StemWriterServer *writers,
                   GError **error)
{
  g_auto (PidfileSlot) slot = { -1, NULL, NULL };
  g_auto (StemWriterRequest) writer = { NULL, -1, NULL, -1, { -1, -1 } };
  g_auto (StemFd) direct_log = -1;
  if (detach && !pidfile_slot_init (&slot, plan->pidfile, error))
    return NULL;
  if (plan->logfile != NULL && plan->log_direct)
    {
      if ((direct_log = stem_log_open (plan, error)) < 0)
        return NULL;
    }
  else if (plan->logfile != NULL
           && (!stem_writer_request_init (&writer, writers, plan, error)
               || (!detach && !start_writer_now (&writer, writers, error))))
    return NULL;
  /* The worker's standard output and error: the log itself, the pipe to its
   * writer, or (no log file) ours. */
  int out_fd = direct_log >= 0 ? direct_log : writer.pipe[1];
  g_auto (StemFd) null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  int status[2] = { -1, -1 };
  if (null_fd < 0 || pipe2 (status, O_CLOEXEC) < 0)
    {
      stem_throw_errno (error, _ ("Preparing to start “%s”"), plan->node);
      return NULL;
    }
  g_auto (StemFd) status_read = status[0];
  g_auto (StemFd) status_write = status[1];

  pid_t child = fork ();
  if (child == 0)
    {
      close (status_read);
      if (setsid () < 0)
        fail (status_write, REPORT_SETSID, errno);
      if (!detach)
        become_worker (plan, null_fd, out_fd, status_write);
      run_first_child (plan, &writer, null_fd, out_fd, &slot, status_write);
    }
  if (child < 0)
    {
      stem_throw_errno (error, _ ("Forking “%s”"), plan->node);
      return NULL;
    }

  StemLaunch *launch = g_new0 (StemLaunch, 1);
  launch->node = g_strdup (plan->node);
  launch->program = g_strdup (plan->argv[0]);
  launch->workdir = g_strdup (plan->workdir);
  launch->pidfile = g_strdup (plan->pidfile);
  launch->writers = writers;
  launch->detach = detach;
  launch->child = child;
  launch->status_fd = stem_fd_steal (&status_read);
  return launch;
}

/* The failure the forked processes reported, as ERROR; always FALSE. */
static gboolean
throw_failure (const StemLaunch *launch, const Report *failure, GError **error)
{
  errno = failure->value;
  switch (failure->kind)
    {
    case REPORT_CHDIR:
      return stem_throw_errno (error, _ ("Entering working directory “%s”"), launch->workdir);
    case REPORT_EXEC:
      return stem_throw_errno (error, _ ("Executing “%s”"), launch->program);
    case REPORT_USER:
      return stem_throw_errno (error, _ ("Switching user for “%s”"), launch->program);
    case REPORT_WRITER:
    case REPORT_WRITER_USER:
      {
        StemLogwriterAnswer a = { failure->kind == REPORT_WRITER_USER ? STEM_LOGWRITER_FAILED_USER
                                                                      : STEM_LOGWRITER_FAILED_START,
                                  failure->value };
        return stem_writer_throw (error, a, launch->writers, launch->node);
      }
    case REPORT_PIDFILE:
      return stem_throw_errno (error, _ ("Cannot write pidfile “%s”"), launch->pidfile);
    default:
      return stem_throw_errno (error, _ ("Detaching “%s”"), launch->program);
    }
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
  stem_fd_clear (&launch->status_fd);
  if (launch->detach)
    {
      while (waitpid (launch->child, NULL, 0) < 0 && errno == EINTR)
        ;
      launch->child = 0;
    }
  if (failure.kind != 0)
    return throw_failure (launch, &failure, error);
  if (worker <= 0)
    return stem_throw (error, _ ("Starting “%s”: the worker's pid was not reported"),
                       launch->program);
  *out_pid = worker;
  return TRUE;
}

/* For --foreground: standard output and error to PLAN's log, through a log
 * writer that is the server's child (the server exits, and is reaped,
 * before the worker replaces this process), or directly. */
static gboolean
redirect_output (const StemNodePlan *plan, GError **error)
{
  g_autoptr (StemWriterServer) writers = NULL;
  g_auto (StemWriterRequest) writer = { NULL, -1, NULL, -1, { -1, -1 } };
  g_auto (StemFd) out_fd = -1;
  if (plan->log_direct)
    out_fd = stem_log_open (plan, error);
  else
    {
      writers = stem_writer_server_new ();
      if (stem_writer_request_init (&writer, writers, plan, error)
          && start_writer_now (&writer, writers, error))
        out_fd = stem_fd_steal (&writer.pipe[1]);
    }
  if (out_fd < 0)
    return FALSE;
  if (dup2 (out_fd, STDOUT_FILENO) < 0 || dup2 (out_fd, STDERR_FILENO) < 0)
    return stem_throw_errno (error, _ ("Redirecting output to “%s”"), plan->logfile);
  return TRUE;
}

gboolean
stem_spawn_exec (const StemNodePlan *plan, GError **error)
{
  if (plan->logfile_given && plan->logfile != NULL && !redirect_output (plan, error))
    return FALSE;
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
