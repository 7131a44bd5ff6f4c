#include "stem-error.h"
#include "stem-node.h"

#include <string.h>

typedef struct
{
  const char *path;
  const char *name;
  const char *message; /* NULL: valid */
} NameCase;

static const NameCase name_cases[] = {
  { "/node/name/valid/single-letter", "a", NULL },
  { "/node/name/valid/single-digit", "7", NULL },
  { "/node/name/valid/64-chars", "a234567890123456789012345678901234567890123456789012345678901234",
    NULL },
  { "/node/name/valid/dot", "worker.images", NULL },
  { "/node/name/valid/underscore", "worker_images", NULL },
  { "/node/name/valid/dash", "worker-images", NULL },
  { "/node/name/valid/trailing-punctuation", "w.-_", NULL },
  { "/node/name/valid/digits-first", "01alpha", NULL },
  { "/node/name/invalid/empty", "", "Invalid node name “”: the name is empty" },
  { "/node/name/invalid/65-chars",
    "a2345678901234567890123456789012345678901234567890123456789012345",
    "too long (max 64 characters)" },
  { "/node/name/invalid/dot-dot", "..", "Invalid node name “..”: it must start with" },
  { "/node/name/invalid/dot", ".", "Invalid node name “.”: it must start with" },
  { "/node/name/invalid/leading-dot", ".x", "“.x”: it must start with" },
  { "/node/name/invalid/leading-dash", "-x", "“-x”: it must start with" },
  { "/node/name/invalid/leading-underscore", "_x", "“_x”: it must start with" },
  { "/node/name/invalid/slash", "a/b", "“a/b”: bad character “/”" },
  { "/node/name/invalid/percent", "a%b", "“a%b”: bad character “%”" },
  { "/node/name/invalid/space", "a b", "“a b”: bad character “ ”" },
  { "/node/name/invalid/non-ascii-first", "ä", "“ä”: it must start with" },
  { "/node/name/invalid/non-ascii", "aä", "“aä”: bad character “ä”" },
  { "/node/name/invalid/newline", "a\nb", "bad character “\\x0A”" },
  { "/node/name/invalid/bad-utf8", "a\377", "bad character “\\xFF”" },
};

static void
test_name (gconstpointer data)
{
  const NameCase *tc = data;
  g_autoptr (GError) error = NULL;

  gboolean ok = stem_node_name_validate (tc->name, &error);
  if (tc->message == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      return;
    }
  g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
  g_assert_false (ok);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  if (strstr (error->message, tc->message) == NULL)
    g_error ("“%s” does not contain “%s”", error->message, tc->message);
}

typedef struct
{
  const char *path;
  const char *words; /* split on spaces */
  const char *prefix;
  const char *expected; /* space-separated names, or NULL for an error */
  const char *message;  /* part of the error message */
} ExpandCase;

static const ExpandCase expand_cases[] = {
  { "/node/expand/names", "alpha beta", "stem", "alpha beta", NULL },
  { "/node/expand/count", "3", "stem", "stem1 stem2 stem3", NULL },
  { "/node/expand/count/prefix", "3", "w", "w1 w2 w3", NULL },
  { "/node/expand/count/one", "1", "stem", "stem1", NULL },
  { "/node/expand/count/empty-prefix", "2", "", NULL,
    "Invalid node prefix “” for node count 2: the names would be made of digits only" },
  { "/node/expand/count/digit-prefix", "2", "12", NULL, "made of digits only" },
  { "/node/expand/mixed", "2 extra", "stem", "stem1 stem2 extra", NULL },
  { "/node/expand/mixed/name-first", "alpha 2 beta", "w", "alpha w1 w2 beta", NULL },
  { "/node/expand/mixed/two-counts", "1 x 1", "w", NULL, "Duplicate node “w1”" },
  { "/node/expand/count/zero", "0", "stem", NULL, "Invalid node count “0”: it must be between 1" },
  { "/node/expand/count/too-many", "10001", "stem", NULL,
    "Invalid node count “10001”: it must be between 1 and 10000" },
  { "/node/expand/count/huge", "99999999999999999999999", "stem", NULL,
    "Invalid node count “99999999999999999999999”" },
  { "/node/expand/count/leading-zero", "007", "stem", NULL, "Ambiguous node count “007”" },
  { "/node/expand/count/double-zero", "00", "stem", NULL, "Ambiguous node count “00”" },
  { "/node/expand/count/bad-prefix", "2", "-w", NULL, "Invalid node prefix “-w” for node count 2" },
  { "/node/expand/count/prefix-slash", "2", "a/", NULL, "bad character “/”" },
  { "/node/expand/count/prefix-too-long", "10",
    "a23456789012345678901234567890123456789012345678901234567890123", NULL, "too long" },
  { "/node/expand/duplicate/names", "a a", "stem", NULL, "Duplicate node “a”" },
  { "/node/expand/duplicate/count", "2 stem1", "stem", NULL, "Duplicate node “stem1”" },
  { "/node/expand/duplicate/name-then-count", "w2 3", "w", NULL, "Duplicate node “w2”" },
  { "/node/expand/invalid-name", "alpha a/b", "stem", NULL, "Invalid node name “a/b”" },
  { "/node/expand/negative", "-3", "stem", NULL, "Invalid node name “-3”" },
};

