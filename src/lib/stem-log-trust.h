#pragma once

/* Whether a log file may get a worker's output: one rule for stem-multi,
 * which opens the log the worker starts with (stem-log.c), and for the log
 * writer, which opens the file that appears at the log's path after a
 * rotation.  Plain C: the log writer links nothing but libc. */

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef enum
{
  STEM_LOG_TRUSTED,
  STEM_LOG_NOT_REGULAR,
  STEM_LOG_LINKED,  /* other hard links, and the opener is root */
  STEM_LOG_FOREIGN, /* not of OWNER's */
} StemLogVerdict;

/* The verdict on the log ST (the fstat of the descriptor opened): a
 * regular file; when AS_ROOT, one with no other name (a hard link to a
 * file the worker's user must not write, made by whoever can write the
 * directory); when CHECK_OWNER, one of OWNER's (a file of root's moved
 * there, or one another user made, must not get the worker's output). */
static inline StemLogVerdict
stem_log_judge (const struct stat *st, bool as_root, bool check_owner, uid_t owner)
{
  if (!S_ISREG (st->st_mode))
    return STEM_LOG_NOT_REGULAR;
  if (as_root && st->st_nlink > 1)
    return STEM_LOG_LINKED;
  if (check_owner && st->st_uid != owner)
    return STEM_LOG_FOREIGN;
  return STEM_LOG_TRUSTED;
}
