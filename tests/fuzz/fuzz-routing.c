/* Routing files, YAML and JSON (JSON when the first non-blank byte is
 * "{"): they load, or fail with a message; a loaded one resolves names. */
#include "fuzz.h"

#include "stem-routing.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_string (data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (StemRouting) routing = stem_routing_parse ("fuzz.yaml", text, size, &error);
  if (routing == NULL)
    {
      if (error == NULL)
        __builtin_trap ();
      return 0;
    }
  if (stem_routing_get_default_queue (routing) == NULL)
    __builtin_trap ();
  g_auto (GStrv) queues = stem_routing_list_queues (routing);
  for (guint i = 0; queues[i] != NULL; i++)
    {
      g_autofree char *resolved = stem_routing_resolve_queue (routing, queues[i], NULL);
      if (resolved == NULL)
        __builtin_trap ();
    }
  g_autofree char *alias = stem_routing_resolve_queue (routing, "default", NULL);
  return 0;
}
