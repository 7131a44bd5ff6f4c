/* stem-test-worker: a stand-in worker whose behaviour the first argument picks.
 *
 * Every mode but sleep-forever and no-dump first prints "ready pid=PID
 * node=NODE", so a test waits for that line instead of sleeping. Signals
 * are blocked except while the program waits, and are reported from the
 * main flow (not from the handler) as "got SIGNAME". Exit status 64 means
 * a usage error.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 64
#define MAX_MS 86400000L

extern char **environ;

static const struct
{
  int signum;
  const char *name;
} watched[] = {
  { SIGHUP, "SIGHUP" },   { SIGINT, "SIGINT" },   { SIGQUIT, "SIGQUIT" },
  { SIGTERM, "SIGTERM" }, { SIGUSR1, "SIGUSR1" }, { SIGUSR2, "SIGUSR2" },
};
#define N_WATCHED (sizeof watched / sizeof watched[0])

static volatile sig_atomic_t pending[N_WATCHED];

static int usage (void);

/* The mask to wait with: the original one without the watched signals. */
static sigset_t wait_mask;

static void
on_signal (int signum)
{
  for (size_t i = 0; i < N_WATCHED; i++)
    if (watched[i].signum == signum)
      pending[i] = 1;
}

/* Watched signals stay blocked outside wait_until(), so none is lost between
 * checking `pending` and going to sleep. */
static void
install_handlers (void)
{
  sigset_t blocked;
  struct sigaction action;

  sigemptyset (&blocked);
  for (size_t i = 0; i < N_WATCHED; i++)
    sigaddset (&blocked, watched[i].signum);
  sigprocmask (SIG_BLOCK, &blocked, &wait_mask);
  for (size_t i = 0; i < N_WATCHED; i++)
    sigdelset (&wait_mask, watched[i].signum);

  memset (&action, 0, sizeof action);
  action.sa_handler = on_signal;
  action.sa_mask = blocked;
  for (size_t i = 0; i < N_WATCHED; i++)
    sigaction (watched[i].signum, &action, NULL);
}

static void
ignore_signal (int signum)
{
  struct sigaction action;

  memset (&action, 0, sizeof action);
  action.sa_handler = SIG_IGN;
  sigemptyset (&action.sa_mask);
  sigaction (signum, &action, NULL);
}

