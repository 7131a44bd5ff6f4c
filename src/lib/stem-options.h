#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Every option of every tool, so the core (templates, plans) can look them up
 * without knowing which tool parsed them. */
typedef enum
{
  STEM_OPT_PIDFILE = 1,
  STEM_OPT_LOGFILE,
  STEM_OPT_WORKDIR,
  STEM_OPT_ENV_FILE,
  STEM_OPT_COMMAND,
  STEM_OPT_COMMAND_LINE,
  STEM_OPT_QUEUE,
  STEM_OPT_BROADCAST,
  STEM_OPT_ROUTING_CONFIG,
  STEM_OPT_PREFIX,
  STEM_OPT_UID,
  STEM_OPT_GID,
  STEM_OPT_UMASK,
  STEM_OPT_DETACH,
  STEM_OPT_FOREGROUND,
  STEM_OPT_SETTLE,
  STEM_OPT_TIMEOUT,
  STEM_OPT_MODE,
  STEM_OPT_RETRY,
  STEM_OPT_NO_WAIT,
  STEM_OPT_NO_CLEAN,
  STEM_OPT_JSON,
  STEM_OPT_QUIET,
  STEM_OPT_VERBOSE,
  STEM_OPT_VERSION,
  STEM_OPT_HELP,
  STEM_OPT_RESTART,
  STEM_OPT_MAX_RESTARTS,
  STEM_OPT_NODE,
  STEM_OPT_MAX_LOG_AGE,
  STEM_OPT_USER,
  STEM_OPT_UNITDIR,
  STEM_OPT_INITDIR,
  STEM_OPT_FOLLOW,
  STEM_OPT_LINES,
  STEM_OPT_FORMAT,
  STEM_OPT_WARNING,
  STEM_OPT_CRITICAL,
  STEM_OPT_OUTPUT,
  STEM_OPT_LOCK_TIMEOUT,
  STEM_OPT_NO_KILL_GROUP,
  STEM_OPT_NO_LOG_WRITER,
} StemOptionId;

typedef enum
{
  STEM_OPTION_REPEATABLE = 1 << 0, /* every value counts (else the last one wins) */
  STEM_OPTION_PER_NODE = 1 << 1,   /* accepts NAME:SELECTOR=VALUE */
} StemOptionFlags;

typedef struct
{
  const char *long_name;
  char short_name;      /* 0: none */
  const char *arg_name; /* NULL: a flag without a value */
  StemOptionFlags flags;
  StemOptionId id;
  const char *description; /* N_() marked */
} StemOptionSpec;

typedef struct
{
  const StemOptionSpec *spec;
  char *selector; /* NULL: every node */
  char *value;    /* NULL for flags */
} StemOptionValue;

typedef struct
{
  GPtrArray *values;      /* StemOptionValue *, in command-line order */
  GPtrArray *positionals; /* char * */
  GStrv trailing;         /* the words after "--" (never NULL) */
} StemArgs;

void stem_args_free (StemArgs *args);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemArgs, stem_args_free)

/* Parses ARGV (argv[0] is skipped) against SPECS, a table ended by a row with
 * long_name NULL.  Accepts --name=VALUE, --name VALUE, -x VALUE, -xVALUE,
 * --name:SELECTOR=VALUE and -x:SELECTOR=VALUE (for PER_NODE options), options
 * anywhere before "--".  Errors are STEM_ERROR_USAGE naming the option. */
StemArgs *stem_args_parse (const StemOptionSpec *specs, int argc, char **argv, GError **error);

gboolean stem_args_has (StemArgs *args, StemOptionId id);
/* The last value given for every node (no selector), or NULL. */
const char *stem_args_get (StemArgs *args, StemOptionId id);
/* That value as a duration (stem-duration.h) in *OUT_MS, which is left as
 * it is when the option is not given; an error names the option. */
gboolean stem_args_get_duration (StemArgs *args, StemOptionId id, gint64 *out_ms, GError **error);

/* Checks that every selector names at least one of NODES (positions are
 * 1-based indexes into NODES).  STEM_ERROR_USAGE naming option and selector. */
gboolean stem_args_check_selectors (StemArgs *args, const char *const *nodes, GError **error);

/* TRUE when SELECTOR (names, positions, ranges "2-4", comma lists) selects
 * NODE at 1-based INDEX.  Errors for malformed selectors. */
gboolean stem_selector_match (const char *selector, const char *node, guint index,
                              gboolean *out_match, GError **error);

/* The value for one node: the last node-scoped value whose selector matches,
 * else the last global one, else NULL. */
const char *stem_args_get_for_node (StemArgs *args, StemOptionId id, const char *node, guint index);

/* Whether a node-scoped value of ID applies to the node. */
gboolean stem_args_scoped_for_node (StemArgs *args, StemOptionId id, const char *node, guint index);

/* All values of a repeatable option for one node: node-scoped values, when
 * any match, replace the global ones.  Never NULL. */
GStrv stem_args_get_all_for_node (StemArgs *args, StemOptionId id, const char *node, guint index);

/* The start of every tool's main(): parses ARGV against SPECS and answers
 * --help (with USAGE) and --version.  Returns NULL when the program is done,
 * with *OUT_EXIT set (0, or 2 after printing a usage error). */
StemArgs *stem_args_parse_main (const StemOptionSpec *specs, int argc, char **argv,
                                void (*usage) (void), int *out_exit);

/* --help text for SPECS, one row per option. */
void stem_options_print_help (const StemOptionSpec *specs, GString *out);

G_END_DECLS
