/* stem-example-worker: a well-behaved Stem worker for demos and tests.
 *
 * It pretends to process "units of work" back to back and honours Stem's
 * shutdown modes: TERM = warm (finish the current unit), INT = soft (give the
 * current unit a short grace period, then abandon it), QUIT = hard (stop now).
 */

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>
#include <glib/gi18n.h>

#ifdef PACKAGE_VERSION
#define EXAMPLE_VERSION PACKAGE_VERSION
#else
#define EXAMPLE_VERSION "unknown"
#endif

#define PROGRAM_NAME "stem-example-worker"

enum
{
  EXIT_USAGE = 2,
  DEFAULT_WORK_MS = 2000,
  DEFAULT_HEARTBEAT_MS = 5000,
  MAX_DURATION_MS = 86400 * 1000,
  /* Soft shutdown lets the current unit finish if it can within this grace
   * period; it stays well under the one second that soft promises. */
  SOFT_GRACE_MS = 500,
};

typedef enum
{
  WORKER_RUNNING,
  WORKER_WARM,
  WORKER_SOFT,
} WorkerState;

typedef struct
{
  const char *node;
  guint work_ms; /* 0: idle, no units of work */
  guint heartbeat_ms;
  guint64 processed;
  WorkerState state;
  gboolean stopped;
  GMainLoop *loop;
  guint work_id;
  guint heartbeat_id;
  guint soft_grace_id;
} ExampleWorker;

/* Written by the SIGQUIT handler, read by the main loop (self-pipe). */
static int quit_pipe[2] = { -1, -1 };

static void log_line (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
log_line (const char *format, ...)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
  va_list args;

  printf ("%s %s: ", stamp, PROGRAM_NAME);
  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  putchar ('\n');
}

static const char *
env_or (const char *name, const char *fallback)
{
  const char *value = g_getenv (name);
  return value != NULL && *value != '\0' ? value : fallback;
}

/* Parses decimal seconds ("2", "0.2", ".5") into milliseconds, without the
 * locale, exponents, signs or "inf" that strtod would accept. Digits past the
 * millisecond are dropped. */
static gboolean
parse_seconds (const char *text, guint *out_ms)
{
  guint64 ms = 0;
  const char *p = text;
  gboolean any_digit = FALSE;

  for (; g_ascii_isdigit (*p); p++)
    {
      ms = ms * 10 + (guint64)(*p - '0') * 1000;
      if (ms > MAX_DURATION_MS)
        return FALSE;
      any_digit = TRUE;
    }
  if (*p == '.')
    {
      guint64 scale = 100;
      for (p++; g_ascii_isdigit (*p); p++, scale /= 10)
        {
          ms += (guint64)(*p - '0') * scale;
          any_digit = TRUE;
        }
    }
  if (!any_digit || *p != '\0' || ms > MAX_DURATION_MS)
    return FALSE;
  *out_ms = (guint)ms;
  return TRUE;
}

static gboolean
read_duration (const char *name, guint default_ms, gboolean allow_zero, guint *out_ms)
{
  const char *text = g_getenv (name);

  if (text == NULL || *text == '\0')
    {
      *out_ms = default_ms;
      return TRUE;
    }
  guint ms;
  if (!parse_seconds (text, &ms) || (ms == 0 && !allow_zero))
    {
      g_printerr (_ ("%s: invalid %s “%s”: expected a number of seconds from %s to %u\n"),
                  PROGRAM_NAME, name, text, allow_zero ? "0" : "0.001", MAX_DURATION_MS / 1000);
      return FALSE;
    }
  *out_ms = ms;
  return TRUE;
}

static void
worker_stop (ExampleWorker *worker, const char *mode)
{
  if (worker->stopped)
    return;
  worker->stopped = TRUE;
  /* No heartbeat may follow the last line, even one already due. */
  g_clear_handle_id (&worker->heartbeat_id, g_source_remove);
  log_line ("stopped (%s) node=%s", mode, worker->node);
  g_main_loop_quit (worker->loop);
}

