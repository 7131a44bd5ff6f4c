/* The half of planning that only starting needs: the worker's command,
 * environment, queues (checked against the routing file) and umask. */

#include "stem-plan.h"
#include "stem-plan-private.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "stem-command.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-routing.h"
#include "stem-template.h"

/* --routing-config or STEM_ROUTING_CONFIG, for the duration of one build. */
typedef struct
{
  StemRouting *routing; /* or NULL */
  char *path;           /* absolute */
  gboolean none;        /* --routing-config= : none, for the workers too */
} Routing;

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

gboolean
stem_plan_check_names (const char *option, const char *value, GError **error)
{
  /* g_strsplit () makes no part of "": it would pass unseen. */
  if (*value == '\0')
    return validate_queue_name (option, "", error);
  g_auto (GStrv) parts = g_strsplit (value, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (!validate_queue_name (option, parts[i], error))
      return FALSE;
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
      if (!stem_plan_check_names (option, values[i], error))
        return FALSE;
      g_auto (GStrv) parts = g_strsplit (values[i], ",", -1);
      for (guint j = 0; parts[j] != NULL; j++)
        {
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

gboolean
stem_plan_parse_umask (const char *text, mode_t *out, GError **error)
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

/* Whether USER may execute PROGRAM: the file's mode, and the search
 * permission of every directory above it (exec fails in either case). */
static gboolean
user_can_run (const StemUser *user, const char *program)
{
  struct stat st;
  if (stat (program, &st) != 0)
    return TRUE; /* left for exec to report */
  if (!stem_user_can_execute (user, &st))
    return FALSE;
  if (!user->change || user->uid == 0)
    return TRUE; /* root searches every directory */
  g_autofree char *dir = g_path_get_dirname (program);
  while (stat (dir, &st) != 0 || stem_user_can_execute (user, &st))
    {
      if (strcmp (dir, "/") == 0 || strcmp (dir, ".") == 0)
        return TRUE;
      char *parent = g_path_get_dirname (dir);
      g_free (dir);
      dir = parent;
    }
  return FALSE;
}

/* A script's interpreter, which exec needs as much as the script: a
 * virtualenv deleted under it, or one in a home the worker's user may not
 * enter, fails the start just the same. */
static gboolean
check_interpreter (const StemNodePlan *plan, const char *program, GError **error)
{
  g_autofree char *interpreter = stem_command_interpreter (program);
  if (interpreter == NULL)
    return TRUE;
  int reason = stem_command_check_executable (interpreter);
  if (reason == ENOENT)
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("Program “%s” is a script for “%s”, which does not exist"), program,
                            interpreter);
  if (reason != 0)
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("Program “%s” is a script for “%s”, which is not executable"),
                            program, interpreter);
  if (plan->user != NULL && !user_can_run (plan->user, interpreter))
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("Program “%s” is a script for “%s”, which uid %u may not execute"),
                            program, interpreter, (unsigned)plan->user->uid);
  return TRUE;
}

/* SPEC's STEM_WORKER_* variables: what a worker learns of its node. */
static GStrv
add_worker_env (GStrv envp, const StemPlanSet *set, const Routing *routing,
                const StemNodePlan *plan)
{
  g_autofree char *index = g_strdup_printf ("%u", plan->index);
  envp = g_environ_setenv (envp, "STEM_WORKER_NODE", plan->node, TRUE);
  envp = g_environ_setenv (envp, "STEM_WORKER_INDEX", index, TRUE);
  envp = g_environ_setenv (envp, "STEM_WORKER_HOST", set->host, TRUE);
  envp = g_environ_setenv (envp, "STEM_WORKER_PIDFILE", plan->pidfile, TRUE);
  if (plan->logfile != NULL)
    envp = g_environ_setenv (envp, "STEM_WORKER_LOGFILE", plan->logfile, TRUE);
  if (routing->path != NULL)
    envp = g_environ_setenv (envp, "STEM_ROUTING_CONFIG", routing->path, TRUE);
  else if (routing->none)
    envp = g_environ_unsetenv (envp, "STEM_ROUTING_CONFIG");
  if (plan->queues[0] != NULL)
    {
      g_autofree char *joined = g_strjoinv (",", plan->queues);
      envp = g_environ_setenv (envp, "STEM_WORKER_QUEUES", joined, TRUE);
      /* An empty value counts as unset, as everywhere in stem-multi. */
      const char *given = g_environ_getenv (envp, "STEM_DEFAULT_QUEUE");
      envp = g_environ_setenv (envp, "STEM_DEFAULT_QUEUE", plan->queues[0],
                               given == NULL || *given == '\0');
    }
  if (plan->broadcasts[0] != NULL)
    {
      g_autofree char *joined = g_strjoinv (",", plan->broadcasts);
      envp = g_environ_setenv (envp, "STEM_WORKER_BROADCASTS", joined, TRUE);
    }
  return envp;
}

