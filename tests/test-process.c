#include "stem-schedule.h"
#include "stem-error.h"
#include "stem-process.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A pidfile's claim that it was written at WHEN (µs), and no more. */
#define CLAIM(when) (&(StemProcClaim){ .mtime_us = (when) })

#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif

/* How the kernel's pidfd calls are made to fail in a subprocess, to exercise
 * the fallbacks as they happen on old kernels and under seccomp filters. */
typedef enum
{
  PIDFD_AVAILABLE,
  PIDFD_ENOSYS,    /* both calls missing: old kernel */
  PIDFD_EPERM,     /* both calls refused by a container's filter */
  PIDFD_NO_SIGNAL, /* pidfd_open works, pidfd_send_signal refused */
} PidfdMode;

static PidfdMode pidfd_mode = PIDFD_AVAILABLE;

/* Children --------------------------------------------------------------------------------------
 */

typedef enum
{
  CHILD_PAUSE,        /* default SIGTERM action */
  CHILD_IGNORE_TERM,  /* SIG_IGN for SIGTERM */
  CHILD_THREAD_ALIVE, /* main thread gone, another thread still running */
} ChildMode;

static int child_ready_fd = -1;

static void
child_ready (void)
{
  char byte = 'R';
  if (write (child_ready_fd, &byte, 1) != 1)
    _exit (3);
}

static void *
child_thread (void *data)
{
  pthread_join (*(pthread_t *)data, NULL);
  child_ready ();
  for (;;)
    pause ();
  return NULL;
}

static G_GNUC_NORETURN void
child_main (ChildMode mode)
{
  signal (SIGTERM, mode == CHILD_IGNORE_TERM ? SIG_IGN : SIG_DFL);
  if (mode == CHILD_THREAD_ALIVE)
    {
      static pthread_t main_thread;
      main_thread = pthread_self ();
      pthread_t thread;
      if (pthread_create (&thread, NULL, child_thread, &main_thread) != 0)
        _exit (4);
      pthread_exit (NULL);
    }
  child_ready ();
  for (;;)
    pause ();
}

/* Forks a child in MODE and returns once it has set itself up. */
static pid_t
spawn_child (ChildMode mode)
{
  int fds[2];
  g_assert_no_errno (pipe2 (fds, O_CLOEXEC));
  pid_t parent = getpid ();
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      /* A failed assertion aborts the test without reaping: the child must
       * not outlive it, holding the TAP pipe open for ever. */
      if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != parent)
        _exit (5);
      close (fds[0]);
      child_ready_fd = fds[1];
      child_main (mode);
    }
  close (fds[1]);
  struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
  int ready;
  do
    ready = poll (&pfd, 1, 10000);
  while (ready < 0 && errno == EINTR);
  g_assert_cmpint (ready, ==, 1);
  char byte = 0;
  g_assert_cmpint (read (fds[0], &byte, 1), ==, 1);
  g_assert_cmpint (byte, ==, 'R');
  close (fds[0]);
  return pid;
}

/* Forks a child that exits at once and returns its PID, still unreaped. */
static pid_t
spawn_zombie (void)
{
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    _exit (0);
  siginfo_t info;
  g_assert_no_errno (waitid (P_PID, (id_t)pid, &info, WEXITED | WNOWAIT));
  return pid;
}

static int
reap (pid_t pid)
{
  int status;
  pid_t reaped;
  do
    reaped = waitpid (pid, &status, 0);
  while (reaped < 0 && errno == EINTR);
  g_assert_cmpint (reaped, ==, pid);
  return status;
}

static void
kill_and_reap (pid_t pid)
{
  kill (pid, SIGKILL);
  reap (pid);
}

/* A PID that named a process a moment ago and names none now. */
static pid_t
vanished_pid (void)
{
  pid_t pid = spawn_zombie ();
  reap (pid);
  return pid;
}

static StemProc *
open_child (pid_t pid)
{
  g_autoptr (GError) error = NULL;
  gint64 start_us = 0;
  g_assert_true (stem_proc_start_time (pid, &start_us, &error));
  g_assert_no_error (error);
  StemProc *proc = stem_proc_open (pid, start_us, &error);
  g_assert_no_error (error);
  g_assert_nonnull (proc);
  g_assert_cmpint (stem_proc_get_pid (proc), ==, pid);
  if (pidfd_mode == PIDFD_AVAILABLE || pidfd_mode == PIDFD_NO_SIGNAL)
    g_assert_cmpint (stem_proc_get_fd (proc), >=, 0);
  else
    g_assert_cmpint (stem_proc_get_fd (proc), ==, -1);
  return proc;
}