static void
reset_signals (void)
{
  sigset_t none;

  for (size_t i = 0; i < N_WATCHED; i++)
    signal (watched[i].signum, SIG_DFL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

static void
add_ms (struct timespec *t, long ms)
{
  t->tv_sec += ms / 1000;
  t->tv_nsec += (ms % 1000) * 1000000L;
  if (t->tv_nsec >= 1000000000L)
    {
      t->tv_sec++;
      t->tv_nsec -= 1000000000L;
    }
}

static struct timespec
deadline_in_ms (long ms)
{
  struct timespec t;

  clock_gettime (CLOCK_MONOTONIC, &t);
  add_ms (&t, ms);
  return t;
}

/* Sleeps until a watched signal arrives or DEADLINE (CLOCK_MONOTONIC; NULL:
 * none) passes. Returns false once the deadline has passed. */
static bool
wait_until (const struct timespec *deadline)
{
  struct timespec timeout;
  struct timespec *timeout_p = NULL;

  if (deadline != NULL)
    {
      struct timespec now;
      clock_gettime (CLOCK_MONOTONIC, &now);
      timeout.tv_sec = deadline->tv_sec - now.tv_sec;
      timeout.tv_nsec = deadline->tv_nsec - now.tv_nsec;
      if (timeout.tv_nsec < 0)
        {
          timeout.tv_sec--;
          timeout.tv_nsec += 1000000000L;
        }
      if (timeout.tv_sec < 0)
        return false;
      timeout_p = &timeout;
    }
  pselect (0, NULL, NULL, NULL, timeout_p, &wait_mask);
  return true;
}

/* Says "got SIGNAME" if watched signal I arrived: whether it did. */
static bool
take_pending (size_t i)
{
  if (!pending[i])
    return false;
  pending[i] = 0;
  printf ("got %s\n", watched[i].name);
  return true;
}

/* Reports pending signals. HUP, USR1 and USR2 continue; INT and QUIT exit
 * 0; TERM exits 0 when TERM_EXITS, else the return value says it arrived. */
static bool
handle_signals (bool term_exits)
{
  bool got_term = false;

  for (size_t i = 0; i < N_WATCHED; i++)
    {
      if (!take_pending (i))
        continue;
      if (watched[i].signum == SIGHUP || watched[i].signum == SIGUSR1
          || watched[i].signum == SIGUSR2)
        continue;
      if (watched[i].signum == SIGTERM && !term_exits)
        {
          got_term = true;
          continue;
        }
      exit (0);
    }
  return got_term;
}

static void
print_ready (void)
{
  const char *node = getenv ("STEM_WORKER_NODE");

  printf ("ready pid=%ld node=%s\n", (long)getpid (), node != NULL && *node ? node : "-");
  fflush (stdout);
}

_Noreturn static void
wait_forever (void)
{
  for (;;)
    {
      wait_until (NULL);
      handle_signals (true);
    }
}

static bool
parse_long (const char *text, long min, long max, long *out)
{
  char *end;
  long value;

  errno = 0;
  value = strtol (text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
    return false;
  *out = value;
  return true;
}

static int
mode_run (char **args)
{
  (void)args;
  print_ready ();
  wait_forever ();
}

/* Ended, it starts another process in its place and exits: each
 * generation prints "respawned pid=PID", and the signals stay blocked in
 * the new one until it waits, so that none is lost. */
static int
mode_respawn_on_term (char **args)
{
  (void)args;
  print_ready ();
  for (;;)
    {
      wait_until (NULL);
      if (!handle_signals (false))
        continue;
      pid_t child = fork ();
      if (child < 0)
        return 1;
      if (child > 0)
        _exit (0);
      printf ("respawned pid=%ld\n", (long)getpid ());
      fflush (stdout);
    }
}

static int
mode_ignore_term (char **args)
{
  (void)args;
  ignore_signal (SIGTERM);
  ignore_signal (SIGINT);
  print_ready ();
  wait_forever ();
}

/* Says each signal it gets, and ends on none: only SIGKILL ends it. */
_Noreturn static void
note_forever (void)
{
  for (;;)
    {
      wait_until (NULL);
      for (size_t i = 0; i < N_WATCHED; i++)
        take_pending (i);
    }
}

static int
mode_stubborn (char **args)
{
  (void)args;
  print_ready ();
  note_forever ();
}

static void *
thread_main (void *data)
{
  (void)data;
  printf ("thread tid=%ld\n", (long)syscall (SYS_gettid));
  fflush (stdout);
  while (pause () < 0)
    ;
  return NULL;
}

/* As run, with a second thread, whose ID (not a process's) it prints:
 * "thread tid=TID".  The thread inherits the blocked signals: they reach
 * the main thread. */
static int
mode_thread (char **args)
{
  (void)args;
  print_ready ();
  pthread_t thread;
  if (pthread_create (&thread, NULL, thread_main, NULL) != 0)
    return 1;
  wait_forever ();
}

static int
mode_exit (char **args)
{
  long status;

  if (!parse_long (args[0], 0, 255, &status))
    return usage ();
  print_ready ();
  return (int)status;
}

static int
mode_exit_after (char **args)
{
  long ms, status;

  if (!parse_long (args[0], 0, MAX_MS, &ms) || !parse_long (args[1], 0, 255, &status))
    return usage ();
  print_ready ();
  struct timespec deadline = deadline_in_ms (ms);
  while (wait_until (&deadline))
    handle_signals (true);
  return (int)status;
}

static int
mode_slow_term (char **args)
{
  long ms;

  if (!parse_long (args[0], 0, MAX_MS, &ms))
    return usage ();
  print_ready ();
  do
    wait_until (NULL);
  while (!handle_signals (false));

  /* Further TERMs are reported but do not shorten the wait; INT and QUIT
   * still exit at once. */
  struct timespec deadline = deadline_in_ms (ms);
  while (wait_until (&deadline))
    handle_signals (false);
  return 0;
}

static int
compare_env_names (const void *a, const void *b)
{
  const char *x = *(const char *const *)a;
  const char *y = *(const char *const *)b;
  size_t x_len = strcspn (x, "=");
  size_t y_len = strcspn (y, "=");
  int order = memcmp (x, y, x_len < y_len ? x_len : y_len);

  if (order != 0)
    return order;
  return (x_len > y_len) - (x_len < y_len);
}

static int
mode_print_env (char **args)
{
  size_t n = 0;

  (void)args;
  print_ready ();
  while (environ[n] != NULL)
    n++;
  char **sorted = calloc (n + 1, sizeof *sorted);
  if (sorted == NULL)
    return 1;
  memcpy (sorted, environ, n * sizeof *sorted);
  qsort (sorted, n, sizeof *sorted, compare_env_names);
  for (size_t i = 0; i < n; i++)
    printf ("env %s\n", sorted[i]);
  free (sorted);
  wait_forever ();
}

/* print-args needs the whole argv, not just the mode's arguments. */
static char **full_argv;

static int
mode_print_args (char **args)
{
  (void)args;
  print_ready ();
  for (int i = 0; full_argv[i] != NULL; i++)
    printf ("arg[%d]=%s\n", i, full_argv[i]);
  wait_forever ();
}

static int
mode_count (char **args)
{
  long ms;

  if (!parse_long (args[0], 1, MAX_MS, &ms))
    return usage ();
  print_ready ();
  /* Absolute deadlines, so the period does not drift. */
  struct timespec next;
  clock_gettime (CLOCK_MONOTONIC, &next);
  for (unsigned long line = 1;; line++)
    {
      add_ms (&next, ms);
      while (wait_until (&next))
        handle_signals (true);
      printf ("line %lu\n", line);
    }
}

static int
mode_zombie_parent (char **args)
{
  (void)args;
  /* SIGCHLD may arrive ignored from the parent, which would reap for us. */
  signal (SIGCHLD, SIG_DFL);
  print_ready ();
  pid_t child = fork ();
  if (child < 0)
    return 1;
  if (child == 0)
    {
      /* Lives until a signal kills it, then stays a zombie: nobody reaps it. */
      reset_signals ();
      for (;;)
        pause ();
    }
  printf ("child=%ld\n", (long)child);
  wait_forever ();
}

/* Runs COMMAND as a child subreaper that reaps only COMMAND itself: an
 * orphan of COMMAND's (a detached worker) stays its zombie once it exits,
 * as under a supervisor that holds its workers' zombies, or where PID 1
 * reaps late; exits with COMMAND's status. */
static int
mode_hold_orphans (char **args)
{
  if (args[0] == NULL)
    return usage ();
  if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0)
    return 1;
  signal (SIGCHLD, SIG_DFL);
  pid_t child = fork ();
  if (child < 0)
    return 1;
  if (child == 0)
    {
      execvp (args[0], args);
      _exit (127);
    }
  int status;
  while (waitpid (child, &status, 0) < 0)
    if (errno != EINTR)
      return 1;
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

/* Celery's prefork pool in small: a child that ignores SIGINT alone (its
 * master's to handle) and dies of SIGTERM, prints "pool=PID", and once
 * its master has died (of SIGINT, at once, leaving its pool behind) works
 * MS on a task, prints "task done" and exits: the task is under way
 * whatever comes after the master's death. */
static int
mode_pool (char **args)
{
  long ms;

  if (!parse_long (args[0], 0, MAX_MS, &ms))
    return usage ();
  fflush (stdout);
  /* The master holds the write end: the pool reads end of file when it
   * has died. */
  int master_alive[2];
  if (pipe (master_alive) < 0)
    return 1;
  pid_t child = fork ();
  if (child < 0)
    return 1;
  if (child == 0)
    {
      reset_signals ();
      ignore_signal (SIGINT);
      close (master_alive[1]);
      printf ("pool=%ld\n", (long)getpid ());
      fflush (stdout);
      char byte;
      while (read (master_alive[0], &byte, 1) < 0 && errno == EINTR)
        ;
      struct timespec task = { ms / 1000, (ms % 1000) * 1000000L };
      while (nanosleep (&task, &task) < 0 && errno == EINTR)
        ;
      printf ("task done\n");
      fflush (stdout);
      _exit (0);
    }
  close (master_alive[0]);
  print_ready ();
  wait_forever ();
}

static int
mode_orphan_maker (char **args)
{
  int fds[2];

  (void)args;
  print_ready ();
  if (pipe (fds) < 0)
    return 1;
  pid_t child = fork ();
  if (child < 0)
    return 1;
  if (child == 0)
    {
      pid_t grandchild = fork ();
      if (grandchild == 0)
        {
          /* Let go of the caller's stdio, so nobody reading our output
           * waits for this process, and let signals kill it. */
          reset_signals ();
          close (fds[0]);
          close (fds[1]);
          int null_fd = open ("/dev/null", O_RDWR);
          for (int fd = 0; fd <= 2 && null_fd >= 0; fd++)
            dup2 (null_fd, fd);
          struct timespec second = { 1, 0 };
          while (nanosleep (&second, &second) < 0 && errno == EINTR)
            ;
          _exit (0);
        }
      ssize_t written = write (fds[1], &grandchild, sizeof grandchild);
      _exit (written == sizeof grandchild ? 0 : 1);
    }
  close (fds[1]);
  pid_t grandchild = -1;
  ssize_t got = read (fds[0], &grandchild, sizeof grandchild);
  close (fds[0]);
  waitpid (child, NULL, 0);
  if (got != sizeof grandchild || grandchild <= 0)
    return 1;
  printf ("grandchild=%ld\n", (long)grandchild);
  wait_forever ();
}

_Noreturn static void
pause_forever (void)
{
  for (;;)
    pause ();
}

/* Receives sd_notify datagrams on PATH and prints each as one line, its
 * newlines shown as "|".  Default signal dispositions: TERM ends it. */
static int
mode_notify_listen (char **args)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen (args[0]) >= sizeof addr.sun_path)
    return usage ();
  strcpy (addr.sun_path, args[0]);
  int fd = socket (AF_UNIX, SOCK_DGRAM, 0);
  if (fd < 0 || bind (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    {
      perror (args[0]);
      return 1;
    }
  print_ready ();
  char buffer[4096];
  for (;;)
    {
      ssize_t n = recv (fd, buffer, sizeof buffer - 1, 0);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          perror ("recv");
          return 1;
        }
      buffer[n] = '\0';
      for (char *p = buffer; *p; p++)
        if (*p == '\n')
          *p = '|';
      printf ("notify: %s\n", buffer);
    }
}

static int
mode_sleep_forever (char **args)
{
  (void)args;
  /* A canary: whatever the caller ignored or blocked, signals kill it. */
  reset_signals ();
  pause_forever ();
}

/* sleep-forever, after making itself a process that may not be looked
 * into: its /proc entries then belong to root, whoever it runs as. */
static int
mode_no_dump (char **args)
{
  if (prctl (PR_SET_DUMPABLE, 0) < 0)
    return 1;
  return mode_sleep_forever (args);
}

/* "ready", then its first thread exits and a second one runs on: the
 * process lives, but its first thread is a zombie.  Default signal
 * dispositions: TERM ends it. */
static int
mode_leader_exit (char **args)
{
  (void)args;
  print_ready ();
  pthread_t thread;
  if (pthread_create (&thread, NULL, thread_main, NULL) != 0)
    return 1;
  pthread_exit (NULL);
}

static const struct
{
  const char *name;
  int n_args;
  bool handlers; /* install the "got SIGNAME" handlers */
  int (*run) (char **args);
  const char *usage;
} modes[] = {
  { "run", 0, true, mode_run, "run" },
  { "ignore-term", 0, true, mode_ignore_term, "ignore-term" },
  { "stubborn", 0, true, mode_stubborn, "stubborn" },
  { "thread", 0, true, mode_thread, "thread" },
  { "respawn-on-term", 0, true, mode_respawn_on_term, "respawn-on-term" },
  { "exit", 1, false, mode_exit, "exit N" },
  { "exit-after", 2, true, mode_exit_after, "exit-after MS N" },
  { "slow-term", 1, true, mode_slow_term, "slow-term MS" },
  { "print-env", 0, true, mode_print_env, "print-env" },
  { "print-args", -1, true, mode_print_args, "print-args [ARG...]" },
  { "count", 1, true, mode_count, "count MS" },
  { "zombie-parent", 0, true, mode_zombie_parent, "zombie-parent" },
  { "orphan-maker", 0, true, mode_orphan_maker, "orphan-maker" },
  { "pool", 1, true, mode_pool, "pool MS" },
  { "notify-listen", 1, false, mode_notify_listen, "notify-listen PATH" },
  { "sleep-forever", 0, false, mode_sleep_forever, "sleep-forever" },
  { "no-dump", 0, false, mode_no_dump, "no-dump" },
  { "leader-exit", 0, false, mode_leader_exit, "leader-exit" },
  { "hold-orphans", -1, false, mode_hold_orphans, "hold-orphans COMMAND [ARG...]" },
};

static int
usage (void)
{
  fputs ("Usage: stem-test-worker MODE [ARG...]\nModes:\n", stderr);
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    fprintf (stderr, "  %s\n", modes[i].usage);
  return EXIT_USAGE;
}

int
main (int argc, char **argv)
{
  setvbuf (stdout, NULL, _IOLBF, 0);
  full_argv = argv;
  if (argc < 2)
    return usage ();

  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    {
      if (strcmp (argv[1], modes[i].name) != 0)
        continue;
      if (modes[i].n_args >= 0 && argc - 2 != modes[i].n_args)
        return usage ();
      if (modes[i].handlers)
        install_handlers ();
      return modes[i].run (argv + 2);
    }
  return usage ();
}
