/* stem-health: is each node's worker alive, ours, and (optionally) still
 * writing its log?  Runs every few seconds on every host, so it does only
 * what the answer needs: no routing file, no command resolution, no locks,
 * and it never signals (beyond kill (pid, 0)), writes or removes anything. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stem-duration.h"
#include "stem-error.h"
#include "stem-fd.h"
#include "stem-i18n.h"
#include "stem-json.h"
#include "stem-options.h"
#include "stem-pidfile.h"
#include "stem-path.h"
#include "stem-plan.h"
#include "stem-process.h"

/* The options stem-health accepts; every id is one of StemOptionId's. */

static const StemOptionSpec options[] = {
  { "node", 0, N_ ("NAME"), STEM_OPTION_REPEATABLE, STEM_OPT_NODE,
    N_ ("Check node NAME (repeatable; like naming it)") },
  { "pidfile", 0, N_ ("TEMPLATE"), STEM_OPTION_PER_NODE, STEM_OPT_PIDFILE,
    N_ ("Pidfile of each node (see Defaults below)") },
  { "logfile", 0, N_ ("TEMPLATE"), STEM_OPTION_PER_NODE, STEM_OPT_LOGFILE,
    N_ ("Log file of each node (see Defaults below)") },
  { "uid", 0, N_ ("USER"), STEM_OPTION_PER_NODE, STEM_OPT_UID,
    N_ ("User the workers run as, as given to stem-multi start --uid") },
  { "max-log-age", 0, N_ ("DURATION"), 0, STEM_OPT_MAX_LOG_AGE,
    N_ ("Fail a node whose log is older than DURATION") },
  { "env-file", 0, N_ ("FILE"), STEM_OPTION_REPEATABLE, STEM_OPT_ENV_FILE,
    N_ ("Read STEMD_NODES from FILE (repeatable, later files win)") },
  { "prefix", 0, N_ ("PREFIX"), 0, STEM_OPT_PREFIX,
    N_ ("Name prefix when nodes are given as a count (default stem)") },
  { "format", 0, N_ ("text|json|openmetrics|nagios"), 0, STEM_OPT_FORMAT,
    N_ ("Output format (default text)") },
  { "json", 0, NULL, 0, STEM_OPT_JSON, N_ ("Print one JSON document (--format=json)") },
  { "warning", 'w', N_ ("DURATION"), 0, STEM_OPT_WARNING,
    N_ ("nagios: WARNING when a log is older than DURATION") },
  { "critical", 'c', N_ ("DURATION"), 0, STEM_OPT_CRITICAL,
    N_ ("nagios: CRITICAL when a log is older than DURATION (default --max-log-age)") },
  { "output", 0, N_ ("FILE"), 0, STEM_OPT_OUTPUT,
    N_ ("openmetrics: replace FILE with the metrics, atomically") },
  { "quiet", 0, NULL, 0, STEM_OPT_QUIET, N_ ("Print nothing; only the exit status tells") },
  { "version", 'V', NULL, 0, STEM_OPT_VERSION, N_ ("Print the version and exit") },
  { "help", 'h', NULL, 0, STEM_OPT_HELP, N_ ("Print this help and exit") },
  { NULL },
};

typedef enum
{
  FORMAT_TEXT,
  FORMAT_JSON,
  FORMAT_OPENMETRICS,
  FORMAT_NAGIOS,
} HealthFormat;

static const char *const format_names[] = {
  [FORMAT_TEXT] = "text",
  [FORMAT_JSON] = "json",
  [FORMAT_OPENMETRICS] = "openmetrics",
  [FORMAT_NAGIOS] = "nagios",
};

/* The Monitoring Plugins' exit codes, which --format=nagios uses. */
typedef enum
{
  NAGIOS_OK = 0,
  NAGIOS_WARNING = 1,
  NAGIOS_CRITICAL = 2,
  NAGIOS_UNKNOWN = 3,
} NagiosState;

/* One invocation: everything a probe needs, no globals. */
typedef struct
{
  StemArgs *args;
  HealthFormat format;
  gboolean quiet;
  gint64 max_log_age_ms; /* -1: readiness is not checked */
  gint64 warning_ms;     /* nagios: -1, or a log age that is a warning */
  const char *output;    /* openmetrics: the file to replace, or NULL */
  gint64 now_us;
  gboolean checked; /* the nodes were checked (what fails after is the output) */
} StemHealthOptions;

/* The values are the stable English keywords of the JSON "error" member. */
typedef enum
{
  HEALTH_OK,
  HEALTH_PIDFILE_MISSING,
  HEALTH_INVALID_PID,
  HEALTH_NOT_RUNNING,
  HEALTH_PID_REUSED,
  HEALTH_PERMISSION_DENIED,
  HEALTH_LOG_STALE,
} HealthError;

static const char *const error_keywords[] = {
  [HEALTH_OK] = "ok",
  [HEALTH_PIDFILE_MISSING] = "pidfile-missing",
  [HEALTH_INVALID_PID] = "invalid-pid",
  [HEALTH_NOT_RUNNING] = "process-not-running",
  [HEALTH_PID_REUSED] = "pid-reused",
  [HEALTH_PERMISSION_DENIED] = "permission-denied",
  [HEALTH_LOG_STALE] = "log-stale",
};

