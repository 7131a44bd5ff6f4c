/* stem-diagnose: a table of independent checks of one host's Stem setup,
 * each a small function with a stable id.  It reads, stats and probes; it
 * never signals, writes, creates or removes anything. */

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stem-command.h"
#include "stem-envfile.h"
#include "stem-json.h"
#include "stem-error.h"
#include "stem-fd.h"
#include "stem-i18n.h"
#include "stem-node.h"
#include "stem-options.h"
#include "stem-output.h"
#include "stem-pidfile.h"
#include "stem-plan.h"
#include "stem-process.h"
#include "stem-routing.h"
#include "stem-template.h"
#include "stem-user.h"
#include "stem-writer.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

/* The options stem-diagnose accepts; every id is one of StemOptionId's. */

static const StemOptionSpec options[] = {
  { "pidfile", 0, N_ ("TEMPLATE"), 0, STEM_OPT_PIDFILE,
    N_ ("Pidfile of each node (see Defaults below)") },
  { "logfile", 0, N_ ("TEMPLATE"), 0, STEM_OPT_LOGFILE,
    N_ ("Log file of each node (see Defaults below)") },
  { "env-file", 0, N_ ("FILE"), STEM_OPTION_REPEATABLE, STEM_OPT_ENV_FILE,
    N_ ("Check and read FILE (repeatable, later files win)") },
  { "user", 0, N_ ("USER"), 0, STEM_OPT_USER, N_ ("The service user (default stem)") },
  { "routing-config", 0, N_ ("FILE"), 0, STEM_OPT_ROUTING_CONFIG,
    N_ ("Routing file to check (default $STEM_ROUTING_CONFIG)") },
  { "unitdir", 0, N_ ("DIR"), 0, STEM_OPT_UNITDIR,
    N_ ("Where the systemd units are installed (see Defaults below)") },
  { "initdir", 0, N_ ("DIR"), 0, STEM_OPT_INITDIR,
    N_ ("Where the SysV init scripts are installed (see Defaults below)") },
  { "json", 0, NULL, 0, STEM_OPT_JSON, N_ ("Print one JSON document") },
  { "version", 0, NULL, 0, STEM_OPT_VERSION, N_ ("Print the version and exit") },
  { "help", 'h', NULL, 0, STEM_OPT_HELP, N_ ("Print this help and exit") },
  { NULL },
};

/* In the order the services read them, the later winning: the init scripts
 * source the defaults file, then give stem-multi stem.env, whose values
 * win over the environment; the units read stem.env alone. */
static const char *const default_env_files[]
    = { STEM_SYSCONFDIR "/default/stem", STEM_SYSCONFDIR "/stem/stem.env" };
static const char *const unit_names[]
    = { "stem-worker@.service", "stem-worker.service", "stem-scheduler.service" };
static const char *const init_script_names[] = { "stem-worker", "stem-scheduler" };

typedef enum
{
  LEVEL_OK,
  LEVEL_WARN,
  LEVEL_ERROR,
} CheckLevel;

static const char *const level_keywords[] = { "ok", "warn", "error" };
static const char *const level_tags[] = { "[OK ]", "[WARN]", "[ERR ]" };

typedef struct
{
  char *check;
  CheckLevel level;
  char *message;
  char *hint; /* NULL when there is nothing to do */
} CheckResult;

static void
check_result_free (CheckResult *result)
{
  g_free (result->check);
  g_free (result->message);
  g_free (result->hint);
  g_free (result);
}

/* One env file as read, once, before the checks run. */
typedef struct
{
  char *path;
  gboolean given;     /* named with --env-file (else a default) */
  GError *open_error; /* NULL: opened, and ST is the fstat of what was read */
  struct stat st;
  GError *load_error; /* NULL (when opened): parsed into ASSIGNMENTS */
  GStrv assignments;
} EnvFile;

static void
env_file_free (EnvFile *file)
{
  g_free (file->path);
  g_clear_error (&file->open_error);
  g_clear_error (&file->load_error);
  g_strfreev (file->assignments);
  g_free (file);
}

/* One invocation: what every check may read, no globals. */
typedef struct
{
  StemArgs *args;
  gboolean json;
  GPtrArray *env_files; /* EnvFile * */
  GStrv envp;           /* the environment plus every env file that parses */
  const char *user_name;
  StemUser *user; /* NULL: no such user */
  GStrv node_words;
  StemPlanSet *plans; /* NULL: no nodes, or PLAN_ERROR says why */
  GError *plan_error;
  const char *pidfile_template;
  const char *logfile_template;
  GPtrArray *secrets; /* values to hide, longest first */
  GPtrArray *results; /* CheckResult * */
} Diagnose;

typedef gboolean (*CheckFunc) (Diagnose *d, const char *id, GError **error);

static CheckResult *add_result (Diagnose *d, const char *id, CheckLevel level, const char *format,
                                ...) G_GNUC_PRINTF (4, 5);
static void set_hint (CheckResult *result, const char *format, ...) G_GNUC_PRINTF (2, 3);

static CheckResult *
add_result (Diagnose *d, const char *id, CheckLevel level, const char *format, ...)
{
  CheckResult *result = g_new0 (CheckResult, 1);
  result->check = g_strdup (id);
  result->level = level;
  va_list args;
  va_start (args, format);
  result->message = g_strdup_vprintf (format, args);
  va_end (args);
  g_ptr_array_add (d->results, result);
  return result;
}

static void
set_hint (CheckResult *result, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_free (result->hint);
  result->hint = g_strdup_vprintf (format, args);
  va_end (args);
}

/* Secrets ------------------------------------------------------------------ */

static gboolean
is_secret_name (const char *name)
{
  g_autofree char *upper = g_ascii_strup (name, -1);
  return strstr (upper, "PASSWORD") != NULL || strstr (upper, "SECRET") != NULL
         || strstr (upper, "TOKEN") != NULL || strstr (upper, "KEY") != NULL;
}

/* scheme://user:PASSWORD@host: the password is group 2.  As Python's
 * urlsplit reads it (and so kombu): the authority ends at the first “/”,
 * “?” or “#”, the user information at the last “@” in it, and the user at
 * the first “:” in that, so a password may hold “@” and “:”.  A “;”
 * separates failover URLs (kombu splits at it first). */
static GRegex *
url_password_regex (void)
{
  static GRegex *regex;
  if (g_once_init_enter (&regex))
    g_once_init_leave (&regex,
                       g_regex_new ("([A-Za-z][A-Za-z0-9+.-]*://[^:/?#;\\s]*:)([^/?#;\\s]*)@"
                                    "(?=[^@/?#;\\s]*(?:[/?#;\\s]|$))",
                                    G_REGEX_OPTIMIZE, 0, NULL));
  return regex;
}

/* NAME=VALUE where NAME looks secret (e.g. in a quoted env-file line). */
static GRegex *
secret_assignment_regex (void)
{
  static GRegex *regex;
  if (g_once_init_enter (&regex))
    g_once_init_leave (
        &regex,
        g_regex_new ("\\b([A-Za-z0-9_]*(?:PASSWORD|SECRET|TOKEN|KEY)[A-Za-z0-9_]*=)(?!\\*\\*\\*)"
                     "('[^']*'|\"(?:[^\"\\\\]|\\\\.)*\"|[^\\s”]+)",
                     G_REGEX_OPTIMIZE | G_REGEX_CASELESS, 0, NULL));
  return regex;
}

static gboolean
value_has_url_password (const char *value)
{
  return g_regex_match (url_password_regex (), value, 0, NULL);
}

static gint
longest_first (gconstpointer a, gconstpointer b)
{
  gsize la = strlen (*(const char *const *)a), lb = strlen (*(const char *const *)b);
  return la < lb ? 1 : la > lb ? -1 : 0;
}

static void
add_secret (Diagnose *d, const char *value)
{
  /* Shorter values would mangle unrelated text ("pid 1234"); they are still
   * hidden wherever they appear as NAME=VALUE or in a URL. */
  if (strlen (value) >= 4
      && !g_ptr_array_find_with_equal_func (d->secrets, value, g_str_equal, NULL))
    g_ptr_array_add (d->secrets, g_strdup (value));
}

static void
collect_secrets (Diagnose *d)
{
  for (guint i = 0; d->envp[i] != NULL; i++)
    {
      const char *eq = strchr (d->envp[i], '=');
      if (eq == NULL)
        continue;
      g_autofree char *name = g_strndup (d->envp[i], eq - d->envp[i]);
      if (is_secret_name (name))
        add_secret (d, eq + 1);
      g_autoptr (GMatchInfo) match = NULL;
      g_regex_match (url_password_regex (), eq + 1, 0, &match);
      for (; g_match_info_matches (match); g_match_info_next (match, NULL))
        {
          g_autofree char *password = g_match_info_fetch (match, 2);
          add_secret (d, password);
        }
    }
  g_ptr_array_sort (d->secrets, longest_first);
}

static char *
redact (const Diagnose *d, const char *text)
{
  if (text == NULL)
    return NULL;
  g_autofree char *step1 = g_regex_replace (url_password_regex (), text, -1, 0, "\\1***@", 0, NULL);
  g_autofree char *step2
      = g_regex_replace (secret_assignment_regex (), step1, -1, 0, "\\1***", 0, NULL);
  char *out = g_steal_pointer (&step2);
  for (guint i = 0; i < d->secrets->len; i++)
    {
      /* Whole words only: a password "secret" must not eat "secrets". */
      g_autofree char *escaped = g_regex_escape_string (d->secrets->pdata[i], -1);
      g_autofree char *pattern = g_strdup_printf ("(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])", escaped);
      g_autoptr (GRegex) regex = g_regex_new (pattern, 0, 0, NULL);
      if (regex == NULL)
        continue;
      char *next = g_regex_replace_literal (regex, out, -1, 0, "***", 0, NULL);
      if (next != NULL)
        {
          g_free (out);
          out = next;
        }
    }
  return out;
}

/* Service user and file modes ---------------------------------------------- */

/* The service user as it would run, whoever runs stem-diagnose. */
static StemUser *
lookup_service_user (const char *name)
{
  struct passwd *pw = getpwnam (name);
  if (pw == NULL)
    return NULL;
  StemUser *user = g_new0 (StemUser, 1);
  user->uid = pw->pw_uid;
  user->gid = pw->pw_gid;
  user->name = g_strdup (pw->pw_name);
  user->home = g_strdup (pw->pw_dir);
  user->change = TRUE;
  int n = 32;
  user->groups = g_new (gid_t, n);
  while (getgrouplist (user->name, user->gid, user->groups, &n) < 0)
    user->groups = g_renew (gid_t, user->groups, n);
  user->n_groups = n;
  return user;
}

/* By ST's mode bits alone: whether USER has every permission of MODE
 * (R_OK, W_OK, X_OK, which are the rwx bits) on that file. */
static gboolean
user_mode_allows (const StemUser *user, const struct stat *st, int mode)
{
  if (user->uid == 0)
    return !(mode & X_OK) || S_ISDIR (st->st_mode) || (st->st_mode & 0111) != 0;
  int shift = 0;
  if (st->st_uid == user->uid)
    shift = 6;
  else
    for (int i = 0; i < user->n_groups; i++)
      if (user->groups[i] == st->st_gid)
        shift = 3;
  return (((st->st_mode >> shift) & 7) & (mode_t)mode) == (mode_t)mode;
}

