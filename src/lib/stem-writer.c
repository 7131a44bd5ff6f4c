#include "stem-writer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-exec.h"
#include "stem-fd.h"
#include "stem-i18n.h"
#include "stem-log.h"
#include "stem-spawn.h"

/* One server process. */
typedef struct
{
  int fd; /* our end of its socket, -1 until started */
  pid_t pid;
} Server;

struct _StemWriterServer
{
  char *program;
  Server procs[STEM_WRITER_MAX_SERVERS];
  guint width; /* how many of PROCS launches go to, in turn */
  guint next;  /* the one the next launch goes to */
};

StemWriterServer *
stem_writer_server_new (void)
{
  StemWriterServer *server = g_new0 (StemWriterServer, 1);
  server->program = stem_spawn_helper_path ("stem-logwriter");
  for (guint i = 0; i < G_N_ELEMENTS (server->procs); i++)
    server->procs[i] = (Server){ -1, -1 };
  server->width = 1;
  return server;
}

void
stem_writer_server_set_width (StemWriterServer *server, guint width)
{
  server->width = CLAMP (width, 1, STEM_WRITER_MAX_SERVERS);
  server->next = 0;
}

/* Another server costs about two launches; below 16 nodes it gains
 * nothing. */
#define LAUNCHES_PER_SERVER 16

guint
stem_writer_server_width (guint n)
{
  return CLAMP (MIN (1 + n / LAUNCHES_PER_SERVER, g_get_num_processors ()), 1,
                STEM_WRITER_MAX_SERVERS);
}

guint
stem_writer_processes (guint n)
{
  /* The launches go to the servers in turn, and each server forks its own
   * writer processes. */
  guint width = stem_writer_server_width (n);
  guint per_server = (n + width - 1) / width;
  guint per_process = STEM_LOGWRITER_LOGS_PER_PROCESS;
  return width * ((per_server + per_process - 1) / per_process);
}

void
stem_writer_server_free (StemWriterServer *server)
{
  if (server == NULL)
    return;
  /* Every socket closed first (a server exits once no copy of its socket
   * is left), so that the servers finish side by side; then each is
   * waited for, unless someone else reaped it. */
  for (guint i = 0; i < G_N_ELEMENTS (server->procs); i++)
    stem_fd_clear (&server->procs[i].fd);
  for (guint i = 0; i < G_N_ELEMENTS (server->procs); i++)
    if (server->procs[i].pid > 0)
      while (waitpid (server->procs[i].pid, NULL, 0) < 0 && errno == EINTR)
        ;
  g_free (server->program);
  g_free (server);
}

gboolean
stem_writer_server_forget (StemWriterServer *server, pid_t pid)
{
  if (server == NULL || pid <= 0)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (server->procs); i++)
    if (server->procs[i].pid == pid)
      {
        server->procs[i].pid = -1;
        stem_fd_clear (&server->procs[i].fd);
        return TRUE;
      }
  return FALSE;
}

pid_t
stem_writer_server_reap (StemWriterServer *server)
{
  if (server == NULL)
    return 0;
  for (guint i = 0; i < G_N_ELEMENTS (server->procs); i++)
    {
      pid_t pid = server->procs[i].pid;
      if (pid > 0 && waitpid (pid, NULL, WNOHANG) == pid)
        {
          stem_writer_server_forget (server, pid);
          return pid;
        }
    }
  return 0;
}

/* What the server's vfork child needs; it says why it failed in ERRSV,
 * in our memory. */
typedef struct
{
  const char *program;
  int socket_fd;
  int null_fd;
  int errsv;
} ServerExec;

/* The server's vfork child: the socket on standard input, /dev/null on
 * standard output, every signal handler reset, then the exec. */
static void
exec_server (void *data)
{
  ServerExec *e = data;
  if (dup2 (e->socket_fd, STDIN_FILENO) < 0 || dup2 (e->null_fd, STDOUT_FILENO) < 0)
    e->errsv = errno;
  else
    {
      stem_exec_reset ();
      char *argv[] = { (char *)e->program, (char *)"--serve", NULL };
      execv (e->program, argv);
      e->errsv = errno;
    }
}

