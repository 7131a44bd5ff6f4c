#include <string.h>

#include "stem-error.h"
#include "stem-plan-wire.h"
#include "stem-supervisor.h"

static StemNodePlan *
make_plan (const char *node, gboolean with_user)
{
  StemNodePlan *p = g_new0 (StemNodePlan, 1);
  const char *argv[] = { "/usr/bin/worker", "--node", node, "ünïcode", "", NULL };
  const char *envp[] = { "A=1", "EMPTY=", "STEM_WORKER_NODE=x", NULL };
  p->node = g_strdup (node);
  p->index = 7;
  p->pidfile = g_strdup_printf ("/run/stem/%s.pid", node);
  p->logfile = with_user ? g_strdup ("/var/log/stem/x.log") : NULL;
  p->logfile_given = with_user;
  p->log_direct = with_user;
  p->workdir = g_strdup ("/var/lib/stem");
  p->argv = g_strdupv ((char **)argv);
  p->envp = g_strdupv ((char **)envp);
  p->has_umask = with_user;
  p->umask = 027;
  if (with_user)
    {
      p->user = g_new0 (StemUser, 1);
      p->user->uid = 999;
      p->user->gid = 998;
      p->user->n_groups = 2;
      p->user->groups = g_new (gid_t, 2);
      p->user->groups[0] = 998;
      p->user->groups[1] = 4;
      p->user->change = TRUE;
    }
  return p;
}

static void
assert_same (const StemNodePlan *a, const StemNodePlan *b)
{
  g_assert_cmpstr (a->node, ==, b->node);
  g_assert_cmpuint (a->index, ==, b->index);
  g_assert_cmpstr (a->pidfile, ==, b->pidfile);
  g_assert_cmpstr (a->logfile, ==, b->logfile);
  g_assert_cmpint (a->logfile_given, ==, b->logfile_given);
  g_assert_cmpint (a->log_direct, ==, b->log_direct);
  g_assert_cmpstr (a->workdir, ==, b->workdir);
  g_assert_true (g_strv_equal ((const char *const *)a->argv, (const char *const *)b->argv));
  g_assert_true (g_strv_equal ((const char *const *)a->envp, (const char *const *)b->envp));
  g_assert_cmpint (a->has_umask, ==, b->has_umask);
  g_assert_cmpuint (a->umask, ==, b->umask);
  g_assert_cmpint (a->user == NULL, ==, b->user == NULL);
  if (a->user != NULL)
    {
      g_assert_cmpuint (a->user->uid, ==, b->user->uid);
      g_assert_cmpuint (a->user->gid, ==, b->user->gid);
      g_assert_cmpint (a->user->change, ==, b->user->change);
      g_assert_cmpint (a->user->n_groups, ==, b->user->n_groups);
      g_assert_cmpmem (a->user->groups, a->user->n_groups * sizeof (gid_t), b->user->groups,
                       b->user->n_groups * sizeof (gid_t));
    }
}

static void
test_round_trip (void)
{
  g_autoptr (GPtrArray) plans
      = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_node_plan_free);
  g_ptr_array_add (plans, make_plan ("alpha", TRUE));
  g_ptr_array_add (plans, make_plan ("beta", FALSE));
  StemSupervisorConfig config = { STEM_RESTART_ALWAYS, 3, G_MAXINT64, 7000, TRUE, FALSE };

  g_autoptr (GVariant) wire = stem_plan_wire_pack (plans, stem_supervisor_config_pack (&config));
  g_autoptr (GBytes) bytes = g_variant_get_data_as_bytes (wire);
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GVariant) extra = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (stem_plan_wire_unpack (bytes, &back, &extra, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (back->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    assert_same (plans->pdata[i], back->pdata[i]);

  StemSupervisorConfig again;
  stem_supervisor_config_unpack (extra, &again);
  g_assert_cmpint (again.policy, ==, config.policy);
  g_assert_cmpuint (again.max_restarts, ==, config.max_restarts);
  g_assert_cmpint (again.timeout_ms, ==, config.timeout_ms);
  g_assert_cmpint (again.kill_wait_ms, ==, config.kill_wait_ms);
  g_assert_cmpint (again.verbose, ==, config.verbose);
  g_assert_cmpint (again.kill_group, ==, config.kill_group);
}

static void
test_garbage (void)
{
  static const char junk[] = "not a plan at all, but bytes";
  g_autoptr (GBytes) bytes = g_bytes_new_static (junk, sizeof junk);
  g_autoptr (GPtrArray) plans = NULL;
  g_autoptr (GVariant) extra = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_false (stem_plan_wire_unpack (bytes, &plans, &extra, &error));
  g_assert_error (error, STEM_ERROR, STEM_ERROR_FAILED);
  g_assert_null (plans);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/plan-wire/round-trip", test_round_trip);
  g_test_add_func ("/plan-wire/garbage", test_garbage);
  return g_test_run ();
}