typedef struct
{
  const StemNodePlan *plan;
  HealthError error;
  char *message;          /* translated; NULL when healthy */
  pid_t pid;              /* 0: the pidfile gave none */
  gboolean ours;          /* the process is the worker by identity */
  gint64 start_us;        /* meaningful when OURS */
  gint64 log_age_ms;      /* -1: no log file seen */
  gint64 log_ahead_ms;    /* -1, or how far in the future the log is dated (no age then) */
  const char *log_source; /* "file" or "journal": where LOG_AGE_MS comes from */
} NodeHealth;

static void
node_health_clear (gpointer data)
{
  NodeHealth *health = data;
  g_free (health->message);
}

static void fail (NodeHealth *health, HealthError error, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

/* The first failure is the node's; later probes still fill in what they see. */
static void
fail (NodeHealth *health, HealthError error, const char *format, ...)
{
  if (health->error != HEALTH_OK)
    return;
  va_list args;
  va_start (args, format);
  health->message = g_strdup_vprintf (format, args);
  va_end (args);
  health->error = error;
}

/* For errors other than STEM_ERROR_NOT_FOUND, which each caller reads its own way. */
static HealthError
error_from_read (const GError *error)
{
  if (g_error_matches (error, STEM_ERROR, STEM_ERROR_PERMISSION))
    return HEALTH_PERMISSION_DENIED;
  return HEALTH_INVALID_PID;
}

/* Liveness: the pidfile names a live process that is ours (SPEC 3.5). */
static void
probe_liveness (const StemHealthOptions *opts, NodeHealth *health)
{
  const char *pidfile = health->plan->pidfile;
  g_autoptr (GError) error = NULL;
  StemPidfile loaded;
  if (!stem_pidfile_load (pidfile, &loaded, &error))
    {
      if (g_error_matches (error, STEM_ERROR, STEM_ERROR_NOT_FOUND))
        fail (health, HEALTH_PIDFILE_MISSING, _ ("no pidfile “%s” (not started?)"), pidfile);
      else if (g_error_matches (error, STEM_ERROR, STEM_ERROR_LEFTOVER_PIDFILE))
        fail (health, HEALTH_NOT_RUNNING, "%s", error->message);
      else
        fail (health, error_from_read (error), "%s", error->message);
      return;
    }

  pid_t pid = health->pid = loaded.pid;
  StemProcClaim claim = stem_plan_claim (health->plan, &loaded);
  StemProcState state = stem_proc_probe (pid, &claim, &health->start_us);
  if ((state == STEM_PROC_RUNNING || state == STEM_PROC_NO_PERMISSION)
      && !stem_pidfile_check_owner (pidfile, &loaded, &error))
    {
      if (g_error_matches (error, STEM_ERROR, STEM_ERROR_NOT_FOUND))
        fail (health, HEALTH_NOT_RUNNING, _ ("pid %d is not running"), (int)pid);
      else
        fail (health, error_from_read (error), "%s", error->message);
      return;
    }
  switch (state)
    {
    case STEM_PROC_RUNNING:
    /* The kernel will not let this user signal it, but /proc says it is
     * the worker, and a probe never signals: monitoring runs as its own
     * user (nagios, prometheus, root without capabilities). */
    case STEM_PROC_NO_PERMISSION:
      health->ours = TRUE;
      break;
    case STEM_PROC_DEAD:
      fail (health, HEALTH_NOT_RUNNING, _ ("pid %d is not running"), (int)pid);
      break;
    case STEM_PROC_REUSED:
      if (health->start_us > loaded.mtime_us)
        fail (health, HEALTH_PID_REUSED,
              _ ("pid %d now belongs to another process (started after “%s” was written)"),
              (int)pid, pidfile);
      else
        fail (health, HEALTH_PID_REUSED,
              _ ("pid %d is a thread (of the kernel or of another process), not the worker"),
              (int)pid);
      break;
    case STEM_PROC_UNKNOWN:
    default:
      fail (health, HEALTH_PERMISSION_DENIED,
            _ ("cannot tell whether pid %d is the worker (is /proc readable?)"), (int)pid);
      break;
    }
}

/* The age of the last entry UNIT has in the journal, from journalctl: only
 * asked for a node without a log file whose worker runs in a unit of ours.
 * FALSE with a message when the journal cannot say (no entry readable). */
static gboolean
journal_age (const char *unit, gint64 now_us, gint64 *out_age_us, char **out_problem)
{
  const char *argv[] = { "journalctl",          "--unit",     unit,      "--lines=1",
                         "--output=short-unix", "--no-pager", "--quiet", NULL };
  g_autofree char *out = NULL;
  int wait_status;
  if (!g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, &wait_status, NULL))
    {
      *out_problem = g_strdup_printf (_ ("it logs to the journal of %s, and journalctl cannot be "
                                         "run"),
                                      unit);
      return FALSE;
    }
  /* "1796481652.602305 host identifier[pid]: message" */
  char *end = NULL;
  double seconds = out != NULL ? g_ascii_strtod (out, &end) : 0;
  if (end == NULL || end == out || seconds <= 0)
    {
      *out_problem = g_strdup_printf (_ ("no journal entry of %s can be read (as root, or in the "
                                         "systemd-journal group, it could)"),
                                      unit);
      return FALSE;
    }
  *out_age_us = now_us - (gint64)(seconds * G_USEC_PER_SEC);
  return TRUE;
}

