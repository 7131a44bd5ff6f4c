#include "stem-schedule.h"

#include "stem-duration.h"
#include "stem-error.h"
#include "stem-i18n.h"

#include <signal.h>
#include <string.h>

static const struct
{
  const char *name;
  StemStopMode mode;
  int signum;
} stop_modes[] = {
  { "warm", STEM_STOP_WARM, SIGTERM },
  { "soft", STEM_STOP_SOFT, SIGINT },
  { "hard", STEM_STOP_HARD, SIGQUIT },
};

gboolean
stem_stop_mode_parse (const char *text, StemStopMode *out_mode, GError **error)
{
  g_return_val_if_fail (text != NULL, FALSE);

  for (gsize i = 0; i < G_N_ELEMENTS (stop_modes); i++)
    if (strcmp (text, stop_modes[i].name) == 0)
      {
        *out_mode = stop_modes[i].mode;
        return TRUE;
      }

  g_autofree char *shown = g_utf8_make_valid (text, -1);
  return stem_throw_code (error, STEM_ERROR_USAGE,
                          _ ("Unknown stop mode “%s” (use warm, soft or hard)"), shown);
}

int
stem_stop_mode_signal (StemStopMode mode)
{
  for (gsize i = 0; i < G_N_ELEMENTS (stop_modes); i++)
    if (stop_modes[i].mode == mode)
      return stop_modes[i].signum;
  g_return_val_if_reached (SIGTERM);
}

static const struct
{
  const char *name;
  int signum;
} signals[] = {
  { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "ILL", SIGILL },
  { "ABRT", SIGABRT }, { "FPE", SIGFPE },   { "KILL", SIGKILL }, { "SEGV", SIGSEGV },
  { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "USR1", SIGUSR1 },
  { "USR2", SIGUSR2 }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
  { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "WINCH", SIGWINCH },
};

static gboolean
is_number (const char *text)
{
  if (text[0] == '\0')
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

gboolean
stem_signal_parse (const char *text, int *out_signum, GError **error)
{
  g_return_val_if_fail (text != NULL, FALSE);

  g_autofree char *shown = g_utf8_make_valid (text, -1);
  if (is_number (text))
    {
      guint64 signum;
      /* 32 and 33, below SIGRTMIN, are the C library's own (thread
       * cancellation, set*id): no worker is to be sent those. */
      if (!g_ascii_string_to_unsigned (text, 10, 1, SIGRTMAX, &signum, NULL)
          || (signum > 31 && signum < (guint64)SIGRTMIN))
        return stem_throw_code (error, STEM_ERROR_USAGE,
                                _ ("Invalid signal number “%s” (use 1 to 31, or %d to %d)"), shown,
                                SIGRTMIN, SIGRTMAX);
      *out_signum = (int)signum;
      return TRUE;
    }

  const char *name = g_ascii_strncasecmp (text, "SIG", 3) == 0 ? text + 3 : text;
  for (gsize i = 0; i < G_N_ELEMENTS (signals); i++)
    if (g_ascii_strcasecmp (name, signals[i].name) == 0)
      {
        *out_signum = signals[i].signum;
        return TRUE;
      }

  return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Unknown signal “%s”"), shown);
}

const char *
stem_signal_name (int signum)
{
  for (gsize i = 0; i < G_N_ELEMENTS (signals); i++)
    if (signals[i].signum == signum)
      return signals[i].name;
  return NULL;
}

static void
add_step (GArray *steps, int signum, gint64 timeout_ms)
{
  StemScheduleStep step = { signum, timeout_ms };
  g_array_append_val (steps, step);
}

static GArray *
schedule_new (void)
{
  return g_array_new (FALSE, FALSE, sizeof (StemScheduleStep));
}

static gboolean
schedule_error (GError **error, const char *text, const char *reason)
{
  g_autofree char *shown = g_utf8_make_valid (text, -1);
  return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Invalid stop schedule “%s”: %s"), shown,
                          reason);
}

/* The step at ITEMS[I] (a signal) and ITEMS[I + 1] (its timeout), or a
 * final "forever". */
