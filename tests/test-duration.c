#include "stem-duration.h"
#include "stem-schedule.h"
#include "stem-error.h"

#include <signal.h>
#include <string.h>

static void
assert_message_contains (const GError *error, const char *part)
{
  if (strstr (error->message, part) == NULL)
    g_error ("“%s” does not contain “%s”", error->message, part);
}

typedef struct
{
  const char *path;
  const char *text;
  gint64 ms;           /* when MESSAGE is NULL */
  const char *message; /* NULL: valid, else part of the error message */
} DurationCase;

#define BAD "Invalid duration "

static const DurationCase duration_cases[] = {
  { "/duration/parse/zero", "0", 0, NULL },
  { "/duration/parse/seconds-bare", "30", 30000, NULL },
  { "/duration/parse/milliseconds", "500ms", 500, NULL },
  { "/duration/parse/seconds", "30s", 30000, NULL },
  { "/duration/parse/minutes", "2m", 120000, NULL },
  { "/duration/parse/hours", "1h", 3600000, NULL },
  { "/duration/parse/zero-ms", "0ms", 0, NULL },
  { "/duration/parse/leading-zero", "007", 7000, NULL },
  { "/duration/parse/decimal-bare", "0.5", 500, NULL },
  { "/duration/parse/decimal-seconds", "1.5s", 1500, NULL },
  { "/duration/parse/decimal-minutes", "0.25m", 15000, NULL },
  { "/duration/parse/decimal-hours", "1.5h", 5400000, NULL },
  { "/duration/parse/round-half-up", "1.5ms", 2, NULL },
  { "/duration/parse/round-down", "1.4ms", 1, NULL },
  { "/duration/parse/round-sub-ms-up", "0.0005", 1, NULL },
  { "/duration/parse/round-sub-ms-down", "0.000499999999999999999999", 0, NULL },
  { "/duration/parse/round-to-next-second", "0.9999", 1000, NULL },
  { "/duration/parse/many-decimals", "0.333333333333333333333333333s", 333, NULL },
  { "/duration/parse/minutes-thirds", "0.0166666666666666667m", 1000, NULL },
  { "/duration/parse/one-year", "8760h", G_GINT64_CONSTANT (31536000000), NULL },
  { "/duration/parse/largest", "4611686018427387903ms", G_MAXINT64 / 2, NULL },
  { "/duration/parse/largest-seconds", "4611686018427387.903", G_MAXINT64 / 2, NULL },
  { "/duration/parse/too-long", "4611686018427387904ms", 0,
    "Duration “4611686018427387904ms” is too long" },
  { "/duration/parse/too-long-seconds", "4611686018427387.904", 0, "is too long" },
  { "/duration/parse/too-long-hours", "1281023894008h", 0, "is too long" },
  { "/duration/parse/overflow", "99999999999999999999999999", 0, "is too long" },
  { "/duration/parse/empty", "", 0, BAD "“” (use e.g. 500ms, 30s, 2m, 1h or a number of seconds)" },
  { "/duration/parse/negative", "-1", 0, BAD "“-1”: it must not be negative" },
  { "/duration/parse/negative-decimal", "-0.5s", 0, "must not be negative" },
  /* "--timeout --json": the next option, taken for the value, is no number. */
  { "/duration/parse/option", "--json", 0,
    BAD "“--json” (use e.g. 500ms, 30s, 2m, 1h or a number of seconds)" },
  { "/duration/parse/plus", "+1", 0, BAD "“+1”" },
  { "/duration/parse/unknown-unit", "1x", 0, BAD "“1x”" },
  { "/duration/parse/unit-only", "s", 0, BAD "“s”" },
  { "/duration/parse/ms-only", "ms", 0, BAD "“ms”" },
  { "/duration/parse/space-before-unit", "1 s", 0, BAD "“1 s”" },
  { "/duration/parse/leading-space", " 1", 0, BAD "“ 1”" },
  { "/duration/parse/trailing-space", "1 ", 0, BAD "“1 ”" },
  { "/duration/parse/exponent", "1e3", 0, BAD "“1e3”" },
  { "/duration/parse/inf", "inf", 0, BAD "“inf”" },
  { "/duration/parse/nan", "nan", 0, BAD "“nan”" },
  { "/duration/parse/hex", "0x10", 0, BAD "“0x10”" },
  { "/duration/parse/trailing-dot", "1.", 0, BAD "“1.”" },
  { "/duration/parse/leading-dot", ".5", 0, BAD "“.5”" },
  { "/duration/parse/two-dots", "1.5.2", 0, BAD "“1.5.2”" },
  { "/duration/parse/comma", "1,5", 0, BAD "“1,5”" },
  { "/duration/parse/upper-case-unit", "1S", 0, BAD "“1S”" },
  { "/duration/parse/long-unit", "1min", 0, BAD "“1min”" },
  { "/duration/parse/compound", "1m30s", 0, BAD "“1m30s”" },
  { "/duration/parse/forever", "forever", 0, BAD "“forever”" },
  { "/duration/parse/bad-utf8", "1\377", 0, BAD "“1\357\277\275”" },
};

