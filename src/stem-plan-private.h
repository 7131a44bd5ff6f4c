#pragma once

/* Between stem-plan.c (nodes, paths, users) and stem-plan-command.c (what
 * only starting needs: the command, the environment, routing files). */

#include "stem-plan.h"
#include "stem-template.h"

G_BEGIN_DECLS

typedef struct
{
  /* Once, when the nodes and the global environment are known. */
  gboolean (*prepare) (StemArgs *args, StemPlanSet *set, gpointer data, GError **error);
  /* For each node, once its paths and user are planned.  ENV_CACHE holds
   * the env files read so far (see stem_plan_apply_env_files). */
  gboolean (*plan_node) (StemArgs *args, StemPlanSet *set, GHashTable *env_cache,
                         const char *const *caller_env, const StemTemplateContext *ctx,
                         StemNodePlan *plan, gpointer data, GError **error);
} StemPlanCommandOps;

/* stem_plan_build, from ENV (NULL: the process's environment), with OPS
 * (and its DATA) for the command half, or NULL for paths only. */
StemPlanSet *stem_plan_build_with (StemArgs *args, const char *const *node_words,
                                   const char *const *env, const StemPlanCommandOps *ops,
                                   gpointer data, GError **error);

/* Sets ERROR's code to STEM_ERROR_CONFIG and returns FALSE: a file the
 * configuration names that cannot be read (missing, unreadable) is a
 * configuration error like a bad one, exit 2 with nothing done. */
gboolean stem_plan_config_error (GError **error);

/* Applies the env files PATHS to *ENVP in order, reading each once per
 * call: CACHE maps a path to its assignments. */
gboolean stem_plan_apply_env_files (GHashTable *cache, const char *const *paths, GStrv *envp,
                                    GError **error);

G_END_DECLS
