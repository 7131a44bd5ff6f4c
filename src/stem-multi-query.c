/* The verbs that change nothing (but a stale pidfile): status, show,
 * names, expand, get. */

#include <string.h>

#include "stem-duration.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-json.h"
#include "stem-multi-node.h"
#include "stem-template.h"

/* ---- status --------------------------------------------------------------- */

int
stem_multi_status (StemMultiOptions *opts, GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_paths (opts->args, opts->words, NULL, error);
  if (set == NULL)
    return -1;

  g_autoptr (StemReport) report = stem_report_new ("status");
  gboolean any_unknown = FALSE, any_stale = FALSE, any_stopped = FALSE;
  gint64 now_us = g_get_real_time ();
  Inspection *all = stem_multi_inspect_all (set->plans);
  for (guint i = 0; i < set->plans->len; i++)
    {
      StemNodePlan *plan = set->plans->pdata[i];
      const Inspection *in = &all[i];
      StemNodeResult *r = NULL;
      switch (in->state)
        {
        case NODE_NO_PIDFILE:
          r = stem_report_add (report, plan->node, "stopped", FALSE, _ ("stopped"));
          any_stopped = TRUE;
          break;
        case NODE_RUNNING:
        case NODE_FOREIGN:
          {
            gint64 up = MAX (0, (now_us - in->start_us) / G_USEC_PER_SEC);
            g_autofree char *uptime = stem_uptime_format (up);
            r = stem_report_add (report, plan->node, "running", FALSE,
                                 _ ("running (pid %d, up %s)"), (int)in->pid, uptime);
            r->pid = in->pid;
            r->uptime_s = up;
            break;
          }
        case NODE_STALE:
          {
            g_autofree char *why = stem_multi_describe_stale (in);
            if (opts->no_clean)
              r = stem_report_add (report, plan->node, "stale", FALSE, _ ("stale pidfile: %s"),
                                   why);
            else if (stem_multi_remove_stale (opts, plan, in))
              r = stem_report_add (report, plan->node, "stale", FALSE,
                                   _ ("stale pidfile: %s (removed)"), why);
            else
              r = stem_report_add (report, plan->node, "stale", FALSE,
                                   _ ("stale pidfile: %s (it could not be removed)"), why);
            r->pid = in->pid;
            any_stale = TRUE;
            break;
          }
        case NODE_UNKNOWN:
        default:
          r = stem_report_add (report, plan->node, "unknown", TRUE, "%s", in->error->message);
          if (in->pid > 0)
            r->pid = in->pid;
          any_unknown = TRUE;
          break;
        }
      r->pidfile = g_strdup (plan->pidfile);
    }
  stem_multi_inspections_free (all, set->plans->len);
  stem_report_print (report, opts->json, opts->quiet);
  if (any_unknown)
    return STEM_LSB_UNKNOWN;
  if (any_stale)
    return STEM_LSB_DEAD_PIDFILE;
  if (any_stopped)
    return STEM_LSB_NOT_RUNNING;
  return STEM_LSB_RUNNING;
}

/* ---- show, names, expand, get -------------------------------------------- */

/* ARGV as one line for sh(1), and for bash as typed: a word is quoted
 * when it holds anything either would read as more than itself (bash's
 * braces and history "!" and "^" included), and a first word with "=",
 * which would be an assignment. */
static char *
quote_argv (char **argv)
{
  g_autoptr (GString) line = g_string_new (NULL);
  for (guint i = 0; argv[i] != NULL; i++)
    {
      g_autofree char *quoted = g_shell_quote (argv[i]);
      gboolean plain = *argv[i] != '\0'
                       && strpbrk (argv[i], " \t\n'\"\\$`;&|<>()*?[]#~{}!^") == NULL
                       && (i > 0 || strchr (argv[i], '=') == NULL);
      if (i > 0)
        g_string_append_c (line, ' ');
      g_string_append (line, plain ? argv[i] : quoted);
    }
  return g_string_free (g_steal_pointer (&line), FALSE);
}