static void
test_duration_parse (gconstpointer data)
{
  const DurationCase *tc = data;
  g_autoptr (GError) error = NULL;
  gint64 ms = -42;

  gboolean ok = stem_duration_parse (tc->text, &ms, &error);
  if (tc->message == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpint (ms, ==, tc->ms);
      return;
    }
  g_assert_false (ok);
  g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
  g_assert_cmpint (ms, ==, -42);
  assert_message_contains (error, tc->message);
}

typedef struct
{
  const char *path;
  gint64 ms;
  const char *expected;
} FormatCase;

static const FormatCase format_cases[] = {
  { "/duration/format/zero", 0, "0s" },
  { "/duration/format/one-ms", 1, "1ms" },
  { "/duration/format/ms", 500, "500ms" },
  { "/duration/format/second", 1000, "1s" },
  { "/duration/format/not-whole-seconds", 1500, "1500ms" },
  { "/duration/format/seconds", 30000, "30s" },
  { "/duration/format/minute", 60000, "1m" },
  { "/duration/format/not-whole-minutes", 90000, "90s" },
  { "/duration/format/minutes", 120000, "2m" },
  { "/duration/format/hour", 3600000, "1h" },
  { "/duration/format/not-whole-hours", 5400000, "90m" },
  { "/duration/format/hours", 7200000, "2h" },
  { "/duration/format/largest", G_MAXINT64 / 2, "4611686018427387903ms" },
};

static void
test_duration_format (gconstpointer data)
{
  const FormatCase *tc = data;
  g_autoptr (GError) error = NULL;

  g_autofree char *text = stem_duration_format (tc->ms);
  g_assert_cmpstr (text, ==, tc->expected);

  gint64 ms;
  g_assert_true (stem_duration_parse (text, &ms, &error));
  g_assert_no_error (error);
  g_assert_cmpint (ms, ==, tc->ms);
}

static void
test_duration_format_forever (void)
{
  g_autofree char *text = stem_duration_format (STEM_DURATION_FOREVER);
  g_assert_cmpstr (text, ==, "forever");
}

static void
test_stop_modes (void)
{
  static const struct
  {
    const char *text;
    StemStopMode mode;
    int signum;
  } modes[] = {
    { "warm", STEM_STOP_WARM, SIGTERM },
    { "soft", STEM_STOP_SOFT, SIGINT },
    { "hard", STEM_STOP_HARD, SIGQUIT },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_autoptr (GError) error = NULL;
      StemStopMode mode;
      g_assert_true (stem_stop_mode_parse (modes[i].text, &mode, &error));
      g_assert_no_error (error);
      g_assert_cmpint (mode, ==, modes[i].mode);
      g_assert_cmpint (stem_stop_mode_signal (mode), ==, modes[i].signum);
    }

  static const char *const bad[] = { "", "cold", "WARM", "warm ", "term" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      StemStopMode mode = STEM_STOP_HARD;
      g_assert_false (stem_stop_mode_parse (bad[i], &mode, &error));
      g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
      g_assert_cmpint (mode, ==, STEM_STOP_HARD);
      g_autofree char *expected
          = g_strdup_printf ("Unknown stop mode “%s” (use warm, soft or hard)", bad[i]);
      g_assert_cmpstr (error->message, ==, expected);
    }
}

