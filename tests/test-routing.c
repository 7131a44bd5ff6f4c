#include "stem-error.h"
#include "stem-routing.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

/* Upstream's example routing file, and the same in JSON. */
#define EXAMPLE_YAML                                                                               \
  "default_queue:\n"                                                                               \
  "  alias: default\n"                                                                             \
  "  queue: primary\n"                                                                             \
  "  fallbacks:\n"                                                                                 \
  "    - secondary\n"                                                                              \
  "queues:\n"                                                                                      \
  "  primary:\n"                                                                                   \
  "    exchange: jobs\n"                                                                           \
  "    routing_key: jobs.default\n"                                                                \
  "    priority_range: [0, 9]\n"                                                                   \
  "  secondary: {}\n"                                                                              \
  "broadcasts:\n"                                                                                  \
  "  control:\n"                                                                                   \
  "    delivery: at-least-once\n"                                                                  \
  "  updates:\n"                                                                                   \
  "    delivery: at-most-once\n"                                                                   \
  "routes:\n"                                                                                      \
  "  - match:\n"                                                                                   \
  "      task: reports.*\n"                                                                        \
  "    target:\n"                                                                                  \
  "      type: queue\n"                                                                            \
  "      name: primary\n"                                                                          \
  "  - match:\n"                                                                                   \
  "      task: control.*\n"                                                                        \
  "    target:\n"                                                                                  \
  "      type: broadcast\n"                                                                        \
  "      name: control\n"

#define EXAMPLE_JSON                                                                               \
  "{\n"                                                                                            \
  "  \"default_queue\": {\n"                                                                       \
  "    \"alias\": \"default\",\n"                                                                  \
  "    \"queue\": \"primary\",\n"                                                                  \
  "    \"fallbacks\": [\"secondary\"]\n"                                                           \
  "  },\n"                                                                                         \
  "  \"queues\": {\n"                                                                              \
  "    \"primary\": {\n"                                                                           \
  "      \"exchange\": \"jobs\",\n"                                                                \
  "      \"routing_key\": \"jobs.default\",\n"                                                     \
  "      \"priority_range\": [0, 9]\n"                                                             \
  "    },\n"                                                                                       \
  "    \"secondary\": {}\n"                                                                        \
  "  },\n"                                                                                         \
  "  \"broadcasts\": {\n"                                                                          \
  "    \"control\": { \"delivery\": \"at-least-once\" },\n"                                        \
  "    \"updates\": { \"delivery\": \"at-most-once\" }\n"                                          \
  "  },\n"                                                                                         \
  "  \"routes\": [\n"                                                                              \
  "    { \"match\": { \"task\": \"reports.*\" },\n"                                                \
  "      \"target\": { \"type\": \"queue\", \"name\": \"primary\" } },\n"                          \
  "    { \"match\": { \"task\": \"control.*\" },\n"                                                \
  "      \"target\": { \"type\": \"broadcast\", \"name\": \"control\" } }\n"                       \
  "  ]\n"                                                                                          \
  "}\n"

typedef struct
{
  const char *path;
  const char *file; /* the name the input is written under */
  const char *input;
  /* Accepted: the queues and broadcasts (sorted, comma-joined) and the default queue. */
  const char *queues;
  const char *broadcasts;
  const char *default_queue;
  /* Rejected: the line reported (0: none) and a distinctive part of the message. */
  guint line;
  const char *message;
} RoutingCase;

#define ACCEPT(path, file, input, queues, broadcasts, default_queue)                               \
  path, file, input, queues, broadcasts, default_queue, 0, NULL
#define REJECT(path, file, input, line, message) path, file, input, NULL, NULL, NULL, line, message