static gboolean
parse_step (const char *text, char **items, guint n_items, guint i, GArray *steps, GError **error)
{
  gint64 timeout_ms;
  int signum;
  g_autofree char *item = g_utf8_make_valid (items[i], -1);

  if (strcmp (items[i], "forever") == 0)
    {
      if (i == 0)
        return schedule_error (error, text, _ ("“forever” cannot come first"));
      if (i + 1 < n_items)
        return schedule_error (error, text, _ ("“forever” must be the last item"));
      const StemScheduleStep *last = &g_array_index (steps, StemScheduleStep, steps->len - 1);
      add_step (steps, last->signum, STEM_DURATION_FOREVER);
      return TRUE;
    }

  if (!stem_signal_parse (items[i], &signum, NULL))
    {
      g_autofree char *reason = NULL;
      if (i > 0 && stem_duration_parse (items[i], &timeout_ms, NULL))
        reason
            = g_strdup_printf (_ ("two timeouts in a row (“%s” after “%s”)"), item, items[i - 1]);
      else
        reason = g_strdup_printf (_ ("unknown signal “%s”"), item);
      return schedule_error (error, text, reason);
    }

  if (i + 1 >= n_items)
    {
      g_autofree char *reason
          = g_strdup_printf (_ ("signal “%s” is not followed by a timeout"), item);
      return schedule_error (error, text, reason);
    }

  g_autoptr (GError) local_error = NULL;
  if (!stem_duration_parse (items[i + 1], &timeout_ms, &local_error))
    {
      g_autofree char *reason = NULL;
      int ignored;
      if (strcmp (items[i + 1], "forever") == 0 || stem_signal_parse (items[i + 1], &ignored, NULL))
        reason = g_strdup_printf (_ ("signal “%s” is not followed by a timeout"), item);
      else
        reason = g_strdup (local_error->message);
      return schedule_error (error, text, reason);
    }

  add_step (steps, signum, timeout_ms);
  return TRUE;
}

/* Items alternate SIGNAL/TIMEOUT, so their position says which one an item is:
 * in "TERM/30/9/5" the 9 is a signal and the 5 a timeout. */
gboolean
stem_schedule_parse (const char *text, GArray **out_steps, GError **error)
{
  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (out_steps != NULL, FALSE);

  if (text[0] == '\0')
    return schedule_error (error, text, _ ("it is empty"));

  g_auto (GStrv) items = g_strsplit (text, "/", -1);
  guint n_items = g_strv_length (items);
  g_autoptr (GArray) steps = schedule_new ();

  for (guint i = 0; i < n_items; i++)
    if (items[i][0] == '\0')
      return schedule_error (error, text, _ ("it has an empty item"));

  gint64 timeout_ms;
  int signum;
  if (n_items == 1)
    {
      g_autoptr (GError) local_error = NULL;
      if (stem_duration_parse (items[0], &timeout_ms, &local_error))
        {
          add_step (steps, SIGTERM, timeout_ms);
          add_step (steps, SIGKILL, timeout_ms);
          *out_steps = g_steal_pointer (&steps);
          return TRUE;
        }
      /* A lone signal or "forever" gets its own message below. */
      if (strcmp (items[0], "forever") != 0 && !stem_signal_parse (items[0], &signum, NULL))
        return schedule_error (error, text, local_error->message);
    }

  for (guint i = 0; i < n_items; i += 2)
    if (!parse_step (text, items, n_items, i, steps, error))
      return FALSE;

  *out_steps = g_steal_pointer (&steps);
  return TRUE;
}

GArray *
stem_schedule_new (StemStopMode mode, gint64 timeout_ms, gint64 kill_timeout_ms)
{
  GArray *steps = schedule_new ();
  add_step (steps, stem_stop_mode_signal (mode), timeout_ms);
  add_step (steps, SIGKILL, kill_timeout_ms);
  return steps;
}

static void
append_signal (GString *out, int signum)
{
  const char *name = stem_signal_name (signum);
  if (name != NULL)
    g_string_append (out, name);
  else
    g_string_append_printf (out, "%d", signum);
}

char *
stem_schedule_format (GArray *steps)
{
  g_return_val_if_fail (steps != NULL, NULL);

  g_autoptr (GString) out = g_string_new (NULL);
  for (guint i = 0; i < steps->len; i++)
    {
      const StemScheduleStep *step = &g_array_index (steps, StemScheduleStep, i);
      if (i > 0)
        g_string_append_c (out, '/');

      /* "forever" repeats the step before it, so it needs no signal of its own. */
      gboolean repeats = i > 0 && i == steps->len - 1 && step->timeout_ms == STEM_DURATION_FOREVER
                         && step->signum == g_array_index (steps, StemScheduleStep, i - 1).signum;
      if (repeats)
        {
          g_string_append (out, "forever");
          break;
        }

      g_autofree char *timeout = stem_duration_format (step->timeout_ms);
      append_signal (out, step->signum);
      g_string_append_printf (out, "/%s", timeout);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}
