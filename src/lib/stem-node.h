#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define STEM_NODE_NAME_MAX 64
#define STEM_NODE_COUNT_MAX 10000

/* A node name is [A-Za-z0-9][A-Za-z0-9._-]{0,63}.  The error names the bad node. */
gboolean stem_node_name_validate (const char *name, GError **error);

/* Turns node words from the command line (or STEMD_NODES split on white space)
 * into validated, duplicate-free names.  A bare number N (1–10000) stands for
 * PREFIX1 … PREFIXN.  Returns a NULL-terminated array in order. STEM_ERROR_USAGE. */
gboolean stem_nodes_expand (const char *const *words, const char *prefix, GStrv *out_nodes,
                            GError **error);

/* Splits a STEMD_NODES-style value on spaces, tabs and newlines (empty words dropped). */
GStrv stem_nodes_split (const char *value);

G_END_DECLS
