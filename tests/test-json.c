/* The JSON writer every tool prints with: the layout, and that what it
 * writes is JSON that a real parser (json-glib, linked by this test only)
 * reads back to the same values, whatever bytes a string holds. */

#include <json-glib/json-glib.h>

#include "stem-json.h"

static void
test_layout (void)
{
  g_autoptr (StemJson) j = stem_json_new ();
  stem_json_begin_object (j);
  stem_json_member (j, "verb");
  stem_json_string (j, "status");
  stem_json_member (j, "ok");
  stem_json_boolean (j, FALSE);
  stem_json_member (j, "pid");
  stem_json_int (j, -42);
  stem_json_member (j, "none");
  stem_json_null (j);
  stem_json_member (j, "empty");
  stem_json_begin_array (j);
  stem_json_end_array (j);
  stem_json_member (j, "env");
  stem_json_begin_object (j);
  stem_json_end_object (j);
  stem_json_member (j, "nodes");
  stem_json_begin_array (j);
  stem_json_begin_object (j);
  stem_json_member (j, "node");
  stem_json_string (j, "a");
  stem_json_end_object (j);
  stem_json_string (j, "b");
  stem_json_begin_array (j);
  stem_json_boolean (j, TRUE);
  stem_json_end_array (j);
  stem_json_end_array (j);
  stem_json_end_object (j);
  g_assert_cmpstr (stem_json_text (j), ==,
                   "{\n"
                   "  \"verb\" : \"status\",\n"
                   "  \"ok\" : false,\n"
                   "  \"pid\" : -42,\n"
                   "  \"none\" : null,\n"
                   "  \"empty\" : [],\n"
                   "  \"env\" : {},\n"
                   "  \"nodes\" : [\n"
                   "    {\n"
                   "      \"node\" : \"a\"\n"
                   "    },\n"
                   "    \"b\",\n"
                   "    [\n"
                   "      true\n"
                   "    ]\n"
                   "  ]\n"
                   "}");
}

static const struct
{
  const char *value;
  const char *written;
} escapes[] = {
  { "", "\"\"" },
  { "a\"b\\c/d", "\"a\\\"b\\\\c/d\"" },
  { "\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\"" },
  { "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
  { "é ☃ \xe2\x80\xa8", "\"é ☃ \xe2\x80\xa8\"" },
  { "bad \xff byte", "\"bad \xef\xbf\xbd byte\"" },
};

static void
test_escapes (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (escapes); i++)
    {
      g_autoptr (StemJson) j = stem_json_new ();
      stem_json_string (j, escapes[i].value);
      g_assert_cmpstr (stem_json_text (j), ==, escapes[i].written);
    }
}

/* Every byte from 1 to 255, as a value and as a member name, read back by
 * json-glib: the same string (invalid UTF-8 replaced by U+FFFD). */
static void
test_round_trip (void)
{
  char all[256];
  for (int i = 1; i < 256; i++)
    all[i - 1] = (char)i;
  all[255] = '\0';
  g_autofree char *expected = g_utf8_make_valid (all, -1);

  g_autoptr (StemJson) j = stem_json_new ();
  stem_json_begin_object (j);
  stem_json_member (j, all);
  stem_json_string (j, all);
  stem_json_end_object (j);

  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (json_parser_load_from_data (parser, stem_json_text (j), -1, &error));
  g_assert_no_error (error);
  JsonObject *object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (object, expected), ==, expected);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json/layout", test_layout);
  g_test_add_func ("/json/escapes", test_escapes);
  g_test_add_func ("/json/round-trip", test_round_trip);
  return g_test_run ();
}
