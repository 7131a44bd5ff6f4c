#include "stem-plan.h"
#include "stem-plan-private.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stem-envfile.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-node.h"
#include "stem-template.h"

void
stem_plan_set_free (StemPlanSet *set)
{
  if (set == NULL)
    return;
  g_strfreev (set->nodes);
  if (set->plans != NULL)
    g_ptr_array_unref (set->plans);
  g_strfreev (set->base_env);
  g_free (set->host);
  g_free (set->timestamp);
  g_free (set->pidfile_template);
  g_free (set->logfile_template);
  g_strfreev (set->caller_env);
  if (set->env_files != NULL)
    g_hash_table_unref (set->env_files);
  if (set->problems != NULL)
    g_ptr_array_unref (set->problems);
  g_free (set);
}

void
stem_node_plan_free (StemNodePlan *plan)
{
  if (plan == NULL)
    return;
  g_free (plan->node);
  g_free (plan->pidfile);
  g_free (plan->logfile);
  g_free (plan->workdir);
  g_free (plan->uid_option);
  g_strfreev (plan->argv);
  g_strfreev (plan->envp);
  g_strfreev (plan->added_env);
  g_strfreev (plan->queues);
  g_strfreev (plan->broadcasts);
  stem_user_free (plan->user);
  g_free (plan);
}

const char *
stem_plan_default_pidfile (void)
{
  return STEM_RUNSTATEDIR "/stem/%n.pid";
}

const char *
stem_plan_default_logfile (void)
{
  return STEM_LOCALSTATEDIR "/log/stem/%n.log";
}

gboolean
stem_plan_config_error (GError **error)
{
  if (error != NULL && *error != NULL)
    (*error)->code = STEM_ERROR_CONFIG;
  return FALSE;
}

/* Env files are read once per call however many nodes use them; CACHE maps a
 * path to the assignments it holds (a g_environ list of its own). */
gboolean
stem_plan_apply_env_files (GHashTable *cache, const char *const *paths, GStrv *envp, GError **error)
{
  for (guint i = 0; paths[i] != NULL; i++)
    {
      if (*paths[i] == '\0')
        return stem_throw_code (error, STEM_ERROR_USAGE, _ ("--env-file: the path is empty"));
      GStrv assignments = g_hash_table_lookup (cache, paths[i]);
      if (assignments == NULL)
        {
          g_auto (GStrv) loaded = g_new0 (char *, 1);
          if (!stem_envfile_load (paths[i], geteuid () == 0, &loaded, error))
            return stem_plan_config_error (error);
          assignments = g_steal_pointer (&loaded);
          g_hash_table_insert (cache, g_strdup (paths[i]), assignments);
        }
      stem_envfile_apply ((const char *const *)assignments, envp);
    }
  return TRUE;
}

static gboolean
find_nodes (StemArgs *args, const char *const *node_words, const char *const *env, GStrv *out_nodes,
            GError **error)
{
  const char *prefix = stem_args_get (args, STEM_OPT_PREFIX);
  if (prefix == NULL)
    prefix = "stem";

  if (node_words != NULL && node_words[0] != NULL)
    return stem_nodes_expand (node_words, prefix, out_nodes, error);

  static const char *const variables[] = { "STEMD_NODES", "STEM_WORKER_NODES" };
  for (guint i = 0; i < G_N_ELEMENTS (variables); i++)
    {
      const char *value = g_environ_getenv ((char **)env, variables[i]);
      if (value == NULL)
        continue;
      g_auto (GStrv) words = stem_nodes_split (value);
      if (words[0] == NULL)
        continue;
      if (!stem_nodes_expand ((const char *const *)words, prefix, out_nodes, error))
        {
          stem_error_prefix (error, "%s", variables[i]);
          return FALSE;
        }
      return TRUE;
    }
  return stem_throw_code (error, STEM_ERROR_NO_NODES,
                          _ ("No nodes given: name them on the command line, or set STEMD_NODES "
                             "(or STEM_WORKER_NODES) in the environment or an --env-file"));
}

