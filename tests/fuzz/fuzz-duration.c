/* Durations, stop modes, signal names and stop schedules: whatever parses
 * formats back into text that parses to the same value. */
#include "fuzz.h"

#include "stem-duration.h"
#include "stem-schedule.h"

static void
check_duration (const char *text)
{
  gint64 ms;
  if (!stem_duration_parse (text, &ms, NULL))
    return;
  g_autofree char *again = stem_duration_format (ms);
  gint64 ms2;
  if (ms != STEM_DURATION_FOREVER && (!stem_duration_parse (again, &ms2, NULL) || ms2 != ms))
    __builtin_trap ();
}

static void
check_schedule (const char *text)
{
  GArray *steps = NULL;
  if (!stem_schedule_parse (text, &steps, NULL))
    return;
  g_autofree char *again = stem_schedule_format (steps);
  GArray *steps2 = NULL;
  if (!stem_schedule_parse (again, &steps2, NULL) || steps2->len != steps->len)
    __builtin_trap ();
  g_array_unref (steps2);
  g_array_unref (steps);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_string (data, size);
  check_duration (text);
  check_schedule (text);
  int signum;
  if (stem_signal_parse (text, &signum, NULL) && stem_signal_name (signum) == NULL && signum <= 0)
    __builtin_trap ();
  StemStopMode mode;
  stem_stop_mode_parse (text, &mode, NULL);
  return 0;
}
