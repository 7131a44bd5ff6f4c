#include "stem-process.h"

#include "stem-schedule.h"
#include "stem-error.h"
#include "stem-fd.h"
#include "stem-i18n.h"
#include "stem-progress.h"
#include "stem-user.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* From the kernel's common syscall table (Linux ≥ 5.1 and 5.3), for C library
 * headers older than the kernel. */
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif

/* Where there are no pidfds, how often /proc is asked whether a process has
 * exited. */
#define STEM_PROC_FALLBACK_POLL_MS 20

struct _StemProc
{
  pid_t pid;
  int pidfd; /* -1 without pidfd support */
  guint64 start_ticks;
  pid_t pgid; /* as read after the pidfd was opened */
  gboolean exited;
};

typedef struct
{
  char state;
  pid_t ppid;
  pid_t pgid;
  pid_t sid;
  guint64 flags; /* the kernel's PF_* */
  guint64 num_threads;
  guint64 start_ticks;
} ProcStat;

/* A kernel thread: never a worker, whatever a pidfile says. */
#define PF_KTHREAD 0x00200000

/* The most of a process's environment read, in bytes. */
#define ENVIRON_MAX (8 * 1024 * 1024)

const char *
stem_proc_state_to_string (StemProcState state)
{
  switch (state)
    {
    case STEM_PROC_RUNNING:
      return "running";
    case STEM_PROC_DEAD:
      return "dead";
    case STEM_PROC_REUSED:
      return "reused";
    case STEM_PROC_NO_PERMISSION:
      return "no-permission";
    case STEM_PROC_UNKNOWN:
      return "unknown";
    }
  return "unknown";
}

static gint64
ticks_per_second (void)
{
  long hz = sysconf (_SC_CLK_TCK);
  return hz > 0 ? hz : 100;
}

static gint64
clock_us (clockid_t clock)
{
  struct timespec ts;
  clock_gettime (clock, &ts);
  return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* The kernel counts a process's start time on CLOCK_BOOTTIME (which keeps
 * running during suspend), so the boot time is taken from the same clock. */
gint64
stem_proc_boot_time_us (void)
{
  return clock_us (CLOCK_REALTIME) - clock_us (CLOCK_BOOTTIME);
}

static gint64
ticks_to_wall_us (guint64 ticks)
{
  gint64 hz = ticks_per_second ();
  gint64 boot_us = stem_proc_boot_time_us ();
  return boot_us + (gint64)(ticks / hz) * G_USEC_PER_SEC
         + (gint64)(ticks % hz) * G_USEC_PER_SEC / hz;
}

/* The unsigned decimal field at *AT (ending in a space, a newline or the
 * end), no larger than MAX; *AT is moved past it and its separator. */
static gboolean
take_field (const char **at, guint64 max, guint64 *out)
{
  const char *p = *at;
  guint64 value = 0;
  if (!g_ascii_isdigit (*p))
    return FALSE;
  for (; g_ascii_isdigit (*p); p++)
    {
      if (value > (max - (guint64)(*p - '0')) / 10)
        return FALSE;
      value = value * 10 + (guint64)(*p - '0');
    }
  if (*p != ' ' && *p != '\n' && *p != '\0')
    return FALSE;
  *at = *p == '\0' ? p : p + 1;
  *out = value;
  return TRUE;
}

/* Moves *AT past N fields of any content. */
static gboolean
skip_fields (const char **at, guint n)
{
  for (guint i = 0; i < n; i++)
    {
      const char *space = strchr (*at, ' ');
      if (space == NULL)
        return FALSE;
      *at = space + 1;
    }
  return TRUE;
}

static gboolean
parse_proc_stat (const char *path, char *text, ProcStat *out, GError **error)
{
  /* The command name (field 2) may itself contain spaces and ')'; the last
   * ')' ends it.  Then field 3 (state), 4-6 (ppid, pgrp, session), 9
   * (flags), 20 (num_threads) and 22 (starttime, clock ticks since boot). */
  const char *at = strrchr (text, ')');
  guint64 ids[3], flags, num_threads, start_ticks;
  if (at == NULL || at[1] != ' ' || at[2] == '\0' || at[3] != ' ')
    return stem_throw (error, _ ("Unexpected contents in “%s”"), path);
  char state = at[2];
  at += 4;
  if (!take_field (&at, G_MAXINT32, &ids[0]) || !take_field (&at, G_MAXINT32, &ids[1])
      || !take_field (&at, G_MAXINT32, &ids[2]) || !skip_fields (&at, 2)
      || !take_field (&at, G_MAXUINT32, &flags) || !skip_fields (&at, 10)
      || !take_field (&at, G_MAXINT32, &num_threads) || !skip_fields (&at, 1)
      || !take_field (&at, G_MAXINT64 / G_USEC_PER_SEC, &start_ticks))
    return stem_throw (error, _ ("Unexpected contents in “%s”"), path);

  out->state = state;
  out->ppid = (pid_t)ids[0];
  out->pgid = (pid_t)ids[1];
  out->sid = (pid_t)ids[2];
  out->flags = flags;
  out->num_threads = num_threads;
  out->start_ticks = start_ticks;
  return TRUE;
}

/* STEM_ERROR_NOT_FOUND when the process does not exist (or /proc hides it). */
static gboolean
read_proc_stat (pid_t pid, ProcStat *out, GError **error)
{
  char path[64];
  g_snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);

  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return stem_throw_errno (error, _ ("Cannot read “%s”"), path);

  char buffer[4096];
  gsize length = 0;
  while (length < sizeof buffer - 1)
    {
      ssize_t n = read (fd, buffer + length, sizeof buffer - 1 - length);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          close (fd);
          errno = errsv;
          return stem_throw_errno (error, _ ("Cannot read “%s”"), path);
        }
      if (n == 0)
        break;
      length += (gsize)n;
      /* The kernel writes the entry whole, ending in a newline, in one
       * read as large as this: no read is needed to see the end. */
      if (buffer[length - 1] == '\n')
        break;
    }
  close (fd);
  buffer[length] = '\0';

  /* A process reaped between open() and read() leaves an empty file. */
  if (length == 0)
    return stem_throw_code (error, STEM_ERROR_NOT_FOUND, _ ("Process %d does not exist"), (int)pid);
  return parse_proc_stat (path, buffer, out, error);
}