static char *
expand_path (const char *tmpl, const StemTemplateContext *ctx, GError **error)
{
  g_autofree char *expanded = stem_template_expand (tmpl, ctx, error);
  if (expanded == NULL)
    return NULL;
  if (*expanded == '\0')
    {
      stem_throw_code (error, STEM_ERROR_CONFIG, _ ("Template “%s” expands to an empty path"),
                       tmpl);
      return NULL;
    }
  return g_canonicalize_filename (expanded, NULL);
}

/* A pidfile whose lock file's name (NAME.lock) would be longer than a
 * file name may be could be neither locked nor written: said before
 * anything is made or started, not when its node is. */
static gboolean
check_pidfile_name (const char *pidfile, GError **error)
{
  const char *slash = strrchr (pidfile, '/');
  const char *name = slash != NULL ? slash + 1 : pidfile;
  if (strlen (name) + strlen (".lock") <= NAME_MAX)
    return TRUE;
  return stem_throw_code (error, STEM_ERROR_CONFIG,
                          _ ("the pidfile's name “%s” is too long: its lock file's name, with "
                             "“.lock” added, would have more than %d bytes"),
                          name, NAME_MAX);
}

char *
stem_plan_template_from_env (const char *const *env, gboolean logfile, const char **out_var,
                             GError **error)
{
  const char *file_var = logfile ? "STEMD_LOG_FILE" : "STEMD_PID_FILE";
  const char *dir_var = logfile ? "STEM_LOG_DIR" : "STEM_PID_DIR";
  const char *var = file_var;
  const char *value = g_environ_getenv ((char **)env, file_var);
  g_autofree char *tmpl = NULL;
  if (value != NULL && *value != '\0')
    tmpl = g_strdup (value);
  else if ((value = g_environ_getenv ((char **)env, dir_var)) != NULL && *value != '\0')
    {
      var = dir_var;
      tmpl = g_build_filename (value, logfile ? "%n.log" : "%n.pid", NULL);
    }
  if (tmpl != NULL && !stem_template_validate (tmpl, error))
    {
      stem_error_prefix (error, "%s", var);
      return NULL;
    }
  if (out_var != NULL)
    *out_var = tmpl != NULL ? var : NULL;
  if (tmpl == NULL)
    return g_strdup (logfile ? stem_plan_default_logfile () : stem_plan_default_pidfile ());
  return g_steal_pointer (&tmpl);
}

static gboolean
plan_paths (StemArgs *args, StemPlanSet *set, guint n_nodes, StemNodePlan *plan, GError **error)
{
  StemTemplateContext ctx = {
    .node = plan->node,
    .index = plan->index,
    .host = set->host,
    .timestamp = set->timestamp,
  };

  const char *pid_tmpl = stem_args_get_for_node (args, STEM_OPT_PIDFILE, plan->node, plan->index);
  /* A node-scoped template names one node; clashes between nodes are caught
   * after expansion. */
  gboolean scoped = pid_tmpl != NULL && pid_tmpl != stem_args_get (args, STEM_OPT_PIDFILE);
  /* A template is named in errors by where it came from: the option, or
   * the variable (the defaults cannot fail). */
  const char *pid_origin = "--pidfile";
  if (pid_tmpl == NULL)
    {
      pid_tmpl = set->pidfile_template;
      pid_origin = set->pidfile_var;
    }
  if (!stem_template_check_pidfile (pid_tmpl, scoped ? 1 : n_nodes, error)
      || (plan->pidfile = expand_path (pid_tmpl, &ctx, error)) == NULL
      || !check_pidfile_name (plan->pidfile, error))
    {
      if (pid_origin != NULL)
        stem_error_prefix (error, "%s", pid_origin);
      return FALSE;
    }

  const char *log_tmpl = stem_args_get_for_node (args, STEM_OPT_LOGFILE, plan->node, plan->index);
  plan->logfile_given = log_tmpl != NULL || set->logfile_from_env;
  plan->log_direct = stem_args_has (args, STEM_OPT_NO_LOG_WRITER);
  const char *log_origin = "--logfile";
  if (log_tmpl == NULL)
    {
      log_tmpl = set->logfile_template;
      log_origin = set->logfile_var;
    }
  if (strcmp (log_tmpl, "-") != 0 && (plan->logfile = expand_path (log_tmpl, &ctx, error)) == NULL)
    {
      if (log_origin != NULL)
        stem_error_prefix (error, "%s", log_origin);
      return FALSE;
    }

  plan->uid_option
      = g_strdup (stem_args_get_for_node (args, STEM_OPT_UID, plan->node, plan->index));

  const char *dir_tmpl = stem_args_get_for_node (args, STEM_OPT_WORKDIR, plan->node, plan->index);
  plan->workdir = expand_path (dir_tmpl != NULL ? dir_tmpl : "/", &ctx, error);
  if (plan->workdir == NULL)
    {
      stem_error_prefix (error, "--workdir");
      return FALSE;
    }

  /* The node's own env files matter only to its worker, but every verb
   * reads them: one with an error is a configuration error whatever the
   * verb, not a surprise at the next start. */
  g_auto (GStrv) files
      = stem_args_get_all_for_node (args, STEM_OPT_ENV_FILE, plan->node, plan->index);
  g_auto (GStrv) scratch = NULL;
  return stem_plan_apply_env_files (set->env_files, (const char *const *)files, &scratch, error);
}

