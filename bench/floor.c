/* The physical floor of what stem-multi does, for `make bench`: the least
 * work the kernel must do to start, find and stop N detached workers with
 * pidfiles, and nothing else (no checks, no locks, no log writer).
 *
 *   floor start DIR N PROGRAM [ARG…]   posix_spawn N workers, each in a
 *                                      session of its own with stdout and
 *                                      stderr appended to DIR/stemI.log;
 *                                      write DIR/stemI.pid (temp + rename)
 *   floor status DIR N                 read each pidfile, kill(pid, 0)
 *   floor status --identity DIR N      the same, and read the process's
 *                                      start time from /proc/PID/stat, as
 *                                      any status that tells a reused pid
 *                                      from the worker must
 *   floor stop DIR N                   pidfd_open each, SIGTERM all, poll
 *                                      until all have exited, unlink pidfiles
 *
 * With --writer after the verb, each worker writes to a pipe, and a thread
 * copies the pipe to the log (holding a shared flock on it, as
 * stem-multi's log writers do), in one process forked at the first node
 * and sent each pipe and log over a socket; stop then also waits for each
 * writer, by taking that lock.  The least a log writer thread per node
 * costs: a pipe, a message and a thread per node, no exec, no checks.
 *
 * Exit 0 when every node did what was asked, 1 otherwise. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

static int
write_pidfile (const char *dir, int i, pid_t pid)
{
  char path[4096], tmp[4096], text[32];
  snprintf (path, sizeof path, "%s/stem%d.pid", dir, i);
  snprintf (tmp, sizeof tmp, "%s/.stem%d.pid.tmp", dir, i);
  int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return -1;
  int len = snprintf (text, sizeof text, "%d\n", (int)pid);
  int ok = write (fd, text, len) == len;
  close (fd);
  return ok && rename (tmp, path) == 0 ? 0 : -1;
}

/* A writer thread: copies the pipe FDS[0] to the log FDS[1] until the
 * worker and everyone else holding the pipe have closed it. */
static void *
copy_to_log (void *data)
{
  int *fds = data;
  char buffer[4096];
  ssize_t n;
  while ((n = read (fds[0], buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0 && write (fds[1], buffer, (size_t)n) < 0)
      break;
  close (fds[0]);
  close (fds[1]);
  free (fds);
  return NULL;
}

/* The writer process: a thread for each pipe and log that SOCKET brings;
 * it exits once the socket is closed and every thread has ended. */
static void
serve_writers (int socket)
{
  setsid ();
  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize (&attr, 64 * 1024);
  for (;;)
    {
      char byte;
      union
      {
        struct cmsghdr align;
        char buf[CMSG_SPACE (2 * sizeof (int))];
      } control;
      struct iovec iov = { &byte, 1 };
      struct msghdr msg = { .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = control.buf,
                            .msg_controllen = sizeof control.buf };
      int *fds = malloc (2 * sizeof *fds);
      pthread_t thread;
      if (fds == NULL || recvmsg (socket, &msg, MSG_CMSG_CLOEXEC) <= 0)
        break;
      memcpy (fds, CMSG_DATA (CMSG_FIRSTHDR (&msg)), 2 * sizeof *fds);
      if (pthread_create (&thread, &attr, copy_to_log, fds) != 0)
        break;
    }
  pthread_exit (NULL);
}

/* Our end of the writer process's socket, forked at the first call. */
static int
writer_socket (void)
{
  static int socket_fd = -1;
  int sv[2];
  if (socket_fd >= 0 || socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return socket_fd;
  pid_t pid = fork ();
  if (pid == 0)
    {
      close (sv[0]);
      serve_writers (sv[1]);
    }
  close (sv[1]);
  if (pid < 0)
    close (sv[0]);
  else
    socket_fd = sv[0];
  return socket_fd;
}

/* Sends the writer process the pipe's read end IN and the log LOG. */
static int
send_writer (int in, int log)
{
  int socket_fd = writer_socket ();
  char byte = 0;
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE (2 * sizeof (int))];
  } control;
  memset (&control, 0, sizeof control);
  struct iovec iov = { &byte, 1 };
  struct msghdr msg = { .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (2 * sizeof (int));
  int fds[2] = { in, log };
  memcpy (CMSG_DATA (c), fds, sizeof fds);
  return socket_fd >= 0 && sendmsg (socket_fd, &msg, 0) == 1 ? 0 : -1;
}

/* The worker's output: the log itself, or (WRITER) a pipe to a writer
 * thread that copies it there.  -1 on failure. */
static int
open_output (const char *dir, int i, int writer)
{
  char log[4096];
  snprintf (log, sizeof log, "%s/stem%d.log", dir, i);
  int fd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0 || !writer)
    return fd;
  int data[2];
  if (flock (fd, LOCK_SH) < 0 || pipe2 (data, O_CLOEXEC) < 0)
    {
      close (fd);
      return -1;
    }
  int rc = send_writer (data[0], fd);
  close (data[0]);
  close (fd);
  if (rc < 0)
    {
      close (data[1]);
      return -1;
    }
  return data[1];
}

static int
start (const char *dir, int n, int writer, char **argv)
{
  int failed = 0;
  /* Forked before any pipe is made: it holds no worker's output open. */
  if (writer && writer_socket () < 0)
    return 1;
  for (int i = 1; i <= n; i++)
    {
      int out = open_output (dir, i, writer);
      if (out < 0)
        {
          failed = 1;
          continue;
        }
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init (&actions);
      posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
      posix_spawn_file_actions_adddup2 (&actions, out, 1);
      posix_spawn_file_actions_adddup2 (&actions, out, 2);
      posix_spawnattr_t attr;
      posix_spawnattr_init (&attr);
      posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSID);
      pid_t pid;
      int rc = posix_spawn (&pid, argv[0], &actions, &attr, argv, environ);
      posix_spawn_file_actions_destroy (&actions);
      posix_spawnattr_destroy (&attr);
      close (out);
      if (rc != 0 || write_pidfile (dir, i, pid) < 0)
        failed = 1;
    }
  return failed;
}