static char
proc_state (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int)pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  const char *end = strrchr (text, ')');
  return end != NULL && end[1] == ' ' ? end[2] : 0;
}

static GArray *
schedule (int signum1, gint64 timeout1_ms, int signum2, gint64 timeout2_ms)
{
  GArray *steps = g_array_new (FALSE, FALSE, sizeof (StemScheduleStep));
  StemScheduleStep first = { signum1, timeout1_ms };
  g_array_append_val (steps, first);
  if (signum2 != 0)
    {
      StemScheduleStep second = { signum2, timeout2_ms };
      g_array_append_val (steps, second);
    }
  return steps;
}

/* Start times -----------------------------------------------------------------------------------
 */

static void
test_start_time_self (void)
{
  g_autoptr (GError) error = NULL;
  gint64 start_us = 0;
  g_assert_true (stem_proc_start_time (getpid (), &start_us, &error));
  g_assert_no_error (error);
  gint64 now = g_get_real_time ();
  g_assert_cmpint (start_us, <=, now);
  g_assert_cmpint (now - start_us, <, 30 * G_USEC_PER_SEC);
}

static void
test_start_time_child (void)
{
  g_autoptr (GError) error = NULL;
  gint64 self_us = 0;
  g_assert_true (stem_proc_start_time (getpid (), &self_us, &error));
  pid_t child = spawn_child (CHILD_PAUSE);
  gint64 child_us = 0;
  g_assert_true (stem_proc_start_time (child, &child_us, &error));
  g_assert_no_error (error);
  /* Each reading takes the boot time from two clocks, so two readings of
   * the same clock tick may differ by a microsecond; a tick is 1 ms or more. */
  g_assert_cmpint (child_us, >=, self_us - 1000);
  g_assert_cmpint (child_us, <=, g_get_real_time ());
  kill_and_reap (child);
}