static const RoutingCase cases[] = {
  { ACCEPT ("/routing/yaml/upstream-example", "routing.yaml", EXAMPLE_YAML, "primary,secondary",
            "control,updates", "primary") },
  { ACCEPT ("/routing/json/upstream-example", "routing.json", EXAMPLE_JSON, "primary,secondary",
            "control,updates", "primary") },
  { ACCEPT ("/routing/yaml/only-queues-key", "routing.yaml", "queues:\n", "default", "",
            "default") },
  { ACCEPT ("/routing/yaml/no-default-queue", "routing.yaml",
            "queues:\n  default: {}\n  bulk: {}\n", "bulk,default", "", "default") },
  { ACCEPT ("/routing/yaml/default-queue-as-name", "routing.yaml",
            "default_queue: primary\nqueues:\n  primary: {}\n  zeta: {}\n", "primary,zeta", "",
            "primary") },
  { ACCEPT ("/routing/yaml/camel-case-default-queue", "routing.yaml",
            "defaultQueue: {queue: primary}\nqueues: {primary: {}}\n", "primary", "", "primary") },
  { ACCEPT ("/routing/yaml/queue-defaults-to-alias", "routing.yaml",
            "default_queue: {alias: main}\nqueues: {main: {}}\n", "main", "", "main") },
  { ACCEPT ("/routing/yaml/broadcasts-only", "routing.yaml", "broadcasts:\n  b: {}\n  a: {}\n",
            "default", "a,b", "default") },
  { ACCEPT ("/routing/yaml/comments-and-markers", "routing.yaml",
            "# routing\n---\nqueues:   # the queues\n  q.1:x-y_z: {}\n"
            "default_queue: {queue: 'q.1:x-y_z', fallbacks: []}\nroutes: []\n...\n",
            "q.1:x-y_z", "", "q.1:x-y_z") },
  { ACCEPT ("/routing/yaml/standard-tags", "routing.yaml",
            "queues: !!map\n  primary: !!map {}\ndefault_queue: {queue: !!str primary}\n",
            "primary", "", "primary") },
  { ACCEPT ("/routing/yaml/null-sections", "routing.yaml",
            "default_queue:\nqueues:\nbroadcasts: ~\nroutes: null\n", "default", "", "default") },
  { ACCEPT ("/routing/json/empty-object", "routing.json", "  \n{}\n", "default", "", "default") },
  { ACCEPT ("/routing/json/every-kind-of-value", "routing.json",
            "{ \"queues\": { \"q\": { \"n\": [-12.75E3, 0, 0.5e-2, 2E9], \"t\": true,\n"
            "  \"f\": false, \"u\": null, \"s\": \"\\u00e9\\/\\b\\f\\n\\r\\t\\\"\\\\\",\n"
            "  \"pair\": \"\\uD83D\\ude00\\u00e9\" } },\n"
            "  \"default_queue\": \"q\" }\n",
            "q", "", "q") },
  { ACCEPT ("/routing/json/brackets-in-strings", "routing.json",
            "{ \"queues\": { \"q\": { \"x\": \"]]]]}}}}[[[[\", \"y\": \"\\\"]]\\\\\" } },\n"
            "  \"default_queue\": \"q\" }\n",
            "q", "", "q") },

  { REJECT ("/routing/reject/empty-file", "routing.yaml", "", 0, "empty routing file") },
  { REJECT ("/routing/reject/blank-file", "routing.json", " \n\t\n", 0, "empty routing file") },
  { REJECT ("/routing/yaml/only-comments", "routing.yaml", "# nothing yet\n", 0,
            "empty routing file") },
  { REJECT ("/routing/yaml/unknown-key", "routing.yaml", "queues:\n  primary: {}\nqueus: {}\n", 3,
            "unknown key “queus” (known keys: default_queue, queues, broadcasts, routes)") },
  { REJECT ("/routing/json/unknown-key", "routing.json", "{\"queus\": {}}", 0,
            "unknown key “queus” (known keys: default_queue, queues, broadcasts, routes)") },
  { REJECT ("/routing/yaml/unknown-default-queue-key", "routing.yaml",
            "default_queue:\n  queue: primary\n  fallback: [primary]\nqueues: {primary: {}}\n", 3,
            "default_queue: unknown key “fallback” (known keys: queue, alias, fallbacks)") },
  { REJECT ("/routing/yaml/queues-as-list", "routing.yaml", "queues:\n  - primary\n", 2,
            "queues: expected a mapping") },
  { REJECT ("/routing/yaml/broadcasts-as-string", "routing.yaml", "broadcasts: control\n", 1,
            "broadcasts: expected a mapping") },
  { REJECT ("/routing/yaml/default-queue-as-list", "routing.yaml",
            "queues: {primary: {}}\ndefault_queue: [primary]\n", 2,
            "default_queue: expected a mapping or a queue name") },
  { REJECT ("/routing/json/default-queue-as-number", "routing.json", "{\"default_queue\": 5}", 0,
            "default_queue: expected a mapping or a queue name") },
  { REJECT ("/routing/json/queue-as-number", "routing.json", "{\"default_queue\": {\"queue\": 5}}",
            0, "default_queue.queue: expected a string") },
  { REJECT ("/routing/yaml/queue-without-mapping", "routing.yaml",
            "queues:\n  primary: {}\n  secondary:\n", 3,
            "queues.secondary: expected a mapping (write {} when there is nothing to set)") },
  { REJECT ("/routing/yaml/routes-as-mapping", "routing.yaml", "routes:\n  a: b\n", 2,
            "routes: expected a list") },
  { REJECT ("/routing/yaml/route-as-string", "routing.yaml", "routes:\n  - {}\n  - a\n", 3,
            "routes[1]: expected a mapping") },
  { REJECT ("/routing/yaml/top-level-list", "routing.yaml", "- queues\n", 1,
            "expected a mapping at the top level") },
  { REJECT ("/routing/yaml/invalid-queue-name", "routing.yaml", "queues:\n  'a,b': {}\n", 2,
            "queues: invalid name “a,b” (letters, digits, “.”, “_”, “:” and “-” only)") },
  { REJECT ("/routing/yaml/invalid-broadcast-name", "routing.yaml", "broadcasts:\n  '': {}\n", 2,
            "broadcasts: invalid name “”") },
  { REJECT ("/routing/yaml/default-queue-not-under-queues", "routing.yaml",
            "default_queue:\n  queue: primary\nqueues:\n  secondary: {}\n  third: {}\n", 2,
            "default_queue.queue: queue “primary” is not defined under “queues” (defined: "
            "secondary, third)") },
  { REJECT ("/routing/yaml/default-queue-without-queues", "routing.yaml",
            "default_queue: {queue: primary}\n", 1,
            "default_queue.queue: queue “primary” is not defined; without “queues” the only "
            "queue is “default”") },
  { REJECT ("/routing/yaml/no-default-queue-nor-default", "routing.yaml",
            "queues:\n  a: {}\n  b: {}\n", 0,
            "there is no “default_queue”, and no queue is named “default”") },
  { REJECT ("/routing/yaml/fallback-undefined", "routing.yaml",
            "default_queue:\n  queue: primary\n  fallbacks:\n    - primary\n    - tertiary\n"
            "queues: {primary: {}, secondary: {}}\n",
            5,
            "default_queue.fallbacks[1]: queue “tertiary” is not defined under “queues” "
            "(defined: primary, secondary)") },
  { REJECT ("/routing/yaml/fallbacks-as-string", "routing.yaml",
            "default_queue:\n  queue: primary\n  fallbacks: secondary\nqueues: {primary: {}}\n", 3,
            "default_queue.fallbacks: expected a list") },
  { REJECT ("/routing/yaml/alias-names-another-queue", "routing.yaml",
            "default_queue:\n  queue: primary\n  alias: secondary\n"
            "queues: {primary: {}, secondary: {}}\n",
            3,
            "default_queue.alias: “secondary” is also the name of a queue, so it cannot be an "
            "alias of “primary”") },
  { REJECT ("/routing/yaml/queue-named-default", "routing.yaml",
            "default_queue: primary\nqueues: {primary: {}, default: {}}\n", 1,
            "default_queue: the default queue is “primary”, but a queue is named “default”") },
  { REJECT ("/routing/yaml/both-default-queue-spellings", "routing.yaml",
            "default_queue: a\ndefaultQueue: a\nqueues: {a: {}}\n", 2,
            "both “default_queue” and “defaultQueue” are given") },
  { REJECT ("/routing/yaml/bad-indentation", "routing.yaml",
            "queues:\n  primary: {}\n secondary: {}\n", 3, "YAML syntax error: ") },
  { REJECT ("/routing/yaml/unclosed-bracket", "routing.yaml",
            "queues: {primary: {}}\nroutes: [\n  {}\nbroadcasts: {}\n", 4,
            "(while parsing a flow sequence that started on line 2)") },
  { REJECT ("/routing/yaml/tab-indentation", "routing.yaml", "queues:\n\tprimary: {}\n", 2,
            "YAML syntax error: ") },
  { REJECT ("/routing/yaml/duplicate-key", "routing.yaml",
            "queues:\n  primary: {}\n  secondary: {}\n  primary: {}\n", 4,
            "duplicate key “primary” (first given on line 2)") },
  { REJECT ("/routing/yaml/duplicate-top-level-key", "routing.yaml",
            "queues: {a: {}}\nbroadcasts: {}\nqueues: {b: {}}\n", 3,
            "duplicate key “queues” (first given on line 1)") },
  { REJECT ("/routing/yaml/alias", "routing.yaml", "queues:\n  primary: {}\n  secondary: *a\n", 3,
            "YAML anchors and aliases are not supported (“*a”)") },
  { REJECT ("/routing/yaml/anchor", "routing.yaml", "queues:\n  primary: &a {}\n  secondary: *a\n",
            2, "YAML anchors and aliases are not supported (“&a”)") },
  { REJECT ("/routing/yaml/merge-key", "routing.yaml",
            "queues:\n  primary: {}\n  secondary:\n    <<: *p\n", 4,
            "YAML anchors and aliases are not supported (“*p”)") },
  { REJECT ("/routing/yaml/custom-tag", "routing.yaml", "queues:\n  primary: !queue {}\n", 2,
            "YAML tag “!queue” is not supported here") },
  { REJECT ("/routing/yaml/mismatched-tag", "routing.yaml", "queues: !!str\n  primary: {}\n", 1,
            "YAML tag “tag:yaml.org,2002:str” is not supported here") },
  { REJECT ("/routing/yaml/mapping-as-key", "routing.yaml", "queues:\n  ? {a: b}\n  : {}\n", 2,
            "a mapping key must be a string") },
  { REJECT ("/routing/yaml/two-documents", "routing.yaml", "queues: {}\n---\nqueues: {}\n", 2,
            "a routing file holds a single YAML document") },
  { REJECT ("/routing/yaml/invalid-utf8", "routing.yaml", "queues:\n  caf\xe9: {}\n", 2,
            "the file is not valid UTF-8") },
  { REJECT ("/routing/json/trailing-comma", "routing.json",
            "{\n  \"queues\": {\n    \"primary\": {},\n  }\n}\n", 3,
            "JSON syntax error: a comma before a closing bracket") },
  { REJECT ("/routing/json/unclosed-brace", "routing.json",
            "{\n  \"queues\": {\n    \"primary\": {}\n}\n", 4, "Parse error") },
  { REJECT ("/routing/json/trailing-garbage", "routing.json", "{}\n{\"queues\": []}\n", 2,
            "JSON syntax error: more text after the end of the object") },
  { REJECT ("/routing/json/comment", "routing.json", "{\n  \"queues\": {} /* \" */\n}\n", 2,
            "JSON syntax error: JSON has no comments") },
  { REJECT ("/routing/json/single-quotes", "routing.json", "{\n\n  'queues': {}\n}\n", 3,
            "JSON syntax error: strings must be in double quotes") },
  /* json-glib's scanner takes these; JSON, and upstream, do not. */
  { REJECT ("/routing/json/hex-number", "routing.json",
            "{\n  \"queues\": {\"q\": {\"n\": 0x10}}\n}\n", 2,
            "JSON syntax error: invalid number “0x10”") },
  { REJECT ("/routing/json/leading-zero", "routing.json", "{\"queues\": {\"q\": {\"n\": 01}}}", 1,
            "JSON syntax error: invalid number “01”") },
  { REJECT ("/routing/json/bare-fraction", "routing.json", "{\"queues\": {\"q\": {\"n\": .5}}}", 1,
            "JSON syntax error: invalid number “.5”") },
  { REJECT ("/routing/json/spaced-sign", "routing.json", "{\"queues\": {\"q\": {\"n\": - 1}}}", 1,
            "JSON syntax error: invalid number “-”") },
  { REJECT ("/routing/json/unknown-escape", "routing.json",
            "{\"queues\": {\"q\": {\"s\": \"\\q\"}}}", 1,
            "JSON syntax error: invalid escape “\\q” in a string") },
  { REJECT ("/routing/json/hex-escape", "routing.json", "{\"queues\": {\"q\": {\"s\": \"\\x41\"}}}",
            1, "JSON syntax error: invalid escape “\\x41” in a string") },
  { REJECT ("/routing/json/raw-tab", "routing.json", "{\"queues\": {\"q\": {\"s\": \"a\tb\"}}}", 1,
            "JSON syntax error: a control character in a string") },
  { REJECT ("/routing/json/bare-word", "routing.json", "{\"queues\": {\"q\": {\"s\": nul}}}", 1,
            "JSON syntax error: unexpected “nul”") },
  /* json-glib would end the name at the NUL: "a" would pass for defined. */
  { REJECT ("/routing/json/nul-in-name", "routing.json",
            "{\"queues\": {\"a\\u0000b\": {}},\n \"default_queue\": \"a\"}", 1,
            "a string contains a NUL character") },
  /* json-glib would make bytes of it that are not UTF-8, and print them. */
  { REJECT ("/routing/json/lone-high-surrogate", "routing.json",
            "{\"queues\": {\"a\\ud800b\": {}}}", 1,
            "JSON syntax error: “\\ud800” is half of a surrogate pair, without the other half") },
  { REJECT ("/routing/json/lone-low-surrogate", "routing.json",
            "{\"queues\": {\"q\": {\"s\": \"\\uDC00\"}}}", 1,
            "JSON syntax error: “\\uDC00” is half of a surrogate pair") },
  { REJECT ("/routing/json/high-surrogate-then-other", "routing.json",
            "{\"queues\": {\"q\": {\"s\": \"\\ud83d\\u0041\"}}}", 1,
            "JSON syntax error: “\\ud83d” is half of a surrogate pair") },
  { REJECT ("/routing/json/high-surrogate-at-end", "routing.json",
            "{\"queues\": {\"q\": {\"s\": \"\\ud83d\"}}}", 1,
            "JSON syntax error: “\\ud83d” is half of a surrogate pair") },
  { REJECT ("/routing/json/duplicate-key", "routing.json",
            "{\n  \"queues\": {\n    \"a\": {},\n    \"a\": {}\n  }\n}\n", 4,
            "duplicate key “a”") },
};