/* Where a node without a log file logs: its unit's journal, when it runs in
 * a unit of ours.  *OUT_AGE_US is that journal's age; FALSE (with a
 * message in HEALTH when readiness is checked) when it cannot be known. */
static gboolean
probe_journal (const StemHealthOptions *opts, NodeHealth *health, gint64 *out_age_us)
{
  g_autofree char *unit = health->ours ? stem_proc_unit (health->pid) : NULL;
  g_autofree char *problem = NULL;
  if (unit != NULL && g_str_has_prefix (unit, "stem-")
      && journal_age (unit, opts->now_us, out_age_us, &problem))
    {
      health->log_source = "journal";
      return TRUE;
    }
  if (opts->max_log_age_ms < 0)
    return FALSE;
  if (problem != NULL)
    fail (health, HEALTH_LOG_STALE, "%s", problem);
  else if (health->plan->logfile == NULL)
    fail (health, HEALTH_LOG_STALE,
          _ ("it logs to the output of whatever started it (--logfile=-), not to a unit's "
             "journal: its age cannot be known"));
  else
    fail (health, HEALTH_LOG_STALE, _ ("log file “%s” does not exist"), health->plan->logfile);
  return FALSE;
}

/* The status of LOGFILE, reached as every log is (stem-path.h): no link
 * that another user could have made is followed, the log itself included,
 * so that its age is never another file's.  0 or an errno (EINVAL: not a
 * regular file). */