/* The env files given for every node, then the nodes and the templates
 * that every node starts from. */
/* The global env files (those of --env-file without a selector) applied
 * to SET's base environment. */
static gboolean
apply_global_env_files (StemArgs *args, StemPlanSet *set, GError **error)
{
  g_autoptr (GPtrArray) globals = g_ptr_array_new ();
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if (v->spec->id == STEM_OPT_ENV_FILE && v->selector == NULL)
        g_ptr_array_add (globals, v->value);
    }
  g_ptr_array_add (globals, NULL);
  return stem_plan_apply_env_files (set->env_files, (const char *const *)globals->pdata,
                                    &set->base_env, error);
}

static gboolean
plan_globals (StemArgs *args, const char *const *node_words, StemPlanSet *set, GError **error)
{
  if (!apply_global_env_files (args, set, error))
    return FALSE;

  if (!find_nodes (args, node_words, (const char *const *)set->base_env, &set->nodes, error))
    return FALSE;

  set->pidfile_template = stem_plan_template_from_env ((const char *const *)set->base_env, FALSE,
                                                       &set->pidfile_var, error);
  if (set->pidfile_template == NULL)
    return FALSE;
  set->logfile_template = stem_plan_template_from_env ((const char *const *)set->base_env, TRUE,
                                                       &set->logfile_var, error);
  if (set->logfile_template == NULL)
    return FALSE;
  set->logfile_from_env = set->logfile_var != NULL;

  if (!stem_args_check_selectors (args, (const char *const *)set->nodes, error))
    return FALSE;

  /* A malformed template is one error, not one per node. */
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if ((v->spec->id == STEM_OPT_PIDFILE || v->spec->id == STEM_OPT_LOGFILE
           || v->spec->id == STEM_OPT_WORKDIR)
          && !stem_template_validate (v->value, error))
        {
          stem_error_prefix (error, "--%s", v->spec->long_name);
          return FALSE;
        }
    }
  return TRUE;
}

static void
free_problem (gpointer problem)
{
  if (problem != NULL)
    g_error_free (problem);
}

static StemPlanSet *
plan_set_new (const char *const *env)
{
  StemPlanSet *set = g_new0 (StemPlanSet, 1);
  set->env_files
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
  set->caller_env = env != NULL ? g_strdupv ((char **)env) : g_get_environ ();
  set->host = g_strdup (g_get_host_name ());
  set->timestamp = stem_template_timestamp (g_get_real_time ());
  set->base_env = g_strdupv (set->caller_env);
  return set;
}

GStrv
stem_plan_configured_nodes (StemArgs *args, GError **error)
{
  g_autoptr (StemPlanSet) set = plan_set_new (NULL);
  GStrv nodes = NULL;
  if (!apply_global_env_files (args, set, error)
      || !find_nodes (args, NULL, (const char *const *)set->base_env, &nodes, error))
    return NULL;
  return nodes;
}