typedef enum
{
  ACCESS_YES,     /* the kernel said so, for the user */
  ACCESS_NO,      /* the kernel said no, for the user (or the mode bits did) */
  ACCESS_BY_MODE, /* yes by the mode bits of the file and of every directory
                     above it; ACLs and the like unseen */
  ACCESS_UNKNOWN, /* not even the mode bits can be seen */
} UserAccess;

/* The mode-bit answer for a user we cannot become: PATH (absolute) and
 * every directory above it, as the kernel walks them. */
static UserAccess
access_by_mode (const StemUser *user, const char *path, int mode, int *out_errno)
{
  g_autofree char *dir = g_path_get_dirname (path);
  struct stat st;
  for (;;)
    {
      if (stat (dir, &st) < 0)
        return *out_errno = errno, ACCESS_UNKNOWN;
      if (!user_mode_allows (user, &st, X_OK))
        return *out_errno = EACCES, ACCESS_NO;
      if (strcmp (dir, "/") == 0 || strcmp (dir, ".") == 0)
        break;
      char *parent = g_path_get_dirname (dir);
      g_free (dir);
      dir = parent;
    }
  if (stat (path, &st) < 0)
    return *out_errno = errno, errno == ENOENT ? ACCESS_NO : ACCESS_UNKNOWN;
  if (!user_mode_allows (user, &st, mode))
    return *out_errno = EACCES, ACCESS_NO;
  return ACCESS_BY_MODE;
}

/* Whether the service user may access (MODE: R_OK, W_OK, X_OK) PATH, as the
 * kernel decides it for that user: search permission on every directory
 * above, ACLs, read-only mounts.  As that user, access() says it; as root,
 * access() in a child that has become the user; as anyone else only the
 * mode bits can be read.  *OUT_ERRNO says why not. */
static UserAccess
user_access (const StemUser *user, const char *path, int mode, int *out_errno)
{
  *out_errno = 0;
  if (user->uid == geteuid () && user->gid == getegid ())
    {
      if (access (path, mode) == 0)
        return ACCESS_YES;
      *out_errno = errno;
      return ACCESS_NO;
    }
  if (geteuid () != 0)
    return access_by_mode (user, path, mode, out_errno);
  pid_t pid = fork ();
  if (pid < 0)
    return *out_errno = errno, ACCESS_UNKNOWN;
  if (pid == 0)
    {
      /* System calls only from here: the groups were listed beforehand. */
      if (stem_user_apply (user) != 0)
        _exit (255);
      _exit (access (path, mode) == 0 ? 0 : MIN (errno, 254));
    }
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return *out_errno = errno, ACCESS_UNKNOWN;
  if (!WIFEXITED (status) || WEXITSTATUS (status) == 255)
    return *out_errno = EPERM, ACCESS_UNKNOWN;
  *out_errno = WEXITSTATUS (status);
  return *out_errno == 0 ? ACCESS_YES : ACCESS_NO;
}

static gboolean
need_user (Diagnose *d, const char *id)
{
  if (d->user != NULL)
    return TRUE;
  CheckResult *r = add_result (
      d, id, LEVEL_WARN, _ ("not checked: the service user “%s” does not exist"), d->user_name);
  set_hint (r, _ ("fix the service-user check first"));
  return FALSE;
}

/* The group that owns the service user's directories: its primary group,
 * or without the user the group of the same name (sysusers.d makes both). */
static char *
service_group (Diagnose *d)
{
  struct group *gr = d->user != NULL ? getgrgid (d->user->gid) : NULL;
  if (gr != NULL)
    return g_strdup (gr->gr_name);
  if (d->user != NULL)
    return g_strdup_printf ("%u", (unsigned)d->user->gid);
  return g_strdup (d->user_name);
}

/* Env files ---------------------------------------------------------------- */

static gboolean
env_file_missing (const EnvFile *f)
{
  return g_error_matches (f->open_error, STEM_ERROR, STEM_ERROR_NOT_FOUND);
}

/* Whether F was read, for a check of its contents; else a warning that
 * says why not (env-file-exists has the error), unless it does not exist
 * (env-file-exists says so, and that is all there is to say). */
static gboolean
need_contents (Diagnose *d, const char *id, const EnvFile *f)
{
  if (f->open_error == NULL)
    return TRUE;
  if (!env_file_missing (f))
    {
      CheckResult *r
          = add_result (d, id, LEVEL_WARN, _ ("not checked: %s"), f->open_error->message);
      set_hint (r, _ ("fix the env-file-exists check first"));
    }
  return FALSE;
}

/* F exists: the service user must read it, since the units and the SysV
 * scripts run stem-multi as that user (only systemd's EnvironmentFile= is
 * read as root).  Not the defaults file, which only the scripts source, as
 * root, unless it was named with --env-file. */
static void
check_env_file_readable (Diagnose *d, const char *id, const EnvFile *f)
{
  int errsv = 0;
  gboolean sourced_only = !f->given && strcmp (f->path, default_env_files[0]) == 0;
  if (d->user == NULL || sourced_only || user_access (d->user, f->path, R_OK, &errsv) != ACCESS_NO)
    {
      add_result (d, id, LEVEL_OK, _ ("%s: exists"), f->path);
      return;
    }
  g_autofree char *group = service_group (d);
  CheckResult *r = add_result (d, id, LEVEL_ERROR,
                               _ ("%s: not readable by the service user %s, as whom the units and "
                                  "scripts run stem-multi: %s"),
                               f->path, d->user_name, g_strerror (errsv));
  set_hint (r, _ ("chown root:%s %s && chmod 0640 %s (see stem.env(5))"), group, f->path, f->path);
}

static gboolean
check_env_file_exists (Diagnose *d, const char *id, GError **error)
{
  for (guint i = 0; i < d->env_files->len; i++)
    {
      EnvFile *f = d->env_files->pdata[i];
      if (env_file_missing (f))
        {
          CheckResult *r = add_result (d, id, f->given ? LEVEL_ERROR : LEVEL_WARN,
                                       _ ("%s: does not exist"), f->path);
          set_hint (r, _ ("create it from the packaged example, or name the right file with "
                          "--env-file (see stem.env(5))"));
        }
      else if (g_error_matches (f->open_error, STEM_ERROR, STEM_ERROR_PERMISSION))
        {
          CheckResult *r = add_result (d, id, LEVEL_ERROR, "%s", f->open_error->message);
          set_hint (r, _ ("run stem-diagnose as root (the services read it as root)"));
        }
      else if (f->open_error != NULL)
        {
          CheckResult *r = add_result (d, id, LEVEL_ERROR, "%s", f->open_error->message);
          set_hint (r, _ ("name a regular file with --env-file (see stem.env(5))"));
        }
      else
        check_env_file_readable (d, id, f);
    }
  return TRUE;
}

static gboolean
check_env_file_syntax (Diagnose *d, const char *id, GError **error)
{
  for (guint i = 0; i < d->env_files->len; i++)
    {
      EnvFile *f = d->env_files->pdata[i];
      if (!need_contents (d, id, f))
        continue;
      if (f->load_error != NULL)
        {
          CheckResult *r = add_result (d, id, LEVEL_ERROR, "%s", f->load_error->message);
          set_hint (r, _ ("edit the line named above; the format is in stem.env(5)"));
        }
      else
        add_result (d, id, LEVEL_OK,
                    g_dngettext (GETTEXT_PACKAGE, "%s: parses (%u variable)",
                                 "%s: parses (%u variables)", g_strv_length (f->assignments)),
                    f->path, g_strv_length (f->assignments));
    }
  return TRUE;
}

/* The env file PATH, which the core's opener refused as unsafe, ST being
 * the status it refused, said with the hint that fixes what it is: chown
 * and chmod cannot make a link or a FIFO acceptable.  (The opener's own
 * message carries its hint in its text, which a result has on a line of
 * its own.) */
static void
add_unsafe_env_file (Diagnose *d, const char *id, const char *path, const struct stat *st)
{
  CheckResult *r;
  if (S_ISLNK (st->st_mode))
    {
      r = add_result (d, id, LEVEL_ERROR,
                      _ ("%s: is a symbolic link: stem-multi run as root reads only a regular "
                         "file"),
                      path);
      set_hint (r, _ ("name the file it points to instead, owned by root and not writable by "
                      "group or others (see stem.env(5))"));
      return;
    }
  if (!S_ISREG (st->st_mode))
    {
      r = add_result (d, id, LEVEL_ERROR,
                      _ ("%s: not a regular file: stem-multi run as root refuses it"), path);
      /* Never "replace it": it may be /dev/null. */
      set_hint (r, _ ("name a regular file instead, owned by root and not writable by group or "
                      "others (see stem.env(5))"));
      return;
    }
  if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
    r = add_result (d, id, LEVEL_ERROR,
                    _ ("%s: writable by group or others (mode %04o): stem-multi run as root "
                       "refuses it, since it chooses the program that root starts"),
                    path, (unsigned)(st->st_mode & 07777));
  else
    r = add_result (d, id, LEVEL_ERROR,
                    _ ("%s: owned by uid %u, not root: stem-multi run as root refuses it, since "
                       "it chooses the program that root starts"),
                    path, (unsigned)st->st_uid);
  set_hint (r, _ ("chown root %s && chmod go-w %s (see stem.env(5))"), path, path);
}

/* The root rule of stem.env(5), applied by the core's opener itself, which
 * says STEM_ERROR_UNSAFE when the file breaks it.  It opens the file once
 * more, without following a link, as stem-multi run as root does: the file
 * read above may have been reached through one. */
static gboolean
check_env_file_safety (Diagnose *d, const char *id, GError **error)
{
  for (guint i = 0; i < d->env_files->len; i++)
    {
      EnvFile *f = d->env_files->pdata[i];
      if (env_file_missing (f))
        continue;
      struct stat st;
      g_autoptr (GError) safe_error = NULL;
      g_auto (StemFd) fd = stem_envfile_open (f->path, TRUE, &st, &safe_error);
      if (g_error_matches (safe_error, STEM_ERROR, STEM_ERROR_UNSAFE))
        add_unsafe_env_file (d, id, f->path, &st);
      else if (safe_error != NULL)
        {
          CheckResult *r
              = add_result (d, id, LEVEL_WARN, _ ("not checked: %s"), safe_error->message);
          set_hint (r, _ ("fix the env-file-exists check first"));
        }
      else
        add_result (d, id, LEVEL_OK,
                    _ ("%s: a regular file owned by root, not writable by group "
                       "or others"),
                    f->path);
    }
  return TRUE;
}

