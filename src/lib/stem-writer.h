#pragma once

#include <glib.h>
#include <sys/types.h>

#include "stem-logwriter-wire.h"
#include "stem-plan.h"

G_BEGIN_DECLS

/* The log writers' server: "stem-logwriter --serve" (stem-logwriter-wire.h),
 * a small libc-only process that forks a log writer for each request, and
 * launches detached workers whole (stem_writer_launch).  This is the one
 * way stem-multi starts a log writer, for start, restart, supervise and
 * --foreground alike: a fork of that small process costs about half the
 * memory of a writer exec'd on its own.
 *
 * The caller owns the server (one process, or a few: see
 * stem_writer_server_set_width): it is started with the first request and
 * told to exit (its socket closed) when freed; it handles what it was sent
 * before that, exits, and is reaped then.  Its writers and the workers it
 * launched are its children, never ours, and it reaps them itself. */
typedef struct _StemWriterServer StemWriterServer;

StemWriterServer *stem_writer_server_new (void);
void stem_writer_server_free (StemWriterServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StemWriterServer, stem_writer_server_free)

/* Launches (stem_writer_launch) go to WIDTH server processes in turn,
 * each started with its first launch: on a machine with several CPUs, one
 * launch's waits (the worker's exec, the pidfile reaching the disk, the
 * writer's answer) overlap another's work.  1 (the default): one process.
 * Writers alone (stem_writer_request_init) always go to the first. */
#define STEM_WRITER_MAX_SERVERS 4
void stem_writer_server_set_width (StemWriterServer *server, guint width);

/* The width for a call that launches N nodes: one more server for every
 * 16 nodes, as far as there are CPUs. */
guint stem_writer_server_width (guint n);

/* How many writer processes, each with an inotify instance of its user, a
 * start of N nodes of one user with log writers makes at most. */
guint stem_writer_processes (guint n);

/* For a caller that reaps all its children (supervise): PID, just reaped,
 * was the server's; it is started afresh by the next request.  FALSE if
 * PID is not the server. */
gboolean stem_writer_server_forget (StemWriterServer *server, pid_t pid);

/* For the same caller, when a child it must not reap yet keeps it from
 * reaping in order: reaps a server that has exited, if any, and forgets
 * it.  Returns its PID, or 0. */
pid_t stem_writer_server_reap (StemWriterServer *server);

/* One log writer to start, made ready before any fork: the server running,
 * the message, PLAN's log open (stem_log_open) and the pipe whose read end
 * the writer gets and whose write end becomes the worker's output. */
typedef struct
{
  const char *node; /* borrowed from the plan, for messages */
  int server_fd;    /* borrowed from the server */
  GBytes *message;
  int log_fd;
  int pipe[2];
} StemWriterRequest;

gboolean stem_writer_request_init (StemWriterRequest *request, StemWriterServer *server,
                                   const StemNodePlan *plan, GError **error);
void stem_writer_request_clear (StemWriterRequest *request);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (StemWriterRequest, stem_writer_request_clear)

/* Sends REQUEST and waits until its writer runs as the node's user or
 * could not be started.  Async-signal-safe (a detached start calls it in
 * a forked child); closes none of REQUEST's descriptors. */
StemLogwriterAnswer stem_writer_request_send (const StemWriterRequest *request);

/* A worker launched detached by the server itself (stem-logwriter-wire.h:
 * STEM_LOGWRITER_LAUNCH), where its pidfile goes and the node's lock,
 * which the server holds until the pidfile is written. */
typedef struct
{
  int dir_fd; /* the pidfile's directory */
  const char *pidfile_name;
  const char *temp_name;
  int lock_fd; /* or -1 */
} StemWriterPlace;

/* Sends the launch of PLAN's worker (with its log writer, unless
 * --no-log-writer): returns the descriptor its answer will come on, or -1
 * with ERROR set (nothing was started). */
int stem_writer_launch (StemWriterServer *server, const StemNodePlan *plan,
                        const StemWriterPlace *place, GError **error);
/* Waits for that answer: STEM_LOGWRITER_RUNNING with the worker's pid once
 * its pidfile is written, or what failed. */
StemLogwriterAnswer stem_writer_launch_answer (int answer_fd);

/* ERROR for a failed ANSWER from SERVER about NODE's writer; always FALSE. */
gboolean stem_writer_throw (GError **error, StemLogwriterAnswer answer,
                            const StemWriterServer *server, const char *node);

G_END_DECLS
