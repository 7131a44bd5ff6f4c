#pragma once

#include <glib.h>
#include <sys/stat.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* Who a worker runs as: resolved in the parent, so that the forked child only
 * makes system calls (initgroups reads /etc/group and is not safe after
 * fork; setgroups with a list made beforehand is). */
typedef struct
{
  uid_t uid;
  gid_t gid;
  gid_t *groups; /* supplementary groups, including GID */
  int n_groups;
  char *name;      /* NULL when the uid has no passwd entry */
  char *home;      /* NULL when unknown */
  gboolean change; /* FALSE: these are our own ids, nothing to switch */
} StemUser;

void stem_user_free (StemUser *user);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemUser, stem_user_free)

/* Resolves --uid and --gid (names or numbers; either may be NULL, not both).
 * The group defaults to the user's primary group.  Unless we are root,
 * asking for another user or a group we are not in is a STEM_ERROR_USAGE.
 * Unknown names are STEM_ERROR_USAGE too. */
StemUser *stem_user_resolve (const char *uid_text, const char *gid_text, GError **error);
/* The uid that --uid=TEXT names (a user name or a number); FALSE for no
 * such user. */
gboolean stem_user_lookup_uid (const char *text, uid_t *out_uid);

/* Switches this process, which is about to exec the worker itself
 * (--foreground), to USER: its groups, group and user, but with root kept
 * as the saved user ID, which the exec drops (execve copies the effective
 * user ID to the saved one).  Until then stem_user_regain takes root back
 * to clean up after a failure.  Returns 0 or an errno value. */
int stem_user_apply (const StemUser *user);
/* After stem_user_apply, before any exec: root again, when we were. */
void stem_user_regain (const StemUser *user);

/* Whether USER may execute a file with status ST (by its mode bits). */
gboolean stem_user_can_execute (const StemUser *user, const struct stat *st);

/* mkdir -p with MODE; the directories it creates are given to USER when
 * USER changes ids (may be NULL).  Through descriptors, component by
 * component (mkdirat, then fchown of the directory it opened), never
 * through a link someone other than root could change: stem-path.h. */
gboolean stem_mkdir_owned (const char *path, mode_t mode, const StemUser *user, GError **error);

G_END_DECLS