/* A thread-group leader that called pthread_exit() shows 'Z' while its other
 * threads keep running; only a zombie without threads is dead. */
static gboolean
proc_stat_is_dead (const ProcStat *stat)
{
  switch (stat->state)
    {
    case 'X':
    case 'x':
      return TRUE;
    case 'Z':
      return stat->num_threads <= 1;
    default:
      return FALSE;
    }
}

static gboolean
kill_says_gone (pid_t pid)
{
  return kill (pid, 0) < 0 && errno == ESRCH;
}

gboolean
stem_proc_start_time (pid_t pid, gint64 *out_start_us, GError **error)
{
  ProcStat stat;
  if (!read_proc_stat (pid, &stat, error))
    return FALSE;
  *out_start_us = ticks_to_wall_us (stat.start_ticks);
  return TRUE;
}

gboolean
stem_proc_is_dead (pid_t pid)
{
  if (pid <= 0)
    return TRUE;
  ProcStat stat;
  if (read_proc_stat (pid, &stat, NULL))
    return proc_stat_is_dead (&stat);
  return kill_says_gone (pid);
}

/* /proc file PATH whole, at most LIMIT bytes; NULL when it cannot be
 * read or is larger. */
static GString *
read_proc_file (const char *path, gsize limit)
{
  g_auto (StemFd) fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return NULL;
  g_autoptr (GString) text = g_string_new (NULL);
  if (stem_fd_read_bounded (fd, limit, text) != 0)
    return NULL;
  return g_steal_pointer (&text);
}

/* Whether thread TID of process PID runs as UID and nothing else: its
 * real, effective, saved and file system user IDs (the owner of its
 * /proc entries is root for a process that may not be looked into, and
 * any process can make itself one). */
static gboolean
task_runs_as (pid_t pid, pid_t tid, uid_t uid)
{
  char path[64];
  g_snprintf (path, sizeof path, "/proc/%d/task/%d/status", (int)pid, (int)tid);
  g_autoptr (GString) status = read_proc_file (path, 64 * 1024);
  const char *line = status != NULL ? strstr (status->str, "\nUid:") : NULL;
  unsigned long ids[4];
  if (line == NULL
      || sscanf (line, "\nUid: %lu %lu %lu %lu", &ids[0], &ids[1], &ids[2], &ids[3]) != 4)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    if (ids[i] != (unsigned long)uid)
      return FALSE;
  return TRUE;
}

/* Whether the program thread TID of process PID runs was executed
 * without gaining privileges (AT_SECURE is not set in its auxiliary
 * vector): a set-user-ID program keeps the environment of whoever ran
 * it, and may run as root. */
static gboolean
task_exec_plain (pid_t pid, pid_t tid)
{
  char path[64];
  g_snprintf (path, sizeof path, "/proc/%d/task/%d/auxv", (int)pid, (int)tid);
  g_autoptr (GString) auxv = read_proc_file (path, 64 * 1024);
  if (auxv == NULL)
    return FALSE;
  unsigned long entry[2];
  for (gsize at = 0; at + sizeof entry <= auxv->len; at += sizeof entry)
    {
      memcpy (entry, auxv->str + at, sizeof entry);
      if (entry[0] == AT_SECURE)
        return entry[1] == 0;
    }
  return FALSE;
}

/* Whether thread TID of process PID runs as UID, from a program executed
 * without gaining privileges, and the environment its process was
 * started with holds STEM_WORKER_PIDFILE=PIDFILE, as start gives each
 * worker (and the processes a worker starts inherit).  Only the
 * process's owner and root may read an environment. */
static gboolean
task_names (pid_t pid, pid_t tid, const char *pidfile, uid_t uid)
{
  if (!task_runs_as (pid, tid, uid) || !task_exec_plain (pid, tid))
    return FALSE;
  char path[64];
  g_snprintf (path, sizeof path, "/proc/%d/task/%d/environ", (int)pid, (int)tid);
  /* Larger than the kernel lets an exec pass: not one we started. */
  g_autoptr (GString) environ = read_proc_file (path, ENVIRON_MAX);
  if (environ == NULL)
    return FALSE;
  g_autofree char *entry = g_strconcat ("STEM_WORKER_PIDFILE=", pidfile, NULL);
  /* NUL-separated; the string ends in one more NUL. */
  for (gsize at = 0; at < environ->len; at += strlen (environ->str + at) + 1)
    if (strcmp (environ->str + at, entry) == 0)
      return TRUE;
  return FALSE;
}

/* task_names for process PID: through its first thread, or, once that
 * thread has exited (leaving the others running), through another. */
static gboolean
environ_names (pid_t pid, const char *pidfile, uid_t uid)
{
  if (task_names (pid, pid, pidfile, uid))
    return TRUE;
  char path[32];
  g_snprintf (path, sizeof path, "/proc/%d/task", (int)pid);
  g_autoptr (GDir) tasks = g_dir_open (path, 0, NULL);
  const char *name;
  while (tasks != NULL && (name = g_dir_read_name (tasks)) != NULL)
    {
      guint64 tid;
      if (g_ascii_string_to_unsigned (name, 10, 2, G_MAXINT, &tid, NULL) && (pid_t)tid != pid)
        return task_names (pid, (pid_t)tid, pidfile, uid);
    }
  return FALSE;
}

/* Whether the process of STAT, which started after CLAIM's pidfile was
 * last written by its mtime, is still the worker the pidfile was written
 * for: the wall clock can have been stepped forward since (an NTP step
 * after a boot without a clock, a resumed virtual machine), which moves
 * every start time read later.  It runs as the worker's user (--uid,
 * else the pidfile's owner: whoever ran start), its environment names
 * the pidfile, and STAT still describes it after that read. */
static gboolean
started_for (pid_t pid, const ProcStat *stat, const StemProcClaim *claim)
{
  uid_t uid = claim->owner;
  ProcStat again;
  return claim->path != NULL
         && (claim->uid_option == NULL || stem_user_lookup_uid (claim->uid_option, &uid))
         && environ_names (pid, claim->path, uid) && read_proc_stat (pid, &again, NULL)
         && again.start_ticks == stat->start_ticks;
}

/* What STAT says of process PID, which CLAIM's pidfile names: dead,
 * another's (started after the pidfile, and not for it), or running as
 * far as STAT can tell.  Its start time in *OUT_START_US. */
