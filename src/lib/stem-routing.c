#include "stem-routing.h"

#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-path.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <yaml.h>

/* What upstream's loader accepts is accepted and means the same here: a
 * default_queue given as a bare queue name, "defaultQueue", the alias
 * "default" when none is given, the queue "default" when there are no queues.
 * What it refuses in the parts read here (a queue or channel that is not a
 * mapping, an undefined default or fallback queue, an alias that is another
 * queue's name) is refused too, so that a worker does not fail later on a file
 * stem-multi let through.  Stricter than upstream: an empty file, unknown keys
 * at the top level and under default_queue (a typo must not be silently
 * ignored), duplicate keys, YAML anchors, aliases and custom tags, and names
 * that would not survive STEM_WORKER_QUEUES (comma-joined). */

#define ROUTING_MAX_SIZE (1024 * 1024)
/* Far more than a routing file needs; see json_check_syntax () for why. */
#define ROUTING_MAX_DEPTH 64
#define LEGACY_QUEUE "default"

struct _StemRouting
{
  char *path;
  char *default_queue;
  char *alias;
  GHashTable *queues;
  GHashTable *broadcasts;
};

/* The parsed file, YAML or JSON, before its shape is checked. */
typedef enum
{
  NODE_NULL,
  NODE_STRING,
  NODE_OTHER, /* a JSON number or boolean */
  NODE_MAPPING,
  NODE_LIST,
} NodeKind;

typedef struct _Node Node;
struct _Node
{
  NodeKind kind;
  guint line; /* 0 when unknown */
  char *text;
  GPtrArray *keys;  /* NODE_MAPPING: NODE_STRING nodes */
  GPtrArray *items; /* NODE_MAPPING: the values; NODE_LIST: the items */
};

static void
node_free (Node *node)
{
  if (node == NULL)
    return;
  g_free (node->text);
  g_clear_pointer (&node->keys, g_ptr_array_unref);
  g_clear_pointer (&node->items, g_ptr_array_unref);
  g_free (node);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Node, node_free)

static Node *
node_new (NodeKind kind, guint line)
{
  Node *node = g_new0 (Node, 1);
  node->kind = kind;
  node->line = line;
  if (kind == NODE_MAPPING)
    node->keys = g_ptr_array_new_with_free_func ((GDestroyNotify)node_free);
  if (kind == NODE_MAPPING || kind == NODE_LIST)
    node->items = g_ptr_array_new_with_free_func ((GDestroyNotify)node_free);
  return node;
}

