/* The command line: options with per-node selectors, node words and
 * counts.  The input is the argument vector, one argument per line. */
#include "fuzz.h"

#include "stem-node.h"
#include "stem-options.h"

static const StemOptionSpec specs[] = {
  { "pidfile", 0, "TEMPLATE", STEM_OPTION_PER_NODE, STEM_OPT_PIDFILE, "" },
  { "queue", 'q', "QUEUE", STEM_OPTION_PER_NODE | STEM_OPTION_REPEATABLE, STEM_OPT_QUEUE, "" },
  { "prefix", 0, "PREFIX", 0, STEM_OPT_PREFIX, "" },
  { "json", 0, NULL, 0, STEM_OPT_JSON, "" },
  { "quiet", 'Q', NULL, 0, STEM_OPT_QUIET, "" },
  { NULL },
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_string (data, size);
  g_auto (GStrv) lines = g_strsplit (text, "\n", 64);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, "stem-multi");
  for (guint i = 0; lines[i] != NULL; i++)
    g_ptr_array_add (argv, lines[i]);
  g_ptr_array_add (argv, NULL);

  g_autoptr (StemArgs) args
      = stem_args_parse (specs, (int)argv->len - 1, (char **)argv->pdata, NULL);
  if (args == NULL)
    return 0;
  g_ptr_array_add (args->positionals, NULL);
  const char *prefix = stem_args_get (args, STEM_OPT_PREFIX);
  g_auto (GStrv) nodes = NULL;
  if (!stem_nodes_expand ((const char *const *)args->positionals->pdata,
                          prefix != NULL ? prefix : "stem", &nodes, NULL))
    return 0;
  if (!stem_args_check_selectors (args, (const char *const *)nodes, NULL))
    return 0;
  /* A count may mean 10,000 nodes: the first 64 are enough. */
  for (guint i = 0; nodes[i] != NULL && i < 64; i++)
    {
      stem_args_get_for_node (args, STEM_OPT_PIDFILE, nodes[i], i + 1);
      g_auto (GStrv) queues = stem_args_get_all_for_node (args, STEM_OPT_QUEUE, nodes[i], i + 1);
    }
  return 0;
}