StemPlanSet *
stem_plan_build_nodes (StemArgs *args, const char *const *node_words, const char *const *env,
                       GError **error)
{
  g_autoptr (StemPlanSet) set = plan_set_new (env);
  if (!plan_globals (args, node_words, set, error))
    return NULL;

  /* Every node is planned even after one fails, so one run reports them all. */
  set->plans = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_node_plan_free);
  set->problems = g_ptr_array_new_with_free_func (free_problem);
  guint n_nodes = g_strv_length (set->nodes);
  for (guint i = 0; i < n_nodes; i++)
    {
      StemNodePlan *plan = g_new0 (StemNodePlan, 1);
      plan->node = g_strdup (set->nodes[i]);
      plan->index = i + 1;
      g_ptr_array_add (set->plans, plan);
      GError *problem = NULL;
      plan_paths (args, set, n_nodes, plan, &problem);
      g_ptr_array_add (set->problems, problem);
    }
  return g_steal_pointer (&set);
}

gboolean
stem_plan_set_check (StemPlanSet *set, GError **error)
{
  g_autoptr (GString) problems = g_string_new (NULL);
  StemErrorCode code = STEM_ERROR_CONFIG;
  for (guint i = 0; i < set->plans->len; i++)
    {
      const StemNodePlan *plan = set->plans->pdata[i];
      const GError *problem = set->problems->pdata[i];
      if (problem == NULL)
        continue;
      if (problems->len > 0)
        g_string_append_c (problems, '\n');
      if (set->nodes[1] == NULL)
        g_string_append (problems, problem->message);
      else
        g_string_append_printf (problems, "%s: %s", plan->node, problem->message);
      if (problem->domain == STEM_ERROR && problem->code == STEM_ERROR_USAGE)
        code = STEM_ERROR_USAGE;
    }

  /* Each pidfile's first node: the later ones are reported with it. */
  g_autoptr (GHashTable) owners = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; problems->len == 0 && i < set->plans->len; i++)
    {
      const StemNodePlan *plan = set->plans->pdata[i];
      const StemNodePlan *first = g_hash_table_lookup (owners, plan->pidfile);
      if (first == NULL)
        g_hash_table_insert (owners, plan->pidfile, (gpointer)plan);
      else
        g_string_append_printf (problems, _ ("Nodes “%s” and “%s” would share the pidfile “%s”"),
                                first->node, plan->node, plan->pidfile);
    }

  /* A log file that is a pidfile or a lock file of this call: the writer
   * would append to it, and the node could no longer be found or stopped. */
  g_autoptr (GHashTable) locks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; problems->len == 0 && i < set->plans->len; i++)
    {
      const StemNodePlan *plan = set->plans->pdata[i];
      g_hash_table_insert (locks, g_strconcat (plan->pidfile, ".lock", NULL), (gpointer)plan);
    }
  for (guint i = 0; problems->len == 0 && i < set->plans->len; i++)
    {
      const StemNodePlan *plan = set->plans->pdata[i];
      if (plan->logfile == NULL)
        continue;
      const StemNodePlan *other = g_hash_table_lookup (owners, plan->logfile);
      if (other != NULL)
        g_string_append_printf (problems,
                                _ ("Log file “%s” of node “%s” is the pidfile of node “%s”"),
                                plan->logfile, plan->node, other->node);
      else if ((other = g_hash_table_lookup (locks, plan->logfile)) != NULL)
        g_string_append_printf (problems,
                                _ ("Log file “%s” of node “%s” is the lock file of node “%s”"),
                                plan->logfile, plan->node, other->node);
    }

  if (problems->len > 0)
    return stem_throw_code (error, code, "%s", problems->str);
  return TRUE;
}

StemPlanSet *
stem_plan_build_paths (StemArgs *args, const char *const *node_words, const char *const *env,
                       GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_nodes (args, node_words, env, error);
  if (set == NULL || !stem_plan_set_check (set, error))
    return NULL;
  return g_steal_pointer (&set);
}

StemProcClaim
stem_plan_claim (const StemNodePlan *plan, const StemPidfile *pidfile)
{
  return (StemProcClaim){ .mtime_us = pidfile->mtime_us,
                          .path = plan->pidfile,
                          .uid_option = plan->uid_option,
                          .owner = pidfile->uid };
}
