/* Pidfile contents: only one integer in [2, pid_max] ever comes out. */
#include "fuzz.h"

#include "stem-pidfile.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  pid_t pid = 0;
  g_autoptr (GError) error = NULL;
  if (stem_pidfile_parse ("fuzz.pid", (const char *)data, size, &pid, &error))
    {
      if (pid < 2 || (guint64)pid > stem_pid_max ())
        __builtin_trap ();
    }
  else if (error == NULL)
    __builtin_trap ();
  return 0;
}
