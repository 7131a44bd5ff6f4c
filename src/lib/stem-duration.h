#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A wait without end (a stop schedule's "forever"). */
#define STEM_DURATION_FOREVER G_MAXINT64

/* "500ms", "30s", "2m", "1h" or a bare number of seconds (decimals allowed,
 * e.g. "0.5").  Negative, empty, overflowing or other text is STEM_ERROR_USAGE
 * naming the text. */
gboolean stem_duration_parse (const char *text, gint64 *out_ms, GError **error);

/* An uptime for humans, two units at most: "42s", "3m 5s", "2h 7m", "4d 1h". */
char *stem_uptime_format (gint64 seconds);

/* Formats a duration for humans: "30s", "500ms", "2m". */
char *stem_duration_format (gint64 ms);

G_END_DECLS
