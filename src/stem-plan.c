#include "stem-plan.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stem-command.h"
#include "stem-envfile.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-node.h"
#include "stem-plan-wire.h"
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
  stem_routing_free (set->routing);
  g_free (set->routing_path);
  g_free (set);
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

/* Env files are read once per call however many nodes use them; CACHE maps a
 * path to the assignments it holds (a g_environ list of its own). */
static gboolean
apply_env_files (GHashTable *cache, const char *const *paths, GStrv *envp, GError **error)
{
  for (guint i = 0; paths[i] != NULL; i++)
    {
      GStrv assignments = g_hash_table_lookup (cache, paths[i]);
      if (assignments == NULL)
        {
          g_auto (GStrv) loaded = g_new0 (char *, 1);
          if (!stem_envfile_load (paths[i], geteuid () == 0, &loaded, error))
            return FALSE;
          assignments = g_steal_pointer (&loaded);
          g_hash_table_insert (cache, g_strdup (paths[i]), assignments);
        }
      for (guint j = 0; assignments[j] != NULL; j++)
        {
          const char *eq = strchr (assignments[j], '=');
          g_autofree char *name = g_strndup (assignments[j], eq - assignments[j]);
          *envp = g_environ_setenv (*envp, name, eq + 1, TRUE);
        }
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
  return stem_throw_code (error, STEM_ERROR_USAGE,
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

static gboolean
validate_queue_name (const char *option, const char *name, GError **error)
{
  if (*name == '\0')
    return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Empty name in %s"), option);
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._:-", *p) == NULL)
      return stem_throw_code (error, STEM_ERROR_USAGE,
                              _ ("Invalid name “%s” in %s (letters, digits, “.”, “_”, “:” and “-” "
                                 "only)"),
                              name, option);
  return TRUE;
}

/* --queue=a,b --queue=c → a b c; names checked (against the routing file
 * when there is one, which also resolves the default queue's alias),
 * duplicates dropped. */
static gboolean
collect_names (StemArgs *args, StemRouting *routing, StemOptionId id, const char *option,
               const StemNodePlan *plan, GStrv *out, GError **error)
{
  g_auto (GStrv) values = stem_args_get_all_for_node (args, id, plan->node, plan->index);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; values[i] != NULL; i++)
    {
      g_auto (GStrv) parts = g_strsplit (values[i], ",", -1);
      for (guint j = 0; parts[j] != NULL; j++)
        {
          if (!validate_queue_name (option, parts[j], error))
            return FALSE;
          g_autofree char *name = g_strdup (parts[j]);
          if (routing != NULL && id == STEM_OPT_QUEUE)
            {
              g_free (name);
              if ((name = stem_routing_resolve_queue (routing, parts[j], error)) == NULL)
                return FALSE;
            }
          else if (routing != NULL && !stem_routing_check_broadcast (routing, name, error))
            return FALSE;
          if (!g_ptr_array_find_with_equal_func (names, name, g_str_equal, NULL))
            g_ptr_array_add (names, g_steal_pointer (&name));
        }
    }
  g_ptr_array_add (names, NULL);
  *out = (GStrv)g_ptr_array_free (g_steal_pointer (&names), FALSE);
  return TRUE;
}

static gboolean
parse_umask (const char *text, mode_t *out, GError **error)
{
  guint64 value;
  if (!g_ascii_string_to_unsigned (text, 8, 0, 0777, &value, NULL))
    return stem_throw_code (error, STEM_ERROR_USAGE,
                            _ ("Invalid --umask “%s” (an octal mode such as 027)"), text);
  *out = (mode_t)value;
  return TRUE;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

static GStrv
sorted_added_env (const char *const *caller, const char *const *envp)
{
  g_autoptr (GPtrArray) added = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; envp[i] != NULL; i++)
    {
      const char *eq = strchr (envp[i], '=');
      g_autofree char *name = g_strndup (envp[i], eq - envp[i]);
      const char *before = g_environ_getenv ((char **)caller, name);
      if (g_strcmp0 (before, eq + 1) != 0)
        g_ptr_array_add (added, g_strdup (envp[i]));
    }
  g_ptr_array_sort (added, compare_strings);
  g_ptr_array_add (added, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&added), FALSE);
}

static gboolean
plan_command (StemArgs *args, StemPlanSet *set, GHashTable *env_cache,
              const char *const *caller_env, const StemTemplateContext *ctx, StemNodePlan *plan,
              GError **error)
{
  g_auto (GStrv) files
      = stem_args_get_all_for_node (args, STEM_OPT_ENV_FILE, plan->node, plan->index);
  g_auto (GStrv) envp = g_strdupv ((char **)caller_env);
  if (plan->user != NULL && plan->user->change && plan->user->name != NULL)
    {
      /* What login(1) and systemd's User= give a process; env files may
       * still say otherwise. */
      envp = g_environ_setenv (envp, "USER", plan->user->name, TRUE);
      envp = g_environ_setenv (envp, "LOGNAME", plan->user->name, TRUE);
      if (plan->user->home != NULL)
        envp = g_environ_setenv (envp, "HOME", plan->user->home, TRUE);
    }
  if (!apply_env_files (env_cache, (const char *const *)files, &envp, error))
    return FALSE;

  if (!collect_names (args, set->routing, STEM_OPT_QUEUE, "--queue", plan, &plan->queues, error)
      || !collect_names (args, set->routing, STEM_OPT_BROADCAST, "--broadcast", plan,
                         &plan->broadcasts, error))
    return FALSE;

  g_auto (GStrv) words
      = stem_args_get_all_for_node (args, STEM_OPT_COMMAND, plan->node, plan->index);
  const char *line = stem_args_get_for_node (args, STEM_OPT_COMMAND_LINE, plan->node, plan->index);
  g_auto (GStrv) argv = NULL;
  if (!stem_command_resolve ((const char *const *)words, line, (const char *const *)envp,
                             (const char *const *)args->trailing, &argv, NULL, error))
    return FALSE;

  g_autofree char *index = g_strdup_printf ("%u", plan->index);
  envp = g_environ_setenv (envp, "STEM_WORKER_NODE", plan->node, TRUE);
  envp = g_environ_setenv (envp, "STEM_WORKER_INDEX", index, TRUE);
  envp = g_environ_setenv (envp, "STEM_WORKER_HOST", ctx->host, TRUE);
  envp = g_environ_setenv (envp, "STEM_WORKER_PIDFILE", plan->pidfile, TRUE);
  if (plan->logfile != NULL)
    envp = g_environ_setenv (envp, "STEM_WORKER_LOGFILE", plan->logfile, TRUE);
  if (set->routing_path != NULL)
    envp = g_environ_setenv (envp, "STEM_ROUTING_CONFIG", set->routing_path, TRUE);
  if (plan->queues[0] != NULL)
    {
      g_autofree char *joined = g_strjoinv (",", plan->queues);
      envp = g_environ_setenv (envp, "STEM_WORKER_QUEUES", joined, TRUE);
      envp = g_environ_setenv (envp, "STEM_DEFAULT_QUEUE", plan->queues[0], FALSE);
    }
  if (plan->broadcasts[0] != NULL)
    {
      g_autofree char *joined = g_strjoinv (",", plan->broadcasts);
      envp = g_environ_setenv (envp, "STEM_WORKER_BROADCASTS", joined, TRUE);
    }

  for (guint i = 0; argv[i] != NULL; i++)
    {
      char *word = stem_template_expand (argv[i], ctx, error);
      if (word == NULL)
        return FALSE;
      g_free (argv[i]);
      argv[i] = word;
    }

  /* Resolved once, on the worker's own PATH, so a missing program is a
   * configuration error before anything starts. */
  char *program = stem_command_find_program (argv[0], (const char *const *)envp, error);
  if (program == NULL)
    return FALSE;
  g_free (argv[0]);
  argv[0] = program;
  struct stat st;
  if (plan->user != NULL && stat (program, &st) == 0 && !stem_user_can_execute (plan->user, &st))
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("Program “%s” is not executable by uid %u"), program,
                            (unsigned)plan->user->uid);

  const char *umask_text = stem_args_get_for_node (args, STEM_OPT_UMASK, plan->node, plan->index);
  if (umask_text != NULL)
    {
      if (!parse_umask (umask_text, &plan->umask, error))
        return FALSE;
      plan->has_umask = TRUE;
    }

  plan->added_env = sorted_added_env (caller_env, (const char *const *)envp);
  plan->argv = g_steal_pointer (&argv);
  plan->envp = g_steal_pointer (&envp);
  return TRUE;
}