static void
test_start_time_missing (void)
{
  g_autoptr (GError) error = NULL;
  gint64 start_us = -1;
  g_assert_false (stem_proc_start_time (vanished_pid (), &start_us, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_NOT_FOUND);
  g_assert_cmpint (start_us, ==, -1);
}

/* Probing ---------------------------------------------------------------------------------------
 */

static void
test_probe_self (void)
{
  gint64 start_us = 0;
  g_assert_cmpint (stem_proc_probe (getpid (), CLAIM (g_get_real_time ()), &start_us), ==,
                   STEM_PROC_RUNNING);
  g_assert_cmpint (start_us, >, 0);
  g_assert_cmpint (stem_proc_probe (getpid (), CLAIM (g_get_real_time ()), NULL), ==,
                   STEM_PROC_RUNNING);
  g_assert_false (stem_proc_is_dead (getpid ()));
}

static void
test_probe_reused (void)
{
  gint64 an_hour_ago = g_get_real_time () - (gint64)3600 * G_USEC_PER_SEC;
  g_assert_cmpint (stem_proc_probe (getpid (), CLAIM (an_hour_ago), NULL), ==, STEM_PROC_REUSED);
}

static void
test_probe_dead (void)
{
  pid_t pid = vanished_pid ();
  g_assert_cmpint (stem_proc_probe (pid, CLAIM (g_get_real_time ()), NULL), ==, STEM_PROC_DEAD);
  g_assert_true (stem_proc_is_dead (pid));
  g_assert_cmpint (stem_proc_probe (0, CLAIM (g_get_real_time ()), NULL), ==, STEM_PROC_DEAD);
  g_assert_cmpint (stem_proc_probe (-1, CLAIM (g_get_real_time ()), NULL), ==, STEM_PROC_DEAD);
}

static void
test_probe_zombie (void)
{
  pid_t pid = spawn_zombie ();
  g_assert_cmpint (proc_state (pid), ==, 'Z');
  /* kill (pid, 0) succeeds on a zombie: /proc must decide. */
  g_assert_no_errno (kill (pid, 0));

  g_assert_cmpint (stem_proc_probe (pid, CLAIM (g_get_real_time ()), NULL), ==, STEM_PROC_DEAD);
  g_assert_true (stem_proc_is_dead (pid));

  g_autoptr (StemProc) proc = open_child (pid);
  g_assert_true (stem_proc_has_exited (proc));
  g_assert_true (stem_proc_wait (proc, 0));
  g_autoptr (GError) error = NULL;
  g_assert_true (stem_proc_signal (proc, SIGTERM, &error));
  g_assert_no_error (error);

  int status = reap (pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
}

static void
test_probe_pid1 (void)
{
  if (geteuid () == 0)
    {
      g_test_skip ("root may signal PID 1, so kill (1, 0) cannot answer EPERM");
      return;
    }
  g_assert_cmpstr (
      stem_proc_state_to_string (stem_proc_probe (1, CLAIM (g_get_real_time ()), NULL)), ==,
      stem_proc_state_to_string (STEM_PROC_NO_PERMISSION));
}

/* The main thread of a process can exit before the others: /proc then shows
 * the leader as 'Z' while the process still runs. */
static void
test_probe_thread_leader_gone (void)
{
  pid_t pid = spawn_child (CHILD_THREAD_ALIVE);
  for (int i = 0; i < 1000 && proc_state (pid) != 'Z'; i++)
    poll (NULL, 0, 5);
  g_assert_cmpint (proc_state (pid), ==, 'Z');

  g_assert_false (stem_proc_is_dead (pid));
  g_assert_cmpint (stem_proc_probe (pid, CLAIM (g_get_real_time ()), NULL), ==, STEM_PROC_RUNNING);
  g_autoptr (StemProc) proc = open_child (pid);
  g_assert_false (stem_proc_has_exited (proc));
  g_assert_false (stem_proc_wait (proc, 50));

  g_autoptr (GError) error = NULL;
  g_autoptr (StemProc) opened = NULL;
  g_assert_cmpint (
      stem_proc_probe_open (pid, CLAIM (g_get_real_time ()), &(gint64){ 0 }, &opened, &error), ==,
      STEM_PROC_RUNNING);
  g_assert_no_error (error);
  g_assert_false (stem_proc_has_exited (opened));

  g_assert_true (stem_proc_signal (proc, SIGKILL, &error));
  g_assert_no_error (error);
  g_assert_true (stem_proc_wait (proc, 10000));
  int status = reap (pid);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
}

/* stem_proc_probe_open of PID, for a pidfile written at MTIME_US: the
 * state, with *OUT_PROC (NULL for any other state than running). */
static StemProcState
probe_open (pid_t pid, gint64 mtime_us, StemProc **out_proc, GError **error)
{
  gint64 start_us = -1;
  StemProcState state = stem_proc_probe_open (pid, CLAIM (mtime_us), &start_us, out_proc, error);
  if (state == STEM_PROC_RUNNING || state == STEM_PROC_REUSED)
    g_assert_cmpint (start_us, >, 0);
  if (state != STEM_PROC_RUNNING)
    g_assert_null (*out_proc);
  return state;
}

/* Probing and opening in one look gives what the two steps give. */
static void
test_probe_open (void)
{
  gint64 now = g_get_real_time ();
  g_autoptr (GError) error = NULL;
  StemProc *none = NULL;

  pid_t child = spawn_child (CHILD_PAUSE);
  g_assert_no_errno (setpgid (child, child));
  g_autoptr (StemProc) proc = NULL;
  g_assert_cmpint (probe_open (child, now, &proc, &error), ==, STEM_PROC_RUNNING);
  g_assert_no_error (error);
  g_assert_nonnull (proc);
  g_assert_cmpint (stem_proc_get_pid (proc), ==, child);
  if (pidfd_mode == PIDFD_AVAILABLE || pidfd_mode == PIDFD_NO_SIGNAL)
    g_assert_cmpint (stem_proc_get_fd (proc), >=, 0);
  g_assert_false (stem_proc_has_exited (proc));
  /* The group it leads, as read when it was opened. */
  g_autoptr (StemProcGroup) group = stem_proc_group_new (proc);
  g_assert_nonnull (group);

  /* Started after its pidfile was written: someone else's PID. */
  gint64 an_hour_ago = now - (gint64)3600 * G_USEC_PER_SEC;
  g_assert_cmpint (probe_open (child, an_hour_ago, &none, &error), ==, STEM_PROC_REUSED);
  g_assert_no_error (error);

  g_assert_true (stem_proc_signal (proc, SIGTERM, &error));
  g_assert_no_error (error);
  g_assert_true (stem_proc_wait (proc, 10000));
  g_assert_cmpint (probe_open (child, now, &none, &error), ==, STEM_PROC_DEAD); /* a zombie */
  g_assert_no_error (error);
  reap (child);
  g_assert_cmpint (probe_open (child, now, &none, &error), ==, STEM_PROC_DEAD);
  g_assert_no_error (error);
  g_assert_cmpint (probe_open (0, now, &none, &error), ==, STEM_PROC_DEAD);
  g_assert_cmpint (probe_open (-1, now, &none, &error), ==, STEM_PROC_DEAD);
  g_assert_no_error (error);

  /* Running, but on the never-signal list: not opened, and why. */
  const pid_t refused[] = { getpid (), getppid () };
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_assert_cmpint (probe_open (refused[i], now, &none, &error), ==, STEM_PROC_RUNNING);
      g_assert_null (none);
      g_assert_error (error, STEM_ERROR, STEM_ERROR_FAILED);
      g_clear_error (&error);
    }
  /* PID 1: another user's (no permission), or root's and refused. */
  StemProcState init = probe_open (1, now, &none, &error);
  g_assert_null (none);
  if (geteuid () == 0)
    {
      g_assert_cmpint (init, ==, STEM_PROC_RUNNING);
      g_assert_error (error, STEM_ERROR, STEM_ERROR_FAILED);
    }
  else
    g_assert_cmpint (init, ==, STEM_PROC_NO_PERMISSION);
}

static void
test_state_to_string (void)
{
  g_assert_cmpstr (stem_proc_state_to_string (STEM_PROC_RUNNING), ==, "running");
  g_assert_cmpstr (stem_proc_state_to_string (STEM_PROC_DEAD), ==, "dead");
  g_assert_cmpstr (stem_proc_state_to_string (STEM_PROC_REUSED), ==, "reused");
  g_assert_cmpstr (stem_proc_state_to_string (STEM_PROC_NO_PERMISSION), ==, "no-permission");
  g_assert_cmpstr (stem_proc_state_to_string (STEM_PROC_UNKNOWN), ==, "unknown");
}

/* Identity and signalling -----------------------------------------------------------------------
 */

/* Once the leader is reaped, a process that joins a group with its id is
 * no member unless its parent is one: the group may be someone else's. */
static void
test_group_after_leader (void)
{
  pid_t alone = spawn_child (CHILD_PAUSE);
  g_autoptr (StemProc) alone_proc = open_child (alone);
  g_assert_null (stem_proc_group_new (alone_proc)); /* in our group, leading none */
  kill_and_reap (alone);

  pid_t leader = spawn_child (CHILD_PAUSE);
  g_assert_no_errno (setpgid (leader, leader));
  pid_t member = spawn_child (CHILD_PAUSE);
  g_assert_no_errno (setpgid (member, leader));
  g_autoptr (StemProc) leader_proc = open_child (leader);
  g_autoptr (StemProcGroup) group = stem_proc_group_new (leader_proc);
  g_assert_nonnull (group);
  g_autoptr (GPtrArray) groups = g_ptr_array_new ();
  g_ptr_array_add (groups, group);
  g_assert_cmpuint (stem_proc_groups_collect (groups), ==, 1);
  GPtrArray *members = stem_proc_group_members (group);
  g_assert_cmpint (stem_proc_get_pid (members->pdata[0]), ==, member);
  g_assert_cmpuint (stem_proc_groups_collect (groups), ==, 0); /* found once */

  kill_and_reap (leader);
  pid_t stranger = spawn_child (CHILD_PAUSE);
  g_assert_no_errno (setpgid (stranger, leader)); /* the group lives on in MEMBER */
  g_assert_cmpuint (stem_proc_groups_collect (groups), ==, 0);
  g_assert_cmpuint (members->len, ==, 1);
  kill_and_reap (stranger);
  kill_and_reap (member);
}

static void
test_signallable (void)
{
  const pid_t refused[] = { 0, 1, -1, -42, getpid (), getppid () };
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (stem_proc_check_signallable (refused[i], &error));
      g_assert_error (error, STEM_ERROR, STEM_ERROR_FAILED);

      g_clear_error (&error);
      g_autoptr (StemProc) proc = stem_proc_open (refused[i], g_get_real_time (), &error);
      g_assert_null (proc);
      g_assert_error (error, STEM_ERROR, STEM_ERROR_FAILED);
    }

  pid_t child = spawn_child (CHILD_PAUSE);
  g_autoptr (GError) error = NULL;
  g_assert_true (stem_proc_check_signallable (child, &error));
  g_assert_no_error (error);
  kill_and_reap (child);
}