static int
stat_log (const char *logfile, struct stat *st)
{
  char name[NAME_MAX + 1];
  g_auto (StemFd) dfd = stem_path_open_parent (logfile, NULL, name, NULL);
  if (dfd < 0)
    return errno;
  if (fstatat (dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno;
  return S_ISREG (st->st_mode) ? 0 : EINVAL;
}

/* A log's age AGE_MS, put beside a limit: exact below a minute (1500ms
 * is over a limit of 1s, and "1s" would not say so), as an uptime above. */
static char *
log_age_text (gint64 age_ms)
{
  if (age_ms < 60 * 1000)
    return stem_duration_format (age_ms);
  return stem_uptime_format (age_ms / 1000);
}

/* Readiness: the worker's heartbeat is its log, or its unit's journal for
 * a node without a log file.  The age is reported whenever it is known;
 * only --max-log-age makes it a failure. */
static void
probe_log (const StemHealthOptions *opts, NodeHealth *health)
{
  const char *logfile = health->plan->logfile;
  struct stat st;
  int errsv = logfile == NULL ? ENOENT : stat_log (logfile, &st);
  gint64 age_us;
  if (errsv == ENOENT)
    {
      if (!probe_journal (opts, health, &age_us))
        return;
    }
  else if (errsv != 0)
    {
      if (opts->max_log_age_ms < 0)
        return;
      if (errsv == EACCES)
        fail (health, HEALTH_PERMISSION_DENIED, _ ("cannot check log file “%s”: %s"), logfile,
              g_strerror (errsv));
      else if (errsv == EINVAL)
        fail (health, HEALTH_LOG_STALE, _ ("log file “%s” is not a regular file"), logfile);
      else
        fail (health, HEALTH_LOG_STALE, _ ("cannot check log file “%s”: %s"), logfile,
              g_strerror (errsv));
      return;
    }
  else
    {
      gint64 mtime_us = (gint64)st.st_mtim.tv_sec * G_USEC_PER_SEC + st.st_mtim.tv_nsec / 1000;
      age_us = opts->now_us - mtime_us;
      health->log_source = "file";
    }
  gboolean from_file = logfile != NULL && strcmp (health->log_source, "file") == 0;
  /* Dated in the future (a wall clock stepped back since, or a date set by
   * hand): how long ago it was written cannot be known, and calling it
   * fresh would hide a worker silent for as long as the clock went back.
   * The worker's next line dates it right again. */
  if (age_us < -STEM_PIDFILE_FUTURE_TOLERANCE_US)
    {
      health->log_source = NULL;
      health->log_ahead_ms = -age_us / 1000;
      if (opts->max_log_age_ms < 0)
        return;
      g_autofree char *ahead = log_age_text (health->log_ahead_ms);
      if (from_file)
        fail (health, HEALTH_LOG_STALE,
              _ ("log file “%s” is dated %s in the future (was the clock set back?): its age "
                 "cannot be known"),
              logfile, ahead);
      else
        fail (health, HEALTH_LOG_STALE,
              _ ("the journal's last entry is dated %s in the future (was the clock set back?): "
                 "its age cannot be known"),
              ahead);
      return;
    }
  health->log_age_ms = MAX (0, age_us) / 1000;
  if (opts->max_log_age_ms >= 0 && health->log_age_ms > opts->max_log_age_ms)
    {
      g_autofree char *age = log_age_text (health->log_age_ms);
      g_autofree char *limit = stem_duration_format (opts->max_log_age_ms);
      if (from_file)
        fail (health, HEALTH_LOG_STALE, _ ("log file “%s” was last written %s ago (limit %s)"),
              logfile, age, limit);
      else
        fail (health, HEALTH_LOG_STALE, _ ("the journal's last entry is %s old (limit %s)"), age,
              limit);
    }
}

typedef void (*HealthProbeFunc) (const StemHealthOptions *opts, NodeHealth *health);

static const struct
{
  const char *name;
  HealthProbeFunc func;
} probes[] = {
  { "liveness", probe_liveness },
  { "log-age", probe_log },
};

/* Upstream's "queues": what the worker was started with, when its
 * environment is readable (same user, or root).  NULL when it is not. */
static GStrv
read_queues (pid_t pid, gint64 start_us)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/environ", (int)pid);
  g_autofree char *env = NULL;
  gsize length;
  if (!g_file_get_contents (path, &env, &length, NULL))
    return NULL;
  /* The PID may have been reused since it was probed.  Start times are
   * clock ticks (≥ 1 ms) converted with a boot time that jitters by a few µs
   * from one call to the next, hence the tolerance. */
  gint64 again_us;
  if (!stem_proc_start_time (pid, &again_us, NULL) || ABS (again_us - start_us) >= 1000)
    return NULL;

  static const char name[] = "STEM_WORKER_QUEUES=";
  for (gsize i = 0; i < length; i += strlen (env + i) + 1)
    if (g_str_has_prefix (env + i, name))
      {
        const char *value = env + i + strlen (name);
        return *value == '\0' ? g_new0 (char *, 1) : g_strsplit (value, ",", -1);
      }
  return g_new0 (char *, 1);
}

static gint64
uptime_s (const StemHealthOptions *opts, const NodeHealth *health)
{
  return MAX (0, (opts->now_us - health->start_us) / G_USEC_PER_SEC);
}

static void
print_human (const StemHealthOptions *opts, const NodeHealth *health)
{
  const char *node = health->plan->node;
  if (health->error != HEALTH_OK)
    {
      g_printerr (_ ("%s: %s: error: %s: %s\n"), g_get_prgname (), node,
                  error_keywords[health->error], health->message);
      return;
    }
  g_autofree char *up = stem_uptime_format (uptime_s (opts, health));
  if (health->log_age_ms >= 0 && strcmp (health->log_source, "journal") == 0)
    {
      g_autofree char *age = stem_uptime_format (health->log_age_ms / 1000);
      g_print (_ ("%s: ok (pid %d, up %s, journal %s old)\n"), node, (int)health->pid, up, age);
    }
  else if (health->log_age_ms >= 0)
    {
      g_autofree char *age = stem_uptime_format (health->log_age_ms / 1000);
      g_print (_ ("%s: ok (pid %d, up %s, log %s old)\n"), node, (int)health->pid, up, age);
    }
  else
    g_print (_ ("%s: ok (pid %d, up %s)\n"), node, (int)health->pid, up);
}

static void
add_string (StemJson *b, const char *name, const char *value)
{
  stem_json_member (b, name);
  stem_json_string (b, value);
}

static void
add_int (StemJson *b, const char *name, gint64 value)
{
  stem_json_member (b, name);
  stem_json_int (b, value);
}

static void
build_node_json (const StemHealthOptions *opts, const NodeHealth *health, StemJson *b)
{
  stem_json_begin_object (b);
  add_string (b, "status", health->error == HEALTH_OK ? "ok" : "error");
  add_string (b, "node", health->plan->node);
  add_string (b, "pidfile", health->plan->pidfile);
  if (health->plan->logfile != NULL)
    add_string (b, "logfile", health->plan->logfile);
  if (health->pid > 0)
    add_int (b, "pid", health->pid);
  if (health->ours)
    {
      g_autoptr (GDateTime) start
          = g_date_time_new_from_unix_utc (health->start_us / G_USEC_PER_SEC);
      g_autofree char *since = g_date_time_format (start, "%Y-%m-%dT%H:%M:%SZ");
      add_string (b, "since", since);
      add_int (b, "uptimeSeconds", uptime_s (opts, health));
    }
  if (health->log_age_ms >= 0)
    {
      add_int (b, "logAgeSeconds", health->log_age_ms / 1000);
      add_string (b, "logSource", health->log_source);
    }
  g_auto (GStrv) queues = health->ours ? read_queues (health->pid, health->start_us) : NULL;
  if (queues != NULL)
    {
      stem_json_member (b, "queues");
      stem_json_begin_array (b);
      for (guint i = 0; queues[i] != NULL; i++)
        stem_json_string (b, queues[i]);
      stem_json_end_array (b);
    }
  if (health->error != HEALTH_OK)
    {
      add_string (b, "error", error_keywords[health->error]);
      add_string (b, "message", health->message);
    }
  stem_json_end_object (b);
}

/* One node: its object.  Several: {"status": …, "nodes": [ … ]}. */
static void
print_json (const StemHealthOptions *opts, GArray *results, gboolean all_ok)
{
  g_autoptr (StemJson) b = stem_json_new ();
  if (results->len == 1)
    build_node_json (opts, &g_array_index (results, NodeHealth, 0), b);
  else
    {
      stem_json_begin_object (b);
      add_string (b, "status", all_ok ? "ok" : "error");
      stem_json_member (b, "nodes");
      stem_json_begin_array (b);
      for (guint i = 0; i < results->len; i++)
        build_node_json (opts, &g_array_index (results, NodeHealth, i), b);
      stem_json_end_array (b);
      stem_json_end_object (b);
    }
  stem_json_print (b);
}

/* The OpenMetrics text format, ended by "# EOF" as it requires; to
 * Prometheus' older text format (node_exporter's textfile collector) that
 * line is a comment.  How many times a node was restarted is known only to
 * whatever restarts it (systemd, supervise), so it is not among them. */
static void
format_openmetrics (const StemHealthOptions *opts, GArray *results, GString *out)
{
  static const struct
  {
    const char *name;
    const char *help;
  } metrics[] = {
    { "stem_worker_up", "Whether the node's worker is running and is ours (1) or not (0)." },
    { "stem_worker_healthy", "Whether every check of the node passed (1) or not (0)." },
    { "stem_worker_start_time_seconds",
      "When the node's worker process started, in seconds since the epoch." },
    { "stem_worker_log_age_seconds",
      "Seconds since the node's log (its file, or its unit's journal) was last written." },
  };
  for (guint m = 0; m < G_N_ELEMENTS (metrics); m++)
    {
      g_string_append_printf (out, "# HELP %s %s\n# TYPE %s gauge\n", metrics[m].name,
                              metrics[m].help, metrics[m].name);
      for (guint i = 0; i < results->len; i++)
        {
          const NodeHealth *h = &g_array_index (results, NodeHealth, i);
          /* Node names need no escaping: [A-Za-z0-9._-] only. */
          const char *node = h->plan->node;
          /* Up is liveness alone: a log this user cannot read changes
           * whether the node is healthy, not whether its worker runs. */
          if (m == 0)
            g_string_append_printf (out, "%s{node=\"%s\"} %d\n", metrics[m].name, node, h->ours);
          else if (m == 1)
            g_string_append_printf (out, "%s{node=\"%s\"} %d\n", metrics[m].name, node,
                                    h->error == HEALTH_OK);
          else if (m == 2 && h->ours)
            g_string_append_printf (out, "%s{node=\"%s\"} %" G_GINT64_FORMAT ".%06d\n",
                                    metrics[m].name, node, h->start_us / G_USEC_PER_SEC,
                                    (int)(h->start_us % G_USEC_PER_SEC));
          else if (m == 3 && h->log_age_ms >= 0)
            g_string_append_printf (out, "%s{node=\"%s\"} %" G_GINT64_FORMAT "\n", metrics[m].name,
                                    node, h->log_age_ms / 1000);
        }
    }
  g_string_append (out, "# EOF\n");
}

/* Replaces PATH with TEXT: a new file beside it, then rename(), so a reader
 * (node_exporter) sees the old metrics or the new ones, never half. */
static gboolean
write_atomically (const char *path, const char *text, GError **error)
{
  char base[NAME_MAX + 1];
  /* Root writes into node_exporter's directory, whose parent another user
   * may own: reached without following an untrusted link. */
  g_auto (StemFd) dfd = stem_fd_open_parent (path, NULL, base, error);
  if (dfd < 0)
    {
      g_prefix_error (error, _ ("Cannot write “%s”: "), path);
      return FALSE;
    }
  g_autofree char *tmp_name = g_strdup_printf (".%s.%d.tmp", base, (int)getpid ());
  /* O_EXCL | O_NOFOLLOW: nothing planted under the temporary name is
   * written through, and rename() replaces a link at PATH, never follows it. */
  g_auto (StemFd) fd
      = openat (dfd, tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  gsize len = strlen (text);
  if (fd >= 0 && fchmod (fd, 0644) == 0 && write (fd, text, len) == (ssize_t)len && fsync (fd) == 0
      && renameat (dfd, tmp_name, dfd, base) == 0)
    return TRUE;
  int errsv = errno;
  if (fd >= 0)
    unlinkat (dfd, tmp_name, 0);
  errno = errsv;
  return stem_throw_errno (error, _ ("Cannot write “%s”"), path);
}

static NagiosState
nagios_state (const StemHealthOptions *opts, const NodeHealth *h)
{
  if (h->error == HEALTH_PERMISSION_DENIED)
    return NAGIOS_UNKNOWN;
  if (h->error != HEALTH_OK)
    return NAGIOS_CRITICAL;
  if (opts->warning_ms >= 0 && h->log_age_ms >= 0 && h->log_age_ms > opts->warning_ms)
    return NAGIOS_WARNING;
  /* Its age cannot be known: not calling it fresh (probe_log). */
  if (opts->warning_ms >= 0 && h->log_ahead_ms >= 0)
    return NAGIOS_WARNING;
  return NAGIOS_OK;
}

/* Worst first: a node that is down outweighs one nobody can see, which
 * outweighs a slow heartbeat. */
static int
nagios_rank (NagiosState state)
{
  static const int ranks[]
      = { [NAGIOS_OK] = 0, [NAGIOS_WARNING] = 1, [NAGIOS_UNKNOWN] = 2, [NAGIOS_CRITICAL] = 3 };
  return ranks[state];
}

static const char *const nagios_names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

/* A value or a threshold as perfdata has it, in seconds: 500ms is 0.5
 * (not 0, which graphs would draw, and which a threshold of 0.4 would not
 * call over); nothing when not given. */
static char *
nagios_seconds (gint64 ms)
{
  if (ms < 0)
    return g_strdup ("");
  if (ms % 1000 == 0)
    return g_strdup_printf ("%" G_GINT64_FORMAT, ms / 1000);
  char *text = g_strdup_printf ("%" G_GINT64_FORMAT ".%03d", ms / 1000, (int)(ms % 1000));
  for (gsize n = strlen (text); text[n - 1] == '0'; n--)
    text[n - 1] = '\0';
  return text;
}

/* TEXT made fit for the plugin's status line: a control character (a
 * newline in a path would end the line, and the rest would be taken for
 * long output) becomes “?”, as ls shows it, and “|”, which would start the
 * perfdata early, “/”.  Invalid UTF-8 is made valid first, so that C1
 * controls are seen for what they are. */
static char *
nagios_text (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  GString *out = g_string_sized_new (strlen (valid));
  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (g_unichar_iscntrl (c))
        g_string_append_c (out, '?');
      else if (c == '|')
        g_string_append_c (out, '/');
      else
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

/* The Monitoring Plugins' one line: "STEM-HEALTH STATE - text | perfdata".
 * Returns the state, which is the exit status. */
static NagiosState
format_nagios (const StemHealthOptions *opts, GArray *results, GString *out)
{
  NagiosState worst = NAGIOS_OK;
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GString) fine = g_string_new (NULL);
  g_autoptr (GString) perf = g_string_new (NULL);
  g_autofree char *warn = nagios_seconds (opts->warning_ms);
  g_autofree char *crit = nagios_seconds (opts->max_log_age_ms);
  for (guint i = 0; i < results->len; i++)
    {
      const NodeHealth *h = &g_array_index (results, NodeHealth, i);
      NagiosState state = nagios_state (opts, h);
      if (nagios_rank (state) > nagios_rank (worst))
        worst = state;
      /* Problems first: the start of the line is what a pager shows. */
      GString *part = state == NAGIOS_OK ? fine : text;
      if (part->len > 0)
        g_string_append (part, ", ");
      if (h->error != HEALTH_OK)
        g_string_append_printf (part, "%s %s (%s)", h->plan->node, error_keywords[h->error],
                                h->message);
      else if (state == NAGIOS_WARNING && h->log_ahead_ms >= 0)
        {
          g_autofree char *ahead = log_age_text (h->log_ahead_ms);
          g_string_append_printf (part, _ ("%s log dated %s in the future"), h->plan->node, ahead);
        }
      else if (state == NAGIOS_WARNING)
        {
          g_autofree char *age = log_age_text (h->log_age_ms);
          g_string_append_printf (part, _ ("%s log %s old"), h->plan->node, age);
        }
      else
        g_string_append_printf (part, _ ("%s running (pid %d)"), h->plan->node, (int)h->pid);
      g_string_append_printf (perf, "%s%s_up=%d;;;0;1", perf->len > 0 ? " " : "", h->plan->node,
                              h->ours);
      if (h->log_age_ms >= 0)
        {
          g_autofree char *age = nagios_seconds (h->log_age_ms);
          g_string_append_printf (perf, " %s_log_age=%ss;%s;%s;0;", h->plan->node, age, warn, crit);
        }
    }
  if (text->len > 0 && fine->len > 0)
    g_string_append (text, ", ");
  g_string_append (text, fine->str);
  g_autofree char *line = nagios_text (text->str);
  g_string_append_printf (out, "STEM-HEALTH %s - %s | %s\n", nagios_names[worst], line, perf->str);
  return worst;
}

/* Prints RESULTS in the chosen format; returns the exit status. */
static int
report (const StemHealthOptions *opts, GArray *results, gboolean all_ok, GError **error)
{
  g_autoptr (GString) out = g_string_new (NULL);
  int status = all_ok ? STEM_EXIT_OK : STEM_EXIT_FAILURE;
  switch (opts->format)
    {
    case FORMAT_JSON:
      if (!opts->quiet)
        print_json (opts, results, all_ok);
      return status;
    case FORMAT_NAGIOS:
      status = format_nagios (opts, results, out);
      break;
    case FORMAT_OPENMETRICS:
      /* The nodes' state is in the metrics: making them is the success. */
      status = STEM_EXIT_OK;
      format_openmetrics (opts, results, out);
      if (opts->output != NULL)
        return write_atomically (opts->output, out->str, error) ? status : -1;
      break;
    case FORMAT_TEXT:
    default:
      if (!opts->quiet)
        for (guint i = 0; i < results->len; i++)
          print_human (opts, &g_array_index (results, NodeHealth, i));
      return status;
    }
  if (!opts->quiet)
    fputs (out->str, stdout);
  return status;
}

static int
check_nodes (StemHealthOptions *opts, const char *const *words, GError **error)
{
  g_autoptr (StemPlanSet) set = stem_plan_build_paths (opts->args, words, NULL, error);
  if (set == NULL)
    return -1;
  /* A misspelt --uid would only show after a clock step, as pid-reused. */
  for (guint i = 0; i < set->plans->len; i++)
    {
      const char *uid = ((StemNodePlan *)set->plans->pdata[i])->uid_option;
      uid_t ignored;
      if (uid != NULL && !stem_user_lookup_uid (uid, &ignored))
        {
          stem_throw_code (error, STEM_ERROR_USAGE, _ ("--uid: no such user “%s”"), uid);
          return -1;
        }
    }
  g_autoptr (GArray) results
      = g_array_sized_new (FALSE, TRUE, sizeof (NodeHealth), set->plans->len);
  g_array_set_clear_func (results, node_health_clear);
  gboolean all_ok = TRUE;
  for (guint i = 0; i < set->plans->len; i++)
    {
      NodeHealth health = { .plan = set->plans->pdata[i], .log_age_ms = -1, .log_ahead_ms = -1 };
      for (guint p = 0; p < G_N_ELEMENTS (probes); p++)
        probes[p].func (opts, &health);
      all_ok = all_ok && health.error == HEALTH_OK;
      g_array_append_val (results, health);
    }

  opts->checked = TRUE;
  return report (opts, results, all_ok, error);
}

static void
usage (void)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_string_append_printf (out, _ ("Usage: %s [NODE…|N] [OPTION…]\n"), g_get_prgname ());
  g_string_append (out, _ ("\nCheck that Stem workers are alive and ours (and, with --max-log-age, "
                           "still\nwriting their logs).  Never signals; writes no file but the one "
                           "--output names.\n\nOptions:\n"));
  stem_options_print_help (options, out);
  g_string_append_printf (out, _ ("\nDefaults: --pidfile=%s --logfile=%s\n"),
                          stem_plan_default_pidfile (), stem_plan_default_logfile ());
  g_string_append (out, _ ("\nWithout nodes, STEMD_NODES (or STEM_WORKER_NODES) from the "
                           "environment or an\n--env-file names them.  Templates expand as for "
                           "stem-multi.\nExit status: 0 all healthy, 1 any unhealthy, 2 usage or "
                           "configuration error.\nSee stem-health(1).\n"));
  fputs (out->str, stdout);
}

/* The last of --format and --json decides (--json is --format=json), as
 * for any option given more than once: a wrapper may append its own. */
static gboolean
parse_format (StemHealthOptions *opts, GError **error)
{
  const char *text = NULL;
  for (guint i = 0; i < opts->args->values->len; i++)
    {
      const StemOptionValue *value = opts->args->values->pdata[i];
      if (value->spec->id == STEM_OPT_FORMAT)
        text = value->value;
      else if (value->spec->id == STEM_OPT_JSON)
        text = format_names[FORMAT_JSON];
    }
  opts->format = FORMAT_TEXT;
  if (text == NULL)
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (format_names); i++)
    if (strcmp (text, format_names[i]) == 0)
      {
        opts->format = i;
        return TRUE;
      }
  return stem_throw_code (error, STEM_ERROR_USAGE,
                          _ ("Invalid --format “%s” (text, json, openmetrics or nagios)"), text);
}

