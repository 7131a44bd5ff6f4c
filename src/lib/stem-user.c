#include "stem-user.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-exec.h"
#include "stem-fd.h"
#include "stem-i18n.h"

void
stem_user_free (StemUser *user)
{
  if (user == NULL)
    return;
  g_free (user->groups);
  g_free (user->name);
  g_free (user->home);
  g_free (user);
}

static gboolean
parse_id (const char *text, guint64 *out)
{
  return g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32 - 1, out, NULL);
}

static gboolean
lookup_user (const char *text, StemUser *user, GError **error)
{
  guint64 number;
  struct passwd *pw;
  errno = 0;
  if (parse_id (text, &number))
    {
      pw = getpwuid ((uid_t)number);
      user->uid = (uid_t)number;
    }
  else
    pw = getpwnam (text);
  if (pw == NULL && !parse_id (text, &number))
    return stem_throw_code (error, STEM_ERROR_USAGE, _ ("--uid: no such user “%s”"), text);
  if (pw != NULL)
    {
      user->uid = pw->pw_uid;
      user->gid = pw->pw_gid;
      user->name = g_strdup (pw->pw_name);
      user->home = g_strdup (pw->pw_dir);
    }
  return TRUE;
}

gboolean
stem_user_lookup_uid (const char *text, uid_t *out_uid)
{
  StemUser user = { 0 };
  gboolean found = lookup_user (text, &user, NULL);
  g_free (user.name);
  g_free (user.home);
  if (found)
    *out_uid = user.uid;
  return found;
}

static gboolean
lookup_group (const char *text, gid_t *out, GError **error)
{
  guint64 number;
  if (parse_id (text, &number))
    {
      *out = (gid_t)number;
      return TRUE;
    }
  struct group *gr = getgrnam (text);
  if (gr == NULL)
    return stem_throw_code (error, STEM_ERROR_USAGE, _ ("--gid: no such group “%s”"), text);
  *out = gr->gr_gid;
  return TRUE;
}

StemUser *
stem_user_resolve (const char *uid_text, const char *gid_text, GError **error)
{
  g_autoptr (StemUser) user = g_new0 (StemUser, 1);
  user->uid = geteuid ();
  user->gid = getegid ();

  if (uid_text != NULL && !lookup_user (uid_text, user, error))
    return NULL;
  if (uid_text != NULL && user->name == NULL && gid_text == NULL)
    {
      stem_throw_code (error, STEM_ERROR_USAGE,
                       _ ("--uid: user %s has no passwd entry, so --gid must be given too"),
                       uid_text);
      return NULL;
    }
  if (gid_text != NULL && !lookup_group (gid_text, &user->gid, error))
    return NULL;

  if (geteuid () != 0)
    {
      if (user->uid != geteuid ())
        {
          stem_throw_code (error, STEM_ERROR_USAGE,
                           _ ("--uid=%s: only root can run workers as another user"), uid_text);
          return NULL;
        }
      /* Without privileges setgid() can only pick our own group again. */
      if (user->gid != getegid ())
        {
          stem_throw_code (error, STEM_ERROR_USAGE,
                           _ ("--gid=%s: only root can run workers in another group"),
                           gid_text != NULL ? gid_text : uid_text);
          return NULL;
        }
      return g_steal_pointer (&user); /* our own ids: nothing to switch */
    }

  user->change = TRUE;
  if (user->name != NULL && uid_text != NULL)
    {
      int n = 32;
      user->groups = g_new (gid_t, n);
      while (getgrouplist (user->name, user->gid, user->groups, &n) < 0)
        user->groups = g_renew (gid_t, user->groups, n);
      user->n_groups = n;
    }
  else
    {
      user->groups = g_new (gid_t, 1);
      user->groups[0] = user->gid;
      user->n_groups = 1;
    }
  return g_steal_pointer (&user);
}

int
stem_user_apply (const StemUser *user)
{
  if (user == NULL || !user->change)
    return 0;
  if (setgroups ((size_t)user->n_groups, user->groups) < 0 || setgid (user->gid) < 0
      || setresuid (user->uid, user->uid, (uid_t)-1) < 0)
    return errno;
  return 0;
}

void
stem_user_regain (const StemUser *user)
{
  if (user != NULL && user->change)
    (void)!setresuid ((uid_t)-1, 0, (uid_t)-1);
}

gboolean
stem_user_can_execute (const StemUser *user, const struct stat *st)
{
  if (user == NULL || !user->change || user->uid == 0)
    return (st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
  if (st->st_uid == user->uid)
    return (st->st_mode & S_IXUSR) != 0;
  for (int i = 0; i < user->n_groups; i++)
    if (user->groups[i] == st->st_gid)
      return (st->st_mode & S_IXGRP) != 0;
  return (st->st_mode & S_IXOTH) != 0;
}

gboolean
stem_mkdir_owned (const char *path, mode_t mode, const StemUser *user, GError **error)
{
  StemPathCreate create = { .mode = mode };
  if (user != NULL && user->change)
    create = (StemPathCreate){ .mode = mode, .give = 1, .uid = user->uid, .gid = user->gid };
  g_auto (StemFd) fd = stem_fd_open_dir (path, &create, error);
  return fd >= 0;
}
