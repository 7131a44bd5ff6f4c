#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* What happened to one node.  STATE is a stable English keyword (the JSON
 * value); TEXT is the translated human detail ("started (pid 1234)"). */
typedef struct
{
  char *node;
  char *state;
  gboolean failed;
  pid_t pid;       /* 0: none */
  char *pidfile;   /* NULL: not reported */
  gint64 uptime_s; /* -1: not reported */
  char *text;
  char *detail; /* extra lines (e.g. a log tail), or NULL */
} StemNodeResult;

typedef struct
{
  char *verb;
  GPtrArray *results; /* StemNodeResult * */
} StemReport;

StemReport *stem_report_new (const char *verb);
void stem_report_free (StemReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemReport, stem_report_free)

StemNodeResult *stem_report_add (StemReport *report, const char *node, const char *state,
                                 gboolean failed, const char *format, ...) G_GNUC_PRINTF (5, 6);

gboolean stem_report_any_failed (StemReport *report);

/* Human output: "NODE: TEXT" on stdout, or "PROGRAM: NODE: TEXT" on stderr for
 * failures (QUIET hides successes).  JSON: one document on stdout,
 * {"verb": …, "ok": …, "nodes": [{"node", "state", "ok", "pid", …}]}. */
void stem_report_print (StemReport *report, gboolean json, gboolean quiet);

G_END_DECLS
