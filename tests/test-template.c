#include "stem-error.h"
#include "stem-template.h"

#include <string.h>

static const StemTemplateContext test_context = {
  .node = "alpha.w-1",
  .index = 3,
  .host = "db1.example.org",
  .timestamp = "2026-01-02T03-04-05Z",
};

typedef struct
{
  const char *path;
  const char *tmpl;
  const char *expected; /* NULL: an error */
  const char *message;  /* the whole error message */
} ExpandCase;

static const ExpandCase expand_cases[] = {
  { "/template/expand/node", "/run/stem/%n.pid", "/run/stem/alpha.w-1.pid", NULL },
  { "/template/expand/node-upper", "STEM_%N_QUEUE", "STEM_ALPHA.W-1_QUEUE", NULL },
  { "/template/expand/host", "%n@%h", "alpha.w-1@db1.example.org", NULL },
  { "/template/expand/index-upper", "worker-%I", "worker-3", NULL },
  { "/template/expand/index-lower", "worker-%i", "worker-3", NULL },
  { "/template/expand/timestamp", "/var/log/stem/%n-%d.log",
    "/var/log/stem/alpha.w-1-2026-01-02T03-04-05Z.log", NULL },
  { "/template/expand/percent", "100%%", "100%", NULL },
  { "/template/expand/percent-n", "%%n", "%n", NULL },
  { "/template/expand/percent-percent-node", "%%%n", "%alpha.w-1", NULL },
  { "/template/expand/all", "%n %N %h %I %i %d %%",
    "alpha.w-1 ALPHA.W-1 db1.example.org 3 3 2026-01-02T03-04-05Z %", NULL },
  { "/template/expand/repeated", "%n/%n", "alpha.w-1/alpha.w-1", NULL },
  { "/template/expand/no-placeholder", "/var/log/stem.log", "/var/log/stem.log", NULL },
  { "/template/expand/empty", "", "", NULL },
  { "/template/expand/non-ascii", "é-%n", "é-alpha.w-1", NULL },
  { "/template/unknown-placeholder", "/run/%q.pid", NULL,
    "Unknown placeholder “%q” in “/run/%q.pid” (known: %n %N %h %I %i %d %%)" },
  { "/template/unknown-placeholder/after-percent", "%%%x", NULL,
    "Unknown placeholder “%x” in “%%%x” (known: %n %N %h %I %i %d %%)" },
  { "/template/unknown-placeholder/space", "50% off", NULL,
    "Unknown placeholder “% ” in “50% off” (known: %n %N %h %I %i %d %%)" },
  { "/template/unknown-placeholder/multibyte", "%é", NULL,
    "Unknown placeholder “%é” in “%é” (known: %n %N %h %I %i %d %%)" },
  { "/template/trailing-percent", "/run/stem/%n%", NULL,
    "Template “/run/stem/%n%” ends with a lone “%”" },
  { "/template/trailing-percent/only", "%", NULL, "Template “%” ends with a lone “%”" },
  { "/template/trailing-percent/after-literal", "%%%", NULL,
    "Template “%%%” ends with a lone “%”" },
};

static void
test_expand (gconstpointer data)
{
  const ExpandCase *tc = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) validate_error = NULL;

  g_autofree char *result = stem_template_expand (tc->tmpl, &test_context, &error);
  gboolean valid = stem_template_validate (tc->tmpl, &validate_error);
  if (tc->expected != NULL)
    {
      g_assert_no_error (error);
      g_assert_cmpstr (result, ==, tc->expected);
      g_assert_no_error (validate_error);
      g_assert_true (valid);
      return;
    }
  g_assert_null (result);
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  g_assert_cmpstr (error->message, ==, tc->message);
  g_assert_false (valid);
  g_assert_error (validate_error, STEM_ERROR, STEM_ERROR_CONFIG);
  g_assert_cmpstr (validate_error->message, ==, tc->message);
}

typedef struct
{
  const char *path;
  const char *tmpl;
  guint n_nodes;
  const char *message; /* NULL: accepted, else part of the error message */
} PidfileCase;

