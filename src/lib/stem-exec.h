#pragma once

/* Plain C: stem-logwriter links nothing but libc. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* In a forked (or vforked) child about to exec: the program must not
 * inherit our signal dispositions or mask, nor any descriptor above 2
 * (every one is made close-on-exec).  Async-signal-safe. */
void stem_exec_reset (void);

/* Runs CHILD (DATA) in a vfork child, which shares our memory until it
 * execs or exits: CHILD calls only async-signal-safe functions and never
 * returns (if it does, the child exits 127).  Returns once the child has
 * exec'd or exited: its pid, or -1 with errno set.  Nothing of our memory
 * is copied for a child that only execs.  Every signal stays blocked in
 * the child until it resets its handlers (stem_exec_reset), so that none
 * of ours runs in it; ours is blocked as long as it borrows our memory. */
pid_t stem_exec_vfork (void (*child) (void *data), void *data);

/* stem_exec_vfork, but the child is our parent's (CLONE_PARENT), not
 * ours: we never reap it, and our parent, which waits for nobody but us,
 * sees it exit.  Not for the process that is PID 1. */
pid_t stem_exec_vfork_sibling (void (*child) (void *data), void *data);

/* Takes the supplementary GROUPS, GID and UID, in that order, when CHANGE;
 * 0 or an errno.  Async-signal-safe. */
int stem_exec_switch_user (bool change, uid_t uid, gid_t gid, size_t n_groups, const gid_t *groups);

/* What a worker is executed with, filled in before the fork: the same for
 * a worker under supervise (stem-spawn.c) and one the log writers' server
 * launches (stem-logwriter.c). */
typedef struct
{
  bool change_user;
  uid_t uid;
  gid_t gid;
  size_t n_groups;
  const gid_t *groups;
  const char *workdir;
  bool has_umask;
  mode_t umask;
  char **argv;
  char **envp;
} StemExecWorker;

/* Sends LEN bytes of DATA with N_FDS (at most 4) descriptors FDS as one
 * message on socket FD: 0 or an errno.  Async-signal-safe. */
int stem_exec_send (int fd, const void *data, size_t len, const int *fds, size_t n_fds);

/* Writes one StemLogwriterAnswer (stem-logwriter-wire.h) of KIND and
 * VALUE to FD.  Async-signal-safe. */
void stem_exec_answer (int fd, int kind, int value);
/* stem_exec_answer, then _exit (127): a child that could not do its job. */
_Noreturn void stem_exec_fail (int fd, int kind, int errsv);

/* Becomes the worker W, in a forked or vforked child whose session and
 * process group are already set: standard input from STDIN_FD, output and
 * errors to OUT_FD (left as they are when it is < 0), W's user, then its
 * working directory (after the switch, so that a directory only the user
 * may enter works, and one it may not fails as it would for the user),
 * its umask, the reset above, and the exec.  What fails goes up STATUS_FD
 * as a StemLogwriterAnswer (stem-logwriter-wire.h) and the child exits
 * 127.  Async-signal-safe; writes nothing but its own stack. */
_Noreturn void stem_exec_worker (const StemExecWorker *w, int stdin_fd, int out_fd, int status_fd);

/* The vfork child (stem_exec_vfork) of a worker: it first leads a session
 * of its own (OWN_SESSION) or a process group of its own in our session,
 * then becomes WORKER (stem_exec_worker). */
typedef struct
{
  const StemExecWorker *worker;
  bool own_session;
  int stdin_fd;
  int out_fd;
  int status_fd;
} StemExecChild;
void stem_exec_child (void *data);