/* The environment of PLAN's worker before stem-multi's own variables: the
 * caller's, what login(1) and systemd's User= give the --uid user, then
 * the node's env files.  Only the verbs that run a worker (or show how it
 * would run) come here, so only they resolve --uid and --gid. */
static gboolean
node_env (StemArgs *args, StemPlanSet *set, StemNodePlan *plan, GStrv *out_envp, GError **error)
{
  const char *uid = stem_args_get_for_node (args, STEM_OPT_UID, plan->node, plan->index);
  const char *gid = stem_args_get_for_node (args, STEM_OPT_GID, plan->node, plan->index);
  if ((uid != NULL || gid != NULL) && (plan->user = stem_user_resolve (uid, gid, error)) == NULL)
    return FALSE;

  g_auto (GStrv) files
      = stem_args_get_all_for_node (args, STEM_OPT_ENV_FILE, plan->node, plan->index);
  g_auto (GStrv) envp = g_strdupv (set->caller_env);
  if (uid != NULL && plan->user->name != NULL)
    {
      /* As systemd's User= does, also when --uid names the caller itself
       * (the SysV scripts run stem-multi as the service user already, with
       * root's HOME).  Env files may still say otherwise. */
      envp = g_environ_setenv (envp, "USER", plan->user->name, TRUE);
      envp = g_environ_setenv (envp, "LOGNAME", plan->user->name, TRUE);
      if (plan->user->home != NULL)
        envp = g_environ_setenv (envp, "HOME", plan->user->home, TRUE);
    }
  if (!stem_plan_apply_env_files (set->env_files, (const char *const *)files, &envp, error))
    return FALSE;
  *out_envp = g_steal_pointer (&envp);
  return TRUE;
}

/* The words of PLAN's worker, from the options or ENVP (THE WORKER COMMAND
 * in stem-multi(1)), each expanded for the node (CTX); a bad template
 * names where its word came from. */
static gboolean
node_argv (StemArgs *args, const StemTemplateContext *ctx, const StemNodePlan *plan,
           const char *const *envp, GStrv *out_argv, GError **error)
{
  g_auto (GStrv) words
      = stem_args_get_all_for_node (args, STEM_OPT_COMMAND, plan->node, plan->index);
  const char *line = stem_args_get_for_node (args, STEM_OPT_COMMAND_LINE, plan->node, plan->index);
  /* The node's own --command-line beats --command given for every node:
   * the more specific option wins, as everywhere. */
  if (stem_args_scoped_for_node (args, STEM_OPT_COMMAND_LINE, plan->node, plan->index)
      && !stem_args_scoped_for_node (args, STEM_OPT_COMMAND, plan->node, plan->index))
    g_clear_pointer (&words, g_strfreev);
  g_auto (GStrv) argv = NULL;
  g_autofree char *origin = NULL;
  if (!stem_command_resolve ((const char *const *)words, line, envp,
                             (const char *const *)args->trailing, &argv, &origin, error))
    return FALSE;

  guint from_trailing = g_strv_length (argv) - g_strv_length (args->trailing);
  for (guint i = 0; argv[i] != NULL; i++)
    {
      char *word = stem_template_expand (argv[i], ctx, error);
      if (word == NULL)
        {
          if (i >= from_trailing)
            stem_error_prefix (error, "%s", _ ("the words after “--”"));
          else
            stem_error_prefix (error, "%s", origin);
          return FALSE;
        }
      g_free (argv[i]);
      argv[i] = word;
    }
  *out_argv = g_steal_pointer (&argv);
  return TRUE;
}