static const PidfileCase pidfile_cases[] = {
  { "/template/pidfile/default", "/run/stem/%n.pid", 2, NULL },
  { "/template/pidfile/node-upper-and-host", "/run/stem/%h-%N-%n.pid", 5, NULL },
  { "/template/pidfile/one-node-without-n", "/run/stem.pid", 1, NULL },
  { "/template/pidfile/no-nodes-without-n", "/run/stem.pid", 0, NULL },
  { "/template/pidfile/timestamp", "/run/stem/%n-%d.pid", 1,
    "Pidfile template “/run/stem/%n-%d.pid” must not use “%d”: it changes from one call to the "
    "next, so stop and status could not find the pidfile again" },
  { "/template/pidfile/index-upper", "/run/stem/%n-%I.pid", 2, "must not use “%I”" },
  { "/template/pidfile/index-lower", "/run/stem/%n-%i.pid", 2, "must not use “%i”" },
  { "/template/pidfile/literal-percent-d", "/run/stem/%n-%%d.pid", 2, NULL },
  { "/template/pidfile/two-nodes-without-n", "/run/stem.pid", 2,
    "Pidfile template “/run/stem.pid” does not use “%n”: all 2 nodes would share one pidfile" },
  { "/template/pidfile/literal-percent-n", "/run/stem/%%n.pid", 3,
    "does not use “%n”: all 3 nodes would share one pidfile" },
  { "/template/pidfile/upper-n-only", "/run/stem/%N.pid", 2, "does not use “%n”" },
  { "/template/pidfile/syntax-error", "/run/stem/%n%", 1, "ends with a lone “%”" },
  { "/template/pidfile/unknown-placeholder", "/run/stem/%p.pid", 1, "Unknown placeholder “%p”" },
  { "/template/pidfile/empty", "", 1, "The pidfile template is empty" },
};

static void
test_pidfile (gconstpointer data)
{
  const PidfileCase *tc = data;
  g_autoptr (GError) error = NULL;

  gboolean ok = stem_template_check_pidfile (tc->tmpl, tc->n_nodes, &error);
  if (tc->message == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      return;
    }
  g_assert_false (ok);
  g_assert_error (error, STEM_ERROR, STEM_ERROR_CONFIG);
  if (strstr (error->message, tc->message) == NULL)
    g_error ("“%s” does not contain “%s”", error->message, tc->message);
}

typedef struct
{
  const char *path;
  gint64 unix_us;
  const char *expected;
} TimestampCase;

static const TimestampCase timestamp_cases[] = {
  { "/template/timestamp/fixed", G_GINT64_CONSTANT (1767323045000000), "2026-01-02T03-04-05Z" },
  { "/template/timestamp/sub-second", G_GINT64_CONSTANT (1767323045999999),
    "2026-01-02T03-04-05Z" },
  { "/template/timestamp/epoch", 0, "1970-01-01T00-00-00Z" },
  { "/template/timestamp/before-epoch", -1, "1969-12-31T23-59-59Z" },
};

static void
test_timestamp (gconstpointer data)
{
  const TimestampCase *tc = data;
  g_autofree char *timestamp = stem_template_timestamp (tc->unix_us);

  g_assert_cmpstr (timestamp, ==, tc->expected);
  g_assert_null (strchr (timestamp, ':'));
}

static void
test_timestamp_in_template (void)
{
  g_autofree char *timestamp = stem_template_timestamp (g_get_real_time ());
  StemTemplateContext ctx = { .node = "a", .index = 1, .host = "h", .timestamp = timestamp };
  g_autoptr (GError) error = NULL;

  g_autofree char *result = stem_template_expand ("%d", &ctx, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (result, ==, timestamp);
  g_assert_cmpuint (strlen (result), ==, strlen ("2026-01-02T03-04-05Z"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (expand_cases); i++)
    g_test_add_data_func (expand_cases[i].path, &expand_cases[i], test_expand);
  for (gsize i = 0; i < G_N_ELEMENTS (pidfile_cases); i++)
    g_test_add_data_func (pidfile_cases[i].path, &pidfile_cases[i], test_pidfile);
  for (gsize i = 0; i < G_N_ELEMENTS (timestamp_cases); i++)
    g_test_add_data_func (timestamp_cases[i].path, &timestamp_cases[i], test_timestamp);
  g_test_add_func ("/template/timestamp/now", test_timestamp_in_template);

  return g_test_run ();
}