static void
test_open_wrong_start (void)
{
  pid_t child = spawn_child (CHILD_PAUSE);
  gint64 start_us = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (stem_proc_start_time (child, &start_us, &error));

  const gint64 wrong[] = { start_us - 10 * G_USEC_PER_SEC, start_us + 10 * G_USEC_PER_SEC,
                           start_us + G_USEC_PER_SEC / 10 };
  for (gsize i = 0; i < G_N_ELEMENTS (wrong); i++)
    {
      g_autoptr (StemProc) proc = stem_proc_open (child, wrong[i], &error);
      g_assert_null (proc);
      g_assert_error (error, STEM_ERROR, STEM_ERROR_FAILED);
      g_clear_error (&error);
    }

  g_autoptr (StemProc) proc = open_child (child);
  g_assert_false (stem_proc_has_exited (proc));
  kill_and_reap (child);
}

static void
test_open_gone (void)
{
  pid_t pid = spawn_child (CHILD_PAUSE);
  gint64 start_us = 0;
  g_assert_true (stem_proc_start_time (pid, &start_us, NULL));
  kill_and_reap (pid);

  g_autoptr (GError) error = NULL;
  g_autoptr (StemProc) proc = stem_proc_open (pid, start_us, &error);
  g_assert_null (proc);
  g_assert_error (error, STEM_ERROR, STEM_ERROR_NOT_FOUND);
}

