/* What stem-multi and "stem-logwriter --serve" say to each other.  Plain C:
 * stem-logwriter links nothing but libc.
 *
 * stem-multi starts one server for all the nodes of a call (stem-writer.h)
 * and sends it requests, each one SOCK_SEQPACKET message that begins with
 * its kind; the server handles them one at a time, in order, and answers
 * each on a pipe that came with it: one StemLogwriterAnswer.  No answer at
 * all means the server is gone.
 *
 * STEM_LOGWRITER_WRITER: start a log writer.  A StemLogwriterRequest, the
 * supplementary groups, then the log's path; descriptors: the read end of
 * the worker's output pipe, the log file (opened, its node's byte locked:
 * stem_log_hold), the answer pipe.  The answer: STEM_LOGWRITER_RUNNING
 * once the writer runs as the user asked for, or what failed.
 *
 * STEM_LOGWRITER_LAUNCH: start a worker detached (stem-spawn.h): its log
 * writer (unless the log is to be its output itself), then the worker,
 * leading a process group of its own in the server's session, then its
 * pidfile, written the moment its exec has succeeded.  A
 * StemLogwriterLaunch, the supplementary groups, then NUL-terminated
 * strings: the log's path, the working directory, the pidfile's name and
 * the temporary name to write it under (both in the pidfile's directory),
 * the arguments, the environment.  Descriptors: the log file, the
 * pidfile's directory, the node's lock (held until the pidfile is
 * written, whatever happens to stem-multi meanwhile) and the answer pipe.
 * The answer: STEM_LOGWRITER_RUNNING with the worker's pid once its
 * pidfile is written, or what failed (a worker whose pidfile could not be
 * written has been killed). */
#pragma once

#include <fcntl.h>
#include <stdint.h>

/* Until a node's log writer has written the worker's last words, it holds
 * a write lock (an open file description lock, which lives as long as the
 * descriptor does and goes with it to a child) on one byte of the log
 * file, at an offset of the node's own, AT (stem_log_lock_at): stop waits
 * for that byte (stem_log_wait), so nodes that share a log file do not
 * wait for each other.  0 or -1 (errno set); 0 for AT 0, which locks
 * nothing. */
static inline int
stem_log_hold (int fd, uint32_t at)
{
  struct flock byte = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)at, .l_len = 1 };
  return at == 0 ? 0 : fcntl (fd, F_OFD_SETLK, &byte);
}

/* Lets go of every lock stem_log_hold took on FD's open file. */
static inline void
stem_log_release (int fd)
{
  struct flock all = { .l_type = F_UNLCK, .l_whence = SEEK_SET };
  fcntl (fd, F_OFD_SETLK, &all);
}

/* A log writer is a thread of a writer process, which the server forks
 * for each user its nodes run as and which serves at most this many logs:
 * a few descriptors each, well within the usual limit of 1024. */
#define STEM_LOGWRITER_LOGS_PER_PROCESS 64

/* Bounds a request to well under a socket buffer. */
#define STEM_LOGWRITER_MAX_GROUPS 8192
#define STEM_LOGWRITER_MAX_PATH 4096
#define STEM_LOGWRITER_MAX_STRINGS (192 * 1024)
#define STEM_LOGWRITER_MAX_ARGS 16384

enum
{
  STEM_LOGWRITER_WRITER = 1,
  STEM_LOGWRITER_LAUNCH = 2,
};

typedef struct
{
  uint32_t kind;        /* STEM_LOGWRITER_WRITER */
  uint32_t change_user; /* 0: keep the server's user */
  uint32_t uid;
  uint32_t gid;
  uint32_t n_groups;
  uint32_t path_len; /* without a terminating NUL */
  uint32_t lock_at;  /* the node's byte of the log (stem_log_hold) */
} StemLogwriterRequest;

typedef struct
{
  uint32_t kind; /* STEM_LOGWRITER_LAUNCH */
  uint32_t change_user;
  uint32_t uid;
  uint32_t gid;
  uint32_t n_groups;
  uint32_t with_writer; /* 0: the log is the worker's output itself */
  uint32_t has_umask;
  uint32_t umask;
  uint32_t argc;
  uint32_t envc;
  uint32_t strings_len; /* every string with its NUL */
  uint32_t lock_at;     /* the node's byte of the log (stem_log_hold) */
} StemLogwriterLaunch;

enum
{
  STEM_LOGWRITER_RUNNING = 0,      /* value: the writer's, or the worker's, pid */
  STEM_LOGWRITER_FAILED_START = 1, /* the log writer: an errno */
  STEM_LOGWRITER_FAILED_USER = 2,  /* the log writer's switch to the user: an errno */
  STEM_LOGWRITER_FAILED_FORK = 3,  /* the worker: an errno, as each below */
  STEM_LOGWRITER_FAILED_GROUP = 4, /* its process group */
  STEM_LOGWRITER_FAILED_EXEC = 5,
  STEM_LOGWRITER_FAILED_WORKER_USER = 6,
  STEM_LOGWRITER_FAILED_CHDIR = 7,
  STEM_LOGWRITER_FAILED_PIDFILE = 8, /* it ran, but was killed: no pidfile */
};

typedef struct
{
  int32_t kind;
  int32_t value;
} StemLogwriterAnswer;
