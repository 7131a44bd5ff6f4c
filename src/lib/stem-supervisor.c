/* The supervisor: the parent of every node, fit to be PID 1 of a container
 * or the main process of one systemd unit.  One GLib main loop; signals
 * (through a signalfd), child exits and restart timers are its events, so an
 * idle supervisor uses no CPU. */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "stem-duration.h"
#include "stem-schedule.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-lock.h"
#include "stem-log.h"
#include "stem-pidfile.h"
#include "stem-plan.h"
#include "stem-process.h"
#include "stem-spawn.h"
#include "stem-supervisor.h"

#define BACKOFF_FIRST_S 1
#define BACKOFF_MAX_S 60
#define STABLE_UPTIME_US (60 * G_USEC_PER_SEC) /* up this long: the backoff starts over */
/* A node's lock that another call holds (stem-multi stop, kill, start) is
 * tried again this often, for at most STEM_LOCK_TIMEOUT_MS, while the
 * loop goes on serving every other node and every signal. */
#define LOCK_RETRY_MS 200
/* What a node left in its process group that keeps making new processes
 * is looked for again at most this often before it is given up. */
#define LEFT_ROUNDS 8
/* Without pidfds, what a node left is looked at this often. */
#define LEFT_POLL_MS 100

typedef enum
{
  NODE_UP,
  NODE_WAITING, /* a restart is scheduled */
  NODE_ENDING,  /* exited; what it left in its process group is being ended */
  NODE_DOWN,    /* for good: exited under the policy, gave up, or stopped */
} NodeRun;

typedef struct _Supervisor Supervisor;

typedef struct
{
  Supervisor *sup;
  StemNodePlan *plan;
  NodeRun run;
  pid_t pid;
  gint64 started_us; /* monotonic */
  gint64 exited_us;  /* monotonic: its last exit (what it left then is not uptime) */
  guint restarts;    /* since the node last stayed up STABLE_UPTIME_US */
  guint timer;
  gint64 lock_wait_since; /* monotonic: when its lock was first found held, or 0 */
  gboolean clean;         /* how it last ended */
  /* While NODE_ENDING: its zombie, not reaped until what it left in its
   * process group has ended, so that no other group can take the id. */
  StemProc *leader;
  StemProcGroup *left;
  GArray *left_watches; /* guint: a source on each member's pidfd */
  GArray *left_termed;  /* guint8 per member: it got LEFT_SIGNUM (or needs none) */
  int left_signum;      /* SIGTERM, or the last stop signal (see left_forward) */
  guint left_timer;     /* SIGKILL due */
  gint64 left_since_us; /* monotonic: when LEFT_FIRST_SIG was sent */
  int left_first_sig;   /* LEFT_SIGNUM then; a stop signal may change that */
  gint64 left_kill_us;  /* monotonic: when SIGKILL is due, or 0 (never) */
  guint left_poll;      /* without pidfds: the next look */
  guint left_rounds;
  gboolean left_killed;
  gboolean left_blind;   /* SIGTERM went to the whole group: not all could be opened */
  gboolean exit_decided; /* it was down for good before it exited */
  StemLock *left_lock;   /* its lock, while what it left is ended, unless another call has it */
} Node;

struct _Supervisor
{
  const StemSupervisorConfig *config;
  GMainLoop *loop;
  GArray *nodes; /* Node */
  gboolean stopping;
  int stop_signal; /* the last one, while STOPPING */
  guint kill_timer;
  gint64 stop_deadline_us;   /* monotonic: the stop signal's --timeout is up, or 0 */
  gboolean failed;           /* some node gave up, could not start, or had to be killed */
  StemWriterServer *writers; /* resident while we run */
  int notify_fd;
  struct sockaddr_un notify_addr;
  socklen_t notify_len;
  gboolean ready_told; /* READY=1 has been sent */
};

