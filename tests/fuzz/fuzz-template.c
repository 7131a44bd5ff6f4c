/* Path and argument templates: validation and expansion agree, and the
 * pidfile rules never crash. */
#include "fuzz.h"

#include "stem-template.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *tmpl = fuzz_string (data, size);
  StemTemplateContext ctx = {
    .node = "alpha",
    .index = 3,
    .host = "host.example",
    .timestamp = "2026-01-02T03-04-05Z",
  };
  gboolean valid = stem_template_validate (tmpl, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *expanded = stem_template_expand (tmpl, &ctx, &error);
  if ((expanded != NULL) != valid || (expanded == NULL && error == NULL))
    __builtin_trap ();
  stem_template_check_pidfile (tmpl, 1, NULL);
  stem_template_check_pidfile (tmpl, 2, NULL);
  return 0;
}
