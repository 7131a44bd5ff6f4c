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
 * With --writer after the verb, each worker writes to a pipe, and a process
 * forked beside it copies the pipe to the log (holding a shared flock on
 * it, as stem-multi's log writer does); stop then also waits for each
 * writer, by taking that lock.  The least a log writer per node costs:
 * one fork and a pipe per node, no exec, no checks.
 *
 * Exit 0 when every node did what was asked, 1 otherwise. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

/* The writer forked beside a worker: copies IN to LOG until the worker
 * and everyone else holding the pipe have closed it. */
static void
copy_to_log (int in, int log)
{
  char buffer[4096];
  ssize_t n;
  setsid ();
  while ((n = read (in, buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0 && write (log, buffer, (size_t)n) < 0)
      break;
  _exit (0);
}

/* The worker's output: the log itself, or (WRITER) a pipe to a new process
 * that copies it there.  -1 on failure. */
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
  pid_t pid = fork ();
  if (pid == 0)
    {
      close (data[1]);
      copy_to_log (data[0], fd);
    }
  close (data[0]);
  close (fd);
  if (pid < 0)
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
