#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A Stem routing file (upstream's format, YAML or JSON): the default queue
 * and its alias, the defined queues and the broadcast channels.  Only what
 * resolving --queue and --broadcast needs is kept; the rest of the file
 * (routes, priority ranges, exchanges) is checked for shape and ignored. */
typedef struct _StemRouting StemRouting;

/* Loads PATH.  JSON when the first non-blank byte is '{' , else YAML.  A file
 * that does not parse, or whose shape is wrong, is a STEM_ERROR_CONFIG of the
 * form "PATH:LINE: message" (LINE where the parser knows it); a file that
 * cannot be read carries the errno's code (e.g. STEM_ERROR_NOT_FOUND). */
StemRouting *stem_routing_load (const char *path, GError **error);
/* The same for LENGTH bytes of DATA, read from PATH (for messages). */
StemRouting *stem_routing_parse (const char *path, const char *data, gsize length, GError **error);
void stem_routing_free (StemRouting *routing);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemRouting, stem_routing_free)

/* Resolves NAME, a queue name or the default queue's alias, to the real
 * queue name.  An unknown name is a STEM_ERROR_USAGE that lists the defined
 * queues (and the alias). */
char *stem_routing_resolve_queue (StemRouting *routing, const char *name, GError **error);

/* Checks that NAME is a defined broadcast channel; else STEM_ERROR_USAGE
 * listing the defined ones. */
gboolean stem_routing_check_broadcast (StemRouting *routing, const char *name, GError **error);

/* The default queue (after alias resolution); NULL only when none can be
 * determined (a file that loads always has one). */
const char *stem_routing_get_default_queue (StemRouting *routing);

/* Defined queues and broadcast channels, sorted (for diagnostics). */
GStrv stem_routing_list_queues (StemRouting *routing);
GStrv stem_routing_list_broadcasts (StemRouting *routing);

G_END_DECLS