/* show --json: one document for PLANS. */
static void
show_json (GPtrArray *plans)
{
  g_autoptr (StemJson) b = stem_json_new ();
  stem_json_begin_object (b);
  stem_json_member (b, "verb");
  stem_json_string (b, "show");
  stem_json_member (b, "nodes");
  stem_json_begin_array (b);
  for (guint i = 0; i < plans->len; i++)
    {
      StemNodePlan *plan = plans->pdata[i];
      stem_json_begin_object (b);
      stem_json_member (b, "node");
      stem_json_string (b, plan->node);
      stem_json_member (b, "index");
      stem_json_int (b, plan->index);
      stem_json_member (b, "argv");
      stem_json_begin_array (b);
      for (guint j = 0; plan->argv[j] != NULL; j++)
        stem_json_string (b, plan->argv[j]);
      stem_json_end_array (b);
      stem_json_member (b, "workdir");
      stem_json_string (b, plan->workdir);
      stem_json_member (b, "pidfile");
      stem_json_string (b, plan->pidfile);
      stem_json_member (b, "logfile");
      stem_json_string (b, plan->logfile != NULL ? plan->logfile : "-");
      if (plan->user != NULL && plan->user->change)
        {
          stem_json_member (b, "uid");
          stem_json_int (b, plan->user->uid);
          stem_json_member (b, "gid");
          stem_json_int (b, plan->user->gid);
        }
      if (plan->has_umask)
        {
          g_autofree char *mask = g_strdup_printf ("%04o", (unsigned)plan->umask);
          stem_json_member (b, "umask");
          stem_json_string (b, mask);
        }
      stem_json_member (b, "env");
      stem_json_begin_object (b);
      for (guint j = 0; plan->added_env[j] != NULL; j++)
        {
          const char *eq = strchr (plan->added_env[j], '=');
          g_autofree char *name = g_strndup (plan->added_env[j], eq - plan->added_env[j]);
          stem_json_member (b, name);
          stem_json_string (b, eq + 1);
        }
      stem_json_end_object (b);
      stem_json_end_object (b);
    }
  stem_json_end_array (b);
  stem_json_end_object (b);
  stem_json_print (b);
}

/* show: a block of lines for each of PLANS. */
static void
show_text (GPtrArray *plans)
{
  for (guint i = 0; i < plans->len; i++)
    {
      StemNodePlan *plan = plans->pdata[i];
      g_autofree char *command = quote_argv (plan->argv);
      g_print ("%s:\n", plan->node);
      g_print ("  %-9s %s\n", "argv:", command);
      g_print ("  %-9s %s\n", "workdir:", plan->workdir);
      g_print ("  %-9s %s\n", "pidfile:", plan->pidfile);
      g_print ("  %-9s %s\n", "logfile:", plan->logfile != NULL ? plan->logfile : "-");
      if (plan->user != NULL && plan->user->change)
        g_print ("  %-9s uid %u%s%s%s, gid %u\n", "user:", (unsigned)plan->user->uid,
                 plan->user->name != NULL ? " (" : "",
                 plan->user->name != NULL ? plan->user->name : "",
                 plan->user->name != NULL ? ")" : "", (unsigned)plan->user->gid);
      if (plan->has_umask)
        g_print ("  %-9s %04o\n", "umask:", (unsigned)plan->umask);
      for (guint j = 0; plan->added_env[j] != NULL; j++)
        g_print ("  %-9s %s\n", "env:", plan->added_env[j]);
    }
}

int
stem_multi_show (StemMultiOptions *opts, GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_commands (opts->args, opts->words, error);
  if (set == NULL)
    return -1;
  if (opts->json)
    show_json (set->plans);
  else
    show_text (set->plans);
  return STEM_EXIT_OK;
}