static gboolean throw_at (GError **error, const char *path, guint line, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

/* "PATH:LINE: message", or "PATH: message" when the line is unknown. */
static gboolean
throw_at (GError **error, const char *path, guint line, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  if (line == 0)
    return stem_throw_code (error, STEM_ERROR_CONFIG, "%s: %s", path, message);
  return stem_throw_code (error, STEM_ERROR_CONFIG, "%s:%u: %s", path, line, message);
}

static guint
line_at (const char *data, gsize offset)
{
  guint line = 1;
  for (gsize i = 0; i < offset; i++)
    if (data[i] == '\n')
      line++;
  return line;
}

static gboolean
is_valid_name (const char *name)
{
  if (*name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._:-", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static GStrv
sorted_keys (GHashTable *set)
{
  GPtrArray *names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;
  g_hash_table_iter_init (&iter, set);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, g_strdup (key));
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  return (GStrv)g_ptr_array_free (names, FALSE);
}

static char *
joined_keys (GHashTable *set)
{
  g_auto (GStrv) names = sorted_keys (set);
  return g_strjoinv (", ", names);
}

/* A parser library loaded by its soname when a file needs it, and never
 * closed (json-glib's GObject types cannot be unloaded): each symbol's
 * address goes to its slot (through void **, the one conversion POSIX
 * defines for dlsym).  NULL, or what failed (to be freed). */
typedef struct
{
  void **slot;
  const char *symbol;
} LibrarySymbol;

static char *
library_load (const char *soname, const LibrarySymbol *symbols, gsize n_symbols)
{
  void *lib = dlopen (soname, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    return g_strdup (dlerror ());
  for (gsize i = 0; i < n_symbols; i++)
    if ((*symbols[i].slot = dlsym (lib, symbols[i].symbol)) == NULL)
      return g_strdup_printf (_ ("%s is missing"), symbols[i].symbol);
  return NULL;
}

/* YAML, through libyaml's event API: the document API would expand aliases
 * silently and forget where each node started. */

/* libyaml, loaded for a YAML routing file only: linked, it would be loaded
 * by every call of every tool that reads no routing file at all. */
typedef struct
{
  typeof (yaml_parser_initialize) *parser_initialize;
  typeof (yaml_parser_set_input_string) *parser_set_input_string;
  typeof (yaml_parser_set_encoding) *parser_set_encoding;
  typeof (yaml_parser_parse) *parser_parse;
  typeof (yaml_parser_delete) *parser_delete;
  typeof (yaml_event_delete) *event_delete;
} YamlApi;

static gboolean
yaml_api_load (YamlApi *api, const char *path, GError **error)
{
  const LibrarySymbol symbols[] = {
    { (void **)&api->parser_initialize, "yaml_parser_initialize" },
    { (void **)&api->parser_set_input_string, "yaml_parser_set_input_string" },
    { (void **)&api->parser_set_encoding, "yaml_parser_set_encoding" },
    { (void **)&api->parser_parse, "yaml_parser_parse" },
    { (void **)&api->parser_delete, "yaml_parser_delete" },
    { (void **)&api->event_delete, "yaml_event_delete" },
  };
  g_autofree char *failed = library_load (YAML_SONAME, symbols, G_N_ELEMENTS (symbols));
  if (failed != NULL)
    return throw_at (error, path, 0, _ ("reading a YAML file needs %s: %s"), YAML_SONAME, failed);
  return TRUE;
}

typedef struct
{
  const YamlApi *api;
  yaml_parser_t parser;
  gboolean initialized;
  const char *path;
  const char *data;
} YamlReader;

static void
yaml_reader_clear (YamlReader *reader)
{
  if (reader->initialized)
    reader->api->parser_delete (&reader->parser);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (YamlReader, yaml_reader_clear)

/* An event, with the library that made it and must delete it. */
typedef struct
{
  yaml_event_t e;
  const YamlApi *api;
} YamlEvent;

static void
yaml_event_clear (YamlEvent *event)
{
  if (event->api != NULL)
    event->api->event_delete (&event->e);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (YamlEvent, yaml_event_clear)

static gboolean
yaml_throw_problem (YamlReader *reader, GError **error)
{
  yaml_parser_t *parser = &reader->parser;
  if (parser->error == YAML_MEMORY_ERROR)
    return throw_at (error, reader->path, 0, _ ("out of memory while parsing YAML"));

  guint line = parser->error == YAML_READER_ERROR ? line_at (reader->data, parser->problem_offset)
                                                  : (guint)parser->problem_mark.line + 1;
  const char *problem = parser->problem != NULL ? parser->problem : "?";
  if (parser->context != NULL)
    return throw_at (error, reader->path, line,
                     _ ("YAML syntax error: %s (%s that started on line %u)"), problem,
                     parser->context, (guint)parser->context_mark.line + 1);
  return throw_at (error, reader->path, line, _ ("YAML syntax error: %s"), problem);
}

static gboolean
yaml_next (YamlReader *reader, YamlEvent *event, GError **error)
{
  if (!reader->api->parser_parse (&reader->parser, &event->e))
    return yaml_throw_problem (reader, error);
  event->api = reader->api;
  return TRUE;
}

static gboolean
yaml_check_properties (YamlReader *reader, const yaml_char_t *anchor, const yaml_char_t *tag,
                       const char *const *allowed_tags, guint line, GError **error)
{
  if (anchor != NULL)
    return throw_at (error, reader->path, line,
                     _ ("YAML anchors and aliases are not supported (“&%s”); write the value "
                        "out in full"),
                     (const char *)anchor);
  if (tag == NULL || g_strv_contains (allowed_tags, (const char *)tag))
    return TRUE;
  return throw_at (error, reader->path, line,
                   _ ("YAML tag “%s” is not supported here (only the standard tags of "
                      "strings, numbers, booleans, null, mappings and lists are)"),
                   (const char *)tag);
}

static Node *yaml_node (YamlReader *reader, yaml_event_t *event, guint depth, GError **error);

static Node *
yaml_scalar (YamlReader *reader, yaml_event_t *event, GError **error)
{
  static const char *const tags[]
      = { YAML_STR_TAG, YAML_NULL_TAG, YAML_BOOL_TAG, YAML_INT_TAG, YAML_FLOAT_TAG, NULL };
  static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
  guint line = (guint)event->start_mark.line + 1;
  const char *tag = (const char *)event->data.scalar.tag;
  const char *value = (const char *)event->data.scalar.value;
  gsize length = event->data.scalar.length;

  if (!yaml_check_properties (reader, event->data.scalar.anchor, event->data.scalar.tag, tags, line,
                              error))
    return NULL;
  if (memchr (value, '\0', length) != NULL)
    {
      throw_at (error, reader->path, line, _ ("a string contains a NUL character"));
      return NULL;
    }

  gboolean is_null = tag != NULL ? g_str_equal (tag, YAML_NULL_TAG)
                                 : event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                                       && g_strv_contains (null_words, value);
  Node *node = node_new (is_null ? NODE_NULL : NODE_STRING, line);
  node->text = g_strndup (value, length);
  return node;
}

static Node *
yaml_list (YamlReader *reader, yaml_event_t *event, guint depth, GError **error)
{
  static const char *const tags[] = { YAML_SEQ_TAG, NULL };
  g_autoptr (Node) node = node_new (NODE_LIST, (guint)event->start_mark.line + 1);
  if (!yaml_check_properties (reader, event->data.sequence_start.anchor,
                              event->data.sequence_start.tag, tags, node->line, error))
    return NULL;

  for (;;)
    {
      g_auto (YamlEvent) child = { 0 };
      if (!yaml_next (reader, &child, error))
        return NULL;
      if (child.e.type == YAML_SEQUENCE_END_EVENT)
        return g_steal_pointer (&node);
      Node *item = yaml_node (reader, &child.e, depth + 1, error);
      if (item == NULL)
        return NULL;
      g_ptr_array_add (node->items, item);
    }
}

static Node *
yaml_mapping (YamlReader *reader, yaml_event_t *event, guint depth, GError **error)
{
  static const char *const tags[] = { YAML_MAP_TAG, NULL };
  g_autoptr (Node) node = node_new (NODE_MAPPING, (guint)event->start_mark.line + 1);
  if (!yaml_check_properties (reader, event->data.mapping_start.anchor,
                              event->data.mapping_start.tag, tags, node->line, error))
    return NULL;

  /* key → the line it was first given on */
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (;;)
    {
      g_auto (YamlEvent) key_event = { 0 };
      if (!yaml_next (reader, &key_event, error))
        return NULL;
      if (key_event.e.type == YAML_MAPPING_END_EVENT)
        return g_steal_pointer (&node);
      if (key_event.e.type == YAML_SEQUENCE_START_EVENT
          || key_event.e.type == YAML_MAPPING_START_EVENT)
        {
          throw_at (error, reader->path, (guint)key_event.e.start_mark.line + 1,
                    _ ("a mapping key must be a string, not a list or a mapping"));
          return NULL;
        }
      g_autoptr (Node) key = yaml_node (reader, &key_event.e, depth + 1, error);
      if (key == NULL)
        return NULL;
      /* A key is a name even where it reads as null ("~:"). */
      key->kind = NODE_STRING;
      gpointer first_line;
      if (g_hash_table_lookup_extended (seen, key->text, NULL, &first_line))
        {
          throw_at (error, reader->path, key->line,
                    _ ("duplicate key “%s” (first given on line %u)"), key->text,
                    GPOINTER_TO_UINT (first_line));
          return NULL;
        }
      g_hash_table_insert (seen, key->text, GUINT_TO_POINTER (key->line));
      g_ptr_array_add (node->keys, g_steal_pointer (&key));

      g_auto (YamlEvent) value_event = { 0 };
      if (!yaml_next (reader, &value_event, error))
        return NULL;
      Node *value = yaml_node (reader, &value_event.e, depth + 1, error);
      if (value == NULL)
        return NULL;
      g_ptr_array_add (node->items, value);
    }
}

static Node *
yaml_node (YamlReader *reader, yaml_event_t *event, guint depth, GError **error)
{
  guint line = (guint)event->start_mark.line + 1;
  if (depth > ROUTING_MAX_DEPTH)
    {
      throw_at (error, reader->path, line, _ ("nested deeper than %d levels"), ROUTING_MAX_DEPTH);
      return NULL;
    }

  switch (event->type)
    {
    case YAML_ALIAS_EVENT:
      throw_at (error, reader->path, line,
                _ ("YAML anchors and aliases are not supported (“*%s”); write the value out in "
                   "full"),
                (const char *)event->data.alias.anchor);
      return NULL;
    case YAML_SCALAR_EVENT:
      return yaml_scalar (reader, event, error);
    case YAML_SEQUENCE_START_EVENT:
      return yaml_list (reader, event, depth, error);
    case YAML_MAPPING_START_EVENT:
      return yaml_mapping (reader, event, depth, error);
    default:
      throw_at (error, reader->path, line, _ ("unexpected YAML event"));
      return NULL;
    }
}

/* Sets *OUT_ROOT to NULL when the stream holds no document. */
static gboolean
yaml_parse (const char *path, const char *data, gsize length, Node **out_root, GError **error)
{
  YamlApi api;
  if (!yaml_api_load (&api, path, error))
    return FALSE;
  g_auto (YamlReader) reader = { .api = &api, .path = path, .data = data };
  if (!api.parser_initialize (&reader.parser))
    return throw_at (error, path, 0, _ ("out of memory while parsing YAML"));
  reader.initialized = TRUE;
  api.parser_set_input_string (&reader.parser, (const unsigned char *)data, length);
  api.parser_set_encoding (&reader.parser, YAML_UTF8_ENCODING);

  g_auto (YamlEvent) stream_start = { 0 };
  g_auto (YamlEvent) document_start = { 0 };
  if (!yaml_next (&reader, &stream_start, error) || !yaml_next (&reader, &document_start, error))
    return FALSE;
  if (document_start.e.type == YAML_STREAM_END_EVENT)
    {
      *out_root = NULL;
      return TRUE;
    }

  g_auto (YamlEvent) root_event = { 0 };
  if (!yaml_next (&reader, &root_event, error))
    return FALSE;
  g_autoptr (Node) root = yaml_node (&reader, &root_event.e, 0, error);
  if (root == NULL)
    return FALSE;

  g_auto (YamlEvent) document_end = { 0 };
  g_auto (YamlEvent) stream_end = { 0 };
  if (!yaml_next (&reader, &document_end, error) || !yaml_next (&reader, &stream_end, error))
    return FALSE;
  if (stream_end.e.type != YAML_STREAM_END_EVENT)
    return throw_at (error, path, (guint)stream_end.e.start_mark.line + 1,
                     _ ("a routing file holds a single YAML document"));

  *out_root = g_steal_pointer (&root);
  return TRUE;
}

/* The text of the token at DATA[I…] for a message: up to the next blank,
 * quote or bracket, at most 32 bytes, made valid UTF-8. */
static char *
json_token (const char *data, gsize length, gsize i)
{
  gsize end = i + 1;
  while (end < length && end - i < 32 && !g_ascii_isspace (data[end])
         && strchr ("{}[],:\"", data[end]) == NULL)
    end++;
  return g_utf8_make_valid (data + i, (gssize)(end - i));
}

/* Skips the JSON number at DATA[*I…], -?(0|[1-9][0-9]*)(.[0-9]+)?
 * ([eE][+-]?[0-9]+)?, leaving *I on its last character: FALSE when it is
 * no such number, or one that a letter, digit, "." or sign goes on. */
static gboolean
json_skip_number (const char *data, gsize length, gsize *i)
{
  gsize p = *i;
#define DIGITS_AT(p) ((p) < length && g_ascii_isdigit (data[p]))
  if (p < length && data[p] == '-')
    p++;
  if (p < length && data[p] == '0')
    p++;
  else if (DIGITS_AT (p))
    while (DIGITS_AT (p))
      p++;
  else
    return FALSE;
  if (p < length && data[p] == '.')
    {
      p++;
      if (!DIGITS_AT (p))
        return FALSE;
      while (DIGITS_AT (p))
        p++;
    }
  if (p < length && (data[p] == 'e' || data[p] == 'E'))
    {
      p++;
      if (p < length && (data[p] == '+' || data[p] == '-'))
        p++;
      if (!DIGITS_AT (p))
        return FALSE;
      while (DIGITS_AT (p))
        p++;
    }
#undef DIGITS_AT
  if (p < length && (g_ascii_isalnum (data[p]) || strchr (".+-", data[p]) != NULL))
    return FALSE;
  *i = p - 1;
  return TRUE;
}

/* The code unit of the \uXXXX escape at DATA[I] (its backslash), or -1. */
static gint
json_unicode_escape (const char *data, gsize length, gsize i)
{
  if (i + 5 >= length || data[i] != '\\' || data[i + 1] != 'u')
    return -1;
  gint unit = 0;
  for (gsize k = i + 2; k < i + 6; k++)
    {
      gint digit = g_ascii_xdigit_value (data[k]);
      if (digit < 0)
        return -1;
      unit = unit * 16 + digit;
    }
  return unit;
}

/* Checks the escape at DATA[*I] (a backslash in a string), leaving *I on
 * its last character: JSON's eight, and \u with four hex digits, but not
 * \u0000, which json-glib would take for the end of the string, nor half
 * of a surrogate pair without the other, which it would turn into bytes
 * that are not UTF-8. */
static gboolean
json_check_escape (const char *path, guint line, const char *data, gsize length, gsize *i,
                   GError **error)
{
  gint unit = json_unicode_escape (data, length, *i);
  if (unit == 0)
    return throw_at (error, path, line, _ ("a string contains a NUL character"));
  if (unit >= 0xd800 && unit <= 0xdbff)
    {
      gint low = json_unicode_escape (data, length, *i + 6);
      if (low >= 0xdc00 && low <= 0xdfff)
        {
          *i += 11;
          return TRUE;
        }
    }
  if (unit >= 0xd800 && unit <= 0xdfff)
    return throw_at (error, path, line,
                     _ ("JSON syntax error: “\\u%.4s” is half of a surrogate pair, without "
                        "the other half"),
                     data + *i + 2);
  if (unit >= 0)
    {
      *i += 5;
      return TRUE;
    }
  char e = *i + 1 < length ? data[++*i] : '\0';
  if (e != '\0' && e != 'u' && strchr ("\"\\/bfnrt", e) != NULL)
    return TRUE;
  g_autofree char *what = json_token (data, length, *i - 1);
  return throw_at (error, path, line, _ ("JSON syntax error: invalid escape “%s” in a string"),
                   what);
}

/* JSON, through json-glib.  It recurses once per nesting level with no limit
 * of its own, so the depth is checked first.  Its scanner (GScanner) is
 * lenient where JSON is strict, and upstream reads the file strictly: a
 * file that stem-multi let through could fail the worker.  So the tokens
 * are checked here first, as JSON has them: strings in double quotes with
 * JSON's escapes and no control character (GScanner also takes single
 * quotes, \x41 and a raw tab), numbers in JSON's form (not 0x10, 01, .5
 * or - 1), true, false and null, and no comments.  This count of brackets
 * outside strings is then json-glib's too.  Also refuses what json-glib
 * would wrongly accept. */
static gboolean
json_check_syntax (const char *path, const char *data, gsize length, GError **error)
{
  guint depth = 0;
  guint line = 1;
  gboolean in_string = FALSE;
  gboolean after_root = FALSE;
  for (gsize i = 0; i < length; i++)
    {
      char c = data[i];
      if (in_string)
        {
          if ((guchar)c < 0x20)
            return throw_at (error, path, line,
                             _ ("JSON syntax error: a control character in a string"));
          if (c == '"')
            in_string = FALSE;
          else if (c == '\\' && !json_check_escape (path, line, data, length, &i, error))
            return FALSE;
          continue;
        }
      /* json-glib would silently drop a second object or list. */
      if (after_root && !g_ascii_isspace (c))
        return throw_at (error, path, line,
                         _ ("JSON syntax error: more text after the end of the object"));
      if (c == '\n')
        line++;
      else if (c == '"')
        in_string = TRUE;
      else if (c == '\'')
        return throw_at (error, path, line,
                         _ ("JSON syntax error: strings must be in double quotes"));
      else if (c == '/')
        return throw_at (error, path, line, _ ("JSON syntax error: JSON has no comments"));
      else if (c == '{' || c == '[')
        {
          if (++depth > ROUTING_MAX_DEPTH)
            return throw_at (error, path, line, _ ("nested deeper than %d levels"),
                             ROUTING_MAX_DEPTH);
        }
      else if ((c == '}' || c == ']') && depth > 0)
        after_root = --depth == 0;
      else if (c == '-' || c == '.' || g_ascii_isdigit (c))
        {
          if (!json_skip_number (data, length, &i))
            {
              g_autofree char *what = json_token (data, length, i);
              return throw_at (error, path, line, _ ("JSON syntax error: invalid number “%s”"),
                               what);
            }
        }
      else if (g_ascii_isspace (c) || strchr ("}],:", c) != NULL)
        continue;
      else
        {
          g_autofree char *what = json_token (data, length, i);
          if (strcmp (what, "true") != 0 && strcmp (what, "false") != 0
              && strcmp (what, "null") != 0)
            return throw_at (error, path, line, _ ("JSON syntax error: unexpected “%s”"), what);
          i += strlen (what) - 1;
        }
    }
  return TRUE;
}

/* json-glib, loaded for a JSON routing file only: linked, it would bring
 * GObject and GIO (and, through GIO, libmount, libselinux, libblkid …) into
 * every call of every tool, about 6 ms each.  The names are the library's
 * own, without "json_" (g_* ones come from GObject, which it loads). */
typedef struct
{
  typeof (json_parser_new) *parser_new;
  typeof (json_parser_load_from_data) *parser_load_from_data;
  typeof (json_parser_get_root) *parser_get_root;
  typeof (json_parser_get_current_line) *parser_get_current_line;
  typeof (json_parser_error_quark) *parser_error_quark;
  typeof (json_node_get_node_type) *node_get_node_type;
  typeof (json_node_get_object) *node_get_object;
  typeof (json_node_get_array) *node_get_array;
  typeof (json_node_get_value_type) *node_get_value_type;
  typeof (json_node_get_string) *node_get_string;
  typeof (json_object_get_members) *object_get_members;
  typeof (json_object_get_member) *object_get_member;
  typeof (json_array_get_elements) *array_get_elements;
  typeof (g_signal_connect_data) *signal_connect_data;
  typeof (g_signal_handler_disconnect) *signal_handler_disconnect;
  typeof (g_object_unref) *object_unref;
} JsonApi;

static gboolean
json_api_load (JsonApi *api, const char *path, GError **error)
{
  const LibrarySymbol symbols[] = {
    { (void **)&api->parser_new, "json_parser_new" },
    { (void **)&api->parser_load_from_data, "json_parser_load_from_data" },
    { (void **)&api->parser_get_root, "json_parser_get_root" },
    { (void **)&api->parser_get_current_line, "json_parser_get_current_line" },
    { (void **)&api->parser_error_quark, "json_parser_error_quark" },
    { (void **)&api->node_get_node_type, "json_node_get_node_type" },
    { (void **)&api->node_get_object, "json_node_get_object" },
    { (void **)&api->node_get_array, "json_node_get_array" },
    { (void **)&api->node_get_value_type, "json_node_get_value_type" },
    { (void **)&api->node_get_string, "json_node_get_string" },
    { (void **)&api->object_get_members, "json_object_get_members" },
    { (void **)&api->object_get_member, "json_object_get_member" },
    { (void **)&api->array_get_elements, "json_array_get_elements" },
    { (void **)&api->signal_connect_data, "g_signal_connect_data" },
    { (void **)&api->signal_handler_disconnect, "g_signal_handler_disconnect" },
    { (void **)&api->object_unref, "g_object_unref" },
  };
  g_autofree char *failed = library_load (JSON_GLIB_SONAME, symbols, G_N_ELEMENTS (symbols));
  if (failed != NULL)
    return throw_at (error, path, 0, _ ("reading a JSON file needs %s: %s"), JSON_GLIB_SONAME,
                     failed);
  return TRUE;
}

/* json-glib keeps the last of duplicate members; "object-member" still sees
 * each of them. */
typedef struct
{
  const JsonApi *api;
  GHashTable *members; /* JsonObject * → set of member names */
  char *duplicate;
  guint line;
} JsonDuplicates;

static void
on_object_member (JsonParser *parser, JsonObject *object, const char *name, gpointer user_data)
{
  JsonDuplicates *dups = user_data;
  if (dups->duplicate != NULL)
    return;
  GHashTable *names = g_hash_table_lookup (dups->members, object);
  if (names == NULL)
    {
      names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (dups->members, object, names);
    }
  if (!g_hash_table_add (names, g_strdup (name)))
    {
      dups->duplicate = g_strdup (name);
      dups->line = dups->api->parser_get_current_line (parser);
    }
}

/* json-glib's messages read "<data>:LINE:COL: Parse error: …". */
static gboolean
json_throw_syntax (const JsonApi *api, const char *path, const GError *json_error, GError **error)
{
  const char *message = json_error->message;
  const char *prefix = "<data>:";
  if (g_str_has_prefix (message, prefix))
    {
      const char *start = message + strlen (prefix);
      char *end;
      guint64 line = g_ascii_strtoull (start, &end, 10);
      if (end != start && *end == ':' && line > 0 && line <= G_MAXUINT)
        {
          const char *rest = end + 1;
          while (g_ascii_isdigit (*rest))
            rest++;
          if (*rest == ':')
            rest++;
          while (*rest == ' ')
            rest++;
          /* json-glib says "expected character `]'" even inside an object. */
          if (g_error_matches (json_error, api->parser_error_quark (),
                               JSON_PARSER_ERROR_TRAILING_COMMA))
            return throw_at (error, path, (guint)line,
                             _ ("JSON syntax error: a comma before a closing bracket"));
          return throw_at (error, path, (guint)line, "%s", rest);
        }
    }
  return throw_at (error, path, 0, "%s", message);
}

static Node *
json_to_node (const JsonApi *api, JsonNode *json)
{
  switch (api->node_get_node_type (json))
    {
    case JSON_NODE_OBJECT:
      {
        Node *node = node_new (NODE_MAPPING, 0);
        JsonObject *object = api->node_get_object (json);
        g_autoptr (GList) members = api->object_get_members (object);
        for (GList *l = members; l != NULL; l = l->next)
          {
            Node *key = node_new (NODE_STRING, 0);
            key->text = g_strdup (l->data);
            g_ptr_array_add (node->keys, key);
            g_ptr_array_add (node->items,
                             json_to_node (api, api->object_get_member (object, l->data)));
          }
        return node;
      }
    case JSON_NODE_ARRAY:
      {
        Node *node = node_new (NODE_LIST, 0);
        g_autoptr (GList) elements = api->array_get_elements (api->node_get_array (json));
        for (GList *l = elements; l != NULL; l = l->next)
          g_ptr_array_add (node->items, json_to_node (api, l->data));
        return node;
      }
    case JSON_NODE_VALUE:
      if (api->node_get_value_type (json) == G_TYPE_STRING)
        {
          Node *node = node_new (NODE_STRING, 0);
          node->text = g_strdup (api->node_get_string (json));
          return node;
        }
      return node_new (NODE_OTHER, 0);
    case JSON_NODE_NULL:
    default:
      return node_new (NODE_NULL, 0);
    }
}

static gboolean
json_parse (const char *path, const char *data, gsize length, Node **out_root, GError **error)
{
  JsonApi api;
  if (!json_check_syntax (path, data, length, error) || !json_api_load (&api, path, error))
    return FALSE;

  JsonParser *parser = api.parser_new ();
  JsonDuplicates dups
      = { &api, g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify)g_hash_table_unref), NULL,
          0 };
  gulong handler = api.signal_connect_data (parser, "object-member", G_CALLBACK (on_object_member),
                                            &dups, NULL, 0);
  g_autoptr (GError) json_error = NULL;
  gboolean parsed = api.parser_load_from_data (parser, data, (gssize)length, &json_error);
  api.signal_handler_disconnect (parser, handler);
  g_hash_table_unref (dups.members);
  g_autofree char *duplicate = dups.duplicate;

  if (parsed && duplicate == NULL)
    *out_root = json_to_node (&api, api.parser_get_root (parser));
  api.object_unref (parser);
  if (!parsed)
    return json_throw_syntax (&api, path, json_error, error);
  if (duplicate != NULL)
    return throw_at (error, path, dups.line, _ ("duplicate key “%s”"), duplicate);
  return TRUE;
}

/* The shape of the file, the same for YAML and JSON. */

static gboolean
check_name (const char *path, const Node *node, const char *where, GError **error)
{
  if (node->kind != NODE_STRING)
    return throw_at (error, path, node->line, _ ("%s: expected a string"), where);
  if (!is_valid_name (node->text))
    return throw_at (error, path, node->line,
                     _ ("%s: invalid name “%s” (letters, digits, “.”, “_”, “:” and “-” only)"),
                     where, node->text);
  return TRUE;
}

/* queues and broadcasts: NAME → mapping (whose contents are not ours to
 * check).  Upstream refuses a null definition, so "primary:" needs "{}". */
static gboolean
load_definitions (const char *path, const Node *section, const char *where, GHashTable *names,
                  GError **error)
{
  if (section == NULL || section->kind == NODE_NULL)
    return TRUE;
  if (section->kind != NODE_MAPPING)
    return throw_at (error, path, section->line, _ ("%s: expected a mapping"), where);

  for (guint i = 0; i < section->keys->len; i++)
    {
      const Node *key = g_ptr_array_index (section->keys, i);
      const Node *value = g_ptr_array_index (section->items, i);
      if (!check_name (path, key, where, error))
        return FALSE;
      if (value->kind != NODE_MAPPING)
        return throw_at (error, path, value->line ? value->line : key->line,
                         _ ("%s.%s: expected a mapping (write {} when there is nothing to set)"),
                         where, key->text);
      g_hash_table_add (names, g_strdup (key->text));
    }
  return TRUE;
}

static gboolean
load_routes (const char *path, const Node *routes, GError **error)
{
  if (routes == NULL || routes->kind == NODE_NULL)
    return TRUE;
  if (routes->kind != NODE_LIST)
    return throw_at (error, path, routes->line, _ ("routes: expected a list"));
  for (guint i = 0; i < routes->items->len; i++)
    {
      const Node *route = g_ptr_array_index (routes->items, i);
      if (route->kind != NODE_MAPPING)
        return throw_at (error, path, route->line, _ ("routes[%u]: expected a mapping"), i);
    }
  return TRUE;
}

static gboolean
check_defined (StemRouting *routing, gboolean has_queues, const char *where, const char *name,
               guint line, GError **error)
{
  if (g_hash_table_contains (routing->queues, name))
    return TRUE;
  if (!has_queues)
    return throw_at (error, routing->path, line,
                     _ ("%s: queue “%s” is not defined; without “queues” the only queue is "
                        "“default” (hint: define “%s” under “queues”)"),
                     where, name, name);
  g_autofree char *defined = joined_keys (routing->queues);
  return throw_at (error, routing->path, line,
                   _ ("%s: queue “%s” is not defined under “queues” (defined: %s)"), where, name,
                   defined);
}

/* A name given as a string; NULL and "" mean "not given", as upstream. */
static gboolean
optional_name (const char *path, const Node *node, const char *where, const char **out_name,
               GError **error)
{
  *out_name = NULL;
  if (node == NULL || node->kind == NODE_NULL
      || (node->kind == NODE_STRING && node->text[0] == '\0'))
    return TRUE;
  if (!check_name (path, node, where, error))
    return FALSE;
  *out_name = node->text;
  return TRUE;
}

/* default_queue's keys: queue, alias and fallbacks. */
static gboolean
split_default_queue (const char *path, const Node *node, const char *where, const Node **queue,
                     const Node **alias, const Node **fallbacks, GError **error)
{
  for (guint i = 0; i < node->keys->len; i++)
    {
      const Node *key = g_ptr_array_index (node->keys, i);
      const Node *value = g_ptr_array_index (node->items, i);
      if (g_str_equal (key->text, "queue"))
        *queue = value;
      else if (g_str_equal (key->text, "alias"))
        *alias = value;
      else if (g_str_equal (key->text, "fallbacks"))
        *fallbacks = value;
      else
        return throw_at (error, path, key->line,
                         _ ("%s: unknown key “%s” (known keys: queue, alias, fallbacks)"), where,
                         key->text);
    }
  return TRUE;
}

/* default_queue.fallbacks: a list of defined queues. */
static gboolean
check_fallbacks (StemRouting *routing, gboolean has_queues, const Node *fallbacks,
                 const char *where, GError **error)
{
  const char *path = routing->path;
  if (fallbacks == NULL || fallbacks->kind == NODE_NULL)
    return TRUE;
  if (fallbacks->kind != NODE_LIST)
    return throw_at (error, path, fallbacks->line, _ ("%s.fallbacks: expected a list"), where);
  for (guint i = 0; i < fallbacks->items->len; i++)
    {
      const Node *item = g_ptr_array_index (fallbacks->items, i);
      g_autofree char *item_where = g_strdup_printf ("%s.fallbacks[%u]", where, i);
      const char *name;
      if (!optional_name (path, item, item_where, &name, error))
        return FALSE;
      if (name != NULL
          && !check_defined (routing, has_queues, item_where, name,
                             item->line ? item->line : fallbacks->line, error))
        return FALSE;
    }
  return TRUE;
}

/* Needs routing->queues filled in.  WHERE is the key as written
 * ("default_queue" or upstream's "defaultQueue"). */
static gboolean
load_default_queue (StemRouting *routing, gboolean has_queues, const Node *node, const char *where,
                    GError **error)
{
  const char *path = routing->path;
  const Node *queue = NULL, *alias = NULL, *fallbacks = NULL;
  g_autofree char *queue_where = NULL;

  if (node == NULL || node->kind == NODE_NULL)
    ;
  else if (node->kind == NODE_STRING)
    {
      queue = node;
      queue_where = g_strdup (where);
    }
  else if (node->kind == NODE_MAPPING)
    {
      if (!split_default_queue (path, node, where, &queue, &alias, &fallbacks, error))
        return FALSE;
      queue_where = g_strdup_printf ("%s.queue", where);
    }
  else
    return throw_at (error, path, node->line, _ ("%s: expected a mapping or a queue name"), where);

  if (queue_where == NULL)
    queue_where = g_strdup (where);
  g_autofree char *alias_where = g_strdup_printf ("%s.alias", where);
  const char *alias_name, *queue_name;
  if (!optional_name (path, alias, alias_where, &alias_name, error)
      || !optional_name (path, queue, queue_where, &queue_name, error))
    return FALSE;
  gboolean alias_given = alias_name != NULL;
  if (!alias_given)
    alias_name = LEGACY_QUEUE;
  if (queue_name == NULL)
    queue_name = alias_name;

  guint line = queue != NULL ? queue->line : node != NULL ? node->line : 0;
  if ((node == NULL || node->kind == NODE_NULL)
      && !g_hash_table_contains (routing->queues, queue_name))
    return throw_at (error, path, 0,
                     _ ("there is no “default_queue”, and no queue is named “default” (hint: "
                        "add default_queue: {queue: NAME})"));
  if (!check_defined (routing, has_queues, queue_where, queue_name, line, error))
    return FALSE;

  /* Upstream resolves both the alias and "default" to the default queue, and
   * refuses either when it is also the name of another queue. */
  if (alias_given && !g_str_equal (alias_name, queue_name)
      && g_hash_table_contains (routing->queues, alias_name))
    return throw_at (error, path, alias->line,
                     _ ("%s: “%s” is also the name of a queue, so it cannot be an alias of “%s”"),
                     alias_where, alias_name, queue_name);
  if (!g_str_equal (queue_name, LEGACY_QUEUE)
      && g_hash_table_contains (routing->queues, LEGACY_QUEUE))
    return throw_at (error, path, line,
                     _ ("%s: the default queue is “%s”, but a queue is named “default”, which "
                        "always names the default queue (hint: rename that queue)"),
                     queue_where, queue_name);

  if (!check_fallbacks (routing, has_queues, fallbacks, where, error))
    return FALSE;

  routing->default_queue = g_strdup (queue_name);
  routing->alias = g_strdup (alias_name);
  return TRUE;
}

static gboolean
load_tree (StemRouting *routing, const Node *root, GError **error)
{
  const char *path = routing->path;
  if (root == NULL || root->kind == NODE_NULL)
    return throw_at (error, path, 0, _ ("empty routing file"));
  if (root->kind != NODE_MAPPING)
    return throw_at (error, path, root->line, _ ("expected a mapping at the top level"));

  const Node *default_queue = NULL, *queues = NULL, *broadcasts = NULL, *routes = NULL;
  const char *default_queue_key = NULL;
  for (guint i = 0; i < root->keys->len; i++)
    {
      const Node *key = g_ptr_array_index (root->keys, i);
      const Node *value = g_ptr_array_index (root->items, i);
      if (g_str_equal (key->text, "default_queue") || g_str_equal (key->text, "defaultQueue"))
        {
          if (default_queue_key != NULL)
            return throw_at (error, path, key->line,
                             _ ("both “default_queue” and “defaultQueue” are given; keep one"));
          default_queue_key = key->text;
          default_queue = value;
        }
      else if (g_str_equal (key->text, "queues"))
        queues = value;
      else if (g_str_equal (key->text, "broadcasts"))
        broadcasts = value;
      else if (g_str_equal (key->text, "routes"))
        routes = value;
      else
        return throw_at (error, path, key->line,
                         _ ("unknown key “%s” (known keys: default_queue, queues, broadcasts, "
                            "routes)"),
                         key->text);
    }

  if (!load_definitions (path, queues, "queues", routing->queues, error))
    return FALSE;
  /* Upstream's legacy configuration: no queues means the one queue "default". */
  gboolean has_queues = g_hash_table_size (routing->queues) > 0;
  if (!has_queues)
    g_hash_table_add (routing->queues, g_strdup (LEGACY_QUEUE));

  return load_default_queue (routing, has_queues, default_queue,
                             default_queue_key ? default_queue_key : "default_queue", error)
         && load_definitions (path, broadcasts, "broadcasts", routing->broadcasts, error)
         && load_routes (path, routes, error);
}

static gboolean
read_routing_file (const char *path, GString *contents, GError **error)
{
  /* Reached without a link another user could have made (root must not
   * read, and quote in its errors, a file the worker's user points it at);
   * O_NONBLOCK: a FIFO under the name must not hang us before fstat(). */
  int fd = stem_path_open_regular (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 && errno == ELOOP)
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("Cannot read routing file “%s”: a symbolic link on the way that a "
                               "user other than root could have made or changed: not followed"),
                            path);
  if (fd < 0 && (errno == ENXIO || errno == EISDIR))
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("Cannot read routing file “%s”: not a regular file"), path);
  if (fd < 0)
    return stem_throw_errno (error, _ ("Cannot read routing file “%s”"), path);

  struct stat st;
  gboolean ok = TRUE;
  if (fstat (fd, &st) < 0)
    ok = stem_throw_errno (error, _ ("Cannot read routing file “%s”"), path);
  else if (!S_ISREG (st.st_mode))
    ok = stem_throw_code (error, STEM_ERROR_CONFIG,
                          _ ("Cannot read routing file “%s”: not a regular file"), path);
  else if (st.st_size > ROUTING_MAX_SIZE)
    ok = throw_at (error, path, 0, _ ("routing file is larger than 1 MiB"));

  /* Bounded even so: the file may grow while we read it. */
  char buffer[16 * 1024];
  while (ok)
    {
      ssize_t n = read (fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        ok = stem_throw_errno (error, _ ("Cannot read routing file “%s”"), path);
      else if (n == 0)
        break;
      else
        {
          g_string_append_len (contents, buffer, n);
          if (contents->len > ROUTING_MAX_SIZE)
            ok = throw_at (error, path, 0, _ ("routing file is larger than 1 MiB"));
        }
    }
  close (fd);
  return ok;
}

static gboolean
parse_text (const char *path, const char *data, gsize length, Node **out_root, GError **error)
{
  const char *nul = memchr (data, '\0', length);
  if (nul != NULL)
    return throw_at (error, path, line_at (data, nul - data),
                     _ ("the file contains a NUL byte; it must be UTF-8 text"));
  const char *invalid;
  if (!g_utf8_validate_len (data, length, &invalid))
    return throw_at (error, path, line_at (data, invalid - data),
                     _ ("the file is not valid UTF-8"));

  if (length >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    data += 3, length -= 3;
  gsize start = 0;
  while (start < length && g_ascii_isspace (data[start]))
    start++;
  if (start == length)
    {
      *out_root = NULL;
      return TRUE;
    }
  if (data[start] == '{')
    return json_parse (path, data, length, out_root, error);
  return yaml_parse (path, data, length, out_root, error);
}

StemRouting *
stem_routing_load (const char *path, GError **error)
{
  g_autoptr (GString) contents = g_string_new (NULL);
  if (!read_routing_file (path, contents, error))
    return NULL;
  return stem_routing_parse (path, contents->str, contents->len, error);
}

StemRouting *
stem_routing_parse (const char *path, const char *data, gsize length, GError **error)
{
  g_autoptr (Node) root = NULL;
  if (!parse_text (path, data, length, &root, error))
    return NULL;

  g_autoptr (StemRouting) routing = g_new0 (StemRouting, 1);
  routing->path = g_strdup (path);
  routing->queues = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  routing->broadcasts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (!load_tree (routing, root, error))
    return NULL;
  return g_steal_pointer (&routing);
}

void
stem_routing_free (StemRouting *routing)
{
  if (routing == NULL)
    return;
  g_free (routing->path);
  g_free (routing->default_queue);
  g_free (routing->alias);
  g_clear_pointer (&routing->queues, g_hash_table_unref);
  g_clear_pointer (&routing->broadcasts, g_hash_table_unref);
  g_free (routing);
}

char *
stem_routing_resolve_queue (StemRouting *routing, const char *name, GError **error)
{
  g_return_val_if_fail (routing != NULL && name != NULL, NULL);

  if (g_hash_table_contains (routing->queues, name))
    return g_strdup (name);
  if (routing->default_queue != NULL
      && (g_str_equal (name, routing->alias) || g_str_equal (name, LEGACY_QUEUE)))
    return g_strdup (routing->default_queue);

  g_autofree char *defined = joined_keys (routing->queues);
  if (routing->default_queue == NULL)
    stem_throw_code (error, STEM_ERROR_USAGE, _ ("Unknown queue “%s” in %s (defined: %s)"), name,
                     routing->path, defined);
  else if (g_str_equal (routing->alias, LEGACY_QUEUE))
    stem_throw_code (error, STEM_ERROR_USAGE,
                     _ ("Unknown queue “%s” in %s (defined: %s; alias %s → %s)"), name,
                     routing->path, defined, routing->alias, routing->default_queue);
  else
    stem_throw_code (error, STEM_ERROR_USAGE,
                     _ ("Unknown queue “%s” in %s (defined: %s; aliases %s, default → %s)"), name,
                     routing->path, defined, routing->alias, routing->default_queue);
  return NULL;
}

gboolean
stem_routing_check_broadcast (StemRouting *routing, const char *name, GError **error)
{
  g_return_val_if_fail (routing != NULL && name != NULL, FALSE);

  if (g_hash_table_contains (routing->broadcasts, name))
    return TRUE;
  if (g_hash_table_size (routing->broadcasts) == 0)
    return stem_throw_code (error, STEM_ERROR_USAGE,
                            _ ("Unknown broadcast channel “%s” in %s (it defines none)"), name,
                            routing->path);
  g_autofree char *defined = joined_keys (routing->broadcasts);
  return stem_throw_code (error, STEM_ERROR_USAGE,
                          _ ("Unknown broadcast channel “%s” in %s (defined: %s)"), name,
                          routing->path, defined);
}

const char *
stem_routing_get_default_queue (StemRouting *routing)
{
  g_return_val_if_fail (routing != NULL, NULL);
  return routing->default_queue;
}

GStrv
stem_routing_list_queues (StemRouting *routing)
{
  g_return_val_if_fail (routing != NULL, NULL);
  return sorted_keys (routing->queues);
}

GStrv
stem_routing_list_broadcasts (StemRouting *routing)
{
  g_return_val_if_fail (routing != NULL, NULL);
  return sorted_keys (routing->broadcasts);
}