static char *
write_file (StemScratch *s, const char *name, const char *contents, gssize length)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (s->dir, name, NULL);
  g_file_set_contents (path, contents, length, &error);
  g_assert_no_error (error);
  return path;
}

static char *
joined (GStrv names)
{
  g_auto (GStrv) owned = names;
  return g_strjoinv (",", owned);
}

/* The error is "PATH:LINE: …" (or "PATH: …" when LINE is 0) and holds MESSAGE. */
static void
assert_config_error (const GError *error, const char *path, guint line, const char *message)
{
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  g_autofree char *prefix
      = line ? g_strdup_printf ("%s:%u: ", path, line) : g_strdup_printf ("%s: ", path);
  if (!g_str_has_prefix (error->message, prefix) || strstr (error->message, message) == NULL)
    g_error ("expected “%s…%s…”, got “%s”", prefix, message, error->message);
}

static void
test_case (StemScratch *s, gconstpointer data)
{
  const RoutingCase *c = data;
  g_autofree char *path = write_file (s, c->file, c->input, -1);
  g_autoptr (GError) error = NULL;
  g_autoptr (StemRouting) routing = stem_routing_load (path, &error);

  if (c->message != NULL)
    {
      g_assert_null (routing);
      g_test_message ("%s", error->message);
      assert_config_error (error, path, c->line, c->message);
      return;
    }

  g_assert_no_error (error);
  g_assert_nonnull (routing);
  g_autofree char *queues = joined (stem_routing_list_queues (routing));
  g_autofree char *broadcasts = joined (stem_routing_list_broadcasts (routing));
  g_assert_cmpstr (queues, ==, c->queues);
  g_assert_cmpstr (broadcasts, ==, c->broadcasts);
  g_assert_cmpstr (stem_routing_get_default_queue (routing), ==, c->default_queue);
}

