#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A JSON document written as it is built, in the layout every tool prints
 * (two-space indents, "name" : value), with no library behind it: the
 * tools that print JSON need not load json-glib, GObject and GIO (about
 * 6 ms and 1.5 MB of every call) for it.  Strings are written as UTF-8
 * (invalid sequences replaced by U+FFFD), with every control character
 * escaped.
 *
 *   g_autoptr (StemJson) j = stem_json_new ();
 *   stem_json_begin_object (j);
 *   stem_json_member (j, "verb");
 *   stem_json_string (j, "status");
 *   stem_json_end_object (j);
 *   stem_json_print (j);
 *
 * Members of an object are a stem_json_member followed by one value. */
typedef struct _StemJson StemJson;

StemJson *stem_json_new (void);
void stem_json_free (StemJson *json);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemJson, stem_json_free)

void stem_json_begin_object (StemJson *json);
void stem_json_end_object (StemJson *json);
void stem_json_begin_array (StemJson *json);
void stem_json_end_array (StemJson *json);
void stem_json_member (StemJson *json, const char *name);
void stem_json_string (StemJson *json, const char *value);
void stem_json_int (StemJson *json, gint64 value);
void stem_json_boolean (StemJson *json, gboolean value);
void stem_json_null (StemJson *json);

/* The document so far (complete once every container is ended). */
const char *stem_json_text (StemJson *json);
/* Prints the document, and a newline, on standard output. */
void stem_json_print (StemJson *json);

G_END_DECLS
