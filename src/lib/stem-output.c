#include "stem-output.h"

#include <stdio.h>

#include "stem-json.h"

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

  g_autoptr (StemJson) b = stem_json_new ();
  stem_json_begin_object (b);
  stem_json_member (b, "verb");
  stem_json_string (b, report->verb);
  stem_json_member (b, "ok");
  stem_json_boolean (b, !stem_report_any_failed (report));
  stem_json_member (b, "nodes");
  stem_json_begin_array (b);
  for (guint i = 0; i < report->results->len; i++)
    {
      StemNodeResult *r = report->results->pdata[i];
      stem_json_begin_object (b);
      stem_json_member (b, "node");
      stem_json_string (b, r->node);
      stem_json_member (b, "state");
      stem_json_string (b, r->state);
      stem_json_member (b, "ok");
      stem_json_boolean (b, !r->failed);
      if (r->pid > 0)
        {
          stem_json_member (b, "pid");
          stem_json_int (b, r->pid);
        }
      if (r->pidfile != NULL)
        {
          stem_json_member (b, "pidfile");
          stem_json_string (b, r->pidfile);
        }
      if (r->uptime_s >= 0)
        {
          stem_json_member (b, "uptimeSeconds");
          stem_json_int (b, r->uptime_s);
        }
      stem_json_member (b, "message");
      stem_json_string (b, r->text);
      if (r->detail != NULL)
        {
          stem_json_member (b, "log");
          stem_json_string (b, r->detail);
        }
      stem_json_end_object (b);
    }
  stem_json_end_array (b);
  stem_json_end_object (b);
  stem_json_print (b);
}