/* Starts SERVER's process PROC unless it runs. */
static gboolean
server_start (StemWriterServer *server, Server *proc, const char *node, GError **error)
{
  if (proc->fd >= 0)
    return TRUE;
  int sv[2] = { -1, -1 };
  g_auto (StemFd) null_fd = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  ServerExec e = { server->program, -1, null_fd, 0 };
  pid_t pid = -1;
  if (null_fd < 0 || socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    e.errsv = errno;
  else
    {
      e.socket_fd = sv[1];
      if ((pid = stem_exec_vfork (exec_server, &e)) < 0)
        e.errsv = errno;
    }
  g_auto (StemFd) ours = sv[0];
  stem_fd_clear (&sv[1]);
  /* A child that could not exec has exited already. */
  if (pid > 0 && e.errsv != 0)
    while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
      ;
  if (e.errsv != 0)
    {
      errno = e.errsv;
      return stem_throw_errno (error, _ ("Starting the log writer “%s” for “%s”"), server->program,
                               node);
    }
  proc->fd = stem_fd_steal (&ours);
  proc->pid = pid;
  return TRUE;
}

/* A message to the server (stem-logwriter-wire.h): HEAD, USER's first
 * N_GROUPS supplementary groups, then TAIL. */
static GBytes *
message_new (const void *head, gsize head_len, const StemUser *user, guint n_groups,
             const void *tail, gsize tail_len)
{
  GByteArray *bytes = g_byte_array_sized_new ((guint)(head_len + n_groups * 4 + tail_len));
  g_byte_array_append (bytes, head, (guint)head_len);
  for (guint i = 0; i < n_groups; i++)
    {
      uint32_t gid = (uint32_t)user->groups[i];
      g_byte_array_append (bytes, (const guint8 *)&gid, sizeof gid);
    }
  g_byte_array_append (bytes, tail, (guint)tail_len);
  return g_byte_array_free_to_bytes (bytes);
}

/* PLAN's message to the server: its user and log path. */
static GBytes *
writer_message (const StemNodePlan *plan, GError **error)
{
  const StemUser *user = plan->user;
  gboolean change = user != NULL && user->change;
  gsize path_len = strlen (plan->logfile);
  guint n_groups = change ? (guint)user->n_groups : 0;
  if (path_len >= STEM_LOGWRITER_MAX_PATH)
    {
      errno = ENAMETOOLONG;
      stem_throw_errno (error, _ ("Opening log file “%s”"), plan->logfile);
      return NULL;
    }
  if (n_groups > STEM_LOGWRITER_MAX_GROUPS)
    {
      errno = E2BIG;
      stem_throw_errno (error, _ ("Preparing to start “%s”"), plan->node);
      return NULL;
    }
  StemLogwriterRequest req = {
    .kind = STEM_LOGWRITER_WRITER,
    .change_user = change,
    .uid = change ? (uint32_t)user->uid : 0,
    .gid = change ? (uint32_t)user->gid : 0,
    .n_groups = n_groups,
    .path_len = (uint32_t)path_len,
    .lock_at = stem_log_lock_at (plan->node),
  };
  return message_new (&req, sizeof req, user, n_groups, plan->logfile, path_len);
}

gboolean
stem_writer_request_init (StemWriterRequest *request, StemWriterServer *server,
                          const StemNodePlan *plan, GError **error)
{
  *request = (StemWriterRequest){ plan->node, -1, NULL, -1, { -1, -1 } };
  if ((request->message = writer_message (plan, error)) == NULL
      || !server_start (server, &server->procs[0], plan->node, error)
      || (request->log_fd = stem_log_open (plan, error)) < 0)
    return FALSE;
  if (pipe2 (request->pipe, O_CLOEXEC) < 0)
    return stem_throw_errno (error, _ ("Preparing to start “%s”"), plan->node);
  request->server_fd = server->procs[0].fd;
  return TRUE;
}

void
stem_writer_request_clear (StemWriterRequest *request)
{
  g_clear_pointer (&request->message, g_bytes_unref);
  stem_fd_clear (&request->log_fd);
  stem_fd_clear (&request->pipe[0]);
  stem_fd_clear (&request->pipe[1]);
}

/* Sends MESSAGE with N_FDS descriptors FDS on SERVER_FD: 0 or an errno.
 * Async-signal-safe. */
static int
send_message (int server_fd, GBytes *message, const int *fds, gsize n_fds)
{
  gsize len;
  const void *data = g_bytes_get_data (message, &len);
  return stem_exec_send (server_fd, data, len, fds, n_fds);
}

/* Reads the one answer on ANSWER_FD; none at all: the server is gone. */
static StemLogwriterAnswer
read_answer (int answer_fd)
{
  StemLogwriterAnswer a = { STEM_LOGWRITER_FAILED_START, EPIPE }, got;
  ssize_t n;
  while ((n = read (answer_fd, &got, sizeof got)) < 0 && errno == EINTR)
    ;
  return n == sizeof got ? got : a;
}

StemLogwriterAnswer
stem_writer_request_send (const StemWriterRequest *request)
{
  StemLogwriterAnswer a = { STEM_LOGWRITER_FAILED_START, 0 };
  int answer[2];
  if (pipe2 (answer, O_CLOEXEC) < 0)
    {
      a.value = errno;
      return a;
    }
  int fds[3] = { request->pipe[0], request->log_fd, answer[1] };
  a.value = send_message (request->server_fd, request->message, fds, G_N_ELEMENTS (fds));
  close (answer[1]);
  if (a.value == 0)
    a = read_answer (answer[0]);
  close (answer[0]);
  return a;
}

/* PLAN's launch message (stem-logwriter-wire.h). */
static GBytes *
launch_message (const StemNodePlan *plan, gboolean with_writer, const char *pidfile_name,
                const char *temp_name, GError **error)
{
  const StemUser *user = plan->user;
  gboolean change = user != NULL && user->change;
  guint n_groups = change ? (guint)user->n_groups : 0;
  /* The log writer is sent the path on its own (stem-logwriter-wire.h). */
  if (with_writer && strlen (plan->logfile) >= STEM_LOGWRITER_MAX_PATH)
    {
      errno = ENAMETOOLONG;
      stem_throw_errno (error, _ ("Opening log file “%s”"), plan->logfile);
      return NULL;
    }
  g_autoptr (GByteArray) strings = g_byte_array_new ();
  const char *fixed[] = { plan->logfile, plan->workdir, pidfile_name, temp_name };
  for (guint i = 0; i < G_N_ELEMENTS (fixed); i++)
    g_byte_array_append (strings, (const guint8 *)fixed[i], (guint)strlen (fixed[i]) + 1);
  guint argc = g_strv_length (plan->argv), envc = g_strv_length (plan->envp);
  for (guint i = 0; i < argc; i++)
    g_byte_array_append (strings, (const guint8 *)plan->argv[i], (guint)strlen (plan->argv[i]) + 1);
  for (guint i = 0; i < envc; i++)
    g_byte_array_append (strings, (const guint8 *)plan->envp[i], (guint)strlen (plan->envp[i]) + 1);
  if (strings->len > STEM_LOGWRITER_MAX_STRINGS || n_groups > STEM_LOGWRITER_MAX_GROUPS
      || argc > STEM_LOGWRITER_MAX_ARGS || envc > STEM_LOGWRITER_MAX_ARGS)
    {
      errno = E2BIG;
      stem_throw_errno (error, _ ("Preparing to start “%s”"), plan->node);
      return NULL;
    }
  StemLogwriterLaunch req = {
    .kind = STEM_LOGWRITER_LAUNCH,
    .change_user = change,
    .uid = change ? (uint32_t)user->uid : 0,
    .gid = change ? (uint32_t)user->gid : 0,
    .n_groups = n_groups,
    .with_writer = with_writer,
    .has_umask = plan->has_umask,
    .umask = (uint32_t)plan->umask,
    .argc = argc,
    .envc = envc,
    .strings_len = strings->len,
    .lock_at = stem_log_lock_at (plan->node),
  };
  return message_new (&req, sizeof req, user, n_groups, strings->data, strings->len);
}

int
stem_writer_launch (StemWriterServer *server, const StemNodePlan *plan,
                    const StemWriterPlace *place, GError **error)
{
  g_autoptr (GBytes) message
      = launch_message (plan, !plan->log_direct, place->pidfile_name, place->temp_name, error);
  Server *proc = &server->procs[server->next];
  if (message == NULL || !server_start (server, proc, plan->node, error))
    return -1;
  server->next = (server->next + 1) % server->width;
  g_auto (StemFd) log_fd = stem_log_open (plan, error);
  if (log_fd < 0)
    return -1;
  int answer[2];
  if (pipe2 (answer, O_CLOEXEC) < 0)
    {
      stem_throw_errno (error, _ ("Preparing to start “%s”"), plan->node);
      return -1;
    }
  g_auto (StemFd) answer_read = answer[0];
  g_auto (StemFd) answer_write = answer[1];
  /* Four descriptors always: with no lock to hand over, the directory
   * stands in for it (the server only closes it). */
  int fds[4] = { log_fd, place->dir_fd, place->lock_fd >= 0 ? place->lock_fd : place->dir_fd,
                 answer_write };
  int errsv = send_message (proc->fd, message, fds, G_N_ELEMENTS (fds));
  if (errsv != 0)
    {
      errno = errsv;
      stem_throw_errno (error, _ ("Starting the log writer “%s” for “%s”"), server->program,
                        plan->node);
      return -1;
    }
  return stem_fd_steal (&answer_read);
}

StemLogwriterAnswer
stem_writer_launch_answer (int answer_fd)
{
  return read_answer (answer_fd);
}

gboolean
stem_writer_throw (GError **error, StemLogwriterAnswer answer, const StemWriterServer *server,
                   const char *node)
{
  errno = answer.value;
  if (answer.kind == STEM_LOGWRITER_FAILED_USER)
    return stem_throw_errno (error, _ ("Switching user for the log writer of “%s”"), node);
  return stem_throw_errno (error, _ ("Starting the log writer “%s” for “%s”"), server->program,
                           node);
}