static const struct
{
  const char *name;
  int signum;
} signal_names[] = {
  { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "ILL", SIGILL },
  { "ABRT", SIGABRT }, { "FPE", SIGFPE },   { "KILL", SIGKILL }, { "SEGV", SIGSEGV },
  { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "USR1", SIGUSR1 },
  { "USR2", SIGUSR2 }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
  { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "WINCH", SIGWINCH },
};

static void
test_signal_names (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (signal_names); i++)
    {
      const char *name = signal_names[i].name;
      g_autofree char *with_sig = g_strconcat ("SIG", name, NULL);
      g_autofree char *lower = g_ascii_strdown (with_sig, -1);
      const char *const spellings[] = { name, with_sig, lower, lower + 3 };

      for (gsize j = 0; j < G_N_ELEMENTS (spellings); j++)
        {
          g_autoptr (GError) error = NULL;
          int signum = 0;
          g_assert_true (stem_signal_parse (spellings[j], &signum, &error));
          g_assert_no_error (error);
          g_assert_cmpint (signum, ==, signal_names[i].signum);
        }
      g_assert_cmpstr (stem_signal_name (signal_names[i].signum), ==, name);
    }

  g_assert_null (stem_signal_name (0));
  g_assert_null (stem_signal_name (-1));
  g_assert_null (stem_signal_name (SIGRTMIN));
}