static void
print_list (StemMultiOptions *opts, const char *verb, GPtrArray *nodes, GPtrArray *values)
{
  if (opts->json)
    {
      g_autoptr (StemJson) b = stem_json_new ();
      stem_json_begin_object (b);
      stem_json_member (b, "verb");
      stem_json_string (b, verb);
      stem_json_member (b, "nodes");
      stem_json_begin_array (b);
      for (guint i = 0; i < nodes->len; i++)
        {
          stem_json_begin_object (b);
          stem_json_member (b, "node");
          stem_json_string (b, nodes->pdata[i]);
          if (values != NULL)
            {
              stem_json_member (b, "value");
              stem_json_string (b, values->pdata[i]);
            }
          stem_json_end_object (b);
        }
      stem_json_end_array (b);
      stem_json_end_object (b);
      stem_json_print (b);
      return;
    }
  for (guint i = 0; i < nodes->len; i++)
    g_print ("%s\n", (const char *)(values != NULL ? values->pdata[i] : nodes->pdata[i]));
}

int
stem_multi_names (StemMultiOptions *opts, GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_paths (opts->args, opts->words, NULL, error);
  if (set == NULL)
    return -1;
  g_autoptr (GPtrArray) nodes = g_ptr_array_new ();
  for (guint i = 0; set->nodes[i] != NULL; i++)
    g_ptr_array_add (nodes, set->nodes[i]);
  print_list (opts, "names", nodes, NULL);
  return STEM_EXIT_OK;
}

int
stem_multi_expand (StemMultiOptions *opts, GError **error)
{
  const char *tmpl = opts->words[0];
  if (!stem_template_validate (tmpl, error))
    return -1;
  g_autoptr (StemPlanSet) set = stem_plan_build_paths (opts->args, opts->words + 1, NULL, error);
  if (set == NULL)
    return -1;
  g_autoptr (GPtrArray) nodes = g_ptr_array_new ();
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; set->nodes[i] != NULL; i++)
    {
      StemTemplateContext ctx = { set->nodes[i], i + 1, set->host, set->timestamp };
      char *value = stem_template_expand (tmpl, &ctx, error);
      if (value == NULL)
        return -1;
      g_ptr_array_add (nodes, set->nodes[i]);
      g_ptr_array_add (values, value);
    }
  print_list (opts, "expand", nodes, values);
  return STEM_EXIT_OK;
}

/* get NODE [NODE…]: NODE is picked among the nodes that follow it, else among
 * STEMD_NODES when it is one of them, else it stands alone, so that %I and
 * STEM_WORKER_INDEX match what start would use. */
int
stem_multi_get (StemMultiOptions *opts, GError **error)
{
  const char *wanted = opts->words[0];
  g_autoptr (StemPlanSet) set = NULL;
  if (opts->words[1] != NULL)
    set = stem_plan_build_commands (opts->args, opts->words + 1, error);
  else
    {
      /* Among the configured nodes, NODE is planned with them, and what
       * start would refuse of them is refused; else it stands alone, as
       * for start NODE.  Configured nodes that cannot even be listed are
       * the configuration error they are for start. */
      GError *configured_error = NULL;
      g_auto (GStrv) configured = stem_plan_configured_nodes (opts->args, &configured_error);
      if (configured == NULL
          && !g_error_matches (configured_error, STEM_ERROR, STEM_ERROR_NO_NODES))
        {
          g_propagate_error (error, configured_error);
          return -1;
        }
      g_clear_error (&configured_error);
      gboolean listed
          = configured != NULL && g_strv_contains ((const char *const *)configured, wanted);
      set = stem_plan_build_commands (opts->args, listed ? NULL : opts->words, error);
    }
  if (set == NULL)
    return -1;
  for (guint i = 0; i < set->plans->len; i++)
    {
      StemNodePlan *plan = set->plans->pdata[i];
      if (strcmp (plan->node, wanted) != 0)
        continue;
      g_autoptr (GPtrArray) nodes = g_ptr_array_new ();
      g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (nodes, plan->node);
      g_ptr_array_add (values, quote_argv (plan->argv));
      print_list (opts, "get", nodes, values);
      return STEM_EXIT_OK;
    }
  return stem_throw_code (error, STEM_ERROR_USAGE,
                          _ ("Node “%s” is not among the nodes of this call"), wanted),
         -1;
}
