/* What every libFuzzer harness shares: the input as a NUL-terminated
 * string, as the parsers receive their input (a file's contents, an
 * argument), and one quiet, English GLib. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* DATA as a string of its own (the parsers never see anything else). */
static inline char *
fuzz_string (const uint8_t *data, size_t size)
{
  char *text = g_malloc (size + 1);
  memcpy (text, data, size);
  text[size] = '\0';
  return text;
}
