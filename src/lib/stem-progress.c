#include "stem-progress.h"

#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "stem-duration.h"
#include "stem-i18n.h"

#define FIRST_DRAW_US G_USEC_PER_SEC /* a quick operation shows nothing */
#define REDRAW_US G_USEC_PER_SEC

struct _StemProgress
{
  char *verb;
  GStrv nodes;
  guint n_nodes;
  gboolean *done;
  gboolean active; /* drawing at all: a terminal, and wanted */
  gboolean shown;  /* a line is on the screen */
  gint64 start_us;
  gint64 next_us; /* when the line is due */
};

StemProgress *
stem_progress_new (const char *verb, const char *const *nodes, gboolean enabled)
{
  StemProgress *progress = g_new0 (StemProgress, 1);
  progress->verb = g_strdup (verb);
  progress->nodes = g_strdupv ((char **)nodes);
  progress->n_nodes = g_strv_length (progress->nodes);
  progress->done = g_new0 (gboolean, progress->n_nodes);
  progress->active = enabled && isatty (STDERR_FILENO);
  progress->start_us = g_get_monotonic_time ();
  progress->next_us = progress->start_us + FIRST_DRAW_US;
  return progress;
}

void
stem_progress_done (StemProgress *progress, guint index)
{
  if (progress != NULL && index < progress->n_nodes)
    progress->done[index] = TRUE;
}

int
stem_progress_timeout_ms (StemProgress *progress)
{
  if (progress == NULL || !progress->active)
    return -1;
  gint64 left_us = progress->next_us - g_get_monotonic_time ();
  return left_us <= 0 ? 0 : (int)((left_us + 999) / 1000);
}

static guint
terminal_width (void)
{
  struct winsize ws;
  if (ioctl (STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
    return ws.ws_col;
  return 80;
}

void
stem_progress_update (StemProgress *progress)
{
  gint64 now_us = g_get_monotonic_time ();
  if (progress == NULL || !progress->active || now_us < progress->next_us)
    return;
  progress->next_us = now_us + REDRAW_US;

  g_autoptr (GString) pending = g_string_new (NULL);
  guint n_pending = 0;
  for (guint i = 0; progress->nodes[i] != NULL; i++)
    if (!progress->done[i])
      {
        g_string_append_printf (pending, "%s%s", n_pending > 0 ? ", " : "", progress->nodes[i]);
        n_pending++;
      }
  if (n_pending == 0)
    return;
  g_autofree char *elapsed = stem_uptime_format ((now_us - progress->start_us) / G_USEC_PER_SEC);
  g_autoptr (GString) line = g_string_new (NULL);
  g_string_printf (line, _ ("%s: %s (%s)"), progress->verb, pending->str, elapsed);
  /* One line, however many nodes: cut to the terminal's width. */
  guint width = terminal_width () - 1;
  if ((guint)g_utf8_strlen (line->str, -1) > width)
    {
      g_string_truncate (line, g_utf8_offset_to_pointer (line->str, width - 1) - line->str);
      g_string_append (line, "…");
    }
  fprintf (stderr, "\r\033[K%s", line->str);
  fflush (stderr);
  progress->shown = TRUE;
}

void
stem_progress_clear (StemProgress *progress)
{
  if (progress == NULL || !progress->shown)
    return;
  fputs ("\r\033[K", stderr);
  fflush (stderr);
  progress->shown = FALSE;
}

void
stem_progress_free (StemProgress *progress)
{
  if (progress == NULL)
    return;
  stem_progress_clear (progress);
  g_free (progress->verb);
  g_strfreev (progress->nodes);
  g_free (progress->done);
  g_free (progress);
}