static gboolean
plan_node (StemArgs *args, StemPlanSet *set, GHashTable *env_cache, const char *const *caller_env,
           StemPlanFlags flags, StemNodePlan *plan, GError **error)
{
  StemTemplateContext ctx = {
    .node = plan->node,
    .index = plan->index,
    .host = set->host,
    .timestamp = set->timestamp,
  };
  guint n_nodes = g_strv_length (set->nodes);

  const char *pid_tmpl = stem_args_get_for_node (args, STEM_OPT_PIDFILE, plan->node, plan->index);
  /* A node-scoped template names one node; clashes between nodes are caught
   * after expansion. */
  gboolean scoped = pid_tmpl != NULL && pid_tmpl != stem_args_get (args, STEM_OPT_PIDFILE);
  if (pid_tmpl == NULL)
    pid_tmpl = stem_plan_default_pidfile ();
  if (!stem_template_check_pidfile (pid_tmpl, scoped ? 1 : n_nodes, error))
    return FALSE;
  plan->pidfile = expand_path (pid_tmpl, &ctx, error);
  if (plan->pidfile == NULL)
    return FALSE;

  const char *log_tmpl = stem_args_get_for_node (args, STEM_OPT_LOGFILE, plan->node, plan->index);
  plan->logfile_given = log_tmpl != NULL;
  if (log_tmpl == NULL)
    log_tmpl = stem_plan_default_logfile ();
  if (strcmp (log_tmpl, "-") != 0)
    {
      plan->logfile = expand_path (log_tmpl, &ctx, error);
      if (plan->logfile == NULL)
        return FALSE;
    }

  const char *dir_tmpl = stem_args_get_for_node (args, STEM_OPT_WORKDIR, plan->node, plan->index);
  plan->workdir = expand_path (dir_tmpl != NULL ? dir_tmpl : "/", &ctx, error);
  if (plan->workdir == NULL)
    return FALSE;

  const char *uid = stem_args_get_for_node (args, STEM_OPT_UID, plan->node, plan->index);
  const char *gid = stem_args_get_for_node (args, STEM_OPT_GID, plan->node, plan->index);
  if ((uid != NULL || gid != NULL) && (plan->user = stem_user_resolve (uid, gid, error)) == NULL)
    return FALSE;

  if (flags & STEM_PLAN_COMMAND)
    {
      if (!plan_command (args, set, env_cache, caller_env, &ctx, plan, error))
        return FALSE;
    }
  return TRUE;
}