static StemProcState
identify (pid_t pid, const ProcStat *stat, const StemProcClaim *claim, gint64 *out_start_us)
{
  *out_start_us = ticks_to_wall_us (stat->start_ticks);
  if (proc_stat_is_dead (stat))
    return STEM_PROC_DEAD;
  /* Older than any pidfile, a kernel thread would pass the time check. */
  if ((stat->flags & PF_KTHREAD) != 0)
    return STEM_PROC_REUSED;
  if (*out_start_us > claim->mtime_us + STEM_PROC_START_TOLERANCE_US
      && !started_for (pid, stat, claim))
    return STEM_PROC_REUSED;
  return STEM_PROC_RUNNING;
}

StemProcState
stem_proc_probe (pid_t pid, const StemProcClaim *claim, gint64 *out_start_us)
{
  /* kill (pid ≤ 0, 0) would address process groups: never. */
  if (pid <= 0)
    return STEM_PROC_DEAD;

  ProcStat stat;
  if (!read_proc_stat (pid, &stat, NULL))
    {
      if (kill_says_gone (pid))
        return STEM_PROC_DEAD;
      /* /proc and kill() disagree: either the PID was reused between the two
       * calls (then /proc now shows the newcomer), or /proc hides the
       * process (hidepid=, unmounted, unreadable) and identity is unknowable. */
      if (!read_proc_stat (pid, &stat, NULL))
        return STEM_PROC_UNKNOWN;
    }

  gint64 start_us;
  StemProcState state = identify (pid, &stat, claim, &start_us);
  if (out_start_us != NULL)
    *out_start_us = start_us;
  if (state != STEM_PROC_RUNNING)
    return state;
  /* Signal 0 to the thread PID of process PID: kill () would accept the
   * ID of any thread, and /proc shows threads under their IDs too, but
   * a pidfile names a process, which is its first thread. */
  if (tgkill (pid, pid, 0) == 0)
    return STEM_PROC_RUNNING;
  switch (errno)
    {
    case EPERM:
      return STEM_PROC_NO_PERMISSION;
    case ESRCH:
      /* Another process's thread (its ID reused since), or gone. */
      return kill (pid, 0) == 0 || errno == EPERM ? STEM_PROC_REUSED : STEM_PROC_DEAD;
    default:
      return STEM_PROC_UNKNOWN;
    }
}

/* This process's grandparent and those above it, following the ppid field
 * of /proc/PID/stat up to PID 1, read once: the chain only ever loses
 * members (an ancestor that exits hands its children to a reaper above
 * it), so a PID found in it later is at worst refused when it need not
 * be.  An ancestor that exits while it is read only ends the walk early;
 * the walk is bounded in case a PID reused under it ever made a cycle. */
static const GArray *
ancestors (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once))
    {
      GArray *chain = g_array_new (FALSE, FALSE, sizeof (pid_t));
      pid_t p = getppid ();
      for (guint depth = 0; p > 1 && depth < 4096; depth++)
        {
          ProcStat stat;
          if (!read_proc_stat (p, &stat, NULL))
            break;
          if (stat.ppid > 1)
            g_array_append_val (chain, stat.ppid);
          p = stat.ppid;
        }
      g_once_init_leave (&once, (gsize)chain);
    }
  return (const GArray *)once;
}

static gboolean
is_ancestor (pid_t pid)
{
  const GArray *chain = ancestors ();
  for (guint i = 0; i < chain->len; i++)
    if (g_array_index (chain, pid_t, i) == pid)
      return TRUE;
  return FALSE;
}

gboolean
stem_proc_check_signallable (pid_t pid, GError **error)
{
  if (pid <= 0)
    return stem_throw (error, _ ("Refusing to signal PID %d: it would address a process group"),
                       (int)pid);
  if (pid == 1)
    return stem_throw (error, _ ("Refusing to signal PID 1 (init)"));
  if (pid == getpid ())
    return stem_throw (error, _ ("Refusing to signal PID %d: it is this process"), (int)pid);
  if (pid == getppid ())
    return stem_throw (error, _ ("Refusing to signal PID %d: it is the parent of this process"),
                       (int)pid);
  if (is_ancestor (pid))
    return stem_throw (error,
                       _ ("Refusing to signal PID %d: it is an ancestor of this process (a "
                          "caller such as a script, above timeout, sudo or a subshell)"),
                       (int)pid);
  if (pid == getsid (0))
    return stem_throw (error,
                       _ ("Refusing to signal PID %d: it leads the session this process runs in"),
                       (int)pid);
  return TRUE;
}

static int
sys_pidfd_open (pid_t pid)
{
  return (int)syscall (__NR_pidfd_open, pid, 0);
}

static int
sys_pidfd_send_signal (int pidfd, int signum)
{
  return (int)syscall (__NR_pidfd_send_signal, pidfd, signum, NULL, 0);
}

static StemProc *
proc_new (pid_t pid, int pidfd, const ProcStat *stat)
{
  StemProc *proc = g_new0 (StemProc, 1);
  proc->pid = pid;
  proc->pidfd = pidfd;
  proc->start_ticks = stat->start_ticks;
  proc->pgid = stat->pgid;
  return proc;
}

StemProc *
stem_proc_open (pid_t pid, gint64 start_us, GError **error)
{
  if (!stem_proc_check_signallable (pid, error))
    return NULL;

  int pidfd = sys_pidfd_open (pid);
  if (pidfd < 0)
    {
      switch (errno)
        {
        case ENOSYS:
        case EPERM: /* a seccomp filter (containers) that does not know the call */
          break;
        case ESRCH:
          stem_throw_code (error, STEM_ERROR_NOT_FOUND, _ ("Process %d does not exist"), (int)pid);
          return NULL;
        case EINVAL: /* a thread, before Linux 6.9 */
        case ENOENT: /* a thread, since */
          stem_throw (error, _ ("PID %d does not name a process (is it a thread?)"), (int)pid);
          return NULL;
        default:
          stem_throw_errno (error, _ ("Cannot open process %d"), (int)pid);
          return NULL;
        }
    }

  /* The start time is read after the pidfd is opened: if it still matches,
   * the pidfd cannot name an earlier holder of the PID either, since START_US
   * was observed before this call. */
  g_autoptr (GError) local_error = NULL;
  ProcStat stat;
  if (!read_proc_stat (pid, &stat, &local_error))
    {
      if (pidfd >= 0)
        close (pidfd);
      if (kill_says_gone (pid))
        stem_throw_code (error, STEM_ERROR_NOT_FOUND, _ ("Process %d does not exist"), (int)pid);
      else
        stem_throw_code (error, STEM_ERROR_PERMISSION,
                         _ ("Cannot establish the identity of process %d: %s"), (int)pid,
                         local_error->message);
      return NULL;
    }

  /* START_US went through the boot-time conversion earlier, so compare to
   * within half a clock tick rather than exactly. */
  gint64 tick_us = G_USEC_PER_SEC / ticks_per_second ();
  gint64 now_start_us = ticks_to_wall_us (stat.start_ticks);
  if (ABS (now_start_us - start_us) > tick_us / 2)
    {
      if (pidfd >= 0)
        close (pidfd);
      stem_throw (error, _ ("PID %d now names another process (it started at a different time)"),
                  (int)pid);
      return NULL;
    }

  return proc_new (pid, pidfd, &stat);
}