static gboolean
check_env_file_secrets (Diagnose *d, const char *id, GError **error)
{
  for (guint i = 0; i < d->env_files->len; i++)
    {
      EnvFile *f = d->env_files->pdata[i];
      if (!need_contents (d, id, f) || f->assignments == NULL)
        continue;
      g_autoptr (GPtrArray) holders = g_ptr_array_new_with_free_func (g_free);
      for (guint j = 0; f->assignments[j] != NULL; j++)
        {
          const char *eq = strchr (f->assignments[j], '=');
          g_autofree char *name = g_strndup (f->assignments[j], eq - f->assignments[j]);
          if ((is_secret_name (name) && eq[1] != '\0') || value_has_url_password (eq + 1))
            g_ptr_array_add (holders, g_steal_pointer (&name));
        }
      g_ptr_array_add (holders, NULL);
      g_autofree char *names = g_strjoinv (", ", (char **)holders->pdata);
      if (holders->len > 1 && (f->st.st_mode & S_IROTH))
        {
          CheckResult *r = add_result (d, id, LEVEL_WARN,
                                       _ ("%s: holds secrets (%s) and is readable by everyone "
                                          "(mode %04o)"),
                                       f->path, names, (unsigned)(f->st.st_mode & 07777));
          set_hint (r,
                    _ ("chmod o-r %s (give the service group read access with chgrp and "
                       "chmod 0640; see stem.env(5))"),
                    f->path);
        }
      else if (holders->len > 1)
        add_result (d, id, LEVEL_OK, _ ("%s: holds secrets (%s), not readable by others"), f->path,
                    names);
      else
        add_result (d, id, LEVEL_OK, _ ("%s: holds no secrets"), f->path);
    }
  return TRUE;
}

/* What /bin/sh and systemd would read differently in a file the parser
 * accepts: the parser already refuses what sh would expand in an assignment
 * (unquoted $ ` ~ ; & …), CR, and values that are not UTF-8.  What is left:
 * control characters (other than tab and newline) in a quoted value: sh
 * keeps them, systemd ignores the whole assignment.
 * Glob characters are read the same: the SysV scripts split $STEMD_OPTS
 * and $STEM_SCHEDULER_OPTS into words with pathname expansion off, as
 * systemd does.  A “%” is read the same too: EnvironmentFile= values are
 * not subject to unit-file specifiers (only a value copied into
 * Environment= would be). */
