#pragma once

#include <glib.h>
#include <sys/types.h>

#include "stem-options.h"
#include "stem-pidfile.h"
#include "stem-process.h"
#include "stem-user.h"

G_BEGIN_DECLS

/* Everything needed to start, find or stop one node. */
typedef struct
{
  char *node;
  guint index;            /* 1-based position in this call */
  char *pidfile;          /* absolute */
  char *logfile;          /* absolute, or NULL for --logfile=- (stem-multi's own output) */
  gboolean logfile_given; /* --logfile was given (matters for --foreground) */
  gboolean log_direct;    /* --no-log-writer: the worker appends to its log itself */
  char *workdir;          /* absolute */
  GStrv argv;             /* argv[0] is the resolved absolute program */
  GStrv envp;             /* the worker's whole environment */
  GStrv added_env;        /* NAME=VALUE that differ from the caller's environment, sorted */
  GStrv queues;
  GStrv broadcasts;
  gboolean has_umask;
  mode_t umask;
  StemUser *user;   /* --uid/--gid, or NULL (resolved only by the verbs that run a worker) */
  char *uid_option; /* --uid as given, or NULL */
} StemNodePlan;

void stem_node_plan_free (StemNodePlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemNodePlan, stem_node_plan_free)

typedef struct
{
  GStrv nodes;
  GPtrArray *plans; /* StemNodePlan *, one per node in order */
  GStrv base_env;   /* the caller's environment plus the global env files */
  char *host;
  char *timestamp;
  char *pidfile_template;    /* without --pidfile: STEMD_PID_FILE, … or the default */
  char *logfile_template;    /* without --logfile: STEMD_LOG_FILE, … or the default */
  const char *pidfile_var;   /* the variable that gave PIDFILE_TEMPLATE, or NULL */
  const char *logfile_var;   /* the variable that gave LOGFILE_TEMPLATE, or NULL */
  gboolean logfile_from_env; /* a variable gave it: as good as --logfile */
  /* Between the two steps of planning (stem-plan-private.h): */
  GStrv caller_env;      /* the environment planning started from */
  GHashTable *env_files; /* env files read so far: path → their assignments */
  GPtrArray *problems;   /* GError *, one per node, NULL for a node planned well */
} StemPlanSet;

void stem_plan_set_free (StemPlanSet *set);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemPlanSet, stem_plan_set_free)

/* Planning is two steps: the nodes and their paths (what stop and status
 * need), then, for start, each node's command (stem-plan-command.c).
 *
 * stem_plan_build_paths works out the nodes (NODE_WORDS, else STEMD_NODES,
 * else STEM_WORKER_NODES from ENV and the global env files) and each
 * node's pidfile, log file, working directory and user.  ENV is the
 * environment to start from (with env files already applied, say), or
 * NULL for the process's.  It links neither the routing parser nor
 * json-glib, so a tool that only finds nodes (stem-health) stays small.
 * Every configuration error is found before anything is done; when several
 * nodes are wrong, the message lists each as "NODE: problem".
 * STEM_ERROR_USAGE / STEM_ERROR_CONFIG. */
StemPlanSet *stem_plan_build_paths (StemArgs *args, const char *const *node_words,
                                    const char *const *env, GError **error);

/* The nodes a call without node words would have (STEMD_NODES, else
 * STEM_WORKER_NODES, from the process's environment and the global env
 * files), without planning them.  Errors as stem_plan_build_paths's
 * (STEM_ERROR_NO_NODES when there is none). */
GStrv stem_plan_configured_nodes (StemArgs *args, GError **error);

/* Both steps: everything start needs, from the process's environment, with
 * the errors of both steps reported together. */
StemPlanSet *stem_plan_build_commands (StemArgs *args, const char *const *node_words,
                                       GError **error);

/* A --umask value: an octal mode up to 0777; else a usage error. */
gboolean stem_plan_parse_umask (const char *text, mode_t *out, GError **error);
/* A value of OPTION (--queue, --broadcast): names separated by commas, each
 * of letters, digits, ".", "_", ":" and "-"; else a usage error.  Only
 * their form: whether a routing file defines them is start's to check. */
gboolean stem_plan_check_names (const char *option, const char *value, GError **error);

/* The pidfile (LOGFILE: log file) template of a node without --pidfile
 * (--logfile): STEMD_PID_FILE (STEMD_LOG_FILE) of ENV, as the SysV scripts
 * read it, else upstream's STEM_PID_DIR (STEM_LOG_DIR) with "%n.pid"
 * ("%n.log"), else the default.  *OUT_VAR (if not NULL): the variable
 * that gave it, or NULL.  A malformed one is an error naming its variable. */
char *stem_plan_template_from_env (const char *const *env, gboolean logfile, const char **out_var,
                                   GError **error);

/* What PIDFILE, loaded from PLAN's pidfile, says of the process it
 * names. */
StemProcClaim stem_plan_claim (const StemNodePlan *plan, const StemPidfile *pidfile);

/* The default templates, from the configured directories. */
const char *stem_plan_default_pidfile (void);
const char *stem_plan_default_logfile (void);

G_END_DECLS
