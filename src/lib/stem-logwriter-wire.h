/* What stem-multi and "stem-logwriter --serve" say to each other.  Plain C:
 * stem-logwriter links nothing but libc.
 *
 * Starting a worker detached, stem-multi asks one writer server (started
 * once, for all the nodes it starts together) for a log writer, rather
 * than starting a program for each: a fork of that small process costs a
 * fraction of an exec.  A request is one SOCK_SEQPACKET message: a
 * StemLogwriterRequest, the supplementary groups, then the log's path, with
 * three descriptors: the read end of the worker's output pipe, the log file
 * (opened and share-locked), and a pipe for the answer: one
 * StemLogwriterAnswer, STEM_LOGWRITER_RUNNING once the writer runs as the
 * user asked for, or what failed.  No answer at all means the server is
 * gone. */
#pragma once

#include <stdint.h>

/* Bounds a request to well under a socket buffer. */
#define STEM_LOGWRITER_MAX_GROUPS 8192
#define STEM_LOGWRITER_MAX_PATH 4096

typedef struct
{
  uint32_t change_user; /* 0: keep the server's user */
  uint32_t uid;
  uint32_t gid;
  uint32_t n_groups;
  uint32_t path_len; /* without a terminating NUL */
} StemLogwriterRequest;

enum
{
  STEM_LOGWRITER_RUNNING = 0,      /* value: the writer's pid */
  STEM_LOGWRITER_FAILED_START = 1, /* value: an errno */
  STEM_LOGWRITER_FAILED_USER = 2,  /* switching to the user: an errno */
};

typedef struct
{
  int32_t kind;
  int32_t value;
} StemLogwriterAnswer;