static gboolean
check_shell_systemd_agreement (Diagnose *d, const char *id, GError **error)
{
  guint checked = 0, problems = 0;
  for (guint i = 0; i < d->env_files->len; i++)
    {
      EnvFile *f = d->env_files->pdata[i];
      if (!need_contents (d, id, f))
        problems += !env_file_missing (f);
      if (f->assignments == NULL)
        continue;
      for (guint j = 0; f->assignments[j] != NULL; j++, checked++)
        {
          const char *eq = strchr (f->assignments[j], '=');
          g_autofree char *name = g_strndup (f->assignments[j], eq - f->assignments[j]);
          const char *value = eq + 1;
          gboolean control = FALSE;
          for (const char *p = value; *p != '\0'; p++)
            if (((guchar)*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
              control = TRUE;
          if (control)
            {
              problems++;
              CheckResult *r
                  = add_result (d, id, LEVEL_WARN,
                                _ ("%s: %s contains a control character: /bin/sh keeps it, "
                                   "systemd ignores the whole assignment"),
                                f->path, name);
              set_hint (r, _ ("remove the control character from %s (see stem.env(5))"), name);
            }
        }
    }
  if (problems == 0 && checked == 0)
    add_result (d, id, LEVEL_OK, _ ("no values to compare: the env files set none"));
  else if (problems == 0)
    add_result (d, id, LEVEL_OK,
                g_dngettext (GETTEXT_PACKAGE, "%u value reads the same in /bin/sh and systemd",
                             "%u values read the same in /bin/sh and systemd", checked),
                checked);
  return TRUE;
}

/* The worker ---------------------------------------------------------------- */

/* Whether every env file that exists was read and parses; else a warning
 * that says why not: one of them may be what sets the worker command, and
 * it is env-file-exists' or env-file-syntax's error, not a second one. */
static gboolean
env_files_read (Diagnose *d, const char *id)
{
  for (guint i = 0; i < d->env_files->len; i++)
    {
      const EnvFile *f = d->env_files->pdata[i];
      if (!env_file_missing (f) && !need_contents (d, id, f))
        return FALSE;
      if (f->load_error != NULL)
        {
          add_result (d, id, LEVEL_WARN, _ ("not checked: %s does not parse (see env-file-syntax)"),
                      f->path);
          return FALSE;
        }
    }
  return TRUE;
}

/* Whether ARG gives Celery's short option LETTER, alone or among combined
 * short flags (-D, -ED, -Ef): -E, -B and -D take no value, and any other
 * letter takes the rest of the argument as its value (-lD is a log level
 * of D). */
static gboolean
celery_short_option (const char *arg, char letter)
{
  if (arg[0] != '-' || arg[1] == '-')
    return FALSE;
  for (const char *c = arg + 1; *c != '\0'; c++)
    if (*c == letter)
      return TRUE;
    else if (*c != 'E' && *c != 'B' && *c != 'D')
      return FALSE;
  return FALSE;
}

/* Whether ARGV runs Celery's command line: the celery program, itself or
 * given to an interpreter, or an interpreter told -m celery. */
static gboolean
runs_celery (char **argv)
{
  for (guint i = 0; i < 2 && argv[i] != NULL; i++)
    {
      g_autofree char *base = g_path_get_basename (argv[i]);
      if (g_str_equal (base, "celery"))
        return TRUE;
    }
  for (guint i = 1; argv[i] != NULL && argv[i + 1] != NULL; i++)
    if (g_str_equal (argv[i], "-m") && g_str_equal (argv[i + 1], "celery"))
      return TRUE;
  return FALSE;
}

/* Whether ARG is one of Celery's global options given its value in the
 * next argument (-A multi names an application, not the command). */
static gboolean
celery_takes_value (const char *arg)
{
  static const char *const with_value[] = {
    "-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config", "--workdir"
  };
  for (guint i = 0; i < G_N_ELEMENTS (with_value); i++)
    if (g_str_equal (arg, with_value[i]))
      return TRUE;
  return FALSE;
}

/* The index in ARGV of Celery's worker or beat command, the first such
 * word, or 0 for none. */
static guint
celery_command_index (char **argv)
{
  for (guint i = 1; argv[i] != NULL; i++)
    if (g_str_equal (argv[i], "worker") || g_str_equal (argv[i], "beat"))
      return i;
  return 0;
}

/* The argument of ARGV that tells the worker to fork into the background
 * and let its first process exit (Celery's, and init scripts' of old), or
 * NULL.  -D is --detach after Celery's worker and beat commands
 * (elsewhere it may mean anything); Celery's multi command (before any
 * worker or beat) detaches every worker it starts. */
static const char *
detach_argument (char **argv)
{
  guint command = celery_command_index (argv);
  gboolean celery = runs_celery (argv);
  for (guint i = 1; argv[i] != NULL; i++)
    if (celery && (command == 0 || i < command) && g_str_equal (argv[i], "multi")
        && !celery_takes_value (argv[i - 1]))
      return argv[i];
    else if (g_str_equal (argv[i], "--detach") || g_str_has_prefix (argv[i], "--detach=")
             || (command != 0 && i > command && celery_short_option (argv[i], 'D')))
      return argv[i];
  return NULL;
}

/* The index in ARGV of the first argument after Celery's worker or beat
 * command that MATCH takes, or 0 (also when ARGV does not run Celery). */
static guint
celery_command_argument (char **argv, gboolean (*match) (const char *arg))
{
  guint command = celery_command_index (argv);
  if (command == 0 || !runs_celery (argv))
    return 0;
  for (guint i = command + 1; argv[i] != NULL; i++)
    if (match (argv[i]))
      return i;
  return 0;
}

static gboolean
is_pidfile_option (const char *arg)
{
  return g_str_equal (arg, "--pidfile") || g_str_has_prefix (arg, "--pidfile=");
}

static gboolean
is_logfile_option (const char *arg)
{
  return g_str_equal (arg, "--logfile") || g_str_has_prefix (arg, "--logfile=")
         || celery_short_option (arg, 'f');
}

/* The value of Celery's own --pidfile in ARGV (--pidfile=V or --pidfile
 * V), or NULL. */
static const char *
celery_pidfile_argument (char **argv)
{
  guint i = celery_command_argument (argv, is_pidfile_option);
  if (i == 0)
    return NULL;
  const char *equals = strchr (argv[i], '=');
  return equals != NULL ? equals + 1 : argv[i + 1];
}

/* The nodes whose own pidfile VALUE names once expanded for each of them,
 * comma-joined, or NULL for none. */
static char *
nodes_with_pidfile (Diagnose *d, const char *value)
{
  if (d->plans == NULL)
    return NULL;
  g_autoptr (GString) nodes = g_string_new (NULL);
  for (guint i = 0; i < d->plans->plans->len; i++)
    {
      const StemNodePlan *plan = d->plans->plans->pdata[i];
      StemTemplateContext ctx = { .node = plan->node,
                                  .index = plan->index,
                                  .host = d->plans->host,
                                  .timestamp = d->plans->timestamp };
      g_autofree char *path = stem_template_expand (value, &ctx, NULL);
      if (path != NULL && plan->pidfile != NULL && g_str_equal (path, plan->pidfile))
        g_string_append_printf (nodes, "%s%s", nodes->len > 0 ? ", " : "", plan->node);
    }
  return nodes->len > 0 ? g_string_free (g_steal_pointer (&nodes), FALSE) : NULL;
}

/* Celery's own --pidfile in ARGV: its worker exits at once when that file
 * names a running process, which the node's own pidfile always does
 * (stem-multi writes it as the worker starts): an error then, else a
 * warning.  Returns the result added, or NULL. */
static CheckResult *
check_celery_pidfile (Diagnose *d, const char *id, char **argv, const char *origin,
                      const char *line)
{
  const char *value = celery_pidfile_argument (argv);
  if (value == NULL)
    return NULL;
  g_autofree char *nodes = nodes_with_pidfile (d, value);
  CheckResult *r;
  if (nodes != NULL)
    r = add_result (d, id, LEVEL_ERROR,
                    _ ("%s (%s): --pidfile %s is the pidfile of %s, which stem-multi writes with "
                       "the worker's own pid: Celery then takes itself for another worker "
                       "already running and exits"),
                    origin, line, value, nodes);
  else
    r = add_result (d, id, LEVEL_WARN,
                    _ ("%s (%s): with --pidfile Celery keeps a pidfile of its own beside the "
                       "node's, and will not start while it names a running process (after a "
                       "crash, one that took the old pid)"),
                    origin, line);
  set_hint (r,
            _ ("remove --pidfile from %s: stem-multi keeps each node's pidfile, and gives its "
               "path to the worker as STEM_WORKER_PIDFILE"),
            origin);
  return r;
}

/* Celery's own log file: the node's log, which stem-multi logs shows,
 * stem-health --max-log-age reads and the shipped logrotate rotates
 * (renaming it: the log writer follows, Celery would not), then gets only
 * Celery's banner.  A warning; TRUE when given. */
static gboolean
check_celery_logfile (Diagnose *d, const char *id, char **argv, const char *origin,
                      const char *line)
{
  guint i = celery_command_argument (argv, is_logfile_option);
  if (i == 0)
    return FALSE;
  const char *arg = argv[i];
  CheckResult *r
      = add_result (d, id, LEVEL_WARN,
                    _ ("%s (%s): with %s Celery writes its log itself, past the node's log, "
                       "which gets only its banner: stem-multi logs shows no more, "
                       "stem-health --max-log-age fails once the banner is older than its "
                       "limit, and the shipped logrotate does not rotate Celery's file"),
                    origin, line, arg);
  set_hint (r,
            _ ("remove %s from %s: the worker's output goes to the node's log "
               "(STEM_WORKER_LOGFILE), which its log writer keeps across rotations"),
            arg, origin);
  return TRUE;
}

/* No usable worker command: MESSAGE, with where the services read one. */
static void
add_command_error (Diagnose *d, const char *id, const char *message)
{
  CheckResult *r = add_result (d, id, LEVEL_ERROR, "%s", message);
  set_hint (r,
            _ ("set STEM_WORKER_COMMAND in %s/stem/stem.env, which the units, the SysV "
               "scripts and stem-multi --env-file read (see stem.env(5))"),
            STEM_SYSCONFDIR);
}

/* An error when ARGV puts the worker in the background (detach_argument);
 * TRUE when it does. */
static gboolean
check_detach (Diagnose *d, const char *id, char **argv, const char *origin, const char *line)
{
  const char *detach = detach_argument (argv);
  if (detach == NULL)
    return FALSE;
  CheckResult *r = add_result (
      d, id, LEVEL_ERROR,
      _ ("%s (%s): %s puts the worker in the background, where nothing can follow it"), origin,
      line, detach);
  if (g_str_equal (detach, "multi"))
    set_hint (r, _ ("run one worker in the foreground (celery -A APP worker) in place of "
                    "celery multi: stem-multi, the units and the SysV scripts start each node "
                    "themselves"));
  else
    set_hint (r,
              _ ("remove %s from %s: stem-multi, the units and the SysV scripts run the "
                 "worker in the background themselves"),
              detach, origin);
  return TRUE;
}

/* Whether the interpreter of script PROGRAM, which the kernel executes
 * with it, is there and the service user's to run: a virtualenv deleted
 * under the script, or made in a home that user may not enter, fails
 * every start although the script itself is fine.  FALSE once said. */
static gboolean
report_interpreter (Diagnose *d, const char *id, const char *origin, const char *program)
{
  g_autofree char *interpreter = stem_command_interpreter (program);
  if (interpreter == NULL)
    return TRUE;
  /* Whether we may execute it does not matter: the service user's
   * access is checked as that user. */
  int errsv = stem_command_check_executable (interpreter);
  if (errsv == EISDIR)
    errsv = EACCES;
  else if (errsv != ENOENT
           && (d->user == NULL || user_access (d->user, interpreter, X_OK, &errsv) != ACCESS_NO))
    errsv = 0;
  if (errsv == 0)
    return TRUE;
  CheckResult *r
      = add_result (d, id, LEVEL_ERROR,
                    _ ("%s: %s is a script for %s, which the service user %s cannot execute: %s"),
                    origin, program, interpreter, d->user_name, g_strerror (errsv));
  set_hint (r, _ ("fix the first line (#!) of %s, or install %s"), program, interpreter);
  return FALSE;
}

/* Whether the service user may run PROGRAM; an ok result only when the
 * command was not WARNED about already (its warnings are its result). */
static void
report_worker_program (Diagnose *d, const char *id, const char *origin, const char *line,
                       const char *program, gboolean warned)
{
  int errsv = 0;
  UserAccess can = d->user != NULL ? user_access (d->user, program, X_OK, &errsv) : ACCESS_YES;
  if (can == ACCESS_NO)
    {
      CheckResult *r = add_result (d, id, LEVEL_ERROR,
                                   _ ("%s: %s is not executable by the service user %s: %s"),
                                   origin, program, d->user_name, g_strerror (errsv));
      set_hint (r, _ ("chmod a+x %s, and let %s search every directory above it"), program,
                d->user_name);
    }
  else if (can == ACCESS_UNKNOWN)
    {
      CheckResult *r = add_result (d, id, LEVEL_WARN,
                                   _ ("%s: %s (runs %s; whether %s may run it cannot be told: %s)"),
                                   origin, line, program, d->user_name, g_strerror (errsv));
      set_hint (r, _ ("run stem-diagnose as root, which checks as the service user"));
    }
  else if (!report_interpreter (d, id, origin, program))
    return;
  else if (warned)
    return;
  else if (can == ACCESS_BY_MODE)
    add_result (d, id, LEVEL_OK,
                _ ("%s: %s (runs %s; executable by %s by the mode bits, ACLs unseen: as root "
                   "stem-diagnose checks as that user)"),
                origin, line, program, d->user_name);
  else
    add_result (d, id, LEVEL_OK, _ ("%s: %s (runs %s)"), origin, line, program);
}

static gboolean
check_worker_command (Diagnose *d, const char *id, GError **error)
{
  g_auto (GStrv) argv = NULL;
  g_autofree char *origin = NULL;
  g_autoptr (GError) local = NULL;
  if (!env_files_read (d, id))
    return TRUE;
  const char *variable;
  /* stem-multi's own message would offer --command, which the services
   * do not give. */
  if (stem_command_from_env ((const char *const *)d->envp, &variable) == NULL)
    {
      add_command_error (d, id,
                         _ ("no worker command: STEM_WORKER_COMMAND (or STEMD_COMMAND) is set "
                            "in no env file and not in the environment"));
      return TRUE;
    }
  if (!stem_command_resolve (NULL, NULL, (const char *const *)d->envp, NULL, &argv, &origin,
                             &local))
    {
      add_command_error (d, id, local->message);
      return TRUE;
    }
  g_autofree char *line = g_strjoinv (" ", argv);
  g_autofree char *program
      = stem_command_find_program (argv[0], (const char *const *)d->envp, &local);
  if (program == NULL)
    {
      CheckResult *r
          = add_result (d, id, LEVEL_ERROR, _ ("%s (%s): %s"), origin, line, local->message);
      set_hint (r, _ ("install the worker, or give its absolute path in %s (see stem.env(5))"),
                origin);
      return TRUE;
    }
  if (check_detach (d, id, argv, origin, line))
    return TRUE;
  /* A warning about the command is its result: no ok beside it. */
  CheckResult *pidfile = check_celery_pidfile (d, id, argv, origin, line);
  if (pidfile != NULL && pidfile->level == LEVEL_ERROR)
    return TRUE;
  gboolean warned = check_celery_logfile (d, id, argv, origin, line) || pidfile != NULL;
  report_worker_program (d, id, origin, line, program, warned);
  return TRUE;
}

static gboolean
check_service_user (Diagnose *d, const char *id, GError **error)
{
  if (d->user == NULL)
    {
      CheckResult *r = add_result (d, id, LEVEL_ERROR, _ ("no such user “%s”"), d->user_name);
      set_hint (r, _ ("systemd-sysusers (or: useradd --system %s), or name the user with --user"),
                d->user_name);
    }
  else
    add_result (d, id, LEVEL_OK, _ ("user %s exists (uid %u)"), d->user_name,
                (unsigned)d->user->uid);
  return TRUE;
}

/* The user's primary group, or, without the user, the group of the same
 * name that the packaged sysusers.d file creates with it. */
static gboolean
check_service_group (Diagnose *d, const char *id, GError **error)
{
  struct group *gr = d->user != NULL ? getgrgid (d->user->gid) : getgrnam (d->user_name);
  if (gr == NULL && d->user != NULL)
    {
      CheckResult *r
          = add_result (d, id, LEVEL_ERROR, _ ("the primary group %u of user %s does not exist"),
                        (unsigned)d->user->gid, d->user_name);
      /* systemd-sysusers would make the group with another gid. */
      set_hint (r, _ ("groupadd --system --gid %u %s"), (unsigned)d->user->gid, d->user_name);
    }
  else if (gr == NULL)
    {
      CheckResult *r = add_result (d, id, LEVEL_ERROR, _ ("no such group “%s”"), d->user_name);
      set_hint (r, _ ("systemd-sysusers (or: groupadd --system %s)"), d->user_name);
    }
  else
    add_result (d, id, LEVEL_OK, _ ("group %s exists (gid %u)"), gr->gr_name, (unsigned)gr->gr_gid);
  return TRUE;
}

/* Directories and files of the nodes ---------------------------------------- */

/* The directories a template names: its own when the directory part holds no
 * placeholder, else one per node. */
static GStrv
template_dirs (Diagnose *d, const char *tmpl, gboolean logfiles)
{
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *dir = g_path_get_dirname (tmpl);
  if (strchr (dir, '%') == NULL)
    g_ptr_array_add (dirs, g_canonicalize_filename (dir, NULL));
  else if (d->plans != NULL)
    for (guint i = 0; i < d->plans->plans->len; i++)
      {
        StemNodePlan *plan = d->plans->plans->pdata[i];
        const char *path = logfiles ? plan->logfile : plan->pidfile;
        if (path == NULL)
          continue;
        g_autofree char *node_dir = g_path_get_dirname (path);
        if (!g_ptr_array_find_with_equal_func (dirs, node_dir, g_str_equal, NULL))
          g_ptr_array_add (dirs, g_steal_pointer (&node_dir));
      }
  g_ptr_array_add (dirs, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&dirs), FALSE);
}

/* Whether DIR (canonical, ST its stat) is shared by the system or by every
 * user: sticky (/tmp), or a directory of the file system's hierarchy that
 * is not the nodes' own.  Its owner and mode are not ours to change; the
 * fix is a directory of the nodes' own. */
static gboolean
dir_is_shared (const char *dir, const struct stat *st)
{
  static const char *const system_dirs[]
      = { "/",          "/run",       "/var/run", "/run/lock", "/var/lock",  "/run/user",
          "/tmp",       "/var/tmp",   "/dev/shm", "/var",      "/var/log",   "/var/lib",
          "/var/cache", "/var/spool", "/etc",     "/usr",      "/usr/local", "/opt",
          "/srv",       "/home",      "/root",    "/dev",      NULL };
  return (st->st_mode & S_ISVTX) != 0 || g_strv_contains (system_dirs, dir);
}

/* A hint for a directory the nodes share with others (dir_is_shared):
 * the default template's, which is theirs alone. */
static void
set_own_dir_hint (CheckResult *r, gboolean logfiles)
{
  if (logfiles)
    set_hint (r,
              _ ("give the nodes a directory of their own, such as --logfile=%s (or "
                 "STEMD_LOG_FILE in the env file); see stem-multi(1)"),
              stem_plan_default_logfile ());
  else
    set_hint (r,
              _ ("give the nodes a directory of their own, such as --pidfile=%s (or "
                 "STEMD_PID_FILE in the env file); see stem-multi(1)"),
              stem_plan_default_pidfile ());
}

/* The hint that makes DIR (missing, or in the way): an install -d command
 * for the service user; for the default pid directory, which tmpfiles.d
 * makes, systemd-tmpfiles first. */
static void
set_make_dir_hint (Diagnose *d, CheckResult *r, const char *dir, gboolean logfiles,
                   gboolean remove_first)
{
  g_autofree char *group = service_group (d);
  g_autofree char *packaged = g_path_get_dirname (stem_plan_default_pidfile ());
  g_autofree char *install = g_strdup_printf ("install -d -o %s -g %s -m %s %s", d->user_name,
                                              group, logfiles ? "0750" : "0755", dir);
  if (!logfiles && strcmp (dir, packaged) == 0)
    set_hint (r,
              remove_first ? _ ("remove it and run systemd-tmpfiles --create (or: %s); see "
                                "stem-multi(1)")
                           : _ ("systemd-tmpfiles --create (or: %s); see stem-multi(1)"),
              install);
  else if (logfiles && !remove_first)
    set_hint (r, _ ("%s (the package and the units make it); see stem-multi(1)"), install);
  else
    set_hint (r,
              remove_first ? _ ("remove it, and make the directory again: %s; see stem-multi(1)")
                           : _ ("%s; see stem-multi(1)"),
              install);
}

/* LOGFILES: DIR holds log files, which the package and the units make
 * (tmpfiles.d makes only the pid directory). */
static void
check_dir (Diagnose *d, const char *id, const char *dir, gboolean logfiles)
{
  const char *what = logfiles ? _ ("log files") : _ ("pidfiles");
  struct stat st;
  if (stat (dir, &st) < 0)
    {
      int errsv = errno;
      CheckResult *r = add_result (d, id, LEVEL_ERROR, _ ("%s: %s"), dir, g_strerror (errsv));
      if (errsv == ENOENT)
        set_make_dir_hint (d, r, dir, logfiles, FALSE);
      else
        set_hint (r, _ ("run stem-diagnose as root, or fix the permissions above %s"), dir);
      return;
    }
  if (!S_ISDIR (st.st_mode))
    {
      CheckResult *r = add_result (d, id, LEVEL_ERROR, _ ("%s: not a directory"), dir);
      set_make_dir_hint (d, r, dir, logfiles, TRUE);
      return;
    }
  if (st.st_mode & S_IWOTH)
    {
      CheckResult *r = add_result (d, id, LEVEL_ERROR,
                                   _ ("%s: world-writable (mode %04o): anyone can plant %s"), dir,
                                   (unsigned)(st.st_mode & 07777), what);
      if (dir_is_shared (dir, &st))
        set_own_dir_hint (r, logfiles);
      else
        set_hint (r, _ ("chmod o-w %s"), dir);
      return;
    }
  int errsv = 0;
  UserAccess can = d->user != NULL ? user_access (d->user, dir, W_OK | X_OK, &errsv) : ACCESS_YES;
  if (can == ACCESS_NO)
    {
      CheckResult *r
          = add_result (d, id, LEVEL_ERROR, _ ("%s: not writable by the service user %s: %s"), dir,
                        d->user_name, g_strerror (errsv));
      if (dir_is_shared (dir, &st))
        set_own_dir_hint (r, logfiles);
      else
        set_hint (r, _ ("chown %s: %s, and let %s search every directory above it"), d->user_name,
                  dir, d->user_name);
    }
  else if (can == ACCESS_UNKNOWN)
    {
      CheckResult *r = add_result (
          d, id, LEVEL_WARN,
          _ ("%s: exists, not world-writable; whether %s may write it cannot be told: %s"), dir,
          d->user_name, g_strerror (errsv));
      set_hint (r, _ ("run stem-diagnose as root, which checks as the service user"));
    }
  else if (can == ACCESS_BY_MODE)
    add_result (d, id, LEVEL_OK,
                _ ("%s: exists, writable by %s by the mode bits (ACLs unseen: as root "
                   "stem-diagnose checks as that user), not world-writable"),
                dir, d->user_name);
  else if (d->user != NULL)
    add_result (d, id, LEVEL_OK, _ ("%s: exists, writable by %s, not world-writable"), dir,
                d->user_name);
  else
    {
      /* Whether the user may write it is what this check is for. */
      CheckResult *r = add_result (d, id, LEVEL_WARN,
                                   _ ("%s: exists, not world-writable; whether the service user "
                                      "may write it is not checked: there is no user “%s”"),
                                   dir, d->user_name);
      set_hint (r, _ ("fix the service-user check first"));
    }
}

static gboolean
check_dirs (Diagnose *d, const char *id, const char *tmpl, gboolean logfiles)
{
  if (logfiles && strcmp (tmpl, "-") == 0)
    {
      add_result (d, id, LEVEL_OK, _ ("no log files (--logfile=-)"));
      return TRUE;
    }
  g_auto (GStrv) dirs = template_dirs (d, tmpl, logfiles);
  if (dirs[0] == NULL)
    add_result (d, id, LEVEL_OK,
                _ ("not checked: the directory depends on the node, and no "
                   "nodes are configured"));
  for (guint i = 0; dirs[i] != NULL; i++)
    check_dir (d, id, dirs[i], logfiles);
  return TRUE;
}

static gboolean
check_pid_dir (Diagnose *d, const char *id, GError **error)
{
  return check_dirs (d, id, d->pidfile_template, FALSE);
}

static gboolean
check_log_dir (Diagnose *d, const char *id, GError **error)
{
  return check_dirs (d, id, d->logfile_template, TRUE);
}

/* FALSE (with a result saying why) when there are no node plans. */
static gboolean
need_nodes (Diagnose *d, const char *id, GError **error)
{
  /* An env file that does not parse is env-file-syntax's error, not a
   * second one here. */
  if (!env_files_read (d, id))
    return FALSE;
  if (d->plan_error != NULL)
    {
      g_propagate_error (error, g_error_copy (d->plan_error));
      return FALSE;
    }
  if (d->plans == NULL)
    add_result (d, id, LEVEL_OK, _ ("no nodes configured (name them, or set STEMD_NODES)"));
  return d->plans != NULL;
}

/* What a pidfile that could not be loaded (LOCAL) says of PLAN's node. */
static void
report_unloaded_pidfile (Diagnose *d, const char *id, const StemNodePlan *plan, const GError *local)
{
  const char *node = plan->node, *path = plan->pidfile;
  CheckResult *r;
  if (g_error_matches (local, STEM_ERROR, STEM_ERROR_NOT_FOUND))
    add_result (d, id, LEVEL_OK, _ ("%s: not running (no pidfile %s)"), node, path);
  else if (g_error_matches (local, STEM_ERROR, STEM_ERROR_PERMISSION))
    {
      r = add_result (d, id, LEVEL_WARN, _ ("%s: %s"), node, local->message);
      set_hint (r, _ ("run stem-diagnose as root"));
    }
  else if (g_error_matches (local, STEM_ERROR, STEM_ERROR_LEFTOVER_PIDFILE))
    {
      r = add_result (d, id, LEVEL_WARN, _ ("%s: %s"), node, local->message);
      set_hint (r, _ ("stem-multi status %s removes it (see stem-multi(1))"), node);
    }
  else
    {
      r = add_result (d, id, LEVEL_ERROR, _ ("%s: %s"), node, local->message);
      set_hint (r, _ ("stop the node if it runs, then remove %s (see stem-multi(1))"), path);
    }
}

/* A pidfile of root's does not say whether root started its worker with
 * --uid: a process of the service user that names it may be the worker (a
 * clock stepped forward since) or not (anyone may name it), and status
 * without that --uid would remove the pidfile.  TRUE when PIDFILE's
 * process (CLAIM, without --uid: reused) is such a one, and said so. */
static gboolean
report_service_user_claim (Diagnose *d, const char *id, const StemNodePlan *plan,
                           const StemPidfile *pidfile, StemProcClaim claim)
{
  if (pidfile->uid != 0 || d->user == NULL || d->user->uid == 0)
    return FALSE;
  claim.uid_option = d->user_name;
  if (stem_proc_probe (pidfile->pid, &claim, NULL) != STEM_PROC_RUNNING)
    return FALSE;
  CheckResult *r = add_result (d, id, LEVEL_WARN,
                               _ ("%s: pid %d started after %s was written, but it runs as %s and "
                                  "names that pidfile: it is the worker if the clock was stepped "
                                  "forward since"),
                               plan->node, (int)pidfile->pid, plan->pidfile, d->user_name);
  set_hint (r,
            _ ("give stem-multi status %s the --uid the node was started with "
               "(without it, status removes the pidfile)"),
            plan->node);
  return TRUE;
}

static void
check_one_pidfile (Diagnose *d, const char *id, const StemNodePlan *plan)
{
  const char *node = plan->node, *path = plan->pidfile;
  g_autoptr (GError) local = NULL;
  StemPidfile pidfile;
  CheckResult *r;
  if (!stem_pidfile_load (path, &pidfile, &local))
    {
      report_unloaded_pidfile (d, id, plan, local);
      return;
    }
  pid_t pid = pidfile.pid;
  StemProcClaim claim = stem_plan_claim (plan, &pidfile);
  StemProcState state = stem_proc_probe (pid, &claim, NULL);
  if (state == STEM_PROC_REUSED && report_service_user_claim (d, id, plan, &pidfile, claim))
    return;
  if ((state == STEM_PROC_RUNNING || state == STEM_PROC_NO_PERMISSION)
      && !stem_pidfile_check_owner (path, &pidfile, &local))
    {
      r = add_result (d, id, LEVEL_ERROR, _ ("%s: %s"), node, local->message);
      /* Never "chown root": that would make a planted pidfile trusted. */
      set_hint (r, _ ("stop the node if it runs, then remove %s (see stem-multi(1))"), path);
      return;
    }
  switch (state)
    {
    case STEM_PROC_RUNNING:
    case STEM_PROC_NO_PERMISSION:
      add_result (d, id, LEVEL_OK, _ ("%s: running (pid %d)"), node, (int)pid);
      break;
    case STEM_PROC_DEAD:
      r = add_result (d, id, LEVEL_WARN, _ ("%s: stale pidfile %s: pid %d is not running"), node,
                      path, (int)pid);
      set_hint (r, _ ("stem-multi status %s removes it (see stem-multi(1))"), node);
      break;
    case STEM_PROC_REUSED:
      r = add_result (d, id, LEVEL_WARN,
                      _ ("%s: stale pidfile %s: pid %d now belongs to another process"), node, path,
                      (int)pid);
      set_hint (r, _ ("stem-multi status %s removes it (see stem-multi(1))"), node);
      break;
    case STEM_PROC_UNKNOWN:
    default:
      r = add_result (d, id, LEVEL_WARN, _ ("%s: cannot tell whether pid %d is the worker"), node,
                      (int)pid);
      set_hint (r, _ ("run stem-diagnose as root, with /proc mounted"));
      break;
    }
}

static gboolean
check_pidfile (Diagnose *d, const char *id, GError **error)
{
  if (!need_nodes (d, id, error))
    return error == NULL || *error == NULL;
  for (guint i = 0; i < d->plans->plans->len; i++)
    check_one_pidfile (d, id, d->plans->plans->pdata[i]);
  return TRUE;
}

/* The unit whose journal has NODE's output when it has no log file: the
 * unit its running worker is in, or stem-worker@NODE.service when that is
 * enabled and STEM_WORKER_OPTS names no --logfile (the template's default
 * is the journal).  NULL otherwise. */
static char *
journal_unit (Diagnose *d, const StemNodePlan *plan)
{
  StemPidfile pidfile;
  if (stem_pidfile_load (plan->pidfile, &pidfile, NULL))
    {
      g_autofree char *unit = stem_proc_unit (pidfile.pid);
      if (unit != NULL && g_str_has_prefix (unit, "stem-"))
        return g_steal_pointer (&unit);
    }
  const char *opts = g_environ_getenv (d->envp, "STEM_WORKER_OPTS");
  if (opts != NULL && strstr (opts, "--logfile") != NULL)
    return NULL;
  g_autofree char *unit = g_strdup_printf ("stem-worker@%s.service", plan->node);
  g_autofree char *wants
      = g_build_filename (STEM_SYSCONFDIR, "systemd/system/multi-user.target.wants", unit, NULL);
  struct stat st;
  return lstat (wants, &st) == 0 ? g_steal_pointer (&unit) : NULL;
}

/* An existing log file, as the service user would open it. */
static void
check_log_file_writable (Diagnose *d, const char *id, const StemNodePlan *plan)
{
  int errsv;
  CheckResult *r;
  switch (user_access (d->user, plan->logfile, W_OK, &errsv))
    {
    case ACCESS_NO:
      r = add_result (d, id, LEVEL_ERROR, _ ("%s: %s is not writable by the service user %s: %s"),
                      plan->node, plan->logfile, d->user_name, g_strerror (errsv));
      set_hint (r, _ ("chown %s: %s, and let %s search every directory above it"), d->user_name,
                plan->logfile, d->user_name);
      break;
    case ACCESS_UNKNOWN:
      r = add_result (d, id, LEVEL_WARN, _ ("%s: whether %s may write %s cannot be told: %s"),
                      plan->node, d->user_name, plan->logfile, g_strerror (errsv));
      set_hint (r, _ ("run stem-diagnose as root, which checks as the service user"));
      break;
    case ACCESS_BY_MODE:
      add_result (d, id, LEVEL_OK,
                  _ ("%s: %s is writable by %s by the mode bits (ACLs unseen: as root "
                     "stem-diagnose checks as that user)"),
                  plan->node, plan->logfile, d->user_name);
      break;
    case ACCESS_YES:
    default:
      add_result (d, id, LEVEL_OK, _ ("%s: %s is writable by %s"), plan->node, plan->logfile,
                  d->user_name);
      break;
    }
}

static gboolean
check_log_file (Diagnose *d, const char *id, GError **error)
{
  if (!need_nodes (d, id, error))
    return error == NULL || *error == NULL;
  for (guint i = 0; i < d->plans->plans->len; i++)
    {
      StemNodePlan *plan = d->plans->plans->pdata[i];
      struct stat st;
      CheckResult *r;
      if (plan->logfile == NULL)
        add_result (d, id, LEVEL_OK, _ ("%s: logs to stem-multi's output"), plan->node);
      else if (lstat (plan->logfile, &st) < 0 && errno == ENOENT)
        {
          g_autofree char *unit = journal_unit (d, plan);
          if (unit != NULL)
            add_result (d, id, LEVEL_OK, _ ("%s: logs to the journal of %s (journalctl -u %s)"),
                        plan->node, unit, unit);
          else
            add_result (d, id, LEVEL_OK, _ ("%s: %s does not exist yet (created at start)"),
                        plan->node, plan->logfile);
        }
      else if (lstat (plan->logfile, &st) < 0)
        {
          r = add_result (d, id, LEVEL_WARN, _ ("%s: %s: %s"), plan->node, plan->logfile,
                          g_strerror (errno));
          set_hint (r, _ ("run stem-diagnose as root"));
        }
      else if (!S_ISREG (st.st_mode))
        {
          r = add_result (d, id, LEVEL_ERROR, _ ("%s: %s is not a regular file"), plan->node,
                          plan->logfile);
          set_hint (r, _ ("remove %s; stem-multi creates it (see stem-multi(1))"), plan->logfile);
        }
      else if (need_user (d, id))
        check_log_file_writable (d, id, plan);
    }
  return TRUE;
}

/* A kernel limit from /proc/sys, into *OUT (at most G_MAXUINT). */
static gboolean
read_sysctl (const char *path, guint *out, GError **error)
{
  g_autofree char *text = NULL;
  guint64 value;
  if (!g_file_get_contents (path, &text, NULL, error)
      || !g_ascii_string_to_unsigned (g_strstrip (text), 10, 0, G_MAXUINT, &value, error))
    return FALSE;
  *out = (guint)value;
  return TRUE;
}

/* Whether STEMD_OPTS asks for no log writers. */
static gboolean
opts_without_writers (const char *opts)
{
  g_auto (GStrv) words = opts != NULL ? g_strsplit_set (opts, " \t\n", -1) : NULL;
  for (guint i = 0; words != NULL && words[i] != NULL; i++)
    if (strcmp (words[i], "--no-log-writer") == 0)
      return TRUE;
  return FALSE;
}

/* Each process of log writers holds an inotify instance of the service
 * user, and the kernel allows a user only so many
 * (fs.inotify.max_user_instances, and the limit of the user namespace we
 * run in, when that is lower): past them, a writer notices a rotation only
 * when its worker next writes.  The nodes are counted as started by one
 * call, as the multi-node service and the SysV script start them. */
static gboolean
check_inotify_instances (Diagnose *d, const char *id, GError **error)
{
  if (!need_nodes (d, id, error))
    return error == NULL || *error == NULL;
  if (opts_without_writers (g_environ_getenv (d->envp, "STEMD_OPTS")))
    {
      add_result (d, id, LEVEL_OK, _ ("no log writers (--no-log-writer in STEMD_OPTS)"));
      return TRUE;
    }
  guint writers = 0;
  for (guint i = 0; i < d->plans->plans->len; i++)
    writers += ((StemNodePlan *)d->plans->plans->pdata[i])->logfile != NULL;
  guint needed = writers > 0 ? stem_writer_processes (writers) : 0;
  guint allowed, in_namespace;
  g_autoptr (GError) local_error = NULL;
  if (!read_sysctl ("/proc/sys/fs/inotify/max_user_instances", &allowed, &local_error))
    {
      CheckResult *r = add_result (d, id, LEVEL_WARN, _ ("cannot read the inotify limit: %s"),
                                   local_error->message);
      set_hint (r, _ ("run stem-diagnose where /proc/sys can be read"));
      return TRUE;
    }
  /* Inside a user namespace, its own limit may be the lower one. */
  if (read_sysctl ("/proc/sys/user/max_inotify_instances", &in_namespace, NULL))
    allowed = MIN (allowed, in_namespace);
  const char *user = d->user_name;
  if (needed < allowed)
    add_result (d, id, LEVEL_OK,
                ngettext ("the log writer of %u node takes %u of the %u inotify instances the "
                          "kernel allows %s",
                          "the log writers of %u nodes take %u of the %u inotify instances the "
                          "kernel allows %s",
                          writers),
                writers, needed, allowed, user);
  else
    {
      CheckResult *r = add_result (
          d, id, LEVEL_WARN,
          ngettext ("the log writer of %u node leaves none of the %u inotify instances the "
                    "kernel allows %s (it takes %u): past them, a rotation is noticed only when "
                    "the worker next writes",
                    "the log writers of %u nodes leave none of the %u inotify instances the "
                    "kernel allows %s (they take %u): past them, a rotation is noticed only "
                    "when the worker next writes",
                    writers),
          writers, allowed, user, needed);
      set_hint (r,
                _ ("raise fs.inotify.max_user_instances above %u (a file in /etc/sysctl.d/; "
                   "see stem-multi(1) LOG FILES)"),
                needed);
    }
  return TRUE;
}

static gboolean
check_run_tmpfs (Diagnose *d, const char *id, GError **error)
{
  struct statfs sf;
  if (statfs (STEM_RUNSTATEDIR, &sf) < 0)
    return stem_throw_errno (error, "%s", STEM_RUNSTATEDIR);
  if (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC)
    add_result (d, id, LEVEL_OK, _ ("%s is a tmpfs (pidfiles vanish at reboot)"), STEM_RUNSTATEDIR);
  else
    {
      CheckResult *r
          = add_result (d, id, LEVEL_WARN, _ ("%s is not a tmpfs: stale pidfiles survive a reboot"),
                        STEM_RUNSTATEDIR);
      set_hint (r,
                _ ("mount a tmpfs on %s (systemd does); stem-multi status still detects "
                   "reused PIDs (see stem-multi(1))"),
                STEM_RUNSTATEDIR);
    }
  return TRUE;
}

/* Routing ------------------------------------------------------------------- */

/* The value of option --LONG_NAME (-SHORT) in WORDS[*I], read as
 * stem-multi's parser reads it: --NAME[:SEL]=V, --NAME[:SEL] V,
 * -S[:SEL]=V, -S[:SEL] V, -SV.  *I moves past a value in the next word. */
static const char *
option_value (char **words, guint *i, const char *long_name, char short_name)
{
  const char *w = words[*i], *rest;
  if (g_str_has_prefix (w, "--") && g_str_has_prefix (w + 2, long_name))
    rest = w + 2 + strlen (long_name);
  else if (short_name != '\0' && w[0] == '-' && w[1] == short_name)
    rest = w + 2;
  else
    return NULL;
  gboolean is_short = rest == w + 2;
  if (*rest == ':')
    rest += strcspn (rest, "=");
  if (*rest == '=')
    return rest + 1;
  if (*rest == '\0' && words[*i + 1] != NULL)
    return words[++*i];
  if (is_short && *rest != '\0' && rest == w + 2)
    return rest;
  return NULL;
}

/* OPTS split at blanks, as the init script and the units split the
 * variable for stem-multi. */
static GStrv
opts_words (const char *opts)
{
  g_auto (GStrv) split = g_strsplit_set (opts != NULL ? opts : "", " \t\n", -1);
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; split[i] != NULL; i++)
    if (*split[i] != '\0')
      g_ptr_array_add (words, g_strdup (split[i]));
  g_ptr_array_add (words, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&words), FALSE);
}

