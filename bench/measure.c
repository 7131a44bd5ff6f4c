/* measure COMMAND [ARG…]: runs COMMAND once and prints "WALL_US MAXRSS_KB",
 * its wall time in microseconds and its peak resident memory (the kernel's
 * ru_maxrss of that child alone), with COMMAND's output sent to /dev/null.
 * Exits with COMMAND's status. */

#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: measure COMMAND [ARG...]\n");
      return 2;
    }
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  pid_t child = fork ();
  if (child < 0)
    return 2;
  if (child == 0)
    {
      int null = open ("/dev/null", O_WRONLY);
      dup2 (null, 1);
      dup2 (null, 2);
      execvp (argv[1], argv + 1);
      _exit (127);
    }
  int status;
  struct rusage usage;
  if (wait4 (child, &status, 0, &usage) < 0)
    return 2;
  clock_gettime (CLOCK_MONOTONIC, &t1);
  long long us = (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;
  printf ("%lld %ld\n", us, usage.ru_maxrss);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}