/* --warning and --critical are nagios's, --output openmetrics's. */
static gboolean
check_format_options (StemHealthOptions *opts, GError **error)
{
  static const struct
  {
    StemOptionId id;
    const char *name;
    HealthFormat format;
  } owned[] = {
    { STEM_OPT_WARNING, "--warning", FORMAT_NAGIOS },
    { STEM_OPT_CRITICAL, "--critical", FORMAT_NAGIOS },
    { STEM_OPT_OUTPUT, "--output", FORMAT_OPENMETRICS },
  };
  for (guint i = 0; i < G_N_ELEMENTS (owned); i++)
    if (stem_args_has (opts->args, owned[i].id) && opts->format != owned[i].format)
      return stem_throw_code (error, STEM_ERROR_USAGE, _ ("%s needs --format=%s"), owned[i].name,
                              format_names[owned[i].format]);
  opts->output = stem_args_get (opts->args, STEM_OPT_OUTPUT);
  /* "DIR/" names no file: its temporary file would be "DIR/..PID.tmp". */
  if (opts->output != NULL && (*opts->output == '\0' || g_str_has_suffix (opts->output, "/")))
    return stem_throw_code (error, STEM_ERROR_USAGE, _ ("--output needs a file name"));
  return TRUE;
}

static gboolean
parse_options (StemHealthOptions *opts, GError **error)
{
  opts->quiet = stem_args_has (opts->args, STEM_OPT_QUIET);
  if (!parse_format (opts, error) || !check_format_options (opts, error))
    return FALSE;
  /* -1: not given. */
  gint64 critical_ms = -1;
  opts->max_log_age_ms = opts->warning_ms = -1;
  if (!stem_args_get_duration (opts->args, STEM_OPT_MAX_LOG_AGE, &opts->max_log_age_ms, error)
      || !stem_args_get_duration (opts->args, STEM_OPT_WARNING, &opts->warning_ms, error)
      || !stem_args_get_duration (opts->args, STEM_OPT_CRITICAL, &critical_ms, error))
    return FALSE;
  /* For nagios, --critical is the log age that fails a node, as
   * --max-log-age is elsewhere. */
  if (critical_ms >= 0)
    opts->max_log_age_ms = critical_ms;
  /* A log would be critical before it is a warning. */
  if (opts->warning_ms >= 0 && opts->max_log_age_ms >= 0 && opts->warning_ms > opts->max_log_age_ms)
    return stem_throw_code (error, STEM_ERROR_USAGE,
                            _ ("--warning (%s) is longer than --critical (%s)"),
                            stem_args_get (opts->args, STEM_OPT_WARNING),
                            critical_ms >= 0 ? stem_args_get (opts->args, STEM_OPT_CRITICAL)
                                             : stem_args_get (opts->args, STEM_OPT_MAX_LOG_AGE));
  if (opts->args->trailing[0] != NULL)
    return stem_throw_code (error, STEM_ERROR_USAGE, _ ("Unexpected argument “%s” after “--”"),
                            opts->args->trailing[0]);
  return TRUE;
}