static pid_t
read_pidfile (const char *dir, int i)
{
  char path[4096], text[32];
  snprintf (path, sizeof path, "%s/stem%d.pid", dir, i);
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -1;
  ssize_t len = read (fd, text, sizeof text - 1);
  close (fd);
  if (len <= 0)
    return -1;
  text[len] = '\0';
  return (pid_t)atoi (text);
}

/* The start time (field 22) of PID from /proc/PID/stat, or 0. */
static unsigned long long
start_time (pid_t pid)
{
  char path[64], text[1024];
  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t len = read (fd, text, sizeof text - 1);
  close (fd);
  if (len <= 0)
    return 0;
  text[len] = '\0';
  /* After the command's closing parenthesis: field 3 onwards. */
  char *p = strrchr (text, ')');
  for (int field = 2; p != NULL && field < 22; field++)
    p = strchr (p + 1, ' ');
  return p != NULL ? strtoull (p + 1, NULL, 10) : 0;
}

static int
status (const char *dir, int n, int identity)
{
  int failed = 0;
  for (int i = 1; i <= n; i++)
    {
      pid_t pid = read_pidfile (dir, i);
      if (pid <= 1 || (identity && start_time (pid) == 0) || kill (pid, 0) < 0)
        failed = 1;
    }
  return failed;
}

/* Waits until the writer of DIR/stemI.log has exited: it holds a shared
 * lock on the log until then. */
static int
wait_writer (const char *dir, int i)
{
  char log[4096];
  snprintf (log, sizeof log, "%s/stem%d.log", dir, i);
  int fd = open (log, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int rc;
  while ((rc = flock (fd, LOCK_EX)) < 0 && errno == EINTR)
    ;
  close (fd);
  return rc;
}

static int
stop (const char *dir, int n, int writer)
{
  struct pollfd *fds = calloc (n, sizeof *fds);
  int failed = 0, waiting = 0;
  for (int i = 0; i < n; i++)
    {
      pid_t pid = read_pidfile (dir, i + 1);
      fds[i].fd = pid > 1 ? (int)syscall (SYS_pidfd_open, pid, 0) : -1;
      fds[i].events = POLLIN;
      if (fds[i].fd < 0 || syscall (SYS_pidfd_send_signal, fds[i].fd, SIGTERM, NULL, 0) < 0)
        failed = 1;
      else
        waiting++;
    }
  while (waiting > 0)
    {
      if (poll (fds, n, -1) < 0 && errno != EINTR)
        return 1;
      for (int i = 0; i < n; i++)
        if (fds[i].fd >= 0 && (fds[i].revents & POLLIN))
          {
            close (fds[i].fd);
            fds[i].fd = -1;
            waiting--;
          }
    }
  for (int i = 1; i <= n; i++)
    {
      char path[4096];
      snprintf (path, sizeof path, "%s/stem%d.pid", dir, i);
      if (writer && wait_writer (dir, i) < 0)
        failed = 1;
      unlink (path);
    }
  free (fds);
  return failed;
}

int
main (int argc, char **argv)
{
  const char *verb = argc >= 2 ? argv[1] : "";
  int writer = argc >= 3 && strcmp (argv[2], "--writer") == 0;
  int identity = argc >= 3 && strcmp (argv[2], "--identity") == 0;
  char **rest = argv + 2 + writer + identity;
  int n_rest = argc - 2 - writer - identity;
  if (n_rest >= 3 && !identity && strcmp (verb, "start") == 0)
    return start (rest[0], atoi (rest[1]), writer, rest + 2);
  if (n_rest == 2 && !writer && strcmp (verb, "status") == 0)
    return status (rest[0], atoi (rest[1]), identity);
  if (n_rest == 2 && !identity && strcmp (verb, "stop") == 0)
    return stop (rest[0], atoi (rest[1]), writer);
  fprintf (stderr, "usage: floor start [--writer] DIR N PROGRAM [ARG...]"
                   " | status [--identity] DIR N | stop [--writer] DIR N\n");
  return 2;
}
