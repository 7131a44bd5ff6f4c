#include "stem-spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-i18n.h"

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
} ReportKind;

typedef struct
{
  int kind;
  int value; /* a pid or an errno */
} Report;

struct _StemLaunch
{
  char *program;
  char *workdir;
  gboolean detach;
  pid_t child;
  int status_fd;
};

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
  g_free (launch->program);
  g_free (launch->workdir);
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

/* O_NOFOLLOW: whoever can write the log directory must not be able to point
 * a root-started worker's output at another file.  O_APPEND: history
 * survives restarts and logrotate's copytruncate works.  A log we create
 * belongs to the worker's user, who may want to reopen it. */
static int
open_log (const StemNodePlan *plan, GError **error)
{
  const int flags = O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW;
  int fd = open (plan->logfile, flags | O_CREAT | O_EXCL, 0640);
  if (fd >= 0 && plan->user != NULL && plan->user->change
      && fchown (fd, plan->user->uid, plan->user->gid) < 0)
    {
      stem_throw_errno (error, _ ("Giving log file “%s” to uid %u"), plan->logfile,
                        (unsigned)plan->user->uid);
      close (fd);
      return -1;
    }
  if (fd < 0 && errno == EEXIST)
    fd = open (plan->logfile, flags);
  if (fd < 0)
    stem_throw_errno (error, _ ("Opening log file “%s”"), plan->logfile);
  return fd;
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

/* Runs in the forked worker: async-signal-safe calls only.  LOG_FD < 0
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

  /* The worker must not inherit our dispositions or mask, nor any stray fd. */
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

  execve (plan->argv[0], plan->argv, plan->envp);
  fail (status_fd, REPORT_EXEC, errno);
}

StemLaunch *
stem_launch_begin (const StemNodePlan *plan, gboolean detach, GError **error)
{
  int log_fd = -1;
  if (plan->logfile != NULL && (log_fd = open_log (plan, error)) < 0)
    return NULL;
  int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  int fds[2];
  if (null_fd < 0 || pipe2 (fds, O_CLOEXEC) < 0)
    {
      stem_throw_errno (error, _ ("Preparing to start “%s”"), plan->node);
      if (log_fd >= 0)
        close (log_fd);
      if (null_fd >= 0)
        close (null_fd);
      return NULL;
    }

  pid_t child = fork ();
  if (child == 0)
    {
      close (fds[0]);
      if (setsid () < 0)
        fail (fds[1], REPORT_SETSID, errno);
      if (!detach)
        become_worker (plan, null_fd, log_fd, fds[1]);
      /* Detached: the first child leads a new session and forks the worker,
       * which is then no session leader and can never acquire a terminal. */
      pid_t worker = fork ();
      if (worker < 0)
        fail (fds[1], REPORT_FORK, errno);
      if (worker == 0)
        become_worker (plan, null_fd, log_fd, fds[1]);
      report (fds[1], REPORT_PID, worker);
      _exit (0);
    }
  int fork_errno = errno;
  close (fds[1]);
  if (log_fd >= 0)
    close (log_fd);
  close (null_fd);
  if (child < 0)
    {
      close (fds[0]);
      errno = fork_errno;
      stem_throw_errno (error, _ ("Forking “%s”"), plan->node);
      return NULL;
    }

  StemLaunch *launch = g_new0 (StemLaunch, 1);
  launch->program = g_strdup (plan->argv[0]);
  launch->workdir = g_strdup (plan->workdir);
  launch->detach = detach;
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
  if (plan->logfile_given && plan->logfile != NULL)
    {
      int log_fd = open_log (plan, error);
      if (log_fd < 0)
        return FALSE;
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
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
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