/* stem_proc_probe, then stem_proc_open for a running process. */
static StemProcState
probe_then_open (pid_t pid, const StemProcClaim *claim, gint64 *out_start_us, StemProc **out_proc,
                 GError **error)
{
  StemProcState state = stem_proc_probe (pid, claim, out_start_us);
  if (state == STEM_PROC_RUNNING)
    *out_proc = stem_proc_open (pid, *out_start_us, error);
  return state;
}

StemProcState
stem_proc_probe_open (pid_t pid, const StemProcClaim *claim, gint64 *out_start_us,
                      StemProc **out_proc, GError **error)
{
  *out_proc = NULL;
  if (pid <= 1)
    return probe_then_open (pid, claim, out_start_us, out_proc, error);
  int pidfd = sys_pidfd_open (pid);
  if (pidfd < 0 && errno == ESRCH)
    return STEM_PROC_DEAD;
  ProcStat stat;
  if (pidfd < 0 || !read_proc_stat (pid, &stat, NULL))
    {
      /* No pidfd (an old kernel, a seccomp filter) or no /proc entry: the
       * two steps, which tell those cases apart. */
      if (pidfd >= 0)
        close (pidfd);
      return probe_then_open (pid, claim, out_start_us, out_proc, error);
    }

  StemProcState state = identify (pid, &stat, claim, out_start_us);
  /* The entry read is the pidfd's process if that process exists after
   * the read: its PID could not be another's meanwhile.  Signal 0 says
   * so, and whether it may be signalled; a refusal may also be a seccomp
   * filter's, which the two steps tell apart. */
  if (state == STEM_PROC_RUNNING && sys_pidfd_send_signal (pidfd, 0) < 0)
    {
      int errsv = errno;
      close (pidfd);
      if (errsv == ESRCH)
        return STEM_PROC_DEAD;
      return probe_then_open (pid, claim, out_start_us, out_proc, error);
    }
  if (state != STEM_PROC_RUNNING || !stem_proc_check_signallable (pid, error))
    {
      close (pidfd);
      return state;
    }
  *out_proc = proc_new (pid, pidfd, &stat);
  return state;
}

void
stem_proc_free (StemProc *proc)
{
  if (proc == NULL)
    return;
  if (proc->pidfd >= 0)
    close (proc->pidfd);
  g_free (proc);
}

pid_t
stem_proc_get_pid (StemProc *proc)
{
  return proc->pid;
}

int
stem_proc_get_fd (StemProc *proc)
{
  return proc->pidfd;
}

/* Without a pidfd: TRUE when /proc shows that PROC is gone, a zombie, or
 * that its PID now belongs to a process that started at another time. */
static gboolean
proc_gone_by_pid (StemProc *proc)
{
  ProcStat stat;
  if (read_proc_stat (proc->pid, &stat, NULL))
    return stat.start_ticks != proc->start_ticks || proc_stat_is_dead (&stat);
  return kill_says_gone (proc->pid);
}

gboolean
stem_proc_signal (StemProc *proc, int signum, GError **error)
{
  /* Through its pidfd, PROC is the process checked against the
   * never-signal list when it was opened: it cannot have become this
   * process, an ancestor or the session leader since.  By PID it is
   * checked again, as the PID may now be another's. */
  if (proc->pidfd >= 0)
    {
      if (sys_pidfd_send_signal (proc->pidfd, signum) == 0)
        return TRUE;
      int errsv = errno;
      if (errsv == ESRCH)
        {
          proc->exited = TRUE;
          return TRUE;
        }
      /* A seccomp filter may allow pidfd_open but refuse pidfd_send_signal
       * (ENOSYS or EPERM).  A real EPERM comes back from kill() below. */
      if (errsv != ENOSYS && errsv != EPERM)
        {
          errno = errsv;
          return stem_throw_errno (error, _ ("Cannot send signal %d to process %d"), signum,
                                   (int)proc->pid);
        }
    }

  /* Without a pidfd, the PID is re-identified right before kill(); the
   * window between the two calls is the best the kernel offers here. */
  if (proc->exited || proc_gone_by_pid (proc))
    {
      proc->exited = TRUE;
      return TRUE;
    }
  if (!stem_proc_check_signallable (proc->pid, error))
    return FALSE;
  if (kill (proc->pid, signum) < 0)
    {
      if (errno == ESRCH)
        {
          proc->exited = TRUE;
          return TRUE;
        }
      return stem_throw_errno (error, _ ("Cannot send signal %d to process %d"), signum,
                               (int)proc->pid);
    }
  return TRUE;
}

void
stem_proc_drop_fd (StemProc *proc)
{
  if (proc->exited && proc->pidfd >= 0)
    {
      close (proc->pidfd);
      proc->pidfd = -1;
    }
}

/* PROC's parent as /proc says now; 0 when that cannot be read (gone, or
 * its PID is another process's). */
static pid_t
proc_parent (StemProc *proc)
{
  ProcStat stat;
  if (!read_proc_stat (proc->pid, &stat, NULL) || stat.start_ticks != proc->start_ticks)
    return 0;
  return stat.ppid;
}

gboolean
stem_proc_held_back (StemProc *proc, GHashTable *running)
{
  pid_t parent = proc_parent (proc);
  return parent > 0 && g_hash_table_contains (running, GINT_TO_POINTER ((int)parent));
}

/* Whether PROC ignores SIGNUM; FALSE when that cannot be read.  A hint
 * for which signal to send, never a reason to send one. */