static gboolean
on_work_done (gpointer user_data)
{
  ExampleWorker *worker = user_data;

  worker->processed++;
  switch (worker->state)
    {
    case WORKER_RUNNING:
      return G_SOURCE_CONTINUE;
    case WORKER_WARM:
      worker_stop (worker, "warm");
      break;
    case WORKER_SOFT:
      worker_stop (worker, "soft");
      break;
    }
  worker->work_id = 0;
  return G_SOURCE_REMOVE;
}

static gboolean
on_heartbeat (gpointer user_data)
{
  ExampleWorker *worker = user_data;

  log_line ("heartbeat node=%s processed=%" G_GUINT64_FORMAT, worker->node, worker->processed);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_soft_grace_over (gpointer user_data)
{
  ExampleWorker *worker = user_data;

  worker->soft_grace_id = 0;
  g_clear_handle_id (&worker->work_id, g_source_remove);
  worker_stop (worker, "soft");
  return G_SOURCE_REMOVE;
}

static gboolean
on_sigterm (gpointer user_data)
{
  ExampleWorker *worker = user_data;

  if (worker->state != WORKER_RUNNING)
    return G_SOURCE_CONTINUE;
  worker->state = WORKER_WARM;
  log_line ("warm shutdown: finishing current work");
  if (worker->work_id == 0)
    worker_stop (worker, "warm");
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigint (gpointer user_data)
{
  ExampleWorker *worker = user_data;

  if (worker->state == WORKER_SOFT)
    return G_SOURCE_CONTINUE;
  worker->state = WORKER_SOFT;
  log_line ("soft shutdown: interrupting current work");
  if (worker->work_id == 0)
    worker_stop (worker, "soft");
  else
    worker->soft_grace_id = g_timeout_add (SOFT_GRACE_MS, on_soft_grace_over, worker);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sighup (G_GNUC_UNUSED gpointer user_data)
{
  log_line ("reload requested (nothing to reload)");
  return G_SOURCE_CONTINUE;
}

static void
on_sigquit (G_GNUC_UNUSED int signum)
{
  int saved_errno = errno;
  char byte = 'Q';

  /* Nonblocking: if the pipe is full, a wake-up is already pending. */
  ssize_t written = write (quit_pipe[1], &byte, 1);
  (void)written;
  errno = saved_errno;
}

static gboolean
on_quit_pipe (int fd, G_GNUC_UNUSED GIOCondition condition, gpointer user_data)
{
  ExampleWorker *worker = user_data;
  char buffer[16];

  while (read (fd, buffer, sizeof buffer) > 0)
    ;
  worker_stop (worker, "hard");
  return G_SOURCE_CONTINUE;
}

/* g_unix_signal_add() does not support SIGQUIT, so its handler only wakes the
 * main loop through a self-pipe. */
static gboolean
install_sigquit_handler (GError **error)
{
  if (!g_unix_open_pipe (quit_pipe, FD_CLOEXEC, error)
      || !g_unix_set_fd_nonblocking (quit_pipe[0], TRUE, error)
      || !g_unix_set_fd_nonblocking (quit_pipe[1], TRUE, error))
    return FALSE;

  struct sigaction action = { 0 };
  action.sa_handler = on_sigquit;
  action.sa_flags = SA_RESTART;
  sigemptyset (&action.sa_mask);
  if (sigaction (SIGQUIT, &action, NULL) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "sigaction: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}

static void
usage (void)
{
  printf (_ ("Usage: %s [--help | --version]\n"
             "\n"
             "An example Stem worker: it processes simulated units of work and logs\n"
             "timestamped lines to standard output.\n"),
          PROGRAM_NAME);
  fputs (_ ("\n"
            "Environment:\n"
            "  STEM_WORKER_NODE        node name to log (default: -)\n"
            "  STEM_WORKER_QUEUES      comma-separated queues to log\n"
            "  STEM_DEFAULT_QUEUE      queue used when STEM_WORKER_QUEUES is unset\n"
            "                          (default: default)\n"
            "  STEM_EXAMPLE_WORK       seconds per unit of work (default: 2; 0 = idle)\n"
            "  STEM_EXAMPLE_HEARTBEAT  seconds between heartbeat lines (default: 5)\n"),
         stdout);
  fputs (_ ("\n"
            "Signals:\n"
            "  TERM  warm shutdown: finish the current unit of work, then exit\n"
            "  INT   soft shutdown: abandon the current unit, exit within a second\n"
            "  QUIT  hard shutdown: exit at once\n"
            "  HUP   reload (there is nothing to reload)\n"),
         stdout);
}

int
main (int argc, char **argv)
{
  setvbuf (stdout, NULL, _IOLBF, 0);
  setlocale (LC_ALL, "");
#if defined(GETTEXT_PACKAGE) && defined(LOCALEDIR)
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
#endif
  g_set_prgname (PROGRAM_NAME);

  if (argc == 2 && strcmp (argv[1], "--help") == 0)
    {
      usage ();
      return 0;
    }
  if (argc == 2 && strcmp (argv[1], "--version") == 0)
    {
      printf ("%s %s\n", PROGRAM_NAME, EXAMPLE_VERSION);
      return 0;
    }
  if (argc > 1)
    {
      g_printerr (_ ("%s: unexpected argument “%s”\n"), PROGRAM_NAME, argv[1]);
      g_printerr (_ ("Try “%s --help” for more information.\n"), PROGRAM_NAME);
      return EXIT_USAGE;
    }

  ExampleWorker worker = { 0 };
  worker.node = env_or ("STEM_WORKER_NODE", "-");
  if (!read_duration ("STEM_EXAMPLE_WORK", DEFAULT_WORK_MS, TRUE, &worker.work_ms)
      || !read_duration ("STEM_EXAMPLE_HEARTBEAT", DEFAULT_HEARTBEAT_MS, FALSE,
                         &worker.heartbeat_ms))
    return EXIT_USAGE;
  const char *queues = env_or ("STEM_WORKER_QUEUES", env_or ("STEM_DEFAULT_QUEUE", "default"));

  /* Every handler is in place before "started", so a supervisor that waits
   * for that line can signal at once. */
  g_autoptr (GError) error = NULL;
  worker.loop = g_main_loop_new (NULL, FALSE);
  if (!install_sigquit_handler (&error))
    {
      g_printerr ("%s: %s\n", PROGRAM_NAME, error->message);
      return 1;
    }
  guint quit_id = g_unix_fd_add (quit_pipe[0], G_IO_IN, on_quit_pipe, &worker);
  guint term_id = g_unix_signal_add (SIGTERM, on_sigterm, &worker);
  guint int_id = g_unix_signal_add (SIGINT, on_sigint, &worker);
  guint hup_id = g_unix_signal_add (SIGHUP, on_sighup, &worker);

  log_line ("node=%s pid=%ld queues=%s started", worker.node, (long)getpid (), queues);
  if (worker.work_ms > 0)
    worker.work_id = g_timeout_add (worker.work_ms, on_work_done, &worker);
  worker.heartbeat_id = g_timeout_add (worker.heartbeat_ms, on_heartbeat, &worker);

  g_main_loop_run (worker.loop);

  g_clear_handle_id (&worker.work_id, g_source_remove);
  g_clear_handle_id (&worker.heartbeat_id, g_source_remove);
  g_clear_handle_id (&worker.soft_grace_id, g_source_remove);
  g_source_remove (quit_id);
  g_source_remove (term_id);
  g_source_remove (int_id);
  g_source_remove (hup_id);
  g_main_loop_unref (worker.loop);
  return 0;
}
