#include "stem-plan-wire.h"

#include "stem-error.h"
#include "stem-i18n.h"

/* node, index, pidfile, logfile, logfile given, log direct, workdir, argv,
 * envp, umask given, umask, user (uid, gid, groups, change), extra */
#define PLAN_TYPE "(susmsbbsasasbum(uuaub))"
#define PLAN_FORMAT "(susmsbbs^as^asbum@(uuaub))"
#define WIRE_TYPE "(a" PLAN_TYPE "v)"

static GVariant *
pack_user (const StemUser *user)
{
  if (user == NULL)
    return NULL;
  GVariantBuilder groups;
  g_variant_builder_init (&groups, G_VARIANT_TYPE ("au"));
  for (int i = 0; i < user->n_groups; i++)
    g_variant_builder_add (&groups, "u", (guint32)user->groups[i]);
  return g_variant_new ("(uuaub)", (guint32)user->uid, (guint32)user->gid, &groups, user->change);
}

GVariant *
stem_plan_wire_pack (GPtrArray *plans, GVariant *extra)
{
  GVariantBuilder all;
  g_variant_builder_init (&all, G_VARIANT_TYPE ("a" PLAN_TYPE));
  for (guint i = 0; i < plans->len; i++)
    {
      const StemNodePlan *p = plans->pdata[i];
      g_variant_builder_add (&all, PLAN_FORMAT, p->node, p->index, p->pidfile, p->logfile,
                             p->logfile_given, p->log_direct, p->workdir, p->argv, p->envp,
                             p->has_umask, (guint32)p->umask, pack_user (p->user));
    }
  return g_variant_ref_sink (g_variant_new ("(a" PLAN_TYPE "v)", &all, extra));
}

static StemUser *
unpack_user (GVariant *value)
{
  if (value == NULL)
    return NULL;
  StemUser *user = g_new0 (StemUser, 1);
  guint32 uid, gid;
  g_autoptr (GVariant) groups = NULL;
  g_variant_get (value, "(uu@aub)", &uid, &gid, &groups, &user->change);
  user->uid = uid;
  user->gid = gid;
  user->n_groups = (int)g_variant_n_children (groups);
  user->groups = g_new (gid_t, MAX (user->n_groups, 1));
  for (int i = 0; i < user->n_groups; i++)
    {
      guint32 group;
      g_variant_get_child (groups, i, "u", &group);
      user->groups[i] = group;
    }
  return user;
}

gboolean
stem_plan_wire_unpack (GBytes *data, GPtrArray **out_plans, GVariant **out_extra, GError **error)
{
  g_autoptr (GVariant) wire
      = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (WIRE_TYPE), data, FALSE));
  if (!g_variant_is_normal_form (wire))
    return stem_throw (error, _ ("The node plans handed over are malformed"));

  g_autoptr (GVariant) all = g_variant_get_child_value (wire, 0);
  g_autoptr (GVariant) boxed = g_variant_get_child_value (wire, 1);
  g_autoptr (GPtrArray) plans
      = g_ptr_array_new_with_free_func ((GDestroyNotify)stem_node_plan_free);
  for (gsize i = 0; i < g_variant_n_children (all); i++)
    {
      StemNodePlan *p = g_new0 (StemNodePlan, 1);
      guint32 umask_value;
      g_autoptr (GVariant) user = NULL;
      g_variant_get_child (all, i, PLAN_FORMAT, &p->node, &p->index, &p->pidfile, &p->logfile,
                           &p->logfile_given, &p->log_direct, &p->workdir, &p->argv, &p->envp,
                           &p->has_umask, &umask_value, &user);
      p->umask = (mode_t)umask_value;
      p->user = unpack_user (user);
      p->added_env = g_new0 (char *, 1);
      p->queues = g_new0 (char *, 1);
      p->broadcasts = g_new0 (char *, 1);
      g_ptr_array_add (plans, p);
    }
  *out_plans = g_steal_pointer (&plans);
  *out_extra = g_variant_get_variant (boxed);
  return TRUE;
}
