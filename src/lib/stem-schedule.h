#pragma once

/* How a node is stopped: Stem's shutdown modes, signals by name, and
 * start-stop-daemon's stop schedules held as data. */

#include <glib.h>

#include "stem-duration.h"

G_BEGIN_DECLS

typedef enum
{
  STEM_STOP_WARM, /* TERM: finish current work */
  STEM_STOP_SOFT, /* INT:  stop soon */
  STEM_STOP_HARD, /* QUIT: stop now */
} StemStopMode;

gboolean stem_stop_mode_parse (const char *text, StemStopMode *out_mode, GError **error);
int stem_stop_mode_signal (StemStopMode mode);

/* One step of a stop schedule: send SIGNUM, then wait up to TIMEOUT_MS. */
typedef struct
{
  int signum;
  gint64 timeout_ms; /* STEM_DURATION_FOREVER: wait without end */
} StemScheduleStep;

/* dpkg/start-stop-daemon --retry syntax: "TIMEOUT" (= TERM/TIMEOUT/KILL/TIMEOUT)
 * or "SIGNAL/TIMEOUT/SIGNAL/TIMEOUT…"; a final "forever" repeats the step before
 * it without end.  Signals by name (TERM, SIGTERM) or number; timeouts are
 * durations (a bare number is seconds).  Returns a GArray of StemScheduleStep. */
gboolean stem_schedule_parse (const char *text, GArray **out_steps, GError **error);

/* MODE's signal, wait TIMEOUT_MS, then KILL and wait KILL_TIMEOUT_MS. */
GArray *stem_schedule_new (StemStopMode mode, gint64 timeout_ms, gint64 kill_timeout_ms);

/* "TERM/30s/KILL/5s" */
char *stem_schedule_format (GArray *steps);

/* Signal names without the SIG prefix ("TERM"); numbers are accepted too. */
gboolean stem_signal_parse (const char *text, int *out_signum, GError **error);
const char *stem_signal_name (int signum); /* "TERM", or NULL if unknown */

G_END_DECLS