static void
test_signal_numbers (void)
{
  static const struct
  {
    const char *text;
    int signum;
  } numbers[] = {
    { "1", 1 }, { "9", SIGKILL }, { "15", SIGTERM }, { "09", 9 }, { "34", 34 }, { "64", 64 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (numbers); i++)
    {
      g_autoptr (GError) error = NULL;
      int signum = 0;
      g_assert_true (stem_signal_parse (numbers[i].text, &signum, &error));
      g_assert_no_error (error);
      g_assert_cmpint (signum, ==, numbers[i].signum);
    }
}

static void
test_signal_invalid (void)
{
  static const struct
  {
    const char *text;
    const char *message;
  } bad[] = {
    { "", "Unknown signal “”" },
    { "0", "Invalid signal number “0” (use 1 to 31, or 34 to 64)" },
    { "65", "Invalid signal number “65” (use 1 to 31, or 34 to 64)" },
    /* The C library's own, below SIGRTMIN. */
    { "32", "Invalid signal number “32” (use 1 to 31, or 34 to 64)" },
    { "33", "Invalid signal number “33”" },
    { "99999999999999999999", "Invalid signal number" },
    { "-9", "Unknown signal “-9”" },
    { "+9", "Unknown signal “+9”" },
    { "SIG", "Unknown signal “SIG”" },
    { "SIG9", "Unknown signal “SIG9”" },
    { "SIGSIGTERM", "Unknown signal “SIGSIGTERM”" },
    { " TERM", "Unknown signal “ TERM”" },
    { "TERM ", "Unknown signal “TERM ”" },
    { "9x", "Unknown signal “9x”" },
    { "FOO", "Unknown signal “FOO”" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      int signum = -42;
      g_assert_false (stem_signal_parse (bad[i].text, &signum, &error));
      g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
      g_assert_cmpint (signum, ==, -42);
      assert_message_contains (error, bad[i].message);
    }
}

#define MAX_STEPS 4

typedef struct
{
  const char *path;
  const char *text;
  const char *message; /* NULL: valid */
  const char *formatted;
  guint n_steps;
  StemScheduleStep steps[MAX_STEPS];
} ScheduleCase;

#define FOREVER STEM_DURATION_FOREVER

static const ScheduleCase schedule_cases[] = {
  { "/schedule/parse/timeout",
    "30",
    NULL,
    "TERM/30s/KILL/30s",
    2,
    { { SIGTERM, 30000 }, { SIGKILL, 30000 } } },
  { "/schedule/parse/timeout-with-unit",
    "500ms",
    NULL,
    "TERM/500ms/KILL/500ms",
    2,
    { { SIGTERM, 500 }, { SIGKILL, 500 } } },
  { "/schedule/parse/dpkg",
    "TERM/30/KILL/5",
    NULL,
    "TERM/30s/KILL/5s",
    2,
    { { SIGTERM, 30000 }, { SIGKILL, 5000 } } },
  { "/schedule/parse/three-steps",
    "INT/500ms/TERM/2s/KILL/1",
    NULL,
    "INT/500ms/TERM/2s/KILL/1s",
    3,
    { { SIGINT, 500 }, { SIGTERM, 2000 }, { SIGKILL, 1000 } } },
  { "/schedule/parse/forever",
    "TERM/5/forever",
    NULL,
    "TERM/5s/forever",
    2,
    { { SIGTERM, 5000 }, { SIGTERM, FOREVER } } },
  { "/schedule/parse/forever-after-two",
    "QUIT/1m/KILL/5/forever",
    NULL,
    "QUIT/1m/KILL/5s/forever",
    3,
    { { SIGQUIT, 60000 }, { SIGKILL, 5000 }, { SIGKILL, FOREVER } } },
  { "/schedule/parse/sig-prefix-and-number",
    "SIGTERM/1/9/1",
    NULL,
    "TERM/1s/KILL/1s",
    2,
    { { SIGTERM, 1000 }, { SIGKILL, 1000 } } },
  { "/schedule/parse/lower-case",
    "hup/0.5/kill/0",
    NULL,
    "HUP/500ms/KILL/0s",
    2,
    { { SIGHUP, 500 }, { SIGKILL, 0 } } },
  { "/schedule/parse/unnamed-signal", "34/1", NULL, "34/1s", 1, { { 34, 1000 } } },
  { "/schedule/parse/one-step", "USR1/2m", NULL, "USR1/2m", 1, { { SIGUSR1, 120000 } } },
  { "/schedule/invalid/empty", "", "Invalid stop schedule “”: it is empty" },
  { "/schedule/invalid/empty-item", "TERM//5",
    "Invalid stop schedule “TERM//5”: it has an empty item" },
  { "/schedule/invalid/leading-slash", "/TERM/5", "it has an empty item" },
  { "/schedule/invalid/trailing-slash", "TERM/5/", "it has an empty item" },
  { "/schedule/invalid/signal-only", "TERM",
    "Invalid stop schedule “TERM”: signal “TERM” is not followed by a timeout" },
  { "/schedule/invalid/last-signal-without-timeout", "TERM/30/KILL",
    "signal “KILL” is not followed by a timeout" },
  { "/schedule/invalid/two-signals", "TERM/KILL/5", "signal “TERM” is not followed by a timeout" },
  { "/schedule/invalid/two-timeouts", "TERM/30s/5s", "two timeouts in a row (“5s” after “30s”)" },
  { "/schedule/invalid/two-timeouts-no-signal-number", "TERM/30/100",
    "two timeouts in a row (“100” after “30”)" },
  { "/schedule/invalid/unknown-signal", "FOO/30", "unknown signal “FOO”" },
  { "/schedule/invalid/signal-zero", "0/30", "unknown signal “0”" },
  { "/schedule/invalid/forever-alone", "forever", "“forever” cannot come first" },
  { "/schedule/invalid/forever-first", "forever/TERM/5", "“forever” cannot come first" },
  { "/schedule/invalid/forever-not-last", "TERM/5/forever/KILL/5",
    "“forever” must be the last item" },
  { "/schedule/invalid/forever-as-timeout", "TERM/forever",
    "signal “TERM” is not followed by a timeout" },
  { "/schedule/invalid/bad-timeout", "TERM/5x", "Invalid duration “5x”" },
  { "/schedule/invalid/negative-timeout", "TERM/-5",
    "Invalid duration “-5”: it must not be negative" },
  { "/schedule/invalid/negative-single", "-5", "Invalid duration “-5”: it must not be negative" },
  { "/schedule/invalid/garbage-single", "soon", "Invalid duration “soon”" },
  { "/schedule/invalid/spaces", "TERM / 5", "unknown signal “TERM ”" },
};

static void
test_schedule_parse (gconstpointer data)
{
  const ScheduleCase *tc = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) steps = NULL;

  gboolean ok = stem_schedule_parse (tc->text, &steps, &error);
  if (tc->message != NULL)
    {
      g_assert_false (ok);
      g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
      g_assert_null (steps);
      assert_message_contains (error, tc->message);
      return;
    }

  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_cmpuint (g_array_get_element_size (steps), ==, sizeof (StemScheduleStep));
  g_assert_cmpuint (steps->len, ==, tc->n_steps);
  for (guint i = 0; i < tc->n_steps; i++)
    {
      const StemScheduleStep *step = &g_array_index (steps, StemScheduleStep, i);
      g_assert_cmpint (step->signum, ==, tc->steps[i].signum);
      g_assert_cmpint (step->timeout_ms, ==, tc->steps[i].timeout_ms);
    }

  g_autofree char *formatted = stem_schedule_format (steps);
  g_assert_cmpstr (formatted, ==, tc->formatted);

  /* The formatted schedule reads back as the same steps. */
  g_autoptr (GArray) again = NULL;
  g_assert_true (stem_schedule_parse (formatted, &again, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (again->len, ==, steps->len);
  for (guint i = 0; i < steps->len; i++)
    {
      /* Field by field: the struct has padding that memcmp would compare. */
      const StemScheduleStep *a = &g_array_index (again, StemScheduleStep, i);
      const StemScheduleStep *b = &g_array_index (steps, StemScheduleStep, i);
      g_assert_cmpint (a->signum, ==, b->signum);
      g_assert_cmpint (a->timeout_ms, ==, b->timeout_ms);
    }
}

static void
test_schedule_new (void)
{
  g_autoptr (GArray) warm = stem_schedule_new (STEM_STOP_WARM, 30000, 5000);
  g_autoptr (GArray) soft = stem_schedule_new (STEM_STOP_SOFT, 1500, 0);
  g_autoptr (GArray) hard = stem_schedule_new (STEM_STOP_HARD, 120000, 3600000);

  g_assert_cmpuint (g_array_get_element_size (warm), ==, sizeof (StemScheduleStep));
  g_assert_cmpuint (warm->len, ==, 2);
  g_assert_cmpint (g_array_index (warm, StemScheduleStep, 0).signum, ==, SIGTERM);
  g_assert_cmpint (g_array_index (warm, StemScheduleStep, 0).timeout_ms, ==, 30000);
  g_assert_cmpint (g_array_index (warm, StemScheduleStep, 1).signum, ==, SIGKILL);
  g_assert_cmpint (g_array_index (warm, StemScheduleStep, 1).timeout_ms, ==, 5000);

  g_autofree char *warm_text = stem_schedule_format (warm);
  g_autofree char *soft_text = stem_schedule_format (soft);
  g_autofree char *hard_text = stem_schedule_format (hard);
  g_assert_cmpstr (warm_text, ==, "TERM/30s/KILL/5s");
  g_assert_cmpstr (soft_text, ==, "INT/1500ms/KILL/0s");
  g_assert_cmpstr (hard_text, ==, "QUIT/2m/KILL/1h");
}

static void
test_schedule_format_empty (void)
{
  g_autoptr (GArray) steps = g_array_new (FALSE, FALSE, sizeof (StemScheduleStep));
  g_autofree char *text = stem_schedule_format (steps);
  g_assert_cmpstr (text, ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (duration_cases); i++)
    g_test_add_data_func (duration_cases[i].path, &duration_cases[i], test_duration_parse);
  for (gsize i = 0; i < G_N_ELEMENTS (format_cases); i++)
    g_test_add_data_func (format_cases[i].path, &format_cases[i], test_duration_format);
  g_test_add_func ("/duration/format/forever", test_duration_format_forever);
  g_test_add_func ("/stop-mode/parse", test_stop_modes);
  g_test_add_func ("/signal/names", test_signal_names);
  g_test_add_func ("/signal/numbers", test_signal_numbers);
  g_test_add_func ("/signal/invalid", test_signal_invalid);
  for (gsize i = 0; i < G_N_ELEMENTS (schedule_cases); i++)
    g_test_add_data_func (schedule_cases[i].path, &schedule_cases[i], test_schedule_parse);
  g_test_add_func ("/schedule/new", test_schedule_new);
  g_test_add_func ("/schedule/format/empty", test_schedule_format_empty);

  return g_test_run ();
}
