#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The supervisor behind `stem-multi supervise`: every node a child of this
 * process, in one GLib main loop.  GLib only, so that the process which
 * stays resident links nothing else. */

typedef enum
{
  STEM_RESTART_ON_FAILURE, /* not after exit 0 or death by TERM, INT, QUIT, HUP */
  STEM_RESTART_ALWAYS,
  STEM_RESTART_NEVER,
} StemRestartPolicy;

typedef struct
{
  StemRestartPolicy policy;
  guint max_restarts;
  gint64 timeout_ms; /* after the stop signal, before KILL; STEM_DURATION_FOREVER: never */
  /* After SIGKILL to what a node left in its process group, how long it is
   * waited for before the node goes on without it. */
  gint64 kill_wait_ms;
  gboolean verbose;
  gboolean kill_group; /* end what a node left in its process group when it exits */
} StemSupervisorConfig;

/* Runs PLANS (StemNodePlan *, complete: argv resolved, directories known)
 * until every node is down.  Returns the exit status: 0 when every node
 * ended cleanly, 1 otherwise (given up, not started, killed, or already
 * running elsewhere, in which case nothing is started). */
int stem_supervisor_run (GPtrArray *plans, const StemSupervisorConfig *config);

/* The config as a GVariant, and back (for handing it to another process). */
GVariant *stem_supervisor_config_pack (const StemSupervisorConfig *config);
void stem_supervisor_config_unpack (GVariant *value, StemSupervisorConfig *config);

G_END_DECLS