static gboolean
plan_command (StemArgs *args, StemPlanSet *set, const Routing *routing, StemNodePlan *plan,
              GError **error)
{
  StemTemplateContext ctx = {
    .node = plan->node,
    .index = plan->index,
    .host = set->host,
    .timestamp = set->timestamp,
  };
  g_auto (GStrv) envp = NULL;
  g_auto (GStrv) argv = NULL;
  if (!node_env (args, set, plan, &envp, error)
      || !collect_names (args, routing->routing, STEM_OPT_QUEUE, "--queue", plan, &plan->queues,
                         error)
      || !collect_names (args, routing->routing, STEM_OPT_BROADCAST, "--broadcast", plan,
                         &plan->broadcasts, error)
      || !node_argv (args, &ctx, plan, (const char *const *)envp, &argv, error))
    return FALSE;

  envp = add_worker_env (envp, set, routing, plan);

  /* Resolved once, on the worker's own PATH, so a missing program is a
   * configuration error before anything starts. */
  char *program = stem_command_find_program (argv[0], (const char *const *)envp, error);
  if (program == NULL)
    return FALSE;
  g_free (argv[0]);
  argv[0] = program;
  if (plan->user != NULL && !user_can_run (plan->user, program))
    return stem_throw_code (error, STEM_ERROR_CONFIG,
                            _ ("Program “%s” is not executable by uid %u"), program,
                            (unsigned)plan->user->uid);
  if (!check_interpreter (plan, program, error))
    return FALSE;

  const char *umask_text = stem_args_get_for_node (args, STEM_OPT_UMASK, plan->node, plan->index);
  if (umask_text != NULL)
    {
      if (!stem_plan_parse_umask (umask_text, &plan->umask, error))
        return FALSE;
      plan->has_umask = TRUE;
    }

  plan->added_env
      = sorted_added_env ((const char *const *)set->caller_env, (const char *const *)envp);
  plan->argv = g_steal_pointer (&argv);
  plan->envp = g_steal_pointer (&envp);
  return TRUE;
}

/* The routing file the workers will read, checked here so that an unknown
 * queue is a configuration error before anything starts. */
static gboolean
load_routing (StemArgs *args, StemPlanSet *set, Routing *routing, GError **error)
{
  const char *path = stem_args_get (args, STEM_OPT_ROUTING_CONFIG);
  routing->none = path != NULL && *path == '\0';
  if (path == NULL)
    path = g_environ_getenv (set->base_env, "STEM_ROUTING_CONFIG");
  if (path == NULL || *path == '\0')
    return TRUE;
  routing->path = g_canonicalize_filename (path, NULL);
  routing->routing = stem_routing_load (routing->path, error);
  return routing->routing != NULL || stem_plan_config_error (error);
}

/* ---- one file under two names -------------------------------------------- */

typedef enum
{
  FILE_PIDFILE,
  FILE_LOCK,
  FILE_LOG,
  FILE_ENV,
  FILE_ROUTING,
} FileRole;

typedef struct
{
  FileRole role;
  const char *node; /* for the files of a node */
  char *path;
} NamedFile;

static void
named_file_clear (gpointer data)
{
  g_free (((NamedFile *)data)->path);
}

/* What PATH names, whichever way it goes there: the device and inode of
 * the file, or, where there is none yet, of the nearest directory above it
 * that exists, with the rest of the path.  Only compared: nothing is done
 * to what it finds (the files are opened as stem-path.h says, when used). */
