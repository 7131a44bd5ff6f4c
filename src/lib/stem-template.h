#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What the placeholders of one node expand to. */
typedef struct
{
  const char *node;      /* %n, and %N upper-cased */
  guint index;           /* %I and %i, 1-based position in this call */
  const char *host;      /* %h */
  const char *timestamp; /* %d, as made by stem_template_timestamp() */
} StemTemplateContext;

/* Expands %n %N %h %I %i %d %%.  Any other %x, or a trailing %, is a
 * STEM_ERROR_CONFIG that quotes the template. */
char *stem_template_expand (const char *tmpl, const StemTemplateContext *ctx, GError **error);

/* Syntax check only (the same errors as expansion). */
gboolean stem_template_validate (const char *tmpl, GError **error);

/* The extra rules of a pidfile template: no %d, %I or %i (stop and status could
 * never find the file again), and %n required when N_NODES > 1. */
gboolean stem_template_check_pidfile (const char *tmpl, guint n_nodes, GError **error);

/* The %d timestamp for a time in µs since the epoch, UTC: 2026-01-02T03-04-05Z. */
char *stem_template_timestamp (gint64 unix_us);

G_END_DECLS