/* The last value of --LONG_NAME in OPTS (the one stem-multi keeps), or
 * NULL. */
static char *
last_value_in_opts (const char *opts, const char *long_name)
{
  g_auto (GStrv) words = opts_words (opts);
  const char *last = NULL;
  for (guint i = 0; words[i] != NULL; i++)
    {
      const char *value = option_value (words, &i, long_name, '\0');
      if (value != NULL)
        last = value;
    }
  return g_strdup (last);
}

/* The names given with --LONG_NAME/-SHORT in OPTS (opts_words), each value
 * split at commas as stem-multi splits it. */
static GStrv
names_in_opts (const char *opts, const char *long_name, char short_name)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) words = opts_words (opts);
  for (guint i = 0; words[i] != NULL; i++)
    {
      const char *value = option_value (words, &i, long_name, short_name);
      if (value == NULL)
        continue;
      g_auto (GStrv) parts = g_strsplit (value, ",", -1);
      for (guint j = 0; parts[j] != NULL; j++)
        if (*parts[j] != '\0')
          g_ptr_array_add (names, g_strdup (parts[j]));
    }
  g_ptr_array_add (names, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

/* Whether every queue and broadcast channel that VARIABLE names is defined
 * in ROUTING; an error result for each that is not. */
static gboolean
check_routing_names (Diagnose *d, const char *id, StemRouting *routing, const char *path,
                     const char *variable)
{
  const char *opts = g_environ_getenv (d->envp, variable);
  g_auto (GStrv) queues = names_in_opts (opts, "queue", 'q');
  g_auto (GStrv) broadcasts = names_in_opts (opts, "broadcast", 'b');
  gboolean good = TRUE;
  for (guint i = 0; queues[i] != NULL; i++)
    {
      g_autoptr (GError) local = NULL;
      g_autofree char *real = stem_routing_resolve_queue (routing, queues[i], &local);
      if (real == NULL)
        {
          good = FALSE;
          CheckResult *r
              = add_result (d, id, LEVEL_ERROR, _ ("%s: %s: %s"), path, variable, local->message);
          set_hint (r, _ ("define queue “%s” in %s, or fix --queue in %s"), queues[i], path,
                    variable);
        }
    }
  for (guint i = 0; broadcasts[i] != NULL; i++)
    {
      g_autoptr (GError) local = NULL;
      if (!stem_routing_check_broadcast (routing, broadcasts[i], &local))
        {
          good = FALSE;
          CheckResult *r
              = add_result (d, id, LEVEL_ERROR, _ ("%s: %s: %s"), path, variable, local->message);
          set_hint (r, _ ("define broadcast channel “%s” in %s, or fix --broadcast in %s"),
                    broadcasts[i], path, variable);
        }
    }
  return good;
}

/* The queues and broadcast channels named in the options the services give
 * stem-multi: STEMD_OPTS (stem-worker.service, the init script) and
 * STEM_WORKER_OPTS (each stem-worker@NODE.service), each against the
 * routing file that stem-multi reads with them: the last --routing-config
 * among them, else --routing-config or STEM_ROUTING_CONFIG here. */
static gboolean
check_routing_file (Diagnose *d, const char *id, GError **error)
{
  static const char *const variables[] = { "STEMD_OPTS", "STEM_WORKER_OPTS" };
  const char *configured = stem_args_get (d->args, STEM_OPT_ROUTING_CONFIG);
  if (configured == NULL)
    configured = g_environ_getenv (d->envp, "STEM_ROUTING_CONFIG");
  char *paths[G_N_ELEMENTS (variables)];
  for (guint i = 0; i < G_N_ELEMENTS (variables); i++)
    {
      paths[i] = last_value_in_opts (g_environ_getenv (d->envp, variables[i]), "routing-config");
      if (paths[i] == NULL)
        paths[i] = g_strdup (configured);
    }
  gboolean any = FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (variables); i++)
    {
      const char *path = paths[i];
      gboolean seen = FALSE;
      for (guint j = 0; j < i; j++)
        seen = seen || g_strcmp0 (paths[j], path) == 0;
      if (path == NULL || *path == '\0' || seen)
        continue;
      any = TRUE;
      g_autoptr (GError) local = NULL;
      g_autoptr (StemRouting) routing = stem_routing_load (path, &local);
      if (routing == NULL)
        {
          CheckResult *r = add_result (d, id, LEVEL_ERROR, "%s", local->message);
          set_hint (r, _ ("fix the routing file, or STEM_ROUTING_CONFIG (see stem-multi(1))"));
          continue;
        }
      gboolean good = TRUE;
      for (guint j = i; j < G_N_ELEMENTS (variables); j++)
        if (g_strcmp0 (paths[j], path) == 0)
          good = check_routing_names (d, id, routing, path, variables[j]) && good;
      if (good)
        {
          g_auto (GStrv) defined = stem_routing_list_queues (routing);
          g_autofree char *list = g_strjoinv (", ", defined);
          add_result (d, id, LEVEL_OK, _ ("%s: parses (queues: %s; default %s)"), path, list,
                      stem_routing_get_default_queue (routing));
        }
    }
  for (guint i = 0; i < G_N_ELEMENTS (variables); i++)
    g_free (paths[i]);
  if (!any)
    add_result (d, id, LEVEL_OK, _ ("no routing file configured (queue names are not checked)"));
  return TRUE;
}