static char *
file_identity (const char *path)
{
  struct stat st;
  if (stat (path, &st) == 0)
    return g_strdup_printf ("%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *rest = g_path_get_basename (path);
  while (stat (dir, &st) != 0)
    {
      if (strcmp (dir, "/") == 0 || strcmp (dir, ".") == 0)
        return g_strdup (path);
      g_autofree char *base = g_path_get_basename (dir);
      char *longer = g_build_filename (base, rest, NULL);
      g_free (rest);
      rest = longer;
      char *up = g_path_get_dirname (dir);
      g_free (dir);
      dir = up;
    }
  return g_strdup_printf ("%ju:%ju/%s", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, rest);
}

static char *
describe_file (const NamedFile *file)
{
  switch (file->role)
    {
    case FILE_PIDFILE:
      return g_strdup_printf (_ ("the pidfile of node “%s”"), file->node);
    case FILE_LOCK:
      return g_strdup_printf (_ ("the lock file of node “%s”"), file->node);
    case FILE_LOG:
      return g_strdup_printf (_ ("the log file of node “%s”"), file->node);
    case FILE_ENV:
      return g_strdup (_ ("an env file"));
    case FILE_ROUTING:
    default:
      return g_strdup (_ ("the routing file"));
    }
}

/* Whether A and B may be one file, or need not be told as such: logs may
 * be shared, and what is only read may be read twice; a pidfile or a lock
 * file is one node's alone, and a log must not be written into any of
 * these. */
static gboolean
may_be_one_file (const NamedFile *a, const NamedFile *b)
{
  /* Two nodes' lock files are one where their pidfiles are, said once. */
  if (a->role == b->role && (a->role == FILE_LOG || a->role == FILE_LOCK))
    return TRUE;
  return a->role >= FILE_ENV && b->role >= FILE_ENV;
}

/* stem_plan_set_check compares the paths; here, what they name: one file
 * can have two paths through a link to a directory (/var/run and /run), a
 * bind mount or a hard link.  A pidfile or lock file that two nodes share
 * would have the second wait for the lock the first holds, then lose its
 * pidfile; a log that is a pidfile, a lock file, an env file or the
 * routing file would get the worker's output (for an env file, settings
 * that root reads next time). */
static gboolean
check_same_files (StemPlanSet *set, const char *routing_path, GError **error)
{
  g_autoptr (GArray) files = g_array_new (FALSE, TRUE, sizeof (NamedFile));
  g_array_set_clear_func (files, named_file_clear);
  for (guint i = 0; i < set->plans->len; i++)
    {
      const StemNodePlan *plan = set->plans->pdata[i];
      NamedFile pidfile = { FILE_PIDFILE, plan->node, g_strdup (plan->pidfile) };
      NamedFile lock = { FILE_LOCK, plan->node, g_strconcat (plan->pidfile, ".lock", NULL) };
      g_array_append_val (files, pidfile);
      g_array_append_val (files, lock);
    }
  for (guint i = 0; i < set->plans->len; i++)
    {
      const StemNodePlan *plan = set->plans->pdata[i];
      if (plan->logfile == NULL)
        continue;
      NamedFile log = { FILE_LOG, plan->node, g_strdup (plan->logfile) };
      g_array_append_val (files, log);
    }
  GHashTableIter iter;
  gpointer path;
  g_hash_table_iter_init (&iter, set->env_files);
  while (g_hash_table_iter_next (&iter, &path, NULL))
    {
      NamedFile env = { FILE_ENV, NULL, g_strdup (path) };
      g_array_append_val (files, env);
    }
  if (routing_path != NULL)
    {
      NamedFile routing = { FILE_ROUTING, NULL, g_strdup (routing_path) };
      g_array_append_val (files, routing);
    }

  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GString) problems = g_string_new (NULL);
  for (guint i = 0; i < files->len; i++)
    {
      const NamedFile *file = &g_array_index (files, NamedFile, i);
      char *identity = file_identity (file->path);
      const NamedFile *first = g_hash_table_lookup (seen, identity);
      if (first == NULL)
        {
          g_hash_table_insert (seen, identity, (gpointer)file);
          continue;
        }
      g_free (identity);
      if (may_be_one_file (first, file))
        continue;
      g_autofree char *what = describe_file (file);
      g_autofree char *first_what = describe_file (first);
      if (problems->len > 0)
        g_string_append_c (problems, '\n');
      g_string_append_printf (problems, _ ("“%s”, %s, and “%s”, %s, are the same file"), file->path,
                              what, first->path, first_what);
    }
  if (problems->len > 0)
    return stem_throw_code (error, STEM_ERROR_CONFIG, "%s", problems->str);
  return TRUE;
}

StemPlanSet *
stem_plan_build_commands (StemArgs *args, const char *const *node_words, GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_nodes (args, node_words, NULL, error);
  if (set == NULL)
    return NULL;
  Routing routing = { NULL, NULL, FALSE };
  gboolean loaded = load_routing (args, set, &routing, error);
  for (guint i = 0; loaded && i < set->plans->len; i++)
    if (set->problems->pdata[i] == NULL)
      {
        GError *problem = NULL;
        plan_command (args, set, &routing, set->plans->pdata[i], &problem);
        set->problems->pdata[i] = problem;
      }
  stem_routing_free (routing.routing);
  g_autofree char *routing_path = routing.path;
  if (!loaded || !stem_plan_set_check (set, error) || !check_same_files (set, routing_path, error))
    return NULL;
  return g_steal_pointer (&set);
}
