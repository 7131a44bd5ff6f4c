#pragma once

#include <glib.h>
#include <signal.h>
#include <sys/types.h>

#include "stem-progress.h"

G_BEGIN_DECLS

/* How close a process start may follow its pidfile's mtime and still be ours:
 * clock granularity (jiffies, boot-time rounding), not a policy knob. */
#define STEM_PROC_START_TOLERANCE_US (G_USEC_PER_SEC)

typedef enum
{
  STEM_PROC_RUNNING,       /* exists, not a zombie, started no later than its pidfile */
  STEM_PROC_DEAD,          /* no such process, or a zombie */
  STEM_PROC_REUSED,        /* exists but is not ours: started after the pidfile was
                              written, a kernel thread, or another process's
                              thread */
  STEM_PROC_NO_PERMISSION, /* alive and ours by identity, but kill(pid, 0) says EPERM */
  STEM_PROC_UNKNOWN,       /* /proc unreadable: identity cannot be established */
} StemProcState;

const char *stem_proc_state_to_string (StemProcState state);

/* When this boot began, in µs since the epoch, on the wall clock as it
 * reads now (a clock stepped since the boot moves it). */
gint64 stem_proc_boot_time_us (void);

/* Start time of PID as µs since the epoch (from /proc/PID/stat field 22 and the
 * boot time).  STEM_ERROR_NOT_FOUND when the process does not exist. */
gboolean stem_proc_start_time (pid_t pid, gint64 *out_start_us, GError **error);

/* TRUE when /proc/PID/stat says zombie or dead ('Z', 'X', 'x'), or the process
 * is gone. */
gboolean stem_proc_is_dead (pid_t pid);

/* What a pidfile says of the process it names. */
typedef struct
{
  gint64 mtime_us;        /* when the pidfile was last written, µs since the epoch */
  const char *path;       /* the pidfile, as start gave it to the worker; or NULL */
  const char *uid_option; /* --uid, the worker's user, as given; or NULL */
  uid_t owner;            /* the pidfile's owner: the worker's user without --uid */
} StemProcClaim;

/* Classifies PID from what its pidfile says (CLAIM).  A process that
 * started after the pidfile was written is another's, unless it runs as
 * the worker's user (--uid, else the pidfile's owner) and its
 * environment names CLAIM's path as its STEM_WORKER_PIDFILE: the wall
 * clock may have been stepped forward since.  That is looked at only
 * then; only the process's owner and root may.  OUT_START_US (may be
 * NULL) receives the start time when the process exists. */
StemProcState stem_proc_probe (pid_t pid, const StemProcClaim *claim, gint64 *out_start_us);

/* The never-signal list: PID ≤ 1, ourselves, our ancestors (a script that
 * runs us under timeout, sudo or in a subshell), the leader of our session.
 * STEM_ERROR_FAILED with a message saying which. */
gboolean stem_proc_check_signallable (pid_t pid, GError **error);

/* A handle on one process that stays valid if the PID is reused: a pidfd
 * where the kernel has them (Linux ≥ 5.3), else the PID plus its start time,
 * re-checked before every signal. */
typedef struct _StemProc StemProc;

/* Opens PID, which must be the process that started at START_US (re-checked
 * after the pidfd is opened, closing the race with PID reuse).
 * STEM_ERROR_NOT_FOUND if it is gone, STEM_ERROR_FAILED if it is someone else. */
StemProc *stem_proc_open (pid_t pid, gint64 start_us, GError **error);
/* stem_proc_probe and, for a running process, stem_proc_open, in one look
 * at /proc: the process is opened first and identified after.
 * *OUT_START_US must be given.  *OUT_PROC is set for STEM_PROC_RUNNING,
 * unless the process may not be signalled (the never-signal list) or is
 * gone: then NULL and ERROR, as stem_proc_open's. */
StemProcState stem_proc_probe_open (pid_t pid, const StemProcClaim *claim, gint64 *out_start_us,
                                    StemProc **out_proc, GError **error);
void stem_proc_free (StemProc *proc);
pid_t stem_proc_get_pid (StemProc *proc);

/* Sends SIGNUM: through the pidfd to the process that was opened, else by
 * PID after checking the never-signal list again.  A process that has
 * already exited is success. */
gboolean stem_proc_signal (StemProc *proc, int signum, GError **error);

/* TRUE once the process has exited (a zombie has exited). Never blocks. */
gboolean stem_proc_has_exited (StemProc *proc);

/* Closes PROC's pidfd once stem_proc_has_exited has said it exited: a
 * caller that holds many saves the descriptors.  Nothing else changes. */
void stem_proc_drop_fd (StemProc *proc);

/* How a process exited, from the siginfo_t of waitid (): "exited with
 * status N", "killed by SIGNAME".  *OUT_CLEAN: it exited with status 0,
 * or was killed by a stop signal (SIGTERM, SIGINT, SIGQUIT, SIGHUP). */
char *stem_proc_describe_exit (const siginfo_t *info, gboolean *out_clean);

/* How our child PID exited, left unreaped (WNOWAIT): FALSE when it has
 * not exited or is not our child. */
gboolean stem_proc_child_exit (pid_t pid, siginfo_t *out_info);

/* The top-down rule of ending what a worker left: whether PROC is to be
 * left to its parent, that parent being one of RUNNING (a set of PIDs,
 * GINT_TO_POINTER, of the processes being ended that still run).  A
 * Celery master ends its pool warm; a signal to the pool itself would
 * kill its tasks. */