static gboolean
proc_ignores (StemProc *proc, int signum)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int)proc->pid);
  g_autofree char *text = NULL;
  if (signum < 1 || signum > 64 || !g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  const char *line = strstr (text, "\nSigIgn:");
  if (line == NULL)
    return FALSE;
  guint64 mask = g_ascii_strtoull (line + strlen ("\nSigIgn:"), NULL, 16);
  return (mask >> (signum - 1) & 1) != 0;
}

gboolean
stem_proc_signal_leftover (StemProc *proc, int signum, GError **error)
{
  /* A shell's background job inherits both SIGINT and SIGQUIT ignored; a
   * process that ignores only one of them chose to (Celery's pool ignores
   * SIGINT, and SIGTERM would kill it and its task at once). */
  gboolean ignored = signum != SIGTERM && signum != SIGKILL && proc_ignores (proc, signum);
  if (ignored && (signum == SIGINT || signum == SIGQUIT))
    ignored = proc_ignores (proc, signum == SIGINT ? SIGQUIT : SIGINT);
  if (ignored)
    signum = SIGTERM;
  return stem_proc_signal (proc, signum, error);
}

char *
stem_proc_describe_exit (const siginfo_t *info, gboolean *out_clean)
{
  if (info->si_code == CLD_EXITED)
    {
      *out_clean = info->si_status == 0;
      return g_strdup_printf (_ ("exited with status %d"), info->si_status);
    }
  int sig = info->si_status;
  *out_clean = sig == SIGTERM || sig == SIGINT || sig == SIGQUIT || sig == SIGHUP;
  const char *name = stem_signal_name (sig);
  if (name != NULL)
    return g_strdup_printf (_ ("killed by SIG%s"), name);
  return g_strdup_printf (_ ("killed by signal %d"), sig);
}

gboolean
stem_proc_child_exit (pid_t pid, siginfo_t *out_info)
{
  memset (out_info, 0, sizeof *out_info);
  int rc;
  do
    rc = waitid (P_PID, (id_t)pid, out_info, WEXITED | WNOHANG | WNOWAIT);
  while (rc < 0 && errno == EINTR);
  return rc == 0 && out_info->si_pid == pid;
}

gboolean
stem_proc_has_exited (StemProc *proc)
{
  if (proc->exited)
    return TRUE;

  /* A pidfd becomes readable when the process exits, not when it is reaped. */
  if (proc->pidfd >= 0)
    {
      struct pollfd pfd = { .fd = proc->pidfd, .events = POLLIN };
      int ready;
      do
        ready = poll (&pfd, 1, 0);
      while (ready < 0 && errno == EINTR);
      if (ready > 0 && (pfd.revents & (POLLIN | POLLHUP)) != 0)
        proc->exited = TRUE;
      else
        {
          ProcStat stat;
          if (read_proc_stat (proc->pid, &stat, NULL))
            proc->exited = stat.start_ticks != proc->start_ticks || proc_stat_is_dead (&stat);
        }
    }
  else
    proc->exited = proc_gone_by_pid (proc);
  return proc->exited;
}

/* The monotonic deadline TIMEOUT_MS after NOW_US; STEM_DURATION_FOREVER
 * never comes. */
static gint64
deadline_after (gint64 now_us, gint64 timeout_ms)
{
  if (timeout_ms == STEM_DURATION_FOREVER || timeout_ms > (G_MAXINT64 - now_us) / 1000 - 1)
    return G_MAXINT64;
  return now_us + MAX (timeout_ms, 0) * 1000;
}

static int
poll_timeout_ms (gint64 deadline_us, gint64 now_us, gboolean fallback)
{
  int timeout = -1;
  if (deadline_us != G_MAXINT64)
    {
      /* Rounded up, or poll() would return just before the deadline. */
      gint64 ms = (MAX (deadline_us - now_us, 0) + 999) / 1000;
      timeout = (int)MIN (ms, G_MAXINT);
    }
  if (fallback && (timeout < 0 || timeout > STEM_PROC_FALLBACK_POLL_MS))
    timeout = STEM_PROC_FALLBACK_POLL_MS;
  return timeout;
}

gboolean
stem_proc_wait (StemProc *proc, gint64 timeout_ms)
{
  gint64 deadline = deadline_after (g_get_monotonic_time (), timeout_ms);
  for (;;)
    {
      if (stem_proc_has_exited (proc))
        return TRUE;
      gint64 now = g_get_monotonic_time ();
      if (now >= deadline)
        return FALSE;
      struct pollfd pfd = { .fd = proc->pidfd, .events = POLLIN };
      int timeout = poll_timeout_ms (deadline, now, proc->pidfd < 0);
      if (poll (&pfd, proc->pidfd >= 0 ? 1 : 0, timeout) < 0 && errno != EINTR)
        return stem_proc_has_exited (proc);
    }
}

typedef struct
{
  guint step;
  gint64 deadline;
  gboolean active;
  gboolean held;    /* top down: the first signal waits for its parent to exit */
  gboolean done;    /* told to PROGRESS and EXITED */
  gboolean hurried; /* top down: sent SIGKILL for stem_proc_hurry_on_signals */
} StopState;

/* ---- an interrupted end of what workers left ------------------------------ */

static volatile sig_atomic_t hurry_signal;
static struct sigaction hurry_saved[3];
static const int hurry_signals[3] = { SIGINT, SIGTERM, SIGHUP };
/* While hurrying: the mask before.  The signals are blocked but in the
 * wait (ppoll), so that one that comes after the look at HURRY_SIGNAL
 * cannot be missed until the wait's end. */
static sigset_t hurry_mask;
static gboolean hurry_active;

static void
on_hurry_signal (int sig)
{
  if (hurry_signal == 0)
    hurry_signal = sig;
}