static StemRouting *
load_example (StemScratch *s, const char *name, const char *contents, char **out_path)
{
  g_autoptr (GError) error = NULL;
  *out_path = write_file (s, name, contents, -1);
  StemRouting *routing = stem_routing_load (*out_path, &error);
  g_assert_no_error (error);
  return routing;
}

static void
test_resolve_example (StemScratch *s, gconstpointer data)
{
  const char *name = data;
  g_autofree char *path = NULL;
  g_autoptr (StemRouting) routing = load_example (
      s, name, g_str_has_suffix (name, ".json") ? EXAMPLE_JSON : EXAMPLE_YAML, &path);
  g_autoptr (GError) error = NULL;

  g_autofree char *alias = stem_routing_resolve_queue (routing, "default", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (alias, ==, "primary");
  g_autofree char *primary = stem_routing_resolve_queue (routing, "primary", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (primary, ==, "primary");
  g_autofree char *secondary = stem_routing_resolve_queue (routing, "secondary", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secondary, ==, "secondary");

  g_assert_true (stem_routing_check_broadcast (routing, "control", &error));
  g_assert_no_error (error);
  g_assert_true (stem_routing_check_broadcast (routing, "updates", &error));
  g_assert_no_error (error);
}

static void
test_resolve_unknown_queue (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autoptr (StemRouting) routing = load_example (s, "routing.yaml", EXAMPLE_YAML, &path);
  g_autoptr (GError) error = NULL;

  g_assert_null (stem_routing_resolve_queue (routing, "tertiary", &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
  g_autofree char *expected = g_strdup_printf (
      "Unknown queue “tertiary” in %s (defined: primary, secondary; alias default → primary)",
      path);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_resolve_custom_alias (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autoptr (StemRouting) routing = load_example (
      s, "routing.yaml",
      "default_queue: {alias: main, queue: jobs}\nqueues: {jobs: {}, mail: {}}\n", &path);
  g_autoptr (GError) error = NULL;

  g_autofree char *main_queue = stem_routing_resolve_queue (routing, "main", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (main_queue, ==, "jobs");
  /* Upstream always lets "default" name the default queue as well. */
  g_autofree char *default_queue = stem_routing_resolve_queue (routing, "default", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (default_queue, ==, "jobs");

  g_assert_null (stem_routing_resolve_queue (routing, "Main", &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
  g_autofree char *expected = g_strdup_printf (
      "Unknown queue “Main” in %s (defined: jobs, mail; aliases main, default → jobs)", path);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_resolve_unknown_broadcast (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autoptr (StemRouting) routing = load_example (s, "routing.yaml", EXAMPLE_YAML, &path);
  g_autoptr (GError) error = NULL;

  g_assert_false (stem_routing_check_broadcast (routing, "primary", &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
  g_autofree char *expected = g_strdup_printf (
      "Unknown broadcast channel “primary” in %s (defined: control, updates)", path);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_resolve_no_broadcasts (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autoptr (StemRouting) routing = load_example (s, "routing.yaml", "queues:\n", &path);
  g_autoptr (GError) error = NULL;

  g_assert_false (stem_routing_check_broadcast (routing, "control", &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
  g_autofree char *expected
      = g_strdup_printf ("Unknown broadcast channel “control” in %s (it defines none)", path);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_list_sorted (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autoptr (StemRouting) routing
      = load_example (s, "routing.yaml",
                      "default_queue: m\nqueues: {z: {}, a: {}, m: {}, B: {}, a.b: {}}\n"
                      "broadcasts: {zz: {}, aa: {}, mm: {}}\n",
                      &path);

  g_autofree char *queues = joined (stem_routing_list_queues (routing));
  g_autofree char *broadcasts = joined (stem_routing_list_broadcasts (routing));
  g_assert_cmpstr (queues, ==, "B,a,a.b,m,z");
  g_assert_cmpstr (broadcasts, ==, "aa,mm,zz");
}

static void
test_load_missing (StemScratch *s, gconstpointer data)
{
  g_autofree char *path = g_build_filename (s->dir, "absent.yaml", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_null (stem_routing_load (path, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_NOT_FOUND);
  g_autofree char *prefix = g_strdup_printf ("Cannot read routing file “%s”: ", path);
  g_assert_true (g_str_has_prefix (error->message, prefix));
}

static void
test_load_directory (StemScratch *s, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_assert_null (stem_routing_load (s->dir, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  g_autofree char *expected
      = g_strdup_printf ("Cannot read routing file “%s”: not a regular file", s->dir);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_load_too_large (StemScratch *s, gconstpointer data)
{
  gsize length = 1024 * 1024 + 1;
  g_autofree char *contents = g_malloc (length);
  memset (contents, '#', length);
  g_autofree char *path = write_file (s, "routing.yaml", contents, length);
  g_autoptr (GError) error = NULL;

  g_assert_null (stem_routing_load (path, &error));
  assert_config_error (error, path, 0, "routing file is larger than 1 MiB");
}

static void
test_load_nul_byte (StemScratch *s, gconstpointer data)
{
  static const char contents[] = "queues:\n  a\0b: {}\n";
  g_autofree char *path = write_file (s, "routing.yaml", contents, sizeof contents - 1);
  g_autoptr (GError) error = NULL;

  g_assert_null (stem_routing_load (path, &error));
  assert_config_error (error, path, 2, "NUL byte");
}

/* Deep nesting is refused before json-glib, which recurses without limit,
 * sees it; brackets hidden in strings must not fool the check. */
static void
test_deep_nesting (StemScratch *s, gconstpointer data)
{
  const char *name = data;
  gboolean json = g_str_has_suffix (name, ".json");
  g_autoptr (GString) contents = g_string_new (json ? "{ \"routes\": \"]]]]\",\n \"queues\":\n"
                                                    : "routes: ']]]]'\nqueues: ");
  for (int i = 0; i < 200000; i++)
    g_string_append_c (contents, '[');
  g_autofree char *path = write_file (s, name, contents->str, contents->len);
  g_autoptr (GError) error = NULL;

  g_assert_null (stem_routing_load (path, &error));
  assert_config_error (error, path, json ? 3 : 2, "nested deeper than 64 levels");
}

static void
add_scratch_test (const char *path, gconstpointer data,
                  void (*func) (StemScratch *s, gconstpointer data))
{
  g_test_add (path, StemScratch, data, stem_scratch_setup, func, stem_scratch_teardown);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    add_scratch_test (cases[i].path, &cases[i], test_case);

  add_scratch_test ("/routing/resolve/yaml-example", "routing.yaml", test_resolve_example);
  add_scratch_test ("/routing/resolve/json-example", "routing.json", test_resolve_example);
  add_scratch_test ("/routing/resolve/unknown-queue", NULL, test_resolve_unknown_queue);
  add_scratch_test ("/routing/resolve/custom-alias", NULL, test_resolve_custom_alias);
  add_scratch_test ("/routing/resolve/unknown-broadcast", NULL, test_resolve_unknown_broadcast);
  add_scratch_test ("/routing/resolve/no-broadcasts", NULL, test_resolve_no_broadcasts);
  add_scratch_test ("/routing/resolve/lists-sorted", NULL, test_list_sorted);
  add_scratch_test ("/routing/load/missing", NULL, test_load_missing);
  add_scratch_test ("/routing/load/directory", NULL, test_load_directory);
  add_scratch_test ("/routing/load/too-large", NULL, test_load_too_large);
  add_scratch_test ("/routing/load/nul-byte", NULL, test_load_nul_byte);
  add_scratch_test ("/routing/json/deep-nesting", "routing.json", test_deep_nesting);
  add_scratch_test ("/routing/yaml/deep-nesting", "routing.yaml", test_deep_nesting);

  return g_test_run ();
}