static void
test_signal (void)
{
  pid_t child = spawn_child (CHILD_PAUSE);
  g_autoptr (StemProc) proc = open_child (child);
  g_autoptr (GError) error = NULL;
  g_assert_true (stem_proc_signal (proc, 0, &error));
  g_assert_no_error (error);
  g_assert_false (stem_proc_has_exited (proc));

  g_assert_true (stem_proc_signal (proc, SIGTERM, &error));
  g_assert_no_error (error);
  g_assert_true (stem_proc_wait (proc, 10000));
  g_assert_true (stem_proc_has_exited (proc));
  /* Still unreaped: signalling an exited process is success. */
  g_assert_true (stem_proc_signal (proc, SIGTERM, &error));
  g_assert_no_error (error);

  int status = reap (child);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGTERM);
  g_assert_true (stem_proc_signal (proc, SIGTERM, &error));
  g_assert_no_error (error);
}

/* Waiting ---------------------------------------------------------------------------------------
 */

static void
test_wait_timeout (void)
{
  pid_t child = spawn_child (CHILD_PAUSE);
  g_autoptr (StemProc) proc = open_child (child);

  gint64 before = g_get_monotonic_time ();
  g_assert_false (stem_proc_wait (proc, 200));
  gint64 elapsed = g_get_monotonic_time () - before;
  g_assert_cmpint (elapsed, >=, 200 * 1000);
  g_assert_cmpint (elapsed, <, 2 * G_USEC_PER_SEC);

  g_assert_false (stem_proc_wait (proc, 0));
  g_assert_false (stem_proc_has_exited (proc));
  kill_and_reap (child);
  g_assert_true (stem_proc_has_exited (proc));
}

static void
test_wait_exit (void)
{
  pid_t child = spawn_child (CHILD_PAUSE);
  g_autoptr (StemProc) proc = open_child (child);
  g_assert_no_errno (kill (child, SIGTERM));
  gint64 before = g_get_monotonic_time ();
  g_assert_true (stem_proc_wait (proc, STEM_DURATION_FOREVER));
  g_assert_cmpint (g_get_monotonic_time () - before, <, 5 * G_USEC_PER_SEC);
  reap (child);
}