int
stem_proc_hurry_on_signals (gboolean on)
{
  if (on)
    {
      hurry_signal = 0;
      /* Without SA_RESTART: the wait (poll) returns at once. */
      struct sigaction action = { .sa_handler = on_hurry_signal };
      sigemptyset (&action.sa_mask);
      sigset_t handled;
      sigemptyset (&handled);
      for (guint i = 0; i < G_N_ELEMENTS (hurry_signals); i++)
        {
          sigaction (hurry_signals[i], NULL, &hurry_saved[i]);
          /* One our caller ignores (nohup, a shell's background job's
           * SIGINT) stays ignored. */
          if (hurry_saved[i].sa_handler == SIG_IGN)
            continue;
          sigaction (hurry_signals[i], &action, NULL);
          sigaddset (&handled, hurry_signals[i]);
        }
      sigprocmask (SIG_BLOCK, &handled, &hurry_mask);
      hurry_active = TRUE;
      return 0;
    }
  /* What is pending comes now, to the handler, before the dispositions
   * are put back. */
  sigprocmask (SIG_SETMASK, &hurry_mask, NULL);
  hurry_active = FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (hurry_signals); i++)
    sigaction (hurry_signals[i], &hurry_saved[i], NULL);
  return hurry_signal;
}

/* Top down, once hurried: SIGKILL to each process of PROCS still waited
 * for. */
static void
hurry (GPtrArray *procs, StopState *states)
{
  for (guint i = 0; i < procs->len; i++)
    {
      StemProc *proc = procs->pdata[i];
      if (!states[i].active || states[i].hurried || proc->exited)
        continue;
      states[i].hurried = TRUE;
      states[i].held = FALSE;
      if (!stem_proc_signal_leftover (proc, SIGKILL, NULL))
        states[i].active = FALSE;
    }
}

/* Whether PROC is known to have exited, without a look at each process
 * in turn: stem_proc_stop_all_shown marks those whose pidfd its poll found
 * readable; only a process without a pidfd is asked about by PID. */
static gboolean
exited_as_polled (StemProc *proc)
{
  if (!proc->exited && proc->pidfd < 0)
    proc->exited = proc_gone_by_pid (proc);
  return proc->exited;
}

/* A signal of the schedule; TOP_DOWN: to a process a worker left. */
static gboolean
send_step (StemProc *proc, gboolean top_down, int signum)
{
  if (top_down)
    return stem_proc_signal_leftover (proc, signum, NULL);
  return stem_proc_signal (proc, signum, NULL);
}

/* One process of a stop: TRUE while it is still to be waited for (its
 * next step's signal sent when the step before has run out).  *OUT_RESULT
 * gets the step it exited in. */
static gboolean
advance (StemProc *proc, StopState *state, GArray *steps, gboolean top_down, gint64 now,
         int *out_result)
{
  if (!state->active)
    return FALSE;
  if (exited_as_polled (proc))
    {
      *out_result = (int)state->step;
      state->active = FALSE;
      return FALSE;
    }
  if (state->deadline <= now && state->held && steps->len == 1)
    {
      /* Held back past the only step: there is no next signal to go on
       * with, so it gets the first, and that step's time. */
      const StemScheduleStep *first = &g_array_index (steps, StemScheduleStep, 0);
      state->held = FALSE;
      if (!send_step (proc, top_down, first->signum))
        {
          state->active = FALSE;
          return FALSE;
        }
      state->deadline = deadline_after (now, first->timeout_ms);
    }
  else if (state->deadline <= now)
    {
      /* One held back past the first step goes on with the others. */
      state->held = FALSE;
      state->step++;
      const StemScheduleStep *step
          = state->step < steps->len ? &g_array_index (steps, StemScheduleStep, state->step) : NULL;
      /* The schedule has run out, or the process may not be signalled. */
      if (step == NULL || !send_step (proc, top_down, step->signum))
        {
          state->active = FALSE;
          return FALSE;
        }
      state->deadline = deadline_after (now, step->timeout_ms);
    }
  return TRUE;
}

/* Top down: the first signal of the schedule, to each process of PROCS
 * still held back whose parent is no longer a running process of PROCS.
 * FIRST_TIME: every process is looked at (none has been signalled yet). */
static void
release_held (GPtrArray *procs, StopState *states, const StemScheduleStep *first,
              gboolean first_time)
{
  for (gboolean again = TRUE; again; first_time = FALSE)
    {
      again = FALSE;
      g_autoptr (GHashTable) running = g_hash_table_new (NULL, NULL);
      gboolean any_held = first_time;
      for (guint i = 0; i < procs->len; i++)
        {
          any_held |= states[i].held;
          /* One we may not signal is not waited for to end its children. */
          if (states[i].active && !exited_as_polled (procs->pdata[i]))
            g_hash_table_add (running, GINT_TO_POINTER ((int)stem_proc_get_pid (procs->pdata[i])));
        }
      if (!any_held)
        return;
      for (guint i = 0; i < procs->len; i++)
        {
          StemProc *proc = procs->pdata[i];
          if ((!first_time && !states[i].held) || !states[i].active || proc->exited)
            continue;
          states[i].held = stem_proc_held_back (proc, running);
          /* A process we may not signal would only outlive the schedule;
           * what it holds back is looked at again. */
          if (!states[i].held && !stem_proc_signal_leftover (proc, first->signum, NULL))
            {
              states[i].active = FALSE;
              again = TRUE;
            }
        }
    }
}

/* Waits up to TIMEOUT ms (< 0: no limit) for one of the NFDS pidfds of
 * PFDS, each of the process at the same index of POLLED, to become
 * readable (its process has exited), or for a signal; marks the processes
 * found exited.  While hurrying, the hurry signals come in only here.
 * FALSE (errno) when the wait itself failed. */
static gboolean
wait_for_exits (struct pollfd *pfds, StemProc **polled, nfds_t nfds, int timeout)
{
  int ready;
  if (hurry_active)
    {
      struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000 };
      ready = ppoll (pfds, nfds, timeout < 0 ? NULL : &ts, &hurry_mask);
    }
  else
    ready = poll (pfds, nfds, timeout);
  if (ready < 0)
    return errno == EINTR;
  for (nfds_t k = 0; k < nfds && ready > 0; k++)
    if ((pfds[k].revents & (POLLIN | POLLHUP)) != 0)
      polled[k]->exited = TRUE;
  return TRUE;
}

