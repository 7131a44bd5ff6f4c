#pragma once

#include <glib.h>

#include "stem-options.h"

G_BEGIN_DECLS

/* One invocation of stem-multi: everything a verb needs, so every verb can be
 * called from a test without globals. */
typedef struct
{
  StemArgs *args;
  const char *const *words; /* positionals after the verb */
  gboolean json;
  gboolean quiet;
  gboolean verbose;
  gboolean foreground;
  gboolean no_wait;
  gboolean no_clean;
  gboolean no_kill_group; /* stop: leave what a worker left in its process group */
  gint64 settle_ms;
  GArray *schedule;       /* StemScheduleStep: the stop schedule */
  gint64 lock_timeout_ms; /* the longest wait for a node's lock */
} StemMultiOptions;

/* Each returns the exit code, or -1 with *error set for a usage or
 * configuration error (exit 2, nothing done). */
int stem_multi_start (StemMultiOptions *opts, GError **error);
int stem_multi_stop (StemMultiOptions *opts, GError **error);
int stem_multi_kill (StemMultiOptions *opts, GError **error);
int stem_multi_restart (StemMultiOptions *opts, GError **error);
int stem_multi_supervise (StemMultiOptions *opts, GError **error);
int stem_multi_status (StemMultiOptions *opts, GError **error);
int stem_multi_show (StemMultiOptions *opts, GError **error);
int stem_multi_names (StemMultiOptions *opts, GError **error);
int stem_multi_expand (StemMultiOptions *opts, GError **error);
int stem_multi_get (StemMultiOptions *opts, GError **error);
int stem_multi_logs (StemMultiOptions *opts, GError **error);

G_END_DECLS