static void
test_stop_all (void)
{
  pid_t polite = spawn_child (CHILD_PAUSE);
  pid_t stubborn = spawn_child (CHILD_IGNORE_TERM);
  g_autoptr (GPtrArray) procs = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_free);
  g_ptr_array_add (procs, open_child (polite));
  g_ptr_array_add (procs, open_child (stubborn));
  g_autoptr (GArray) steps = schedule (SIGTERM, 200, SIGKILL, 2000);

  int results[2] = { 42, 42 };
  g_autoptr (GError) error = NULL;
  gint64 before = g_get_monotonic_time ();
  g_assert_true (stem_proc_stop_all (procs, steps, TRUE, results, &error));
  gint64 elapsed = g_get_monotonic_time () - before;
  g_assert_no_error (error);
  g_assert_cmpint (results[0], ==, 0);
  g_assert_cmpint (results[1], ==, 1);
  g_assert_true (stem_proc_has_exited (procs->pdata[0]));
  g_assert_true (stem_proc_has_exited (procs->pdata[1]));
  g_assert_cmpint (elapsed, >=, 200 * 1000);
  g_assert_cmpint (elapsed, <, 2 * G_USEC_PER_SEC);

  int status = reap (polite);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGTERM);
  status = reap (stubborn);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
}

static void
test_stop_all_already_signalled (void)
{
  pid_t child = spawn_child (CHILD_PAUSE);
  g_autoptr (GPtrArray) procs = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_free);
  g_ptr_array_add (procs, open_child (child));
  g_autoptr (GArray) steps = schedule (SIGTERM, 10000, SIGKILL, 10000);

  g_assert_no_errno (kill (child, SIGTERM));
  int results[1] = { 42 };
  g_autoptr (GError) error = NULL;
  g_assert_true (stem_proc_stop_all (procs, steps, FALSE, results, &error));
  g_assert_no_error (error);
  g_assert_cmpint (results[0], ==, 0);
  int status = reap (child);
  g_assert_cmpint (WTERMSIG (status), ==, SIGTERM);
}

static void
test_stop_all_not_sent (void)
{
  /* send_first=FALSE really sends nothing first: the child outlives step 0. */
  pid_t child = spawn_child (CHILD_PAUSE);
  g_autoptr (GPtrArray) procs = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_free);
  g_ptr_array_add (procs, open_child (child));
  g_autoptr (GArray) steps = schedule (SIGTERM, 100, SIGKILL, 10000);

  int results[1] = { 42 };
  g_autoptr (GError) error = NULL;
  g_assert_true (stem_proc_stop_all (procs, steps, FALSE, results, &error));
  g_assert_no_error (error);
  g_assert_cmpint (results[0], ==, 1);
  int status = reap (child);
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
}

static void
test_stop_all_survivor (void)
{
  pid_t child = spawn_child (CHILD_IGNORE_TERM);
  g_autoptr (GPtrArray) procs = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_free);
  g_ptr_array_add (procs, open_child (child));
  g_autoptr (GArray) steps = schedule (SIGTERM, 100, 0, 0);

  int results[1] = { 42 };
  g_autoptr (GError) error = NULL;
  g_assert_true (stem_proc_stop_all (procs, steps, TRUE, results, &error));
  g_assert_no_error (error);
  g_assert_cmpint (results[0], ==, -1);
  g_assert_false (stem_proc_has_exited (procs->pdata[0]));
  kill_and_reap (child);
}

static void
test_stop_all_forever (void)
{
  pid_t child = spawn_child (CHILD_PAUSE);
  g_autoptr (GPtrArray) procs = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_free);
  g_ptr_array_add (procs, open_child (child));
  g_autoptr (GArray) steps = schedule (SIGTERM, STEM_DURATION_FOREVER, 0, 0);

  int results[1] = { 42 };
  g_autoptr (GError) error = NULL;
  g_assert_true (stem_proc_stop_all (procs, steps, TRUE, results, &error));
  g_assert_no_error (error);
  g_assert_cmpint (results[0], ==, 0);
  reap (child);
}

static void
test_stop_all_exited (void)
{
  pid_t zombie = spawn_zombie ();
  g_autoptr (GPtrArray) procs = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_free);
  g_ptr_array_add (procs, open_child (zombie));
  g_autoptr (GArray) steps = schedule (SIGTERM, STEM_DURATION_FOREVER, 0, 0);

  int results[1] = { 42 };
  g_autoptr (GError) error = NULL;
  g_assert_true (stem_proc_stop_all (procs, steps, TRUE, results, &error));
  g_assert_no_error (error);
  g_assert_cmpint (results[0], ==, 0);
  reap (zombie);

  g_autoptr (GPtrArray) none = g_ptr_array_new ();
  g_assert_true (stem_proc_stop_all (none, steps, TRUE, results, &error));
  g_assert_no_error (error);

  g_autoptr (GArray) empty = g_array_new (FALSE, FALSE, sizeof (StemScheduleStep));
  g_assert_false (stem_proc_stop_all (none, empty, TRUE, results, &error));
  g_assert_nonnull (error);
}