static gboolean
stop_all (GPtrArray *procs, GArray *steps, gboolean send_first, gboolean top_down,
          StemProgress *progress, StemProcExitedFunc exited, gpointer user_data, int *out_results,
          GError **error)
{
  if (steps->len == 0)
    return stem_throw (error, _ ("The stop schedule is empty"));

  guint n = procs->len;
  g_autofree StopState *states = g_new0 (StopState, n);
  g_autofree struct pollfd *pfds = g_new0 (struct pollfd, n);
  g_autofree StemProc **polled = g_new0 (StemProc *, n); /* whose pidfd is in PFDS */
  gint64 start = g_get_monotonic_time ();
  const StemScheduleStep *first = &g_array_index (steps, StemScheduleStep, 0);

  for (guint i = 0; i < n; i++)
    {
      StemProc *proc = g_ptr_array_index (procs, i);
      out_results[i] = -1;
      states[i].active = TRUE;
      states[i].deadline = deadline_after (start, first->timeout_ms);
      /* A process we may not signal would only outlive the schedule. */
      if (send_first && !top_down && !stem_proc_signal (proc, first->signum, NULL))
        states[i].active = FALSE;
    }
  if (top_down)
    release_held (procs, states, first, TRUE);

  for (gboolean looked = TRUE;; looked = FALSE)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 next_deadline = G_MAXINT64;
      gboolean fallback = FALSE;
      nfds_t nfds = 0;

      /* What the ones that exited left running is theirs no longer. */
      if (top_down && !looked)
        release_held (procs, states, first, FALSE);
      if (top_down && hurry_signal != 0)
        hurry (procs, states);

      for (guint i = 0; i < n; i++)
        {
          StemProc *proc = g_ptr_array_index (procs, i);
          if (!advance (proc, &states[i], steps, top_down, now, &out_results[i]))
            {
              if (!states[i].done)
                {
                  states[i].done = TRUE;
                  stem_progress_done (progress, i);
                  if (exited != NULL && out_results[i] >= 0)
                    exited (i, user_data);
                }
              continue;
            }
          next_deadline = MIN (next_deadline, states[i].deadline);
          if (proc->pidfd >= 0)
            {
              polled[nfds] = proc;
              pfds[nfds++] = (struct pollfd){ .fd = proc->pidfd, .events = POLLIN };
            }
          else
            fallback = TRUE;
        }

      if (nfds == 0 && !fallback)
        return TRUE;
      stem_progress_update (progress);
      int timeout = poll_timeout_ms (next_deadline, now, fallback);
      int redraw = stem_progress_timeout_ms (progress);
      if (redraw >= 0 && (timeout < 0 || redraw < timeout))
        timeout = redraw;
      if (!wait_for_exits (pfds, polled, nfds, timeout))
        return stem_throw_errno (error, _ ("Cannot wait for processes to exit"));
    }
}

gboolean
stem_proc_stop_all (GPtrArray *procs, GArray *steps, gboolean send_first, int *out_results,
                    GError **error)
{
  return stop_all (procs, steps, send_first, FALSE, NULL, NULL, NULL, out_results, error);
}

gboolean
stem_proc_stop_all_shown (GPtrArray *procs, GArray *steps, gboolean send_first,
                          StemProgress *progress, StemProcExitedFunc exited, gpointer user_data,
                          int *out_results, GError **error)
{
  return stop_all (procs, steps, send_first, FALSE, progress, exited, user_data, out_results,
                   error);
}

gboolean
stem_proc_stop_tree (GPtrArray *procs, GArray *steps, int *out_results, GError **error)
{
  return stop_all (procs, steps, TRUE, TRUE, NULL, NULL, NULL, out_results, error);
}

char *
stem_proc_unit (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/cgroup", (int)pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  /* "0::/system.slice/stem-worker@alpha.service" (cgroup v2), or a v1
   * hierarchy's line: the service is the innermost ".service" component. */
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *cgroup = strchr (lines[i], '/');
      if (cgroup == NULL)
        continue;
      g_auto (GStrv) parts = g_strsplit (cgroup, "/", -1);
      for (guint j = g_strv_length (parts); j-- > 0;)
        if (g_str_has_suffix (parts[j], ".service"))
          return g_strdup (parts[j]);
    }
  return NULL;
}

/* ---- what a worker leaves in its process group ----------------------------
 *
 * stop may end the processes a worker left in the process group it led
 * (start makes every worker the leader of a group of its own, so the
 * group's id is the worker's PID, W), but never a group that may since
 * have been created anew by another process that got the number W.  What
 * the kernel guarantees: a number in use as a PID, a process group id or a
 * session id is never handed out as a new PID, and only the process whose
 * PID is W can create a group W (setpgid (0, 0), setsid).  So:
 *
 *  - While the worker's task exists (alive or a zombie not yet reaped,
 *    which pidfd_send_signal (pidfd, 0) tells without any doubt about
 *    reuse), W is its PID, and every process whose /proc entry says
 *    pgid W is in the group the worker made.  Once it has been reaped,
 *    the group lives on only as long as a member remains, and a process
 *    with pgid W may belong to a new group W of someone else's.
 *  - A process found in group W after the worker is gone is therefore
 *    taken only when its parent (field 4 of its /proc entry, read after
 *    its pidfd was opened) is a process already taken, whose pidfd was
 *    opened before that read and whose task still exists after it: then
 *    that PID was the member's all along, and the process is its child.
 *
 * Each scan first reads every candidate (opening a pidfd on it and reading
 * its entry again, so the identity that is checked is the one that will
 * be signalled), then checks the proof, so that a proof always comes after
 * what it proves.  A process that escapes the group (setpgid, setsid) or
 * whose parent was never seen (an orphan of an orphan that died between
 * two scans) is left alone: stop errs on the side of signalling nothing. */
struct _StemProcGroup
{
  StemProc *leader;    /* not owned */
  GPtrArray *members;  /* StemProc *, in the order found */
  guint index;         /* in the array of the current collect */
  gboolean incomplete; /* the last collect could not open some process of it */
};

/* TRUE while PROC's task exists, a zombie included: its PID is its own. */
static gboolean
task_exists (StemProc *proc)
{
  if (proc->pidfd >= 0)
    {
      if (sys_pidfd_send_signal (proc->pidfd, 0) == 0)
        return TRUE;
      if (errno == ESRCH)
        return FALSE;
      /* EPERM (another user's, or a seccomp filter), ENOSYS: ask /proc. */
    }
  ProcStat stat;
  return read_proc_stat (proc->pid, &stat, NULL) && stat.start_ticks == proc->start_ticks;
}

StemProcGroup *
stem_proc_group_new (StemProc *leader)
{
  /* Its group as read after its pidfd was opened, in a read proven to be
   * of that process (stem_proc_open, stem_proc_probe_open).  Whether the
   * group is still its own is for each scan to prove. */
  if (leader->pgid != leader->pid)
    return NULL;
  StemProcGroup *group = g_new0 (StemProcGroup, 1);
  group->leader = leader;
  group->members = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_proc_free);
  return group;
}