static void
test_expand (gconstpointer data)
{
  const ExpandCase *tc = data;
  g_auto (GStrv) words = g_strsplit (tc->words, " ", -1);
  g_auto (GStrv) nodes = NULL;
  g_autoptr (GError) error = NULL;

  gboolean ok = stem_nodes_expand ((const char *const *)words, tc->prefix, &nodes, &error);
  if (tc->expected != NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_autofree char *joined = g_strjoinv (" ", nodes);
      g_assert_cmpstr (joined, ==, tc->expected);
      return;
    }
  g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
  g_assert_false (ok);
  g_assert_null (nodes);
  if (strstr (error->message, tc->message) == NULL)
    g_error ("“%s” does not contain “%s”", error->message, tc->message);
}

static void
test_expand_max (void)
{
  const char *const words[] = { "10000", NULL };
  g_auto (GStrv) nodes = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (stem_nodes_expand (words, "stem", &nodes, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (nodes), ==, 10000);
  g_assert_cmpstr (nodes[0], ==, "stem1");
  g_assert_cmpstr (nodes[9999], ==, "stem10000");
}

static void
test_expand_empty (void)
{
  const char *const words[] = { NULL };
  g_auto (GStrv) nodes = NULL;
  g_auto (GStrv) nodes_from_null = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (stem_nodes_expand (words, "stem", &nodes, &error));
  g_assert_no_error (error);
  g_assert_nonnull (nodes);
  g_assert_cmpuint (g_strv_length (nodes), ==, 0);

  g_assert_true (stem_nodes_expand (NULL, "stem", &nodes_from_null, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (nodes_from_null), ==, 0);
}

typedef struct
{
  const char *path;
  const char *value;
  const char *expected; /* words joined with "|" */
} SplitCase;

static const SplitCase split_cases[] = {
  { "/node/split/simple", "alpha beta", "alpha|beta" },
  { "/node/split/mixed-white-space", " alpha\tbeta\n\ngamma  ", "alpha|beta|gamma" },
  { "/node/split/one", "alpha", "alpha" },
  { "/node/split/empty", "", "" },
  { "/node/split/only-white-space", " \t\n ", "" },
  { "/node/split/other-bytes-kept", "a\rb,c", "a\rb,c" },
  { "/node/split/null", NULL, "" },
};

static void
test_split (gconstpointer data)
{
  const SplitCase *tc = data;
  g_auto (GStrv) words = stem_nodes_split (tc->value);

  g_assert_nonnull (words);
  g_autofree char *joined = g_strjoinv ("|", words);
  g_assert_cmpstr (joined, ==, tc->expected);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (name_cases); i++)
    g_test_add_data_func (name_cases[i].path, &name_cases[i], test_name);
  for (gsize i = 0; i < G_N_ELEMENTS (expand_cases); i++)
    g_test_add_data_func (expand_cases[i].path, &expand_cases[i], test_expand);
  g_test_add_func ("/node/expand/count/max", test_expand_max);
  g_test_add_func ("/node/expand/empty", test_expand_empty);
  for (gsize i = 0; i < G_N_ELEMENTS (split_cases); i++)
    g_test_add_data_func (split_cases[i].path, &split_cases[i], test_split);

  return g_test_run ();
}
