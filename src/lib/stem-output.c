#include "stem-output.h"

#include <stdio.h>

static void
result_free (gpointer data)
{
  StemNodeResult *r = data;
  g_free (r->node);
  g_free (r->state);
  g_free (r->pidfile);
  g_free (r->text);
  g_free (r->detail);
  g_free (r);
}

StemReport *
stem_report_new (const char *verb)
{
  StemReport *report = g_new0 (StemReport, 1);
  report->verb = g_strdup (verb);
  report->results = g_ptr_array_new_with_free_func (result_free);
  return report;
}

void
stem_report_free (StemReport *report)
{
  if (report == NULL)
    return;
  g_free (report->verb);
  g_ptr_array_unref (report->results);
  g_free (report);
}

StemNodeResult *
stem_report_add (StemReport *report, const char *node, const char *state, gboolean failed,
                 const char *format, ...)
{
  StemNodeResult *r = g_new0 (StemNodeResult, 1);
  va_list args;
  va_start (args, format);
  r->text = g_strdup_vprintf (format, args);
  va_end (args);
  r->node = g_strdup (node);
  r->state = g_strdup (state);
  r->failed = failed;
  r->uptime_s = -1;
  g_ptr_array_add (report->results, r);
  return r;
}

gboolean
stem_report_any_failed (StemReport *report)
{
  for (guint i = 0; i < report->results->len; i++)
    if (((StemNodeResult *)report->results->pdata[i])->failed)
      return TRUE;
  return FALSE;
}

void
stem_json_print (JsonNode *root)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  g_autofree char *text = json_generator_to_data (gen, NULL);
  g_print ("%s\n", text);
}

void
stem_report_print (StemReport *report, gboolean json, gboolean quiet)
{
  if (!json)
    {
      for (guint i = 0; i < report->results->len; i++)
        {
          StemNodeResult *r = report->results->pdata[i];
          if (r->failed)
            g_printerr ("%s: %s: %s\n", g_get_prgname (), r->node, r->text);
          else if (!quiet)
            g_print ("%s: %s\n", r->node, r->text);
          if (r->detail != NULL && (r->failed || !quiet))
            {
              g_auto (GStrv) lines = g_strsplit (r->detail, "\n", -1);
              for (char **line = lines; *line != NULL; line++)
                (r->failed ? g_printerr : g_print) ("  %s\n", *line);
            }
        }
      fflush (stdout);
      return;
    }

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "verb");
  json_builder_add_string_value (b, report->verb);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, !stem_report_any_failed (report));
  json_builder_set_member_name (b, "nodes");
  json_builder_begin_array (b);
  for (guint i = 0; i < report->results->len; i++)
    {
      StemNodeResult *r = report->results->pdata[i];
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "node");
      json_builder_add_string_value (b, r->node);
      json_builder_set_member_name (b, "state");
      json_builder_add_string_value (b, r->state);
      json_builder_set_member_name (b, "ok");
      json_builder_add_boolean_value (b, !r->failed);
      if (r->pid > 0)
        {
          json_builder_set_member_name (b, "pid");
          json_builder_add_int_value (b, r->pid);
        }
      if (r->pidfile != NULL)
        {
          json_builder_set_member_name (b, "pidfile");
          json_builder_add_string_value (b, r->pidfile);
        }
      if (r->uptime_s >= 0)
        {
          json_builder_set_member_name (b, "uptimeSeconds");
          json_builder_add_int_value (b, r->uptime_s);
        }
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, r->text);
      if (r->detail != NULL)
        {
          json_builder_set_member_name (b, "log");
          json_builder_add_string_value (b, r->detail);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  stem_json_print (root);
}