/* Service assets ------------------------------------------------------------ */

/* Units and init scripts are small; a larger file is no asset of ours. */
#define ASSET_MAX_SIZE (256 * 1024)

/* Whether PATH is absolute and names an executable regular file, as the
 * core's program lookup decides (access () alone says yes to a
 * directory). */
static gboolean
is_executable_file (const char *path)
{
  g_autofree char *found
      = g_path_is_absolute (path) ? stem_command_find_program (path, NULL, NULL) : NULL;
  return found != NULL;
}
static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (a, b);
}

/* NAME's unit as systemd reads it: the first of the administrator's
 * directories and UNITDIR that has the unit, then every drop-in of
 * NAME.d/ in those directories, in the order of their file names (one in
 * an earlier directory hides a later one of the same name).  Only UNITDIR
 * when the directory was GIVEN.  FALSE with ERROR when the unit is
 * nowhere (STEM_ERROR_NOT_FOUND) or cannot be read. */
static gboolean
unit_text (const char *unitdir, gboolean given, const char *name, char **out_path, char **out_text,
           GError **error)
{
  const char *const admin_dirs[] = { STEM_SYSCONFDIR "/systemd/system", "/run/systemd/system" };
  g_autoptr (GPtrArray) dirs = g_ptr_array_new ();
  for (guint i = 0; !given && i < G_N_ELEMENTS (admin_dirs); i++)
    g_ptr_array_add (dirs, (gpointer)admin_dirs[i]);
  g_ptr_array_add (dirs, (gpointer)unitdir);

  g_autoptr (GString) text = NULL;
  for (guint i = 0; i < dirs->len && text == NULL; i++)
    {
      g_autofree char *path = g_build_filename (dirs->pdata[i], name, NULL);
      g_autofree char *contents = NULL;
      g_autoptr (GError) local = NULL;
      if (stem_fd_read_file (path, ASSET_MAX_SIZE, &contents, NULL, &local))
        {
          text = g_string_new (contents);
          *out_path = g_steal_pointer (&path);
        }
      else if (i + 1 == dirs->len || !g_error_matches (local, STEM_ERROR, STEM_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
    }

  g_autoptr (GHashTable) dropins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; i < dirs->len; i++)
    {
      g_autofree char *dropin_dir = g_strdup_printf ("%s/%s.d", (char *)dirs->pdata[i], name);
      g_autoptr (GDir) dir = g_dir_open (dropin_dir, 0, NULL);
      const char *entry;
      while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
        if (g_str_has_suffix (entry, ".conf") && !g_hash_table_contains (dropins, entry))
          g_hash_table_insert (dropins, g_strdup (entry),
                               g_build_filename (dropin_dir, entry, NULL));
    }
  g_autoptr (GList) names = g_list_sort (g_hash_table_get_keys (dropins), compare_names);
  for (GList *l = names; l != NULL; l = l->next)
    {
      g_autofree char *contents = NULL;
      if (!stem_fd_read_file (g_hash_table_lookup (dropins, l->data), ASSET_MAX_SIZE, &contents,
                              NULL, error))
        return FALSE;
      g_string_append_c (text, '\n');
      g_string_append (text, contents);
    }
  *out_text = g_string_free (g_steal_pointer (&text), FALSE);
  return TRUE;
}

/* The program of each ExecStart= line, without systemd's prefixes (-@:+!),
 * in TEXT: a unit followed by its drop-ins (unit_text). */
static GStrv
unit_exec_programs (const char *text)
{
  g_autoptr (GPtrArray) programs = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      if (!g_str_has_prefix (line, "ExecStart="))
        continue;
      line += strlen ("ExecStart=");
      /* An empty assignment (in a drop-in) empties the list. */
      if (line[strspn (line, " \t")] == '\0')
        g_ptr_array_set_size (programs, 0);
      while (*line != '\0' && strchr ("-@:+! \t", *line) != NULL)
        line++;
      gsize len = strcspn (line, " \t\\");
      if (len > 0)
        g_ptr_array_add (programs, g_strndup (line, len));
    }
  g_ptr_array_add (programs, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&programs), FALSE);
}

