#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "500ms", "30s", "2m", "1h" or a bare number of seconds (decimals allowed,
 * e.g. "0.5").  Negative, empty, overflowing or other text is STEM_ERROR_USAGE
 * naming the text. */
gboolean stem_duration_parse (const char *text, gint64 *out_ms, GError **error);

/* An uptime for humans, two units at most: "42s", "3m 5s", "2h 7m", "4d 1h". */
char *stem_uptime_format (gint64 seconds);

/* Formats a duration for humans: "30s", "500ms", "2m". */
char *stem_duration_format (gint64 ms);

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
  gint64 timeout_ms; /* STEM_SCHEDULE_FOREVER: wait without end */
} StemScheduleStep;

#define STEM_SCHEDULE_FOREVER G_MAXINT64

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