StemPlanSet *
stem_plan_build (StemArgs *args, const char *const *node_words, StemPlanFlags flags, GError **error)
{
  g_autoptr (StemPlanSet) set = g_new0 (StemPlanSet, 1);
  g_autoptr (GHashTable) env_cache
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
  g_auto (GStrv) caller_env = g_get_environ ();

  set->host = g_strdup (g_get_host_name ());
  set->timestamp = stem_template_timestamp (g_get_real_time ());
  set->base_env = g_strdupv (caller_env);

  g_autoptr (GPtrArray) globals = g_ptr_array_new ();
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if (v->spec->id == STEM_OPT_ENV_FILE && v->selector == NULL)
        g_ptr_array_add (globals, v->value);
    }
  g_ptr_array_add (globals, NULL);
  if (!apply_env_files (env_cache, (const char *const *)globals->pdata, &set->base_env, error))
    return NULL;

  if (!find_nodes (args, node_words, (const char *const *)set->base_env, &set->nodes, error))
    return NULL;

  /* The routing file the workers will read, checked here so that an unknown
   * queue is a configuration error before anything starts. */
  const char *routing = stem_args_get (args, STEM_OPT_ROUTING_CONFIG);
  if (routing == NULL)
    routing = g_environ_getenv (set->base_env, "STEM_ROUTING_CONFIG");
  if ((flags & STEM_PLAN_COMMAND) && routing != NULL && *routing != '\0')
    {
      set->routing_path = g_canonicalize_filename (routing, NULL);
      set->routing = stem_routing_load (set->routing_path, error);
      if (set->routing == NULL)
        return NULL;
    }
  if (!stem_args_check_selectors (args, (const char *const *)set->nodes, error))
    return NULL;

  /* A malformed template is one error, not one per node. */
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if (v->spec->id == STEM_OPT_PIDFILE || v->spec->id == STEM_OPT_LOGFILE
          || v->spec->id == STEM_OPT_WORKDIR)
        if (!stem_template_validate (v->value, error))
          {
            stem_error_prefix (error, "--%s", v->spec->long_name);
            return NULL;
          }
    }

  /* Every node is planned even after one fails, so one run reports them all. */
  set->plans = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_node_plan_free);
  g_autoptr (GString) problems = g_string_new (NULL);
  StemErrorCode code = STEM_ERROR_CONFIG;
  for (guint i = 0; set->nodes[i] != NULL; i++)
    {
      StemNodePlan *plan = g_new0 (StemNodePlan, 1);
      plan->node = g_strdup (set->nodes[i]);
      plan->index = i + 1;
      g_ptr_array_add (set->plans, plan);

      g_autoptr (GError) local_error = NULL;
      if (!plan_node (args, set, env_cache, (const char *const *)caller_env, flags, plan,
                      &local_error))
        {
          if (problems->len > 0)
            g_string_append_c (problems, '\n');
          if (set->nodes[1] == NULL)
            g_string_append (problems, local_error->message);
          else
            g_string_append_printf (problems, "%s: %s", plan->node, local_error->message);
          if (local_error->domain == STEM_ERROR && local_error->code == STEM_ERROR_USAGE)
            code = STEM_ERROR_USAGE;
        }
    }

  for (guint i = 0; problems->len == 0 && i < set->plans->len; i++)
    for (guint j = 0; j < i; j++)
      {
        StemNodePlan *a = set->plans->pdata[i], *b = set->plans->pdata[j];
        if (strcmp (a->pidfile, b->pidfile) == 0)
          g_string_append_printf (problems, _ ("Nodes “%s” and “%s” would share the pidfile “%s”"),
                                  b->node, a->node, a->pidfile);
      }

  if (problems->len > 0)
    {
      stem_throw_code (error, code, "%s", problems->str);
      return NULL;
    }
  return g_steal_pointer (&set);
}