static gboolean
check_units_installed (Diagnose *d, const char *id, GError **error)
{
  const char *given = stem_args_get (d->args, STEM_OPT_UNITDIR);
  const char *dir = given != NULL ? given : STEM_UNITDIR;
  for (guint i = 0; i < G_N_ELEMENTS (unit_names); i++)
    {
      g_autofree char *path = NULL;
      g_autofree char *text = NULL;
      g_autoptr (GError) local = NULL;
      CheckResult *r;
      if (!unit_text (dir, given != NULL, unit_names[i], &path, &text, &local))
        {
          g_autofree char *where = g_build_filename (dir, unit_names[i], NULL);
          if (g_error_matches (local, STEM_ERROR, STEM_ERROR_NOT_FOUND))
            r = add_result (d, id, LEVEL_WARN, _ ("%s: %s"), where, _ ("not installed"));
          else
            r = add_result (d, id, LEVEL_WARN, "%s", local->message);
          set_hint (r,
                    _ ("install the package's units (make install), then systemctl "
                       "daemon-reload; see %s(8)"),
                    unit_names[i]);
          continue;
        }
      g_auto (GStrv) programs = unit_exec_programs (text);
      if (programs[0] == NULL)
        {
          r = add_result (d, id, LEVEL_ERROR, _ ("%s: no ExecStart= line"), path);
          set_hint (r, _ ("reinstall the unit from the package; see %s(8)"), unit_names[i]);
          continue;
        }
      gboolean good = TRUE;
      for (guint j = 0; programs[j] != NULL; j++)
        if (!is_executable_file (programs[j]))
          {
            good = FALSE;
            r = add_result (d, id, LEVEL_ERROR,
                            _ ("%s: ExecStart= names %s, which is not an "
                               "executable file"),
                            path, programs[j]);
            set_hint (r,
                      _ ("reinstall the package, or fix the path in a drop-in (systemctl "
                         "edit %s); see %s(8)"),
                      unit_names[i], unit_names[i]);
          }
      if (good)
        add_result (d, id, LEVEL_OK, _ ("%s: installed, runs %s"), path, programs[0]);
    }
  return TRUE;
}

/* The stem-multi a SysV script runs: the value of its MULTI= line, which
 * the build writes with the configured bindir. */
static char *
init_script_program (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "MULTI="))
      {
        /* As sh reads it: MULTI="/usr/bin/stem-multi" is that path. */
        g_autofree char *value = g_strstrip (g_strdup (lines[i] + strlen ("MULTI=")));
        char *unquoted = g_shell_unquote (value, NULL);
        return unquoted != NULL ? unquoted : g_steal_pointer (&value);
      }
  return NULL;
}

static void
check_init_script_program (Diagnose *d, const char *id, const char *path, const char *text)
{
  CheckResult *r;
  g_autofree char *program = init_script_program (text);
  if (program == NULL)
    {
      r = add_result (d, id, LEVEL_ERROR, _ ("%s: names no stem-multi (no MULTI= line)"), path);
      set_hint (r, _ ("reinstall the script from the package; see stem-worker@.service(8)"));
    }
  else if (!is_executable_file (program))
    {
      r = add_result (d, id, LEVEL_ERROR, _ ("%s: runs %s, which is not an executable file"), path,
                      program);
      set_hint (r, _ ("reinstall the package, or fix MULTI= in %s; see stem-worker@.service(8)"),
                path);
    }
  else
    add_result (d, id, LEVEL_OK, _ ("%s: installed, runs %s"), path, program);
}

