/* stem-attacker: what a compromised worker's user can do to a privileged
 * stem-multi with ordinary file operations and inotify.  The attack tests
 * run it as an unprivileged user; it prints "ready" once it waits for its
 * moment, so the tests never sleep to win or lose a race.  Every wait is
 * bounded (ATTACK_WAIT_MS), and exit status 3 means the moment never came.
 *
 *   plant-pidfile DIR NAME PID FUTURE DECOY
 *       writes DIR/NAME naming PID (dated an hour ahead when FUTURE is 1),
 *       waits until someone has read it, then renames DIR/DECOY (a file of
 *       root's) over it, so a second look by path sees root's file.
 *   swap-dir DIR TARGET
 *       waits until a directory is created in DIR, moves it aside and puts
 *       a symbolic link to TARGET in its place.
 *   swap-in-dir DIR SOURCE
 *       waits until a directory is created in DIR, and renames DIR/SOURCE
 *       (another directory, root's) over it.
 *   hold-lock PATH
 *       opens PATH read-only (creating it 0644 if missing), holds flock
 *       LOCK_EX on it and waits until killed. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ATTACK_WAIT_MS 60000

static void
die (const char *what)
{
  fprintf (stderr, "stem-attacker: %s: %s\n", what, strerror (errno));
  exit (1);
}

static void
ready (void)
{
  printf ("ready %d\n", (int)getpid ());
  fflush (stdout);
}

/* Waits for one inotify event on IN_FD matching MASK (and, when NAME_OUT is
 * given, a name, copied there).  Exits 3 when none comes in time. */
static void
wait_event (int in_fd, unsigned mask, char *name_out, size_t name_size)
{
  char buf[4096] __attribute__ ((aligned (__alignof__(struct inotify_event))));
  for (;;)
    {
      struct pollfd p = { .fd = in_fd, .events = POLLIN };
      int n = poll (&p, 1, ATTACK_WAIT_MS);
      if (n == 0)
        exit (3);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        die ("poll");
      ssize_t len = read (in_fd, buf, sizeof buf);
      if (len <= 0)
        die ("read inotify");
      for (char *at = buf; at < buf + len;)
        {
          const struct inotify_event *ev = (const struct inotify_event *)at;
          at += sizeof *ev + ev->len;
          if ((ev->mask & mask) != mask)
            continue;
          if (name_out != NULL)
            {
              if (ev->len == 0)
                continue;
              snprintf (name_out, name_size, "%s", ev->name);
            }
          return;
        }
    }
}

static int
plant_pidfile (const char *dir, const char *name, const char *pid, int future, const char *decoy)
{
  if (chdir (dir) < 0)
    die (dir);
  int fd = open (name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  if (fd < 0)
    die (name);
  dprintf (fd, "%s\n", pid);
  if (future)
    {
      struct timespec times[2];
      clock_gettime (CLOCK_REALTIME, &times[0]);
      times[0].tv_sec += 3600;
      times[1] = times[0];
      if (futimens (fd, times) < 0)
        die ("futimens");
    }
  close (fd);
  int in_fd = inotify_init1 (IN_CLOEXEC);
  if (in_fd < 0 || inotify_add_watch (in_fd, name, IN_CLOSE_NOWRITE) < 0)
    die ("inotify");
  ready ();
  wait_event (in_fd, IN_CLOSE_NOWRITE, NULL, 0);
  if (rename (decoy, name) < 0)
    die ("rename");
  printf ("swapped\n");
  return 0;
}

/* Says ready, then waits until a directory is created in DIR (which
 * becomes the working directory): its name in NAME (256 bytes). */
static void
wait_new_dir (const char *dir, char *name)
{
  if (chdir (dir) < 0)
    die (dir);
  int in_fd = inotify_init1 (IN_CLOEXEC);
  if (in_fd < 0 || inotify_add_watch (in_fd, ".", IN_CREATE | IN_ONLYDIR) < 0)
    die ("inotify");
  ready ();
  wait_event (in_fd, IN_CREATE | IN_ISDIR, name, 256);
}

static int
swap_dir (const char *dir, const char *target)
{
  char name[256], aside[300];
  wait_new_dir (dir, name);
  snprintf (aside, sizeof aside, "%s.moved", name);
  if (rename (name, aside) < 0)
    die ("rename");
  if (symlink (target, name) < 0)
    die ("symlink");
  printf ("swapped %s\n", name);
  return 0;
}

static int
swap_in_dir (const char *dir, const char *source)
{
  char name[256];
  wait_new_dir (dir, name);
  if (rename (source, name) < 0)
    die ("rename");
  printf ("swapped %s\n", name);
  return 0;
}

static _Noreturn void
hold_lock (const char *path)
{
  int fd = open (path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    die (path);
  if (flock (fd, LOCK_EX) < 0)
    die ("flock");
  ready ();
  for (;;)
    pause ();
}

int
main (int argc, char **argv)
{
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (argc == 7 && strcmp (argv[1], "plant-pidfile") == 0)
    return plant_pidfile (argv[2], argv[3], argv[4], atoi (argv[5]), argv[6]);
  if (argc == 4 && strcmp (argv[1], "swap-dir") == 0)
    return swap_dir (argv[2], argv[3]);
  if (argc == 4 && strcmp (argv[1], "swap-in-dir") == 0)
    return swap_in_dir (argv[2], argv[3]);
  if (argc == 3 && strcmp (argv[1], "hold-lock") == 0)
    hold_lock (argv[2]);
  fprintf (stderr, "usage: stem-attacker plant-pidfile|swap-dir|swap-in-dir|hold-lock ARGS…\n");
  return 2;
}