/* Nodes named as arguments, then with --node (upstream's form), in order. */
static GStrv
node_words (StemArgs *args)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new ();
  for (guint i = 0; i < args->positionals->len; i++)
    g_ptr_array_add (words, args->positionals->pdata[i]);
  for (guint i = 0; i < args->values->len; i++)
    {
      StemOptionValue *v = args->values->pdata[i];
      if (v->spec->id == STEM_OPT_NODE)
        g_ptr_array_add (words, v->value);
    }
  g_ptr_array_add (words, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&words), FALSE);
}

/* The Monitoring Plugins' way with a problem that stopped the checks:
 * UNKNOWN, said on standard output, in UTF-8 as the other lines are
 * (g_print would make "é" a "?" in the C locale). */
static int
nagios_unknown (const char *message)
{
  g_autofree char *line = nagios_text (message);
  printf ("STEM-HEALTH UNKNOWN - %s\n", line);
  return NAGIOS_UNKNOWN;
}

/* Whether ARGV asks for --format=nagios, for words that do not parse:
 * a check plugin's usage error is UNKNOWN, said on standard output.  The
 * last of --format and --json decides, as it does when they parse. */
static gboolean
asks_for_nagios (int argc, char **argv)
{
  const char *format = NULL;
  for (int i = 1; i < argc && strcmp (argv[i], "--") != 0; i++)
    if (g_str_has_prefix (argv[i], "--format="))
      format = argv[i] + strlen ("--format=");
    else if (strcmp (argv[i], "--format") == 0 && i + 1 < argc)
      format = argv[++i];
    else if (strcmp (argv[i], "--json") == 0)
      format = "json";
  return g_strcmp0 (format, "nagios") == 0;
}

int
main (int argc, char **argv)
{
  stem_program_init ("stem-health");

  if (asks_for_nagios (argc, argv))
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (StemArgs) args = stem_args_parse (options, argc, argv, &error);
      if (args == NULL)
        return nagios_unknown (error->message);
    }
  int exit_status;
  g_autoptr (StemArgs) args = stem_args_parse_main (options, argc, argv, usage, &exit_status);
  if (args == NULL)
    return exit_status;

  g_autoptr (GError) error = NULL;

  StemHealthOptions opts = { .args = args, .now_us = g_get_real_time () };
  /* Only the words' array is owned here: the words belong to ARGS. */
  g_autofree char **words = node_words (args);
  int status = -1;
  if (parse_options (&opts, &error))
    status = check_nodes (&opts, (const char *const *)words, &error);
  if (error != NULL && opts.format == FORMAT_NAGIOS)
    return nagios_unknown (error->message);
  if (error != NULL)
    {
      /* A configuration problem is never "unhealthy": nothing was checked
       * (2).  Only writing --output can fail once the checks are done (1). */
      stem_error_print (error);
      return opts.checked ? STEM_EXIT_FAILURE : STEM_EXIT_USAGE;
    }
  return status;
}