/* Running without pidfds ------------------------------------------------------------------------
 */

static void
refuse_pidfd_calls (PidfdMode mode)
{
  int errsv = mode == PIDFD_ENOSYS ? ENOSYS : EPERM;
  guint32 open_action = mode == PIDFD_NO_SIGNAL ? SECCOMP_RET_ALLOW : SECCOMP_RET_ERRNO | errsv;
  struct sock_filter filter[] = {
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
    BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_open, 0, 1),
    BPF_STMT (BPF_RET | BPF_K, open_action),
    BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_send_signal, 0, 1),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | errsv),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = { .len = G_N_ELEMENTS (filter), .filter = filter };
  g_assert_no_errno (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  g_assert_no_errno (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program));
}

typedef struct
{
  const char *name;
  GTestFunc func;
} ProcessTest;

static const ProcessTest process_tests[] = {
  { "probe/zombie", test_probe_zombie },
  { "probe/thread-leader-gone", test_probe_thread_leader_gone },
  { "probe-open", test_probe_open },
  { "open/wrong-start", test_open_wrong_start },
  { "open/gone", test_open_gone },
  { "signal", test_signal },
  { "wait/timeout", test_wait_timeout },
  { "wait/exit", test_wait_exit },
  { "stop-all/escalate", test_stop_all },
  { "stop-all/already-signalled", test_stop_all_already_signalled },
  { "stop-all/not-sent", test_stop_all_not_sent },
  { "stop-all/survivor", test_stop_all_survivor },
  { "stop-all/forever", test_stop_all_forever },
  { "stop-all/exited", test_stop_all_exited },
  { "group/after-leader", test_group_after_leader },
};

typedef struct
{
  const char *name;
  PidfdMode mode;
} ModeVariant;

static const ModeVariant mode_variants[] = {
  { "no-pidfd", PIDFD_ENOSYS },
  { "pidfd-filtered", PIDFD_EPERM },
  { "pidfd-signal-filtered", PIDFD_NO_SIGNAL },
};

typedef struct
{
  const ProcessTest *test;
  const ModeVariant *variant;
} VariantCase;

static void
test_in_variant (gconstpointer data)
{
  const VariantCase *c = data;
  if (g_test_subprocess ())
    {
      pidfd_mode = c->variant->mode;
      refuse_pidfd_calls (pidfd_mode);
      c->test->func ();
      return;
    }
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

static gboolean
pidfds_available (void)
{
  int fd = (int)syscall (__NR_pidfd_open, getpid (), 0);
  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!pidfds_available ())
    pidfd_mode = PIDFD_ENOSYS;

  g_test_add_func ("/process/start-time/self", test_start_time_self);
  g_test_add_func ("/process/start-time/child", test_start_time_child);
  g_test_add_func ("/process/start-time/missing", test_start_time_missing);
  g_test_add_func ("/process/probe/self", test_probe_self);
  g_test_add_func ("/process/probe/reused", test_probe_reused);
  g_test_add_func ("/process/probe/dead", test_probe_dead);
  g_test_add_func ("/process/probe/pid1", test_probe_pid1);
  g_test_add_func ("/process/state-to-string", test_state_to_string);
  g_test_add_func ("/process/signallable", test_signallable);

  for (gsize i = 0; i < G_N_ELEMENTS (process_tests); i++)
    {
      g_autofree char *path = g_strconcat ("/process/", process_tests[i].name, NULL);
      g_test_add_func (path, process_tests[i].func);
    }

  /* Where the kernel has no pidfds at all, the variants add nothing. */
  if (pidfd_mode == PIDFD_AVAILABLE)
    for (gsize v = 0; v < G_N_ELEMENTS (mode_variants); v++)
      for (gsize i = 0; i < G_N_ELEMENTS (process_tests); i++)
        {
          VariantCase *c = g_new0 (VariantCase, 1);
          c->test = &process_tests[i];
          c->variant = &mode_variants[v];
          g_autofree char *path
              = g_strconcat ("/process/", mode_variants[v].name, "/", process_tests[i].name, NULL);
          g_test_add_data_func_full (path, c, test_in_variant, g_free);
        }

  return g_test_run ();
}