void
stem_proc_group_free (StemProcGroup *group)
{
  if (group == NULL)
    return;
  g_ptr_array_unref (group->members);
  g_free (group);
}

GPtrArray *
stem_proc_group_members (StemProcGroup *group)
{
  return group->members;
}

gboolean
stem_proc_group_is_empty (StemProcGroup *group)
{
  for (guint i = 0; i < group->members->len; i++)
    if (!stem_proc_has_exited (group->members->pdata[i]))
      return FALSE;
  /* No process is left in group W (the leader included, as a zombie):
   * nothing the worker made can join it again, and whatever makes a group
   * W later is someone else's. */
  return kill (-group->leader->pid, 0) < 0 && errno == ESRCH;
}

gboolean
stem_proc_group_is_incomplete (StemProcGroup *group)
{
  return group->incomplete;
}

/* Whether ERRNO says a process could not be looked at for want of
 * descriptors or memory: it exists, but was not seen. */
static gboolean
errno_is_want (int errsv)
{
  return errsv == EMFILE || errsv == ENFILE || errsv == ENOMEM;
}

static gboolean
is_member (StemProcGroup *group, pid_t pid, guint64 start_ticks, guint n_members)
{
  for (guint i = 0; i < n_members; i++)
    {
      StemProc *m = group->members->pdata[i];
      if (m->pid == pid && m->start_ticks == start_ticks)
        return TRUE;
    }
  return FALSE;
}

/* A process with pgid W not yet taken: opened, and its parent as read after
 * the pidfd was opened. */
typedef struct
{
  StemProcGroup *group;
  StemProc *proc;
  pid_t ppid;
} Candidate;

static StemProc *
open_candidate (StemProcGroup *group, pid_t pid, const ProcStat *seen, pid_t *out_ppid)
{
  pid_t w = group->leader->pid;
  if (proc_stat_is_dead (seen) || is_member (group, pid, seen->start_ticks, group->members->len))
    return NULL;
  errno = 0;
  StemProc *proc = stem_proc_open (pid, ticks_to_wall_us (seen->start_ticks), NULL);
  if (proc == NULL)
    {
      /* Gone, or on the never-signal list; or not opened at all. */
      group->incomplete = group->incomplete || errno_is_want (errno);
      return NULL;
    }
  ProcStat stat;
  if (!read_proc_stat (pid, &stat, NULL) || stat.start_ticks != proc->start_ticks || stat.pgid != w)
    {
      stem_proc_free (proc);
      return NULL;
    }
  *out_ppid = stat.ppid;
  return proc;
}

/* One pass over /proc for all GROUPS (keyed by their leaders' PIDs). */
static GArray *
scan_candidates (GHashTable *groups)
{
  GArray *candidates = g_array_new (FALSE, FALSE, sizeof (Candidate));
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, NULL);
  if (dir == NULL && errno_is_want (errno))
    {
      GHashTableIter iter;
      gpointer group;
      g_hash_table_iter_init (&iter, groups);
      while (g_hash_table_iter_next (&iter, NULL, &group))
        ((StemProcGroup *)group)->incomplete = TRUE;
    }
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      guint64 pid;
      ProcStat stat;
      if (!g_ascii_string_to_unsigned (name, 10, 2, G_MAXINT32, &pid, NULL)
          || g_hash_table_contains (groups, GINT_TO_POINTER ((int)pid)))
        continue;
      /* Most processes are in none of GROUPS: getpgid () tells in one
       * system call, where reading the entry takes three and the kernel's
       * formatting of fifty fields.  The entry read next still decides;
       * where getpgid () is refused (by a security module), it
       * alone does. */
      pid_t pgid = getpgid ((pid_t)pid);
      if (pgid >= 0 ? !g_hash_table_contains (groups, GINT_TO_POINTER ((int)pgid)) : errno == ESRCH)
        continue;
      if (!read_proc_stat ((pid_t)pid, &stat, NULL))
        {
          StemProcGroup *group
              = pgid >= 0 ? g_hash_table_lookup (groups, GINT_TO_POINTER ((int)pgid)) : NULL;
          if (group != NULL && errno_is_want (errno))
            group->incomplete = TRUE;
          continue;
        }
      Candidate c = { g_hash_table_lookup (groups, GINT_TO_POINTER ((int)stat.pgid)), NULL, 0 };
      if (c.group != NULL
          && (c.proc = open_candidate (c.group, (pid_t)pid, &stat, &c.ppid)) != NULL)
        g_array_append_val (candidates, c);
    }
  return candidates;
}

/* Whether C's parent is one of the first N_BEFORE members of its group and
 * still exists. */
static gboolean
parent_is_member (const Candidate *c, guint n_before)
{
  for (guint j = 0; j < n_before; j++)
    {
      StemProc *m = c->group->members->pdata[j];
      if (m->pid == c->ppid)
        return task_exists (m);
    }
  return FALSE;
}

guint
stem_proc_groups_collect (GPtrArray *groups)
{
  g_autoptr (GHashTable) by_leader = g_hash_table_new (NULL, NULL);
  g_autofree guint *n_before = g_new (guint, MAX (groups->len, 1));
  for (guint i = 0; i < groups->len; i++)
    {
      StemProcGroup *group = groups->pdata[i];
      g_hash_table_insert (by_leader, GINT_TO_POINTER ((int)group->leader->pid), group);
      n_before[i] = group->members->len;
      group->index = i;
      group->incomplete = FALSE;
    }
  g_autoptr (GArray) candidates = scan_candidates (by_leader);
  /* The proofs are checked after every candidate was read (see above),
   * for the groups that have any (-1: not yet). */
  g_autofree gint8 *leader_there = g_new (gint8, MAX (groups->len, 1));
  memset (leader_there, -1, MAX (groups->len, 1));
  guint added = 0;
  for (guint i = 0; i < candidates->len; i++)
    {
      Candidate *c = &g_array_index (candidates, Candidate, i);
      guint g = c->group->index;
      if (leader_there[g] < 0)
        leader_there[g] = task_exists (c->group->leader);
      if (leader_there[g] || parent_is_member (c, n_before[g]))
        {
          g_ptr_array_add (c->group->members, c->proc);
          added++;
        }
      else
        stem_proc_free (c->proc);
    }
  return added;
}
