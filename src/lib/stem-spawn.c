#include "stem-spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-exec.h"
#include "stem-fd.h"
#include "stem-i18n.h"
#include "stem-log.h"
#include "stem-pidfile.h"
#include "stem-writer.h"

/* What travels up the status pipe from a worker vforked for supervise:
 * the answers' kinds (stem-logwriter-wire.h), which say the same of a
 * worker the server launched. */
typedef StemLogwriterAnswer Report;

/* Crash safety of a detached start: the log writers' server, a process of
 * its own, starts the worker and records its pid the moment the worker's
 * exec has succeeded, so that no worker ever runs without a pidfile
 * whatever happens to stem-multi meanwhile (SIGKILL included: the server
 * finishes every request it was sent).  It holds the node's lock, handed
 * over with the request, until the pidfile is there, so the next stop
 * cannot look before.  stem-multi opens the pidfile's directory and picks
 * the temporary name beforehand: resolved as the pidfile's path always
 * was; the file itself is created O_EXCL|O_NOFOLLOW and renamed into
 * place. */
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
  char name[NAME_MAX + 1];
  slot->dir_fd = stem_fd_open_parent (pidfile, NULL, name, error);
  if (slot->dir_fd < 0)
    return FALSE;
  slot->name = g_strdup (name);
  char temp[NAME_MAX + 1];
  stem_pidfile_temp_name (name, temp);
  slot->temp = g_strdup (temp);
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

/* What PLAN's worker is executed with (stem-exec.h). */
static StemExecWorker
exec_worker_of (const StemNodePlan *plan)
{
  const StemUser *user = plan->user;
  gboolean change = user != NULL && user->change;
  return (StemExecWorker){
    .change_user = change,
    .uid = change ? user->uid : 0,
    .gid = change ? user->gid : 0,
    .n_groups = change ? (size_t)user->n_groups : 0,
    .groups = change ? user->groups : NULL,
    .workdir = plan->workdir,
    .has_umask = plan->has_umask,
    .umask = plan->umask,
    .argv = plan->argv,
    .envp = plan->envp,
  };
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

static StemLaunch *
launch_new (const StemNodePlan *plan, const StemWriterServer *writers, gboolean detach)
{
  StemLaunch *launch = g_new0 (StemLaunch, 1);
  launch->node = g_strdup (plan->node);
  launch->program = g_strdup (plan->argv[0]);
  launch->workdir = g_strdup (plan->workdir);
  launch->pidfile = g_strdup (plan->pidfile);
  launch->writers = writers;
  launch->detach = detach;
  launch->status_fd = -1;
  return launch;
}

/* Detached: the server does it all (stem-logwriter-wire.h). */
static StemLaunch *
launch_detached (const StemNodePlan *plan, StemWriterServer *writers, int lock_fd, GError **error)
{
  g_return_val_if_fail (plan->logfile != NULL, NULL);
  g_auto (PidfileSlot) slot = { -1, NULL, NULL };
  if (!pidfile_slot_init (&slot, plan->pidfile, error))
    return NULL;
  StemWriterPlace place = { slot.dir_fd, slot.name, slot.temp, lock_fd };
  int answer_fd = stem_writer_launch (writers, plan, &place, error);
  if (answer_fd < 0)
    return NULL;
  StemLaunch *launch = launch_new (plan, writers, TRUE);
  launch->status_fd = answer_fd;
  return launch;
}

StemLaunch *
stem_launch_begin (const StemNodePlan *plan, gboolean detach, StemWriterServer *writers,
                   int lock_fd, GError **error)
{
  if (detach)
    return launch_detached (plan, writers, lock_fd, error);
  g_auto (StemWriterRequest) writer = { NULL, -1, NULL, -1, { -1, -1 } };
  g_auto (StemFd) direct_log = -1;
  if (plan->logfile != NULL && plan->log_direct)
    {
      if ((direct_log = stem_log_open (plan, error)) < 0)
        return NULL;
    }
  else if (plan->logfile != NULL
           && (!stem_writer_request_init (&writer, writers, plan, error)
               || !start_writer_now (&writer, writers, error)))
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
  StemExecWorker exec = exec_worker_of (plan);

  StemExecChild c = { &exec, true, null_fd, out_fd, status_write };
  pid_t child = stem_exec_vfork (stem_exec_child, &c);
  if (child < 0)
    {
      stem_throw_errno (error, _ ("Forking “%s”"), plan->node);
      return NULL;
    }
  StemLaunch *launch = launch_new (plan, writers, FALSE);
  launch->child = child;
  launch->status_fd = stem_fd_steal (&status_read);
  return launch;
}

/* The failure the server or the forked worker reported, as ERROR; always
 * FALSE. */
static gboolean
throw_failure (const StemLaunch *launch, StemLogwriterAnswer failure, GError **error)
{
  errno = failure.value;
  switch (failure.kind)
    {
    case STEM_LOGWRITER_FAILED_CHDIR:
      return stem_throw_errno (error, _ ("Entering working directory “%s”"), launch->workdir);
    case STEM_LOGWRITER_FAILED_EXEC:
      return stem_throw_errno (error, _ ("Executing “%s”"), launch->program);
    case STEM_LOGWRITER_FAILED_WORKER_USER:
      return stem_throw_errno (error, _ ("Switching user for “%s”"), launch->program);
    case STEM_LOGWRITER_FAILED_START:
    case STEM_LOGWRITER_FAILED_USER:
      return stem_writer_throw (error, failure, launch->writers, launch->node);
    case STEM_LOGWRITER_FAILED_PIDFILE:
      return stem_throw_errno (error, _ ("Cannot write pidfile “%s”"), launch->pidfile);
    default:
      return stem_throw_errno (error, _ ("Detaching “%s”"), launch->program);
    }
}

gboolean
stem_launch_finish (StemLaunch *launch, pid_t *out_pid, GError **error)
{
  if (launch->detach)
    {
      StemLogwriterAnswer a = stem_writer_launch_answer (launch->status_fd);
      stem_fd_clear (&launch->status_fd);
      if (a.kind != STEM_LOGWRITER_RUNNING)
        return throw_failure (launch, a, error);
      *out_pid = a.value;
      return TRUE;
    }
  /* EOF comes once the worker has exec'd (closing the close-on-exec pipe)
   * or died. */
  Report failure = { STEM_LOGWRITER_RUNNING, 0 };
  Report r;
  ssize_t n;
  while ((n = read (launch->status_fd, &r, sizeof r)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n != sizeof r)
        return stem_throw_errno (error, _ ("Reading the start status of “%s”"), launch->program);
      if (failure.kind == STEM_LOGWRITER_RUNNING)
        failure = r;
    }
  stem_fd_clear (&launch->status_fd);
  if (failure.kind != STEM_LOGWRITER_RUNNING)
    return throw_failure (launch, failure, error);
  *out_pid = launch->child;
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

/* What stem_spawn_exec does until the exec; FALSE (ERROR set) if it fails
 * before, then or at the exec. */
static gboolean
become_worker (const StemNodePlan *plan, GError **error)
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

gboolean
stem_spawn_exec (const StemNodePlan *plan, GError **error)
{
  /* Our standard error, for the caller to say why the worker could not
   * be run where it was asked to run it, not in the worker's log. */
  g_auto (StemFd) saved_err = fcntl (STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  become_worker (plan, error);
  /* Root again (when we were), to remove the pidfile root wrote. */
  stem_user_regain (plan->user);
  if (saved_err >= 0)
    dup2 (saved_err, STDERR_FILENO);
  return FALSE;
}
