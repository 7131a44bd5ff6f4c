#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Live progress of a long operation on a terminal: one line on standard
 * error, redrawn in place, naming the nodes still pending and how long the
 * operation has taken ("stopping: beta, gamma (4s)").  Nothing is drawn
 * before the operation has lasted a second, nor when standard error is no
 * terminal: a script's output is the same with or without it. */
typedef struct _StemProgress StemProgress;

/* For NODES (the progress keeps its own copy), all pending; VERB is what is
 * being done ("stopping").  ENABLED FALSE (--quiet, --json) draws nothing;
 * TRUE draws only when standard error is a terminal. */
StemProgress *stem_progress_new (const char *verb, const char *const *nodes, gboolean enabled);

/* Node INDEX is no longer pending. */
void stem_progress_done (StemProgress *progress, guint index);

/* How long a wait may last before the line needs drawing again: -1 when it
 * never does (nothing is drawn). */
int stem_progress_timeout_ms (StemProgress *progress);

/* Draws the line if it is due. */
void stem_progress_update (StemProgress *progress);

/* Clears the line, so that what is printed next starts on a clean one. */
void stem_progress_clear (StemProgress *progress);

/* Clears the line and frees PROGRESS (NULL is fine). */
void stem_progress_free (StemProgress *progress);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemProgress, stem_progress_free)

G_END_DECLS
