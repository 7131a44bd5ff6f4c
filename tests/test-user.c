#include <glib/gstdio.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-user.h"

static void
test_self (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *uid = g_strdup_printf ("%u", (unsigned)geteuid ());
  g_autoptr (StemUser) user = stem_user_resolve (uid, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (user->uid, ==, geteuid ());
  g_assert_true (user->change == (geteuid () == 0)); /* root switches, even to itself */
}

static void
test_unknown (void)
{
  static const char *const bad[][2] = {
    { "no-such-user-stem", NULL },
    { NULL, "no-such-group-stem" },
    { "-1", NULL },
    { "", NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (StemUser) user = stem_user_resolve (bad[i][0], bad[i][1], &error);
      g_assert_null (user);
      g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
    }
}

static void
test_numeric_without_entry (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (StemUser) user = stem_user_resolve ("4000123", NULL, &error);
  g_assert_null (user);
  g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
  g_assert_nonnull (strstr (error->message, "--gid must be given"));
}

static void
test_other_user (void)
{
  g_autoptr (GError) error = NULL;
  struct passwd *nobody = getpwnam ("nobody");
  if (nobody == NULL || (geteuid () != 0 && geteuid () == nobody->pw_uid))
    {
      /* As nobody itself (a package build), nobody is no other user. */
      g_test_skip ("needs root, or a user other than nobody");
      return;
    }
  g_autoptr (StemUser) user = stem_user_resolve ("nobody", NULL, &error);
  if (geteuid () == 0)
    {
      g_assert_no_error (error);
      g_assert_true (user->change);
      g_assert_cmpstr (user->name, ==, "nobody");
      g_assert_cmpint (user->n_groups, >=, 1);
      gboolean has_primary = FALSE;
      for (int i = 0; i < user->n_groups; i++)
        has_primary = has_primary || user->groups[i] == user->gid;
      g_assert_true (has_primary);
    }
  else
    {
      g_assert_null (user);
      g_assert_error (error, STEM_ERROR, STEM_ERROR_USAGE);
      g_assert_nonnull (strstr (error->message, "only root"));
    }
}

static void
test_can_execute (void)
{
  StemUser user = { .uid = 1000, .gid = 1000, .change = TRUE };
  gid_t groups[] = { 1000, 27 };
  user.groups = groups;
  user.n_groups = G_N_ELEMENTS (groups);
  struct
  {
    uid_t uid;
    gid_t gid;
    mode_t mode;
    gboolean ok;
  } cases[] = {
    { 1000, 0, 0700, TRUE }, { 1000, 0, 0070, FALSE }, { 0, 27, 0710, TRUE },
    { 0, 27, 0701, FALSE },  { 0, 0, 0701, TRUE },     { 0, 0, 0770, FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      struct stat st = { .st_uid = cases[i].uid, .st_gid = cases[i].gid, .st_mode = cases[i].mode };
      g_assert_cmpint (stem_user_can_execute (&user, &st), ==, cases[i].ok);
    }
  struct stat st = { .st_uid = 5, .st_gid = 5, .st_mode = 0100 };
  g_assert_true (stem_user_can_execute (NULL, &st));
}

static void
test_mkdir_owned (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("stem-test-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *deep = g_build_filename (dir, "a", "b", NULL);
  g_autofree char *mid = g_build_filename (dir, "a", NULL);
  g_autoptr (StemUser) user = NULL;
  if (geteuid () == 0)
    user = stem_user_resolve ("nobody", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (stem_mkdir_owned (deep, 0755, user, &error));
  g_assert_no_error (error);
  struct stat st;
  g_assert_cmpint (g_stat (deep, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpuint (st.st_uid, ==, user != NULL ? user->uid : geteuid ());
  g_assert_cmpint (g_stat (dir, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, geteuid ()); /* what existed keeps its owner */

  g_autofree char *file = g_build_filename (dir, "file", NULL);
  g_autofree char *under = g_build_filename (file, "x", NULL);
  g_assert_true (g_file_set_contents (file, "", 0, NULL));
  g_assert_false (stem_mkdir_owned (under, 0755, NULL, &error));
  g_assert_nonnull (strstr (error->message, "Not a directory"));
  g_unlink (file);
  g_rmdir (deep);
  g_rmdir (mid);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/user/self", test_self);
  g_test_add_func ("/user/unknown", test_unknown);
  g_test_add_func ("/user/numeric-without-entry", test_numeric_without_entry);
  g_test_add_func ("/user/other", test_other_user);
  g_test_add_func ("/user/can-execute", test_can_execute);
  g_test_add_func ("/user/mkdir-owned", test_mkdir_owned);
  return g_test_run ();
}
