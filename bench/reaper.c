/* reaper COMMAND [ARG…]: runs COMMAND as a child subreaper that reaps every
 * orphan the moment it exits.  Some machines' PID 1 reaps orphans seconds
 * late; until then an exited detached worker is a zombie, and a tool that
 * waits for the exit by polling kill(pid, 0) (start-stop-daemon, a shell
 * loop) would be timed on PID 1's laziness instead of its own work.
 * Exits with COMMAND's status. */

#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: reaper COMMAND [ARG...]\n");
      return 2;
    }
  if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0)
    {
      perror ("reaper: PR_SET_CHILD_SUBREAPER");
      return 2;
    }
  pid_t child = fork ();
  if (child < 0)
    {
      perror ("reaper: fork");
      return 2;
    }
  if (child == 0)
    {
      execvp (argv[1], argv + 1);
      perror ("reaper: exec");
      _exit (127);
    }
  int result = 127;
  for (;;)
    {
      int status;
      pid_t pid = waitpid (-1, &status, 0);
      if (pid < 0 && errno == EINTR)
        continue;
      if (pid < 0)
        break;
      if (pid == child)
        {
          result = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
          break;
        }
    }
  /* Orphans still running outlive us: PID 1 inherits them. */
  while (waitpid (-1, NULL, WNOHANG) > 0)
    ;
  return result;
}
