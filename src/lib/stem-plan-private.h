#pragma once

/* Between the two steps of planning: stem-plan.c (nodes, paths, users) and
 * stem-plan-command.c (what only starting needs). */

#include "stem-plan.h"

G_BEGIN_DECLS

/* The first step, keeping going after a node's problem: every node of the
 * set is planned as far as its paths and user, and a node that could not be
 * is left with its problem in SET->problems.  Only an error that concerns
 * no node in particular (the nodes themselves, a global env file, a
 * malformed template) fails it. */
StemPlanSet *stem_plan_build_nodes (StemArgs *args, const char *const *node_words,
                                    const char *const *env, GError **error);

/* The end of planning: the problems of SET's nodes as one error ("NODE:
 * problem" per line), or a pidfile that two nodes would share. */
gboolean stem_plan_set_check (StemPlanSet *set, GError **error);

/* Sets ERROR's code to STEM_ERROR_CONFIG and returns FALSE: a file the
 * configuration names that cannot be read (missing, unreadable) is a
 * configuration error like a bad one, exit 2 with nothing done. */
gboolean stem_plan_config_error (GError **error);

/* Applies the env files PATHS to *ENVP in order, reading each once per
 * call: CACHE maps a path to its assignments. */
gboolean stem_plan_apply_env_files (GHashTable *cache, const char *const *paths, GStrv *envp,
                                    GError **error);

G_END_DECLS
