#pragma once

#include <glib.h>

#include "stem-options.h"
#include "stem-supervisor.h"

G_BEGIN_DECLS

/* One invocation of stem-multi: everything a verb needs, so every verb can be
 * called from a test without globals. */
typedef struct
{
  StemArgs *args;
  const char *verb;         /* as the caller named it (stopwait, not stop) */
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
  /* supervise */
  StemRestartPolicy restart;
  guint max_restarts;
  /* logs */
  guint lines;
} StemMultiOptions;

/* Each prints its own results, one per node (and a node's failure, as
 * "PROGRAM: NODE: message" on standard error), and returns the exit code.
 * An error that ends the whole call instead is returned as -1 with *ERROR
 * set, for main to print once: exit 2 for a usage or configuration error
 * (nothing was done), 1 for any other. */
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