static gboolean
check_init_scripts (Diagnose *d, const char *id, GError **error)
{
  const char *dir = stem_args_get (d->args, STEM_OPT_INITDIR);
  if (dir == NULL)
    dir = STEM_INITDIR;
  for (guint i = 0; i < G_N_ELEMENTS (init_script_names); i++)
    {
      g_autofree char *path = g_build_filename (dir, init_script_names[i], NULL);
      g_autofree char *text = NULL;
      g_autoptr (GError) local = NULL;
      struct stat st;
      CheckResult *r;
      if (!stem_fd_read_file (path, ASSET_MAX_SIZE, &text, &st, &local)
          && g_error_matches (local, STEM_ERROR, STEM_ERROR_NOT_FOUND))
        {
          r = add_result (d, id, LEVEL_WARN, _ ("%s: %s"), path, _ ("not installed"));
          set_hint (r, _ ("install the package's SysV scripts (needed without systemd only); "
                          "see stem-worker@.service(8)"));
        }
      else if (g_error_matches (local, STEM_ERROR, STEM_ERROR_PERMISSION))
        {
          r = add_result (d, id, LEVEL_WARN, "%s", local->message);
          set_hint (r, _ ("run stem-diagnose as root"));
        }
      else if (local != NULL)
        {
          r = add_result (d, id, LEVEL_ERROR, "%s", local->message);
          set_hint (r, _ ("reinstall the script from the package; see stem-worker@.service(8)"));
        }
      else if ((st.st_mode & S_IXUSR) == 0)
        {
          r = add_result (d, id, LEVEL_ERROR, _ ("%s: not an executable file"), path);
          set_hint (r, _ ("chmod 0755 %s"), path);
        }
      else
        check_init_script_program (d, id, path, text);
    }
  return TRUE;
}

static gboolean
check_broker_url (Diagnose *d, const char *id, GError **error)
{
  const char *url = g_environ_getenv (d->envp, "STEM_BROKER_URL");
  if (url == NULL || *url == '\0')
    add_result (d, id, LEVEL_OK, _ ("STEM_BROKER_URL is not set (the worker's default applies)"));
  else
    add_result (d, id, LEVEL_OK, _ ("STEM_BROKER_URL=%s"), url);
  return TRUE;
}

static const struct
{
  const char *id;
  CheckFunc func;
} checks[] = {
  { "env-file-exists", check_env_file_exists },
  { "env-file-syntax", check_env_file_syntax },
  { "env-file-safety", check_env_file_safety },
  { "env-file-secrets", check_env_file_secrets },
  { "shell-systemd-agreement", check_shell_systemd_agreement },
  { "worker-command", check_worker_command },
  { "service-user", check_service_user },
  { "service-group", check_service_group },
  { "pid-dir", check_pid_dir },
  { "log-dir", check_log_dir },
  { "pidfile", check_pidfile },
  { "log-file", check_log_file },
  { "inotify-instances", check_inotify_instances },
  { "run-tmpfs", check_run_tmpfs },
  { "routing-file", check_routing_file },
  { "units-installed", check_units_installed },
  { "init-scripts", check_init_scripts },
  { "broker-url", check_broker_url },
};

/* Setup and output ---------------------------------------------------------- */

static void
load_env_files (Diagnose *d)
{
  g_auto (GStrv) given = stem_args_get_all_for_node (d->args, STEM_OPT_ENV_FILE, "", 0);
  gboolean explicit = given[0] != NULL;
  guint n = explicit ? g_strv_length (given) : G_N_ELEMENTS (default_env_files);
  d->envp = g_get_environ ();
  for (guint i = 0; i < n; i++)
    {
      EnvFile *f = g_new0 (EnvFile, 1);
      f->path = g_strdup (explicit ? given[i] : default_env_files[i]);
      f->given = explicit;
      g_auto (StemFd) fd = stem_envfile_open (f->path, FALSE, &f->st, &f->open_error);
      g_auto (GStrv) assignments = g_new0 (char *, 1);
      if (fd >= 0 && stem_envfile_read (fd, f->path, &assignments, &f->load_error))
        f->assignments = g_steal_pointer (&assignments);
      if (f->assignments != NULL)
        stem_envfile_apply ((const char *const *)f->assignments, &d->envp);
      g_ptr_array_add (d->env_files, f);
    }
}

/* The nodes as stem-multi plans them: from the command line, else
 * STEMD_NODES or STEM_WORKER_NODES of the environment with the env files
 * read above applied (the default ones too, which D->ARGS does not name).
 * None at all is no error here: a check says so. */
static void
plan_nodes (Diagnose *d)
{
  g_ptr_array_add (d->args->positionals, NULL);
  d->plans = stem_plan_build_paths (d->args, (const char *const *)d->args->positionals->pdata,
                                    (const char *const *)d->envp, &d->plan_error);
  g_ptr_array_remove_index (d->args->positionals, d->args->positionals->len - 1);
  if (g_error_matches (d->plan_error, STEM_ERROR, STEM_ERROR_NO_NODES))
    g_clear_error (&d->plan_error);
}

static CheckLevel
run_checks (Diagnose *d)
{
  for (guint i = 0; i < G_N_ELEMENTS (checks); i++)
    {
      g_autoptr (GError) error = NULL;
      if (!checks[i].func (d, checks[i].id, &error))
        {
          CheckResult *r = add_result (d, checks[i].id, LEVEL_ERROR, _ ("could not check: %s"),
                                       error->message);
          set_hint (r, _ ("fix the problem named above; see stem-diagnose(1)"));
        }
    }
  CheckLevel worst = LEVEL_OK;
  for (guint i = 0; i < d->results->len; i++)
    worst = MAX (worst, ((CheckResult *)d->results->pdata[i])->level);
  return worst;
}

static void
print_text (Diagnose *d)
{
  for (guint i = 0; i < d->results->len; i++)
    {
      CheckResult *r = d->results->pdata[i];
      g_autofree char *message = redact (d, r->message);
      g_print ("%s %s: %s\n", level_tags[r->level], r->check, message);
      if (r->level != LEVEL_OK && r->hint != NULL)
        {
          g_autofree char *hint = redact (d, r->hint);
          g_print (_ ("       hint: %s\n"), hint);
        }
    }
}

static void
print_json (Diagnose *d, CheckLevel worst)
{
  g_autoptr (StemJson) b = stem_json_new ();
  stem_json_begin_object (b);
  stem_json_member (b, "status");
  stem_json_string (b, level_keywords[worst]);
  stem_json_member (b, "checks");
  stem_json_begin_array (b);
  for (guint i = 0; i < d->results->len; i++)
    {
      CheckResult *r = d->results->pdata[i];
      g_autofree char *message = redact (d, r->message);
      g_autofree char *hint = redact (d, r->level != LEVEL_OK ? r->hint : NULL);
      stem_json_begin_object (b);
      stem_json_member (b, "check");
      stem_json_string (b, r->check);
      stem_json_member (b, "ok");
      stem_json_boolean (b, r->level == LEVEL_OK);
      stem_json_member (b, "level");
      stem_json_string (b, level_keywords[r->level]);
      stem_json_member (b, "message");
      stem_json_string (b, message);
      stem_json_member (b, "hint");
      if (hint != NULL)
        stem_json_string (b, hint);
      else
        stem_json_null (b);
      stem_json_end_object (b);
    }
  stem_json_end_array (b);
  stem_json_end_object (b);
  stem_json_print (b);
}

static void
usage (void)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_string_append_printf (out, _ ("Usage: %s [NODE…|N] [OPTION…]\n"), g_get_prgname ());
  g_string_append (out, _ ("\nCheck this host's Stem setup: env files, the worker command, the "
                           "service user,\npid and log directories, pidfiles, units and init "
                           "scripts.  Prints one line\nper check with a hint for each problem; "
                           "changes nothing.\n\nOptions:\n"));
  stem_options_print_help (options, out);
  g_string_append_printf (out, _ ("\nDefaults: --pidfile=%s --logfile=%s\n"),
                          stem_plan_default_pidfile (), stem_plan_default_logfile ());
  g_string_append_printf (out, _ ("Defaults: --unitdir=%s --initdir=%s\n"), STEM_UNITDIR,
                          STEM_INITDIR);
  g_string_append_printf (out, _ ("Without --env-file: %s and %s.\n"), default_env_files[0],
                          default_env_files[1]);
  g_string_append (out, _ ("\nWithout nodes, STEMD_NODES (or STEM_WORKER_NODES) names them.\n"
                           "Exit status: 0 no check failed, 1 a check failed, 2 usage error.\n"
                           "See stem-diagnose(1).\n"));
  fputs (out->str, stdout);
}

/* Bad node names on the command line are usage errors, like everywhere. */
static gboolean
validate_args (StemArgs *args, GError **error)
{
  if (args->trailing[0] != NULL)
    return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Unexpected argument “%s” after “--”"),
                            args->trailing[0]);
  /* "--user=" would check a user named "", "--unitdir=" the working
   * directory: a value left empty (an unset variable) is a mistake. */
  for (guint i = 0; i < args->values->len; i++)
    {
      const StemOptionValue *v = args->values->pdata[i];
      if (v->value != NULL && *v->value == '\0')
        return stem_throw_code (error, STEM_ERROR_USAGE, _ ("--%s: the value is empty"),
                                v->spec->long_name);
    }
  if (args->positionals->len == 0)
    return TRUE;
  g_ptr_array_add (args->positionals, NULL);
  g_auto (GStrv) nodes = NULL;
  gboolean ok
      = stem_nodes_expand ((const char *const *)args->positionals->pdata, "stem", &nodes, error);
  g_ptr_array_remove_index (args->positionals, args->positionals->len - 1);
  return ok;
}

int
main (int argc, char **argv)
{
  stem_program_init ("stem-diagnose");

  int exit_status;
  g_autoptr (StemArgs) args = stem_args_parse_main (options, argc, argv, usage, &exit_status);
  if (args == NULL)
    return exit_status;
  g_autoptr (GError) error = NULL;
  if (!validate_args (args, &error))
    {
      stem_error_print (error);
      return STEM_EXIT_USAGE;
    }

  Diagnose d = {
    .args = args,
    .json = stem_args_has (args, STEM_OPT_JSON),
    .env_files = g_ptr_array_new_with_free_func ((GDestroyNotify)env_file_free),
    .secrets = g_ptr_array_new_with_free_func (g_free),
    .results = g_ptr_array_new_with_free_func ((GDestroyNotify)check_result_free),
  };
  d.user_name = stem_args_get (args, STEM_OPT_USER);
  if (d.user_name == NULL)
    d.user_name = "stem";
  load_env_files (&d);
  /* As stem-multi would: the option, else the env files' STEMD_PID_FILE …
   * (a malformed one is the pidfile check's error, through planning). */
  g_autofree char *pidfile_template
      = stem_plan_template_from_env ((const char *const *)d.envp, FALSE, NULL, NULL);
  g_autofree char *logfile_template
      = stem_plan_template_from_env ((const char *const *)d.envp, TRUE, NULL, NULL);
  d.pidfile_template = stem_args_get (args, STEM_OPT_PIDFILE);
  if (d.pidfile_template == NULL)
    d.pidfile_template = pidfile_template != NULL ? pidfile_template : stem_plan_default_pidfile ();
  d.logfile_template = stem_args_get (args, STEM_OPT_LOGFILE);
  if (d.logfile_template == NULL)
    d.logfile_template = logfile_template != NULL ? logfile_template : stem_plan_default_logfile ();
  collect_secrets (&d);
  d.user = lookup_service_user (d.user_name);
  plan_nodes (&d);

  CheckLevel worst = run_checks (&d);
  if (d.json)
    print_json (&d, worst);
  else
    print_text (&d);

  g_ptr_array_unref (d.env_files);
  g_ptr_array_unref (d.secrets);
  g_ptr_array_unref (d.results);
  g_strfreev (d.envp);
  stem_user_free (d.user);
  stem_plan_set_free (d.plans);
  g_clear_error (&d.plan_error);
  return worst == LEVEL_ERROR ? STEM_EXIT_FAILURE : STEM_EXIT_OK;
}
