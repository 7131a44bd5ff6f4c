#include "stem-json.h"

#include <stdio.h>

struct _StemJson
{
  GString *text;
  GArray *counts; /* values written so far in each open container */
  GString *kinds; /* '{' or '[' per open container */
  gboolean named; /* a member name was written, its value is next */
};

StemJson *
stem_json_new (void)
{
  StemJson *json = g_new0 (StemJson, 1);
  json->text = g_string_new (NULL);
  json->counts = g_array_new (FALSE, TRUE, sizeof (guint));
  json->kinds = g_string_new (NULL);
  return json;
}

void
stem_json_free (StemJson *json)
{
  if (json == NULL)
    return;
  g_string_free (json->text, TRUE);
  g_array_unref (json->counts);
  g_string_free (json->kinds, TRUE);
  g_free (json);
}

static void
indent (StemJson *json)
{
  for (guint i = 0; i < json->counts->len; i++)
    g_string_append (json->text, "  ");
}

static void
write_string (GString *out, const char *value)
{
  g_autofree char *valid = g_utf8_make_valid (value, -1);
  g_string_append_c (out, '"');
  for (const char *p = valid; *p != '\0'; p++)
    {
      unsigned char c = (unsigned char)*p;
      switch (c)
        {
        case '"':
          g_string_append (out, "\\\"");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
        case '\b':
          g_string_append (out, "\\b");
          break;
        case '\f':
          g_string_append (out, "\\f");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_c (out, (char)c);
        }
    }
  g_string_append_c (out, '"');
}

/* Before any value: the separator, the indent and, in an object, the name
 * (already written by stem_json_member). */
static void
begin_value (StemJson *json)
{
  if (json->named || json->counts->len == 0)
    {
      json->named = FALSE;
      return;
    }
  guint *count = &g_array_index (json->counts, guint, json->counts->len - 1);
  g_string_append (json->text, *count > 0 ? ",\n" : "\n");
  (*count)++;
  indent (json);
}

void
stem_json_member (StemJson *json, const char *name)
{
  g_return_if_fail (json->counts->len > 0 && json->kinds->str[json->kinds->len - 1] == '{');
  begin_value (json);
  write_string (json->text, name);
  g_string_append (json->text, " : ");
  json->named = TRUE;
}

static void
begin_container (StemJson *json, char kind)
{
  begin_value (json);
  g_string_append_c (json->text, kind);
  g_string_append_c (json->kinds, kind);
  guint zero = 0;
  g_array_append_val (json->counts, zero);
}

static void
end_container (StemJson *json, char kind)
{
  g_return_if_fail (json->counts->len > 0 && json->kinds->str[json->kinds->len - 1] == kind);
  guint count = g_array_index (json->counts, guint, json->counts->len - 1);
  g_array_set_size (json->counts, json->counts->len - 1);
  g_string_truncate (json->kinds, json->kinds->len - 1);
  if (count > 0)
    {
      g_string_append_c (json->text, '\n');
      indent (json);
    }
  g_string_append_c (json->text, kind == '{' ? '}' : ']');
}

void
stem_json_begin_object (StemJson *json)
{
  begin_container (json, '{');
}

void
stem_json_end_object (StemJson *json)
{
  end_container (json, '{');
}

void
stem_json_begin_array (StemJson *json)
{
  begin_container (json, '[');
}

void
stem_json_end_array (StemJson *json)
{
  end_container (json, '[');
}

void
stem_json_string (StemJson *json, const char *value)
{
  begin_value (json);
  write_string (json->text, value);
}

void
stem_json_int (StemJson *json, gint64 value)
{
  begin_value (json);
  g_string_append_printf (json->text, "%" G_GINT64_FORMAT, value);
}

void
stem_json_boolean (StemJson *json, gboolean value)
{
  begin_value (json);
  g_string_append (json->text, value ? "true" : "false");
}

void
stem_json_null (StemJson *json)
{
  begin_value (json);
  g_string_append (json->text, "null");
}

const char *
stem_json_text (StemJson *json)
{
  return json->text->str;
}

void
stem_json_print (StemJson *json)
{
  /* JSON is UTF-8 whatever the locale (RFC 8259): g_print would convert
   * it to the locale's character set, "é" to "?" in the C locale. */
  fwrite (json->text->str, 1, json->text->len, stdout);
  putchar ('\n');
}
