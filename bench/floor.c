/* The physical floor of what stem-multi does, for `make bench`: the least
 * work the kernel must do to start, find and stop N detached workers with
 * pidfiles, and nothing else (no checks, no locks, no log writer).
 *
 *   floor start DIR N PROGRAM [ARG…]   posix_spawn N workers, each in a
 *                                      session of its own with stdout and
 *                                      stderr appended to DIR/stemI.log;
 *                                      write DIR/stemI.pid (temp + rename)
 *   floor status DIR N                 read each pidfile, kill(pid, 0)
 *   floor stop DIR N                   pidfd_open each, SIGTERM all, poll
 *                                      until all have exited, unlink pidfiles
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

static int
start (const char *dir, int n, char **argv)
{
  int failed = 0;
  for (int i = 1; i <= n; i++)
    {
      char log[4096];
      snprintf (log, sizeof log, "%s/stem%d.log", dir, i);
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init (&actions);
      posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
      posix_spawn_file_actions_addopen (&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0640);
      posix_spawn_file_actions_adddup2 (&actions, 1, 2);
      posix_spawnattr_t attr;
      posix_spawnattr_init (&attr);
      posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSID);
      pid_t pid;
      int rc = posix_spawn (&pid, argv[0], &actions, &attr, argv, environ);
      posix_spawn_file_actions_destroy (&actions);
      posix_spawnattr_destroy (&attr);
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

static int
status (const char *dir, int n)
{
  int failed = 0;
  for (int i = 1; i <= n; i++)
    {
      pid_t pid = read_pidfile (dir, i);
      if (pid <= 1 || kill (pid, 0) < 0)
        failed = 1;
    }
  return failed;
}

static int
stop (const char *dir, int n)
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
      unlink (path);
    }
  free (fds);
  return failed;
}

int
main (int argc, char **argv)
{
  if (argc >= 5 && strcmp (argv[1], "start") == 0)
    return start (argv[2], atoi (argv[3]), argv + 4);
  if (argc == 4 && strcmp (argv[1], "status") == 0)
    return status (argv[2], atoi (argv[3]));
  if (argc == 4 && strcmp (argv[1], "stop") == 0)
    return stop (argv[2], atoi (argv[3]));
  fprintf (stderr, "usage: floor start DIR N PROGRAM [ARG...] | status DIR N | stop DIR N\n");
  return 2;
}
