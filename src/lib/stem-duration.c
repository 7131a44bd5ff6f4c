#include "stem-duration.h"

#include "stem-error.h"
#include "stem-i18n.h"

#include <string.h>

/* Leaves room to add two durations without overflow. */
#define DURATION_MAX_MS (G_MAXINT64 / 2)

typedef struct
{
  const char *suffix;
  gint64 ms;
} DurationUnit;

static const DurationUnit units[] = {
  { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 }, { "h", 60 * 60 * 1000 }, { "", 1000 },
};

static const DurationUnit *
find_unit (const char *suffix)
{
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (strcmp (suffix, units[i].suffix) == 0)
      return &units[i];
  return NULL;
}

/* Rounds MULTIPLIER × 0.FRACTION to the nearest integer, halves up.  Evaluated
 * from the last digit backwards so that any number of digits stays exact: only
 * the first digit after the point of the product decides the rounding. */
static gint64
round_fraction (const char *fraction, gsize n_digits, gint64 multiplier)
{
  gint64 quotient = 0;
  gint64 last = 0;
  for (gsize i = n_digits; i > 0; i--)
    {
      last = (fraction[i - 1] - '0') * multiplier + quotient;
      quotient = last / 10;
    }
  return quotient + (last % 10 >= 5 ? 1 : 0);
}

gboolean
stem_duration_parse (const char *text, gint64 *out_ms, GError **error)
{
  g_return_val_if_fail (text != NULL, FALSE);

  g_autofree char *shown = g_utf8_make_valid (text, -1);
  /* "-5s" is negative; "--json" is an option taken for the value. */
  if (text[0] == '-' && g_ascii_isdigit (text[1]))
    return stem_throw_code (error, STEM_ERROR_USAGE,
                            _ ("Invalid duration “%s”: it must not be negative"), shown);

  const char *p = text;
  guint64 whole = 0;
  gboolean overflow = FALSE;
  for (; g_ascii_isdigit (*p); p++)
    {
      if (whole > (G_MAXUINT64 - 9) / 10)
        overflow = TRUE;
      else
        whole = whole * 10 + (guint64)(*p - '0');
    }
  gboolean have_whole = p > text;

  const char *fraction = NULL;
  gsize n_fraction = 0;
  if (have_whole && *p == '.')
    {
      fraction = ++p;
      for (; g_ascii_isdigit (*p); p++)
        n_fraction++;
    }

  const DurationUnit *unit = find_unit (p);

  if (!have_whole || (fraction != NULL && n_fraction == 0) || unit == NULL)
    return stem_throw_code (
        error, STEM_ERROR_USAGE,
        _ ("Invalid duration “%s” (use e.g. 500ms, 30s, 2m, 1h or a number of seconds)"), shown);

  gint64 fraction_ms = round_fraction (fraction, n_fraction, unit->ms);
  if (overflow || whole > (guint64)((DURATION_MAX_MS - fraction_ms) / unit->ms))
    return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Duration “%s” is too long"), shown);

  *out_ms = (gint64)whole * unit->ms + fraction_ms;
  return TRUE;
}

char *
stem_duration_format (gint64 ms)
{
  if (ms == STEM_DURATION_FOREVER)
    return g_strdup ("forever");
  if (ms == 0)
    return g_strdup ("0s");

  /* The largest unit that shows the value exactly, so that it parses back. */
  static const char *const exact[] = { "h", "m", "s" };
  for (gsize i = 0; i < G_N_ELEMENTS (exact); i++)
    {
      const DurationUnit *unit = find_unit (exact[i]);
      if (ms % unit->ms == 0)
        return g_strdup_printf ("%" G_GINT64_FORMAT "%s", ms / unit->ms, unit->suffix);
    }
  return g_strdup_printf ("%" G_GINT64_FORMAT "ms", ms);
}

char *
stem_uptime_format (gint64 seconds)
{
  if (seconds < 60)
    return g_strdup_printf (_ ("%lds"), (long)seconds);
  if (seconds < 3600)
    return g_strdup_printf (_ ("%ldm %lds"), (long)(seconds / 60), (long)(seconds % 60));
  if (seconds < 86400)
    return g_strdup_printf (_ ("%ldh %ldm"), (long)(seconds / 3600), (long)(seconds % 3600 / 60));
  return g_strdup_printf (_ ("%ldd %ldh"), (long)(seconds / 86400), (long)(seconds % 86400 / 3600));
}