static void say (Node *node, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
say (Node *node, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("%s: %s: %s\n", g_get_prgname (), node->plan->node, message);
}

/* ---- sd_notify, spoken directly on the socket (no libsystemd) ------------- */

static void
notify_open (Supervisor *s)
{
  s->notify_fd = -1;
  const char *path = g_getenv ("NOTIFY_SOCKET");
  if (path == NULL)
    return;
  if ((path[0] != '/' && path[0] != '@') || strlen (path) >= sizeof s->notify_addr.sun_path)
    {
      g_printerr (_ ("%s: NOTIFY_SOCKET “%s” is not a usable socket address: not notifying\n"),
                  g_get_prgname (), path);
      return;
    }
  s->notify_addr.sun_family = AF_UNIX;
  strcpy (s->notify_addr.sun_path, path);
  if (path[0] == '@')
    s->notify_addr.sun_path[0] = '\0'; /* abstract namespace */
  s->notify_len = offsetof (struct sockaddr_un, sun_path) + strlen (path);
  s->notify_fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

static void
notify (Supervisor *s, const char *message)
{
  if (s->notify_fd < 0)
    return;
  if (sendto (s->notify_fd, message, strlen (message), MSG_NOSIGNAL,
              (struct sockaddr *)&s->notify_addr, s->notify_len)
      < 0)
    g_printerr ("%s: sd_notify: %s\n", g_get_prgname (), g_strerror (errno));
}

static void
notify_status (Supervisor *s, const char *extra)
{
  guint up = 0, waiting = 0;
  for (guint i = 0; i < s->nodes->len; i++)
    {
      Node *node = &g_array_index (s->nodes, Node, i);
      up += node->run == NODE_UP;
      waiting += node->run == NODE_WAITING;
    }
  g_autofree char *message = g_strdup_printf ("%sSTATUS=%u of %u nodes running, %u restarting",
                                              extra ? extra : "", up, s->nodes->len, waiting);
  notify (s, message);
}

/* READY=1 (with STATUS), once every node has been started or has failed
 * to: not while one waits for its lock, which is neither. */
static void
notify_ready (Supervisor *s)
{
  if (s->ready_told)
    return;
  for (guint i = 0; i < s->nodes->len; i++)
    if (g_array_index (s->nodes, Node, i).lock_wait_since != 0)
      return;
  s->ready_told = TRUE;
  notify_status (s, "READY=1\n");
}

/* ---- restarts ------------------------------------------------------------ */

static gboolean start_node (Node *node);

static void
finish_if_all_down (Supervisor *s)
{
  for (guint i = 0; i < s->nodes->len; i++)
    if (g_array_index (s->nodes, Node, i).run != NODE_DOWN)
      return;
  g_main_loop_quit (s->loop);
}

static gboolean
restart_due (gpointer data)
{
  Node *node = data;
  gboolean was_waiting_for_lock = node->lock_wait_since != 0;
  node->timer = 0;
  start_node (node);
  /* Another look at a held lock changes nothing to be told. */
  if (node->lock_wait_since == 0 || !was_waiting_for_lock)
    {
      if (node->sup->ready_told)
        notify_status (node->sup, NULL);
      else
        notify_ready (node->sup);
    }
  return G_SOURCE_REMOVE;
}

/* Decides what happens after NODE went down; CLEAN says whether that was a
 * clean exit (0, or death by TERM, INT, QUIT or HUP: systemd's rule). */
static void
after_exit (Node *node, gboolean clean)
{
  Supervisor *s = node->sup;
  node->clean = clean;
  gboolean wanted = s->config->policy == STEM_RESTART_ALWAYS
                    || (s->config->policy == STEM_RESTART_ON_FAILURE && !clean);
  if (s->stopping || !wanted)
    {
      if (!s->stopping)
        say (node, _ ("not restarting (--restart=%s)"),
             s->config->policy == STEM_RESTART_NEVER ? "never" : "on-failure");
      node->run = NODE_DOWN;
      finish_if_all_down (s);
      return;
    }

  /* Up from its start to its exit: not while what it left was ended, nor
   * (a start that failed, exited_us older) at all. */
  if (node->exited_us - node->started_us >= STABLE_UPTIME_US)
    node->restarts = 0;
  if (node->restarts >= s->config->max_restarts)
    {
      say (node,
           ngettext ("giving up after %u restart", "giving up after %u restarts", node->restarts),
           node->restarts);
      node->run = NODE_DOWN;
      s->failed = TRUE;
      finish_if_all_down (s);
      return;
    }
  guint delay = BACKOFF_FIRST_S << MIN (node->restarts, 6u);
  delay = MIN (delay, BACKOFF_MAX_S);
  node->restarts++;
  say (node, _ ("restarting in %us (restart %u of at most %u)"), delay, node->restarts,
       s->config->max_restarts);
  node->run = NODE_WAITING;
  node->timer = g_timeout_add (delay * 1000, restart_due, node);
}

/* ---- starting ------------------------------------------------------------- */

/* What stop checks before it acts, checked before a start: TRUE when
 * PLAN's node is not running (a stale pidfile is removed); else an error
 * saying it runs, or why its pidfile is not trusted. */
static gboolean
check_down (const StemNodePlan *plan, GError **error)
{
  StemPidfile pidfile;
  g_autoptr (GError) local_error = NULL;
  if (!stem_pidfile_load (plan->pidfile, &pidfile, &local_error))
    {
      if (g_error_matches (local_error, STEM_ERROR, STEM_ERROR_NOT_FOUND))
        return TRUE;
      if (g_error_matches (local_error, STEM_ERROR, STEM_ERROR_LEFTOVER_PIDFILE))
        return stem_pidfile_remove (plan->pidfile, 0, error);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  StemProcClaim claim = stem_plan_claim (plan, &pidfile);
  StemProcState state = stem_proc_probe (pidfile.pid, &claim, NULL);
  if (state == STEM_PROC_UNKNOWN)
    return stem_throw_code (
        error, STEM_ERROR_PERMISSION,
        _ ("Cannot tell whether pid %d from “%s” is the worker (is /proc readable?)"),
        (int)pidfile.pid, plan->pidfile);
  if (state != STEM_PROC_RUNNING && state != STEM_PROC_NO_PERMISSION)
    return stem_pidfile_remove (plan->pidfile, pidfile.pid, error);
  if (!stem_pidfile_check_owner (plan->pidfile, &pidfile, error))
    return FALSE;
  return stem_throw (error, _ ("already running (pid %d): stop it first"), (int)pidfile.pid);
}

/* Starts NODE as our own child.  Returns FALSE when it did not start; what
 * happens next (a restart, giving up) has then been decided. */
static gboolean
start_node (Node *node)
{
  Supervisor *s = node->sup;
  StemNodePlan *plan = node->plan;
  g_autoptr (GError) error = NULL;
  /* A start that fails has not been up at all: the backoff goes on. */
  node->started_us = g_get_monotonic_time ();
  /* Its directories, at every start: one that cannot be made fails the
   * start like an exit, and is tried again with the restarts. */
  if (!stem_spawn_prepare_dirs (plan, TRUE, &error))
    {
      say (node, "%s", error->message);
      after_exit (node, FALSE);
      return FALSE;
    }
  /* Never a blocking wait: that would stop the whole loop. */
  g_autoptr (StemLock) lock = stem_lock_acquire (plan->pidfile, 0, &error);
  gint64 now = g_get_monotonic_time ();
  gboolean held = lock == NULL && g_error_matches (error, STEM_ERROR, STEM_ERROR_LOCKED);
  if (held && node->lock_wait_since == 0)
    {
      node->lock_wait_since = now;
      g_autofree char *timeout = stem_duration_format (STEM_LOCK_TIMEOUT_MS);
      say (node,
           _ ("its lock file “%s.lock” is held by another process: waiting for it, %s at most"),
           plan->pidfile, timeout);
    }
  if (held && now - node->lock_wait_since < STEM_LOCK_TIMEOUT_MS * (gint64)1000)
    {
      node->run = NODE_WAITING;
      node->timer = g_timeout_add (LOCK_RETRY_MS, restart_due, node);
      return FALSE;
    }
  gint64 waited_ms = (now - node->lock_wait_since) / 1000;
  node->lock_wait_since = 0;
  if (lock == NULL)
    {
      g_autofree char *waited = held ? stem_duration_format (waited_ms) : NULL;
      if (held)
        say (node, _ ("its lock file “%s.lock” was held by another process for %s"), plan->pidfile,
             waited);
      else
        say (node, "%s", error->message);
      after_exit (node, FALSE);
      return FALSE;
    }

  if (!check_down (plan, &error))
    {
      /* Someone started it behind our back (two workers would compete), or
       * its pidfile is not to be trusted: as stop, touch nothing. */
      say (node, "%s", error->message);
      node->run = NODE_DOWN;
      s->failed = TRUE;
      finish_if_all_down (s);
      return FALSE;
    }

  g_autoptr (StemLaunch) launch = stem_launch_begin (plan, FALSE, s->writers, -1, &error);
  pid_t pid = 0;
  if (launch == NULL || !stem_launch_finish (launch, &pid, &error))
    {
      say (node, "%s", error->message);
      after_exit (node, FALSE);
      return FALSE;
    }
  node->pid = pid;
  node->run = NODE_UP;
  if (!stem_pidfile_write (plan->pidfile, pid, &error))
    {
      /* A worker nobody can find again must not run; its exit is reaped as
       * any other. */
      say (node, "%s", error->message);
      kill (pid, SIGKILL);
      node->run = NODE_DOWN;
      s->failed = TRUE;
      return FALSE;
    }
  say (node, _ ("started (pid %d)"), (int)pid);
  return TRUE;
}

/* ---- exits ---------------------------------------------------------------- */

static void reap (Supervisor *s);

/* NODE's worker, which has exited, is reaped, and what follows its exit
 * decided. */
static void
node_reaped (Node *node)
{
  int status;
  while (waitpid (node->pid, &status, 0) < 0 && errno == EINTR)
    ;
  node->pid = 0;
  if (node->exit_decided)
    {
      /* Already decided (its pidfile could not be written): it was the
       * last thing this node was waiting for. */
      node->run = NODE_DOWN;
      finish_if_all_down (node->sup);
      return;
    }
  after_exit (node, node->clean);
  notify_status (node->sup, NULL);
}

/* ---- what a node left in its process group ----------------------------------
 *
 * A worker's children often outlive it (a shell wrapper killed while its
 * worker runs on, the pool of a worker that crashed): restarted beside
 * them, the node would run twice.  So when a node exits, what it left in
 * its process group is ended before anything else happens, as stop does:
 * SIGTERM, then SIGKILL after --timeout.  Its zombie is held meanwhile:
 * while our unreaped child has the PID W, no other process can make a
 * group W, so every process in group W is the worker's, and killpg (W)
 * reaches exactly them. */

static gboolean left_exited (int fd, GIOCondition condition, gpointer data);
static void left_kill (Node *node, gint64 waited_ms);

static void
left_clear (Node *node)
{
  for (guint i = 0; node->left_watches != NULL && i < node->left_watches->len; i++)
    g_source_remove (g_array_index (node->left_watches, guint, i));
  g_clear_pointer (&node->left_watches, g_array_unref);
  g_clear_pointer (&node->left_termed, g_array_unref);
  g_clear_handle_id (&node->left_timer, g_source_remove);
  g_clear_handle_id (&node->left_poll, g_source_remove);
  g_clear_pointer (&node->left, stem_proc_group_free);
  g_clear_pointer (&node->leader, stem_proc_free);
  g_clear_pointer (&node->left_lock, stem_lock_release);
}

static gboolean
left_poll (gpointer data)
{
  Node *node = data;
  node->left_poll = 0;
  left_exited (-1, 0, node);
  return G_SOURCE_REMOVE;
}

/* SIGTERM (or the stop signal), once, to each member of NODE's group whose
 * parent is not a member that still runs: a process is ended by its
 * parent, as it would be without us (a Celery master ends its pool warm,
 * letting the tasks finish; SIGTERM to the pool itself would kill them),
 * and by us only once its parent has gone.  Called again whenever a
 * member exits. */
static void
left_term (Node *node)
{
  if (node->left_killed)
    return;
  GPtrArray *members = stem_proc_group_members (node->left);
  g_autoptr (GHashTable) running = g_hash_table_new (NULL, NULL);
  for (guint i = 0; i < members->len; i++)
    if (!stem_proc_has_exited (members->pdata[i]))
      g_hash_table_add (running, GINT_TO_POINTER ((int)stem_proc_get_pid (members->pdata[i])));
  if (node->left_termed->len < members->len)
    g_array_set_size (node->left_termed, members->len);
  for (guint i = 0; i < members->len; i++)
    {
      guint8 *done = &g_array_index (node->left_termed, guint8, i);
      StemProc *member = members->pdata[i];
      if (*done
          || !g_hash_table_contains (running, GINT_TO_POINTER ((int)stem_proc_get_pid (member))))
        continue;
      if (stem_proc_held_back (member, running))
        continue;
      stem_proc_signal_leftover (member, node->left_signum, NULL);
      *done = 1;
    }
}

/* Signals the members of NODE's group from FIRST on and watches them
 * exit.  Returns how many are still running. */
static guint
left_signal (Node *node, guint first)
{
  GPtrArray *members = stem_proc_group_members (node->left);
  guint live = 0;
  for (guint i = first; i < members->len; i++)
    {
      StemProc *member = members->pdata[i];
      if (stem_proc_has_exited (member))
        continue;
      live++;
      int fd = stem_proc_get_fd (member);
      if (fd >= 0)
        {
          guint id = g_unix_fd_add (fd, G_IO_IN, left_exited, node);
          g_array_append_val (node->left_watches, id);
        }
      else if (node->left_poll == 0)
        node->left_poll = g_timeout_add (LEFT_POLL_MS, left_poll, node);
    }
  /* Each one gets SIGTERM once, its parent first; after SIGKILL, killpg ()
   * reaches every process in the group, those not yet found included. */
  if (live > 0 && node->left_killed)
    killpg (node->pid, SIGKILL);
  else if (live > 0)
    left_term (node);
  return live;
}

/* Whether the last look at NODE's group could not open some of its
 * processes (no descriptor left: a worker that made more processes than
 * we may open files), which are then ended as a group, and looked at
 * again soon.  Safe only because its zombie is held (see above). */
static gboolean
left_unseen (Node *node)
{
  if (!stem_proc_group_is_incomplete (node->left))
    return FALSE;
  if (!node->left_blind && !node->left_killed)
    {
      /* Which of them ignore the stop signal cannot be known: SIGTERM. */
      say (node, _ ("some processes it left could not be opened: sending SIGTERM to its process "
                    "group"));
      killpg (node->pid, SIGTERM);
      node->left_blind = TRUE;
    }
  if (node->left_poll == 0)
    node->left_poll = g_timeout_add (LEFT_POLL_MS, left_poll, node);
  return TRUE;
}

/* Done with what NODE left: the worker is reaped at last. */
static void
left_done (Node *node)
{
  left_clear (node);
  node_reaped (node);
  /* Orphans that exited meanwhile waited behind its zombie. */
  reap (node->sup);
}

/* What NODE left still runs, but is waited for no longer. */
static void
left_give_up (Node *node)
{
  GPtrArray *members = stem_proc_group_members (node->left);
  guint live = 0;
  for (guint i = 0; i < members->len; i++)
    live += !stem_proc_has_exited (members->pdata[i]);
  if (live > 0)
    say (node,
         ngettext ("%u process it left in its process group is still running: leaving it",
                   "%u processes it left in its process group are still running: leaving them",
                   live),
         live);
  left_done (node);
}

static gboolean
left_kill_over (gpointer data)
{
  Node *node = data;
  node->left_timer = 0;
  left_give_up (node);
  return G_SOURCE_REMOVE;
}

/* A member of NODE's group exited (FD: its pidfd, which stays readable),
 * or it is time to look.  When none of those found runs any more, the
 * group is looked at again for what they started meanwhile. */
static gboolean
left_exited (int fd, GIOCondition condition, gpointer data)
{
  (void)condition;
  Node *node = data;
  /* This watch is removed by returning G_SOURCE_REMOVE, not by left_clear. */
  guint current = fd >= 0 ? g_source_get_id (g_main_current_source ()) : 0;
  for (guint i = 0; i < node->left_watches->len; i++)
    if (g_array_index (node->left_watches, guint, i) == current)
      {
        g_array_remove_index_fast (node->left_watches, i);
        break;
      }
  GPtrArray *members = stem_proc_group_members (node->left);
  for (guint i = 0; fd >= 0 && i < members->len; i++)
    if (stem_proc_get_fd (members->pdata[i]) == fd && stem_proc_has_exited (members->pdata[i]))
      stem_proc_drop_fd (members->pdata[i]); /* its watch goes as we return */
  /* What the one that exited started is now ours to end. */
  left_term (node);
  for (guint i = 0; i < members->len; i++)
    if (!stem_proc_has_exited (members->pdata[i]))
      {
        if (fd < 0 && node->left_poll == 0)
          node->left_poll = g_timeout_add (LEFT_POLL_MS, left_poll, node);
        return G_SOURCE_REMOVE;
      }
  guint first = members->len;
  g_autoptr (GPtrArray) groups = g_ptr_array_new ();
  g_ptr_array_add (groups, node->left);
  if (stem_proc_groups_collect (groups) == 0)
    {
      if (!left_unseen (node))
        left_done (node);
      return G_SOURCE_REMOVE;
    }
  if (++node->left_rounds >= LEFT_ROUNDS && !node->left_killed)
    /* It keeps making new processes: its zombie is still held, so SIGKILL
     * to the group ends them all, those not found yet included. */
    left_kill (node, (g_get_monotonic_time () - node->left_since_us) / 1000);
  else if (node->left_rounds >= LEFT_ROUNDS)
    {
      left_give_up (node);
      return G_SOURCE_REMOVE;
    }
  if (left_signal (node, first) == 0)
    left_done (node);
  return G_SOURCE_REMOVE;
}

/* SIGKILL to NODE's group, WAITED_MS after its SIGTERM; then what outlives it
 * is waited for as the KILL step says. */
static void
left_kill (Node *node, gint64 waited_ms)
{
  g_clear_handle_id (&node->left_timer, g_source_remove);
  g_autofree char *waited = stem_duration_format (waited_ms);
  say (node, _ ("what it left in its process group still runs %s after SIG%s: sending SIGKILL"),
       waited, stem_signal_name (node->left_first_sig));
  node->left_killed = TRUE;
  killpg (node->pid, SIGKILL);
  if (node->sup->stopping)
    node->sup->failed = TRUE;
  /* Only a process stuck in the kernel outlives SIGKILL; it dies as it
   * comes out, and need not hold the node up. */
  gint64 wait_ms = node->sup->config->kill_wait_ms;
  if (wait_ms != STEM_DURATION_FOREVER)
    node->left_timer = g_timeout_add ((guint)MIN (wait_ms, G_MAXUINT), left_kill_over, node);
}

static gboolean
left_kill_due (gpointer data)
{
  Node *node = data;
  node->left_timer = 0;
  gint64 timeout_ms = node->sup->config->timeout_ms;
  gint64 waited_ms = (g_get_monotonic_time () - node->left_since_us) / 1000;
  /* Its own --timeout, or earlier: the stop signal's. */
  left_kill (node, waited_ms >= timeout_ms ? timeout_ms : waited_ms);
  return G_SOURCE_REMOVE;
}

/* Arms NODE's SIGKILL for --timeout after its SIGTERM, or for the stop
 * signal's deadline when that comes first: after a stop signal, nothing
 * runs more than --timeout (and the KILL step's wait) before SIGKILL. */
static void
left_arm_kill (Node *node)
{
  Supervisor *s = node->sup;
  gint64 timeout_ms = s->config->timeout_ms;
  /* As long as a GLib timeout can be (49 days), as for the stop signal. */
  gint64 due = timeout_ms == STEM_DURATION_FOREVER
                   ? 0
                   : node->left_since_us + MIN (timeout_ms, (gint64)G_MAXUINT) * 1000;
  if (s->stop_deadline_us != 0 && (due == 0 || s->stop_deadline_us < due))
    due = s->stop_deadline_us;
  if (node->left_killed || due == 0 || (node->left_timer != 0 && node->left_kill_us <= due))
    return;
  g_clear_handle_id (&node->left_timer, g_source_remove);
  node->left_kill_us = due;
  gint64 in_ms = MAX (0, (due - g_get_monotonic_time () + 999) / 1000);
  node->left_timer = g_timeout_add ((guint)MIN (in_ms, G_MAXUINT), left_kill_due, node);
}

/* Begins to end what NODE, which has exited (its zombie unreaped), left in
 * its process group.  FALSE when it left nothing running (or what it left
 * cannot be found: /proc unreadable). */
static gboolean
left_begin (Node *node)
{
  gint64 start_us;
  if (!stem_proc_start_time (node->pid, &start_us, NULL)
      || (node->leader = stem_proc_open (node->pid, start_us, NULL)) == NULL
      || (node->left = stem_proc_group_new (node->leader)) == NULL)
    {
      left_clear (node);
      return FALSE;
    }
  g_autoptr (GPtrArray) groups = g_ptr_array_new ();
  g_ptr_array_add (groups, node->left);
  stem_proc_groups_collect (groups);
  node->left_watches = g_array_new (FALSE, FALSE, sizeof (guint));
  node->left_termed = g_array_new (FALSE, TRUE, sizeof (guint8));
  node->left_rounds = 0;
  node->left_killed = FALSE;
  node->left_blind = FALSE;
  node->left_timer = 0;
  node->left_since_us = g_get_monotonic_time ();
  node->left_signum = node->sup->stopping ? node->sup->stop_signal : SIGTERM;
  node->left_first_sig = node->left_signum;
  guint live = left_signal (node, 0);
  gboolean unseen = stem_proc_group_is_incomplete (node->left);
  if (live == 0 && !unseen)
    {
      left_clear (node);
      return FALSE;
    }
  say (node,
       ngettext ("ending %u process it left in its process group",
                 "ending %u processes it left in its process group", live),
       live);
  left_unseen (node);
  left_arm_kill (node);
  node->run = NODE_ENDING;
  return TRUE;
}

/* ---- exits and signals, continued ----------------------------------------- */

/* NODE's worker has exited (INFO), and is still our zombie. */
static void
node_exited (Node *node, const siginfo_t *info)
{
  g_autofree char *how = stem_proc_describe_exit (info, &node->clean);
  node->exited_us = g_get_monotonic_time ();
  /* Its lock is held until what it left has ended, so that a start by
   * hand waits for that rather than start a second worker beside it.  A
   * call that holds it already (a stop) is seeing to the node itself. */
  if (node->sup->config->kill_group)
    node->left_lock = stem_lock_acquire_existing (node->plan->pidfile, 0, NULL);
  stem_pidfile_remove (node->plan->pidfile, node->pid, NULL);
  say (node, "%s (pid %d)", how, (int)node->pid);
  node->exit_decided = node->run == NODE_DOWN;
  if (node->sup->config->kill_group && left_begin (node))
    {
      /* No longer running, though not yet restarting. */
      notify_status (node->sup, NULL);
      return;
    }
  node_reaped (node);
}

static Node *
node_of_pid (Supervisor *s, pid_t pid)
{
  for (guint i = 0; i < s->nodes->len; i++)
    if (g_array_index (s->nodes, Node, i).pid == pid)
      return &g_array_index (s->nodes, Node, i);
  return NULL;
}

static void
say_server_gone (pid_t pid)
{
  g_printerr (_ ("%s: the log writers' server (pid %d) has exited; the next start will "
                 "start it again\n"),
              g_get_prgname (), (int)pid);
}

/* Behind a held zombie, which waitid (P_ALL) returns first until it is
 * reaped: every other node's exit, each by its PID, and the log writers'
 * server, which the next start needs.  Orphans wait. */
static void
reap_behind_held (Supervisor *s)
{
  for (guint i = 0; i < s->nodes->len; i++)
    {
      Node *node = &g_array_index (s->nodes, Node, i);
      siginfo_t info = { 0 };
      if (node->pid > 0 && node->run != NODE_ENDING
          && waitid (P_PID, (id_t)node->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0
          && info.si_pid == node->pid)
        node_exited (node, &info);
    }
  pid_t server;
  while ((server = stem_writer_server_reap (s->writers)) > 0)
    say_server_gone (server);
}

/* Reaps every child: our nodes, and, as a subreaper or PID 1, any orphan
 * that was re-parented to us.  A node's zombie is left for node_exited to
 * decide on, which may hold it. */
static void
reap (Supervisor *s)
{
  for (;;)
    {
      siginfo_t info = { 0 };
      if (waitid (P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid == 0)
        return;
      Node *owner = node_of_pid (s, info.si_pid);
      if (owner != NULL && owner->run == NODE_ENDING)
        {
          reap_behind_held (s);
          return;
        }
      if (owner != NULL)
        {
          node_exited (owner, &info);
          continue;
        }
      int status;
      if (waitpid (info.si_pid, &status, WNOHANG) <= 0)
        return;
      if (stem_writer_server_forget (s->writers, info.si_pid))
        say_server_gone (info.si_pid);
      else if (s->config->verbose)
        g_printerr (_ ("%s: reaped orphan pid %d\n"), g_get_prgname (), (int)info.si_pid);
    }
}

static gboolean
kill_due (gpointer data)
{
  Supervisor *s = data;
  s->kill_timer = 0;
  g_autofree char *waited = stem_duration_format (s->config->timeout_ms);
  for (guint i = 0; i < s->nodes->len; i++)
    {
      Node *node = &g_array_index (s->nodes, Node, i);
      if (node->run != NODE_UP || node->pid <= 0)
        continue;
      say (node, _ ("still running %s after the stop signal: sending SIGKILL"), waited);
      kill (node->pid, SIGKILL);
      s->failed = TRUE;
    }
  return G_SOURCE_REMOVE;
}

/* Our nodes are our unreaped children: their PIDs cannot have been reused,
 * so kill() is safe here. */
static void
forward (Supervisor *s, int sig)
{
  for (guint i = 0; i < s->nodes->len; i++)
    {
      Node *node = &g_array_index (s->nodes, Node, i);
      if (node->run == NODE_UP && node->pid > 0)
        kill (node->pid, sig);
    }
}

/* A stop signal while NODE ends what its worker left: as a running worker
 * gets every stop signal, so does what it left, SIGQUIT (a hard shutdown)
 * after a crash's SIGTERM included: those already signalled get SIG now,
 * those still left to their parent get it when their turn comes. */
static void
left_forward (Node *node, int sig)
{
  if (node->run != NODE_ENDING || node->left_killed)
    return;
  node->left_signum = sig;
  /* Not all could be opened: the group as a whole, as it got SIGTERM (safe
   * while its zombie is held, see above), and each process once. */
  if (node->left_blind)
    {
      killpg (node->pid, sig);
      return;
    }
  GPtrArray *members = stem_proc_group_members (node->left);
  for (guint i = 0; i < members->len && i < node->left_termed->len; i++)
    if (g_array_index (node->left_termed, guint8, i) && !stem_proc_has_exited (members->pdata[i]))
      stem_proc_signal_leftover (members->pdata[i], sig, NULL);
}

static void
begin_stop (Supervisor *s, int sig)
{
  g_printerr (_ ("%s: got SIG%s: stopping all nodes\n"), g_get_prgname (), stem_signal_name (sig));
  forward (s, sig);
  for (guint i = 0; i < s->nodes->len; i++)
    left_forward (&g_array_index (s->nodes, Node, i), sig);
  s->stop_signal = sig;
  if (s->stopping)
    return;
  s->stopping = TRUE;
  notify (s, "STOPPING=1");
  for (guint i = 0; i < s->nodes->len; i++)
    {
      Node *node = &g_array_index (s->nodes, Node, i);
      if (node->run == NODE_WAITING)
        {
          g_source_remove (node->timer);
          node->timer = 0;
          node->run = NODE_DOWN;
        }
    }
  gint64 timeout_ms = s->config->timeout_ms;
  if (timeout_ms != STEM_DURATION_FOREVER)
    {
      s->kill_timer = g_timeout_add ((guint)MIN (timeout_ms, G_MAXUINT), kill_due, s);
      s->stop_deadline_us = g_get_monotonic_time () + MIN (timeout_ms, (gint64)G_MAXUINT) * 1000;
      /* What nodes that already exited left is not given longer. */
      for (guint i = 0; i < s->nodes->len; i++)
        if (g_array_index (s->nodes, Node, i).run == NODE_ENDING)
          left_arm_kill (&g_array_index (s->nodes, Node, i));
    }
  finish_if_all_down (s);
}

static gboolean
on_signal (int fd, GIOCondition condition, gpointer data)
{
  Supervisor *s = data;
  struct signalfd_siginfo info;
  while (read (fd, &info, sizeof info) == sizeof info)
    switch (info.ssi_signo)
      {
      case SIGCHLD:
        reap (s);
        break;
      case SIGHUP:
      case SIGUSR1:
      case SIGUSR2:
        g_printerr (_ ("%s: got SIG%s: forwarding it to all nodes\n"), g_get_prgname (),
                    stem_signal_name ((int)info.ssi_signo));
        forward (s, (int)info.ssi_signo);
        break;
      default:
        begin_stop (s, (int)info.ssi_signo);
        break;
      }
  return G_SOURCE_CONTINUE;
}

/* ---- the verb ------------------------------------------------------------- */

static void
ignore_signal (int sig)
{
  (void)sig; /* never runs: the signals are blocked and read from the signalfd */
}

/* Nothing starts while any node already runs (two workers would compete)
 * or has a pidfile that stop would not trust. */
static gboolean
check_not_running (GPtrArray *plans, GError **error)
{
  g_autoptr (GString) running = g_string_new (NULL);
  for (guint i = 0; i < plans->len; i++)
    {
      StemNodePlan *plan = plans->pdata[i];
      g_autoptr (GError) local_error = NULL;
      if (!check_down (plan, &local_error))
        g_string_append_printf (running, "\n%s: %s", plan->node, local_error->message);
    }
  if (running->len > 0)
    return stem_throw (error, "%s", running->str + 1);
  return TRUE;
}

/* The signals the supervisor handles, as a signalfd; -1 (said) if there is
 * none.  *MASK gets them. */
static int
open_signals (sigset_t *mask)
{
  static const int handled[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP };
  /* Forwarded as SIGHUP is, for the workers to use as they do, unless our
   * caller ignores them: left to their default they would end us, and
   * leave every worker running unsupervised. */
  static const int forwarded[] = { SIGUSR1, SIGUSR2 };
  sigemptyset (mask);
  /* A handler as well as the mask: as PID 1 of a namespace, a signal whose
   * disposition is the default is dropped before it could be read. */
  struct sigaction noop = { .sa_handler = ignore_signal };
  for (guint i = 0; i < G_N_ELEMENTS (handled); i++)
    {
      sigaddset (mask, handled[i]);
      sigaction (handled[i], &noop, NULL);
    }
  for (guint i = 0; i < G_N_ELEMENTS (forwarded); i++)
    {
      struct sigaction old;
      if (sigaction (forwarded[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
        continue;
      sigaddset (mask, forwarded[i]);
      sigaction (forwarded[i], &noop, NULL);
    }
  sigprocmask (SIG_BLOCK, mask, NULL); /* workers reset both before exec */
  /* Our standard error may be a pipe whose reader goes away (| tee, |
   * logger): a write then fails, and must not kill us and orphan every
   * worker.  Workers get the default back before exec, as for the others. */
  signal (SIGPIPE, SIG_IGN);
  int sfd = signalfd (-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0)
    g_printerr ("%s: signalfd: %s\n", g_get_prgname (), g_strerror (errno));
  return sfd;
}

/* One node per plan, each started. */
static void
start_nodes (Supervisor *s, GPtrArray *plans)
{
  s->nodes = g_array_sized_new (FALSE, TRUE, sizeof (Node), plans->len);
  g_array_set_size (s->nodes, plans->len);
  for (guint i = 0; i < plans->len; i++)
    {
      Node *node = &g_array_index (s->nodes, Node, i);
      node->sup = s;
      node->plan = plans->pdata[i];
      node->run = NODE_DOWN;
      /* A worker is not the service systemd is waiting for. */
      node->plan->envp = g_environ_unsetenv (node->plan->envp, "NOTIFY_SOCKET");
    }
  for (guint i = 0; i < s->nodes->len; i++)
    start_node (&g_array_index (s->nodes, Node, i));
}

/* The log writers finish before we do: as a container's PID 1, our exit
 * would kill them with the last lines unwritten. */
static void
wait_log_writers (GPtrArray *plans)
{
  gint64 deadline = g_get_monotonic_time () + STEM_LOG_WAIT_US;
  for (guint i = 0; i < plans->len; i++)
    {
      const StemNodePlan *plan = plans->pdata[i];
      if (plan->logfile != NULL)
        stem_log_wait (plan->logfile, plan->node, deadline);
    }
}

int
stem_supervisor_run (GPtrArray *plans, const StemSupervisorConfig *config)
{
  Supervisor s = { .config = config, .notify_fd = -1 };
  g_autoptr (GError) local_error = NULL;
  if (!check_not_running (plans, &local_error))
    {
      stem_error_print (local_error);
      return STEM_EXIT_FAILURE;
    }

  /* Orphans of our workers come to us, to be reaped, even when we are not
   * PID 1. */
  if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0)
    g_printerr ("%s: PR_SET_CHILD_SUBREAPER: %s\n", g_get_prgname (), g_strerror (errno));

  sigset_t mask;
  int sfd = open_signals (&mask);
  if (sfd < 0)
    return STEM_EXIT_FAILURE;

  notify_open (&s);
  s.writers = stem_writer_server_new ();
  s.loop = g_main_loop_new (NULL, FALSE);
  guint watch = g_unix_fd_add (sfd, G_IO_IN, on_signal, &s);
  start_nodes (&s, plans);
  notify_ready (&s);

  gboolean any_up = FALSE;
  for (guint i = 0; i < s.nodes->len; i++)
    any_up = any_up || g_array_index (s.nodes, Node, i).run != NODE_DOWN;
  if (any_up)
    g_main_loop_run (s.loop);

  gboolean all_clean = !s.failed;
  for (guint i = 0; i < s.nodes->len; i++)
    {
      Node *node = &g_array_index (s.nodes, Node, i);
      all_clean = all_clean && node->clean;
      if (node->timer != 0)
        g_source_remove (node->timer);
    }
  if (s.kill_timer != 0)
    g_source_remove (s.kill_timer);
  g_source_remove (watch);
  close (sfd);
  if (s.notify_fd >= 0)
    close (s.notify_fd);
  g_array_unref (s.nodes);
  g_main_loop_unref (s.loop);
  sigprocmask (SIG_UNBLOCK, &mask, NULL);
  /* Its writers go on until their workers' output ends. */
  stem_writer_server_free (s.writers);
  wait_log_writers (plans);
  g_printerr (_ ("%s: all nodes have stopped\n"), g_get_prgname ());
  return all_clean ? STEM_EXIT_OK : STEM_EXIT_FAILURE;
}

GVariant *
stem_supervisor_config_pack (const StemSupervisorConfig *config)
{
  return g_variant_new ("(uuxxbb)", (guint32)config->policy, (guint32)config->max_restarts,
                        config->timeout_ms, config->kill_wait_ms, config->verbose,
                        config->kill_group);
}

void
stem_supervisor_config_unpack (GVariant *value, StemSupervisorConfig *config)
{
  guint32 policy, max_restarts;
  g_variant_get (value, "(uuxxbb)", &policy, &max_restarts, &config->timeout_ms,
                 &config->kill_wait_ms, &config->verbose, &config->kill_group);
  config->policy = (StemRestartPolicy)policy;
  config->max_restarts = max_restarts;
}
