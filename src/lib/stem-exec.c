#include "stem-exec.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stem-logwriter-wire.h"

#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

void
stem_exec_reset (void)
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

/* Apart (never inlined), so that no variable of the caller lives across
 * the vfork. */
__attribute__ ((noinline)) pid_t
stem_exec_vfork (void (*child) (void *data), void *data)
{
  sigset_t all, saved;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &saved);
  pid_t pid = vfork ();
  if (pid == 0)
    {
      child (data);
      _exit (127);
    }
  int errsv = errno;
  pthread_sigmask (SIG_SETMASK, &saved, NULL);
  errno = errsv;
  return pid;
}

/* The stack of stem_exec_vfork_sibling's child: we are suspended until
 * it has exec'd or exited (CLONE_VFORK), so one serves every child. */
static char sibling_stack[256 * 1024] __attribute__ ((aligned (16)));

typedef struct
{
  void (*child) (void *data);
  void *data;
} SiblingStart;

static int
sibling_main (void *arg)
{
  const SiblingStart *start = arg;
  start->child (start->data);
  _exit (127);
}

pid_t
stem_exec_vfork_sibling (void (*child) (void *data), void *data)
{
  sigset_t all, saved;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &saved);
  SiblingStart start = { child, data };
  pid_t pid = clone (sibling_main, sibling_stack + sizeof sibling_stack,
                     CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD, &start);
  int errsv = errno;
  pthread_sigmask (SIG_SETMASK, &saved, NULL);
  errno = errsv;
  return pid;
}

int
stem_exec_switch_user (bool change, uid_t uid, gid_t gid, size_t n_groups, const gid_t *groups)
{
  if (change && (setgroups (n_groups, groups) < 0 || setgid (gid) < 0 || setuid (uid) < 0))
    return errno;
  return 0;
}

int
stem_exec_send (int fd, const void *data, size_t len, const int *fds, size_t n_fds)
{
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE (4 * sizeof (int))];
  } control;
  if (n_fds > 4)
    return EINVAL;
  memset (&control, 0, sizeof control);
  struct iovec iov = { (void *)data, len };
  struct msghdr msg = {
    .msg_iov = &iov,
    .msg_iovlen = 1,
    .msg_control = control.buf,
    .msg_controllen = CMSG_SPACE (n_fds * sizeof (int)),
  };
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (n_fds * sizeof (int));
  memcpy (CMSG_DATA (c), fds, n_fds * sizeof (int));
  ssize_t n;
  while ((n = sendmsg (fd, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
    ;
  return n < 0 ? errno : 0;
}

void
stem_exec_answer (int fd, int kind, int value)
{
  StemLogwriterAnswer a = { kind, value };
  while (write (fd, &a, sizeof a) < 0 && errno == EINTR)
    ;
}

void
stem_exec_fail (int fd, int kind, int errsv)
{
  stem_exec_answer (fd, kind, errsv);
  _exit (127);
}

void
stem_exec_worker (const StemExecWorker *w, int stdin_fd, int out_fd, int status_fd)
{
  if (dup2 (stdin_fd, STDIN_FILENO) < 0)
    stem_exec_fail (status_fd, STEM_LOGWRITER_FAILED_EXEC, errno);
  if (out_fd >= 0 && (dup2 (out_fd, STDOUT_FILENO) < 0 || dup2 (out_fd, STDERR_FILENO) < 0))
    stem_exec_fail (status_fd, STEM_LOGWRITER_FAILED_EXEC, errno);
  int errsv = stem_exec_switch_user (w->change_user, w->uid, w->gid, w->n_groups, w->groups);
  if (errsv != 0)
    stem_exec_fail (status_fd, STEM_LOGWRITER_FAILED_WORKER_USER, errsv);
  if (chdir (w->workdir) < 0)
    stem_exec_fail (status_fd, STEM_LOGWRITER_FAILED_CHDIR, errno);
  if (w->has_umask)
    umask (w->umask);
  stem_exec_reset ();
  execve (w->argv[0], w->argv, w->envp);
  stem_exec_fail (status_fd, STEM_LOGWRITER_FAILED_EXEC, errno);
}

void
stem_exec_child (void *data)
{
  const StemExecChild *c = data;
  if ((c->own_session ? setsid () : setpgid (0, 0)) < 0)
    stem_exec_fail (c->status_fd, STEM_LOGWRITER_FAILED_GROUP, errno);
  stem_exec_worker (c->worker, c->stdin_fd, c->out_fd, c->status_fd);
}
