/* The env-file grammar (stem.env(5)): any bytes parse or fail with a
 * message, never crash, and what parses is NAME=VALUE pairs. */
#include "fuzz.h"

#include "stem-envfile.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_string (data, size);
  g_auto (GStrv) envp = g_new0 (char *, 1);
  g_autoptr (GError) error = NULL;
  if (stem_envfile_parse ("fuzz.env", text, size, &envp, &error))
    {
      for (guint i = 0; envp[i] != NULL; i++)
        if (strchr (envp[i], '=') == NULL)
          __builtin_trap ();
    }
  else if (error == NULL || error->message == NULL)
    __builtin_trap ();
  return 0;
}