gboolean stem_proc_held_back (StemProc *proc, GHashTable *running);

/* stem_proc_signal for a process a worker left: SIGNUM, or SIGTERM when
 * PROC ignores SIGNUM (SIG_IGN in /proc/PID/status), which then gets a
 * warm shutdown rather than nothing until SIGKILL.  For SIGINT and
 * SIGQUIT, only when it ignores both, as a shell's background job does:
 * one that ignores SIGINT alone, as Celery's pool does, is left to finish
 * its task. */
gboolean stem_proc_signal_leftover (StemProc *proc, int signum, GError **error);

/* A file descriptor that becomes readable (POLLIN) when the process exits,
 * or -1 where pidfds are unavailable (then poll with a short timeout and ask
 * stem_proc_has_exited). */
int stem_proc_get_fd (StemProc *proc);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemProc, stem_proc_free)

/* Runs every process in PROCS (StemProc *) through the stop schedule STEPS
 * (StemScheduleStep) concurrently: each gets the first signal at once, then
 * the next signal when its step's timeout expires, until it exits or the
 * schedule ends.  Event-driven (poll on pidfds).  When SEND_FIRST is FALSE
 * the first signal is assumed already sent.  OUT_RESULTS receives, per
 * process, the index of the step during which it exited, or -1 when it
 * survived the whole schedule.  Returns FALSE only when waiting itself failed. */
gboolean stem_proc_stop_all (GPtrArray *procs, GArray *steps, gboolean send_first, int *out_results,
                             GError **error);
/* Told, once, that process INDEX of a stop has exited, while the others
 * may still be stopping. */
typedef void (*StemProcExitedFunc) (guint index, gpointer user_data);

/* stem_proc_stop_all, keeping PROGRESS (may be NULL; its nodes are PROCS'
 * indexes) up to date: a process is done once it exits or is given up;
 * EXITED (may be NULL) is called with USER_DATA as each one exits. */
gboolean stem_proc_stop_all_shown (GPtrArray *procs, GArray *steps, gboolean send_first,
                                   StemProgress *progress, StemProcExitedFunc exited,
                                   gpointer user_data, int *out_results, GError **error);

/* stem_proc_stop_all (SEND_FIRST) of the processes workers left, from
 * the top down (stem_proc_held_back): a process whose parent is a running
 * process of PROCS gets the first signal only once that parent has
 * exited, or with the second signal when the first step runs out, as
 * every other process does (with a one-step schedule: the first signal
 * then, and the step's time again).  Each signal is sent with
 * stem_proc_signal_leftover. */
gboolean stem_proc_stop_tree (GPtrArray *procs, GArray *steps, int *out_results, GError **error);

/* With ON, SIGINT, SIGTERM and SIGHUP (those not ignored) no longer end
 * this process: the first one makes stem_proc_stop_tree send SIGKILL at
 * once to every process it still waits for (and a later call, to each it
 * is given).
 * What a worker left is found again by nobody once the call that ends it
 * is gone, so an interrupted call ends it before it goes.  Without ON,
 * the dispositions are as they were; returns the signal that came
 * meanwhile, or 0. */
int stem_proc_hurry_on_signals (gboolean on);

/* Waits until PROC exits or TIMEOUT_MS passes (event-driven).  Returns TRUE
 * if it exited. */
gboolean stem_proc_wait (StemProc *proc, gint64 timeout_ms);

/* The systemd service whose cgroup PID is in ("stem-worker@alpha.service"),
 * from /proc/PID/cgroup; NULL when it is in none (or PID is gone).  A hint
 * about where a process logs, never a reason to signal it. */
char *stem_proc_unit (pid_t pid);

/* The processes a worker left in the process group it leads: see the
 * comment in stem-process.c for why a group found this way cannot be a
 * reused one. */
typedef struct _StemProcGroup StemProcGroup;

/* A group for LEADER, which must have led its own process group when it
 * was opened (pgid == pid, as start makes every worker); NULL otherwise.
 * Each scan proves again that the group is still its own.  LEADER must
 * outlive the group. */
StemProcGroup *stem_proc_group_new (StemProc *leader);
void stem_proc_group_free (StemProcGroup *group);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemProcGroup, stem_proc_group_free)

/* Scans /proc once for members of GROUPS (StemProcGroup *) not found
 * before and adds to each group those proven to be in its leader's group:
 * all of them while the leader's task exists, after that only children of
 * members found by an earlier call.  Returns how many were added. */
guint stem_proc_groups_collect (GPtrArray *groups);

/* Every member found so far (StemProc *, owned by GROUP), exited or not. */
GPtrArray *stem_proc_group_members (StemProcGroup *group);

/* Whether the last stem_proc_groups_collect could not open or read some
 * process of GROUP for want of descriptors or memory: the group may hold
 * processes that are not among its members. */
gboolean stem_proc_group_is_incomplete (StemProcGroup *group);

/* Whether GROUP holds nothing left to end, known without a scan of /proc:
 * every member found has exited and no process at all is left in the
 * leader's process group (kill (-W, 0) fails with ESRCH).  FALSE while
 * the leader has not been reaped. */
gboolean stem_proc_group_is_empty (StemProcGroup *group);

G_END_DECLS
