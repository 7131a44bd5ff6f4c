/* stem-logwriter: writes workers' output to their log files and follows
 * each file when logrotate renames or removes it, so rotation loses no line.
 *
 * "stem-logwriter --serve" starts a log writer for each request that
 * stem-multi sends on standard input (see stem-logwriter-wire.h), and exits
 * when stem-multi closes it: the one way stem-multi starts log writers
 * (start, restart, supervise, --foreground).  A log writer is a thread of a
 * writer process, which the server forks for the first log of each user
 * and sends the logs to, up to STEM_LOGWRITER_LOGS_PER_PROCESS at a time
 * (a process tells the server when logs have ended): a thread costs a
 * fraction of a process to start and to end, and one inotify instance (a
 * user has 128) serves all the logs of a process.  Each thread
 * blocks on its own log alone (a log on a hung filesystem holds back no
 * other); the main thread hands it what inotify and SIGHUP say.  A log
 * writer ends when the last writer of its pipe has gone, and its process
 * once its last log has ended and the server has gone.
 *
 * "stem-logwriter /PATH/OF/LOG" is one log writer run directly, with the
 * output to write on standard input and the log file, opened, on standard
 * output and standard error (no node's byte of it is locked: see
 * stem_log_hold): for tests and debugging.  Not meant to be run by hand.
 *
 * Plain libc on purpose: these run beside every worker. */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <libintl.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __NR_close_range
#define __NR_close_range 436
#endif

#include "stem-exec.h"
#include "stem-log-trust.h"
#include "stem-logwriter-wire.h"
#include "stem-path.h"

#define _(text) dgettext (GETTEXT_PACKAGE, text)

/* A line that never ends does not hold a rotation back for longer than
 * this many bytes. */
#define MAX_HELD_LINE 65536

/* What the main thread asks of a writer's thread (Writer.asked). */
enum
{
  ASK_CHECK = 1,   /* the log's path may have moved */
  ASK_REOPEN = 2,  /* SIGHUP: open the path afresh */
  ASK_REWATCH = 4, /* the watch is gone (removed with another log's) */
};

/* One log and the thread that writes to it. */
typedef struct Writer Writer;
struct Writer
{
  char *path;
  uint32_t lock_at; /* its node's byte of the log (stem_log_hold), or 0 */
  int in_fd;        /* the worker's output */
  int log_fd;       /* the file it goes to, that byte locked */
  int wake_fd;      /* an eventfd: the main thread has asked something */
  int watch;        /* on the file open on LOG_FD, or -1; under both locks */
  atomic_int asked;
  bool at_line_start;
  bool move_pending;  /* the path names another file than ours */
  size_t held;        /* bytes written since MOVE_PENDING was set */
  bool reopen_failed; /* said so once; said again after a success */
  bool said_unwatched;
  unsigned long long lost_bytes;
  int lost_errno;
  Writer *next;
};

/* Every writer of this process, in the order they came; the main thread
 * reads their watches and wakes them, each thread removes its own. */
static pthread_mutex_t writers_lock = PTHREAD_MUTEX_INITIALIZER;
/* Held by a writer's thread from the moment it looks up its path for a
 * watch until it has stored the watch, and while it drops one: no watch
 * is dropped as nobody's while another writer is taking it.  Taken before
 * writers_lock, never by the main thread (a path on a hung filesystem
 * holds back the logs' watches, never their output or new logs). */
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static Writer *writers;
static unsigned n_writers;
static int inotify_fd = -1; /* one for all: a user's are limited (128) */
static int done_fd = -1;    /* an eventfd: a writer has ended */
static int inotify_errno;   /* why INOTIFY_FD is -1 */
/* No log can come any more: this process ends with its last writer, and
 * inotify's watches with it. */
static atomic_bool jobs_over;

/* 0, or the errno of the write that failed, with *WRITTEN what was
 * written before it. */
static int
write_all (int fd, const char *data, size_t len, size_t *written)
{
  *written = 0;
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno;
      data += n;
      len -= (size_t)n;
      *written += (size_t)n;
    }
  return 0;
}

/* A line of our own in W's log, on a line of its own. */
static int
say (Writer *w, const char *format, ...)
{
  char text[1024];
  int at = 0;
  if (!w->at_line_start)
    text[at++] = '\n';
  at += snprintf (text + at, sizeof text - (size_t)at, "stem-logwriter: ");
  va_list args;
  va_start (args, format);
  vsnprintf (text + at, sizeof text - (size_t)at, format, args);
  va_end (args);
  size_t len = strlen (text);
  if (len < sizeof text - 1)
    text[len++] = '\n';
  else
    text[len - 1] = '\n'; /* cut short, but a line all the same */
  size_t written;
  int errsv = write_all (w->log_fd, text, len, &written);
  if (errsv == 0)
    w->at_line_start = true;
  return errsv;
}

/* Output that cannot be written (a full disk, a file size limit) is
 * dropped rather than left to block the worker; the log says how much once
 * writing works again. */
static void
emit (Writer *w, const char *data, size_t len)
{
  if (len == 0)
    return;
  if (w->lost_bytes > 0
      && say (w, _ ("%llu bytes of output lost: %s"), w->lost_bytes, strerror (w->lost_errno)) != 0)
    {
      w->lost_bytes += len;
      return;
    }
  w->lost_bytes = 0;
  size_t written;
  int errsv = write_all (w->log_fd, data, len, &written);
  if (written > 0)
    w->at_line_start = data[written - 1] == '\n';
  if (errsv != 0)
    {
      w->lost_bytes += len - written;
      w->lost_errno = errsv;
    }
}

/* Without a watch, a rotation is noticed when the worker next writes
 * (write_output looks at the path first); the log says so, once. */
static void
unwatched (Writer *w, int errsv)
{
  if (!w->said_unwatched)
    say (w,
         _ ("cannot watch %s for rotation (%s): a rotation is noticed when the worker next "
            "writes"),
         w->path, strerror (errsv));
  w->said_unwatched = true;
}

/* Whether another writer than W has watch WD: one inotify instance gives
 * two paths to the same file the same watch.  Under either lock. */
static bool
watch_shared (const Writer *w, int wd)
{
  for (const Writer *o = writers; o != NULL; o = o->next)
    if (o != w && o->watch == wd)
      return true;
  return false;
}

/* Drops W's watch, unless another writer has it too.  Under both locks.
 * A writer that ends once no log can come leaves its watch to the end of
 * the process: removing it costs as much as the rest of its ending, and
 * the main thread would read the watch's last event for nothing (make
 * bench: stop of 200 nodes). */
static void
unwatch (Writer *w, bool ending)
{
  if (w->watch >= 0 && !(ending && atomic_load (&jobs_over)) && !watch_shared (w, w->watch))
    inotify_rm_watch (inotify_fd, w->watch);
  w->watch = -1;
}

/* Asks WHAT of W's thread. */
static void
ask (Writer *w, int what)
{
  uint64_t one = 1;
  atomic_fetch_or (&w->asked, what);
  while (write (w->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
    ;
}

static void
watch_log (Writer *w)
{
  if (inotify_fd < 0)
    return;
  pthread_mutex_lock (&watch_lock);
  /* IN_ATTRIB: a removal shows as a change of the link count (the file we
   * hold open is never deleted under us). */
  int wd = inotify_add_watch (inotify_fd, w->path,
                              IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB | IN_DONT_FOLLOW);
  int errsv = errno;
  pthread_mutex_lock (&writers_lock);
  int old = w->watch;
  w->watch = wd;
  if (old >= 0 && old != wd && !watch_shared (w, old))
    inotify_rm_watch (inotify_fd, old);
  pthread_mutex_unlock (&writers_lock);
  pthread_mutex_unlock (&watch_lock);
  /* The user's watches used up (ENOSPC), not a path already gone. */
  if (wd < 0 && (errsv == ENOSPC || errsv == ENOMEM))
    unwatched (w, errsv);
  /* An event of the new watch that came before it was ours was handed to
   * nobody, and the path may have moved again since it was opened: look
   * once more. */
  if (wd >= 0)
    ask (w, ASK_CHECK);
}

/* Drops W's watch: the path is then looked at before each write. */
static void
drop_watch (Writer *w)
{
  pthread_mutex_lock (&watch_lock);
  pthread_mutex_lock (&writers_lock);
  unwatch (w, false);
  pthread_mutex_unlock (&writers_lock);
  pthread_mutex_unlock (&watch_lock);
}

/* Whether W's path still names the file we write to. */
static bool
path_is_ours (const Writer *w)
{
  struct stat path_st, ours;
  if (fstat (w->log_fd, &ours) < 0)
    return true; /* nothing to compare: keep what we have */
  if (lstat (w->path, &path_st) < 0)
    return false;
  return path_st.st_dev == ours.st_dev && path_st.st_ino == ours.st_ino;
}

/* Opens W's path afresh (creating it, as the user we run as) and writes
 * there from now on.  If it cannot be opened, output keeps going to the file
 * we have, wherever it now is: late rather than lost.  The path is opened
 * relative to its directory, which is opened one component at a time,
 * never through a link someone other than root could change
 * (stem-path.h): whoever can write a directory on the way must not be able
 * to send the output to another file. */
/* Says, once until a reopen succeeds, why the file at W's path is not
 * written: ERRSV, or VERDICT on the file ST. */
static void
say_not_reopened (Writer *w, int errsv, StemLogVerdict verdict, const struct stat *st)
{
  if (w->reopen_failed)
    return;
  if (verdict == STEM_LOG_NOT_REGULAR)
    say (w, _ ("cannot reopen %s: not a regular file; still writing to the file it was rotated to"),
         w->path);
  else if (verdict == STEM_LOG_LINKED)
    say (w,
         _ ("cannot reopen %s: it has other hard links, not trusted; still writing to the file "
            "it was rotated to"),
         w->path);
  else if (verdict == STEM_LOG_FOREIGN)
    say (w,
         _ ("cannot reopen %s: it belongs to uid %u, not to uid %u, not trusted; still writing "
            "to the file it was rotated to"),
         w->path, (unsigned)st->st_uid, (unsigned)geteuid ());
  else
    say (w, _ ("cannot reopen %s: %s; still writing to the file it was rotated to"), w->path,
         strerror (errsv));
}

static void
reopen_log (Writer *w)
{
  w->move_pending = false;
  w->held = 0;
  int fd = stem_path_open_file (
      w->path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC | O_NONBLOCK, 0640);
  struct stat st, ours;
  int errsv = 0;
  bool same = false;
  /* Judged as stem-multi judged the log the worker started with: this
   * writer runs as the worker's user, or as root. */
  uid_t me = geteuid ();
  StemLogVerdict verdict = STEM_LOG_TRUSTED;
  if (fd < 0 || fstat (fd, &st) < 0)
    errsv = errno;
  /* The file we have (a SIGHUP with nothing rotated) was judged when it
   * was opened: it is kept open, with the lock on its node's byte, which
   * a second open file of it could not take beside it. */
  else if (fstat (w->log_fd, &ours) == 0 && ours.st_dev == st.st_dev && ours.st_ino == st.st_ino)
    same = true;
  else if ((verdict = stem_log_judge (&st, me == 0, true, me)) == STEM_LOG_TRUSTED
           && fcntl (fd, F_SETFL, O_APPEND) < 0)
    errsv = errno;
  if (errsv != 0 || verdict != STEM_LOG_TRUSTED)
    {
      if (fd >= 0)
        close (fd);
      /* The watch is on the rotated file, which tells nothing of a new
       * one (logrotate's create, after our attempt): look at the path
       * before each write until a reopen succeeds. */
      drop_watch (w);
      say_not_reopened (w, errsv, verdict, &st);
      w->reopen_failed = true;
      return;
    }
  /* stem-multi stop waits for this lock to go before it reports a node
   * stopped, so the worker's last words are in the log by then.  Taken
   * on the new file before the old one is let go; and again on the file
   * kept, whose byte may have been held when it was opened (by its
   * node's previous writer, still writing then). */
  stem_log_hold (same ? w->log_fd : fd, w->lock_at);
  if (same)
    close (fd);
  else
    {
      close (w->log_fd);
      w->log_fd = fd;
      w->at_line_start = true;
    }
  w->reopen_failed = false;
  watch_log (w);
}

/* Called when the path may have moved: switch files now, or once the line
 * being written is complete. */
static void
check_path (Writer *w)
{
  if (path_is_ours (w))
    return;
  if (w->at_line_start)
    reopen_log (w);
  else
    w->move_pending = true;
}

static void
write_output (Writer *w, const char *data, size_t len)
{
  if (inotify_fd < 0 || w->watch < 0)
    check_path (w); /* no notification: look before every write */
  if (w->move_pending)
    {
      /* Finish the current line in the file it started in. */
      const char *newline = memchr (data, '\n', len);
      size_t head = newline != NULL ? (size_t)(newline - data) + 1 : len;
      emit (w, data, head);
      w->held += head;
      data += head;
      len -= head;
      if (newline != NULL || w->held >= MAX_HELD_LINE)
        reopen_log (w);
    }
  emit (w, data, len);
}

/* What the main thread asked, done before the output read with it: output
 * read after a rotation goes to the new file. */
static void
answer_asked (Writer *w)
{
  uint64_t count;
  while (read (w->wake_fd, &count, sizeof count) < 0 && errno == EINTR)
    ;
  int asked = atomic_exchange (&w->asked, 0);
  if (asked & ASK_REWATCH)
    watch_log (w);
  if (asked & ASK_CHECK)
    check_path (w);
  if ((asked & ASK_REOPEN) && w->at_line_start)
    reopen_log (w);
  else if (asked & ASK_REOPEN)
    w->move_pending = true;
}

/* Takes W out of the list (and its watch away, unless shared) and frees
 * it. */
static void
writer_remove (Writer *w)
{
  pthread_mutex_lock (&watch_lock);
  pthread_mutex_lock (&writers_lock);
  unwatch (w, true);
  for (Writer **at = &writers; *at != NULL; at = &(*at)->next)
    if (*at == w)
      {
        *at = w->next;
        break;
      }
  n_writers--;
  pthread_mutex_unlock (&writers_lock);
  pthread_mutex_unlock (&watch_lock);
  close (w->in_fd);
  close (w->log_fd);
  close (w->wake_fd);
  free (w->path);
  free (w);
}

/* A writer's thread: copies its worker's output to the log until the last
 * writer of the pipe has gone. */
static void *
writer_run (void *data)
{
  Writer *w = data;
  if (inotify_fd < 0)
    unwatched (w, inotify_errno);
  watch_log (w);
  check_path (w);

  char buffer[16384];
  struct pollfd fds[2] = {
    { .fd = w->in_fd, .events = POLLIN },
    { .fd = w->wake_fd, .events = POLLIN },
  };
  for (;;)
    {
      if (poll (fds, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (fds[1].revents & POLLIN)
        answer_asked (w);
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
        {
          ssize_t n = read (w->in_fd, buffer, sizeof buffer);
          if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
          if (n <= 0)
            break;
          write_output (w, buffer, (size_t)n);
        }
    }
  /* A last line without its newline would run into the first line of the
   * next writer of this log (the worker's next run), which starts at the
   * start of a line. */
  if (!w->at_line_start)
    emit (w, "\n", 1);
  if (w->lost_bytes > 0)
    say (w, _ ("%llu bytes of output lost: %s"), w->lost_bytes, strerror (w->lost_errno));
  /* Everything is written: let stop know now. */
  stem_log_release (w->log_fd);

  writer_remove (w);
  uint64_t one = 1;
  while (write (done_fd, &one, sizeof one) < 0 && errno == EINTR)
    ;
  return NULL;
}

/* Starts a thread writing IN_FD to LOG_FD (both taken) for PATH, whose
 * byte LOCK_AT is its node's (0: none): 0 or an errno. */
static int
writer_add (const char *path, uint32_t lock_at, int in_fd, int log_fd)
{
  Writer *w = calloc (1, sizeof *w);
  int errsv = ENOMEM;
  if (w != NULL)
    {
      *w = (Writer){
        .lock_at = lock_at, .in_fd = in_fd, .log_fd = log_fd, .watch = -1, .at_line_start = true
      };
      w->path = strdup (path);
      w->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
      errsv = w->wake_fd < 0 ? errno : w->path == NULL ? ENOMEM : 0;
    }
  if (errsv != 0)
    {
      if (w != NULL)
        {
          if (w->wake_fd >= 0)
            close (w->wake_fd);
          free (w->path);
          free (w);
        }
      close (in_fd);
      close (log_fd);
      return errsv;
    }
  pthread_mutex_lock (&writers_lock);
  Writer **at = &writers;
  while (*at != NULL)
    at = &(*at)->next;
  *at = w;
  n_writers++;
  pthread_mutex_unlock (&writers_lock);

  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize (&attr, 256 * 1024);
  pthread_t thread;
  errsv = pthread_create (&thread, &attr, writer_run, w);
  pthread_attr_destroy (&attr);
  if (errsv != 0)
    writer_remove (w);
  return errsv;
}

/* Asks WHAT of every writer for which WANT is true. */
static void
ask_writers (int what, bool (*want) (const Writer *w, int wd), int wd)
{
  pthread_mutex_lock (&writers_lock);
  for (Writer *w = writers; w != NULL; w = w->next)
    if (want (w, wd))
      ask (w, what);
  pthread_mutex_unlock (&writers_lock);
}

static bool
has_watch (const Writer *w, int wd)
{
  return w->watch == wd;
}

static bool
every (const Writer *w, int wd)
{
  (void)w;
  (void)wd;
  return true;
}

/* Hands each inotify event to the writers of its watch. */
static void
dispatch_inotify (void)
{
  char events[64 * sizeof (struct inotify_event)]
      __attribute__ ((aligned (__alignof__(struct inotify_event))));
  ssize_t n;
  while ((n = read (inotify_fd, events, sizeof events)) > 0)
    for (char *at = events; at < events + n;)
      {
        /* The watches are on the files themselves: no names follow.  Events
         * lost to an overflow may have been anyone's. */
        const struct inotify_event *e = (const struct inotify_event *)at;
        if (e->mask & IN_Q_OVERFLOW)
          ask_writers (ASK_CHECK, every, 0);
        else if (e->mask & IN_IGNORED)
          ask_writers (ASK_REWATCH, has_watch, e->wd);
        else
          ask_writers (ASK_CHECK, has_watch, e->wd);
        at += sizeof *e + e->len;
      }
}

/* --serve: the area of the original argument and environment strings,
 * which each writer overwrites with a title naming its log, as
 * "stem-logwriter /PATH/OF/LOG" would read in ps.  The environment is
 * copied elsewhere first. */
static char *title_area;
static size_t title_room;
static const char *program_name;

extern char **environ;

static void
prepare_title (char **argv)
{
  program_name = strdup (argv[0]);
  char *end = argv[0];
  for (int i = 0; argv[i] != NULL; i++)
    if (argv[i] == end)
      end += strlen (argv[i]) + 1;
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **copy = calloc (n + 1, sizeof *copy);
  char *env_end = end;
  bool copied = copy != NULL && program_name != NULL;
  for (size_t i = 0; copied && i < n; i++)
    {
      if (environ[i] == env_end)
        env_end += strlen (environ[i]) + 1;
      copied = (copy[i] = strdup (environ[i])) != NULL;
    }
  if (copied)
    {
      environ = copy;
      end = env_end;
    }
  title_area = argv[0];
  title_room = (size_t)(end - argv[0]);
}

/* Who a writer or a worker runs as. */
typedef struct
{
  bool change;
  uid_t uid;
  gid_t gid;
  size_t n_groups;
  gid_t groups[STEM_LOGWRITER_MAX_GROUPS];
} User;

static int
apply_user (const User *user)
{
  return stem_exec_switch_user (user->change, user->uid, user->gid, user->n_groups, user->groups);
}

/* The title of a writer process: the logs it writes, as
 * "stem-logwriter /PATH/OF/LOG…" would read in ps.  Main thread only. */
static void
title_writers (void)
{
  if (program_name == NULL || title_room < 2)
    return;
  memset (title_area, 0, title_room);
  size_t at = (size_t)snprintf (title_area, title_room, "%s", program_name);
  pthread_mutex_lock (&writers_lock);
  for (const Writer *w = writers; w != NULL && at < title_room; w = w->next)
    at += (size_t)snprintf (title_area + at, title_room - at, " %s", w->path);
  pthread_mutex_unlock (&writers_lock);
}

static bool take_job (int job_fd, int setup_errsv);

/* Tells the server on JOB_FD that N of the logs it sent here have ended,
 * so that it sends this process others in their place.  Never waits: a
 * notice that does not fit only makes the server fork another process
 * sooner. */
static void
tell_ended (int job_fd, uint64_t n)
{
  uint32_t ended = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
  if (job_fd >= 0 && ended > 0)
    send (job_fd, &ended, sizeof ended, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* A writer process's main thread: takes the logs the server sends on
 * JOB_FD (-1: none will come), tells the writers what inotify and SIGHUP
 * say, and returns when no more can come and every writer has ended. */
static int
writers_main (int job_fd, int signal_fd, int setup_errsv)
{
  struct pollfd fds[4] = {
    { .fd = job_fd, .events = POLLIN },
    { .fd = signal_fd, .events = POLLIN },
    { .fd = done_fd, .events = POLLIN },
    { .fd = inotify_fd, .events = POLLIN },
  };
  if (job_fd < 0)
    atomic_store (&jobs_over, true);
  for (;;)
    {
      pthread_mutex_lock (&writers_lock);
      unsigned left = n_writers;
      pthread_mutex_unlock (&writers_lock);
      if (fds[0].fd < 0 && left == 0)
        return 0;
      if (poll (fds, 4, -1) < 0)
        {
          /* Leaving would end every log: only a bug could make it fail
           * for good. */
          if (errno == EINTR || errno == ENOMEM)
            continue;
          return 1;
        }
      /* Moves first: output read after a rotation goes to the new file. */
      if (fds[3].revents & POLLIN)
        dispatch_inotify ();
      if (fds[1].revents & POLLIN)
        {
          struct signalfd_siginfo info;
          while (read (signal_fd, &info, sizeof info) > 0)
            ;
          ask_writers (ASK_REOPEN, every, 0);
        }
      if (fds[2].revents & POLLIN)
        {
          uint64_t count = 0;
          while (read (done_fd, &count, sizeof count) < 0 && errno == EINTR)
            ;
          tell_ended (fds[0].fd, count);
          title_writers ();
        }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR) && !take_job (job_fd, setup_errsv))
        {
          fds[0].fd = -1; /* the server is gone: no more logs */
          atomic_store (&jobs_over, true);
        }
    }
}

/* The signals a writer process stays for: the workers' sessions or
 * groups may be signalled as a whole, and we stay until their output
 * ends.  SIGHUP, which reopens the logs (for rotation schemes of their
 * own), is blocked, to be read from a descriptor: before any thread is
 * made, so that every thread inherits the mask. */
static void
stay_for_signals (void)
{
  signal (SIGTERM, SIG_IGN);
  signal (SIGINT, SIG_IGN);
  signal (SIGQUIT, SIG_IGN);
  signal (SIGUSR1, SIG_IGN);
  signal (SIGUSR2, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);
  signal (SIGXFSZ, SIG_IGN); /* a file size limit: EFBIG, counted as lost */
  signal (SIGCHLD, SIG_DFL);
  sigset_t hup;
  sigemptyset (&hup);
  sigaddset (&hup, SIGHUP);
  sigprocmask (SIG_SETMASK, &hup, NULL);
}

/* Sets up a writer process (or "stem-logwriter /PATH") once it has
 * stay_for_signals (): inotify, the descriptor SIGHUP is read from (the
 * result, -1 on failure), the one a writer that ends writes to. */
static int
writers_setup (void)
{
  inotify_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0)
    inotify_errno = errno;
  done_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  sigset_t hup;
  sigemptyset (&hup);
  sigaddset (&hup, SIGHUP);
  int signal_fd = signalfd (-1, &hup, SFD_NONBLOCK | SFD_CLOEXEC);
  return done_fd < 0 ? -1 : signal_fd;
}

/* Forks a writer process, to run as USER: our end of its job socket, or
 * -1 (errno set).  Reaped, once it exits, with the server's other
 * children. */
static int
writer_process_new (const User *user)
{
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -1;
  pid_t pid = fork ();
  if (pid < 0)
    {
      int errsv = errno;
      close (sv[0]);
      close (sv[1]);
      errno = errsv;
      return -1;
    }
  if (pid > 0)
    {
      close (sv[1]);
      return sv[0];
    }

  /* The writer process: a session of its own, the workers' user, nothing
   * of ours open (a node's lock must not live as long as its writer); its
   * job socket on standard input, /dev/null on the others (its words go
   * to each log).  What fails here is answered to every log sent. */
  stay_for_signals (); /* the server's mask, all blocked, until then */
  int errsv = 0;
  int null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0 || dup2 (sv[1], STDIN_FILENO) < 0 || dup2 (null_fd, STDOUT_FILENO) < 0
      || dup2 (null_fd, STDERR_FILENO) < 0)
    _exit (1);
  if (syscall (__NR_close_range, 3U, ~0U, 0U) != 0)
    for (int fd = 3; fd < 65536; fd++)
      close (fd);
  if (setsid () < 0 || chdir ("/") < 0)
    errsv = errno;
  if (errsv == 0 && (errsv = apply_user (user)) != 0)
    errsv = -errsv; /* the switch to the user failed */
  int signal_fd = writers_setup ();
  if (signal_fd < 0 && errsv == 0)
    errsv = errno;
  _exit (writers_main (STDIN_FILENO, signal_fd, errsv));
}

/* This server's writer processes, a few logs each, by user. */
typedef struct
{
  User user;
  int fd;        /* its job socket, -1 once it failed us */
  unsigned logs; /* sent to it and not yet ended, as far as it has told */
} WriterProcess;

static WriterProcess *processes;
static size_t n_processes;

static bool
same_user (const User *a, const User *b)
{
  if (a->change != b->change)
    return false;
  if (!a->change)
    return true;
  return a->uid == b->uid && a->gid == b->gid && a->n_groups == b->n_groups
         && memcmp (a->groups, b->groups, a->n_groups * sizeof a->groups[0]) == 0;
}

/* Counts off the logs that P says have ended (tell_ended).  A process
 * that has closed its socket is gone. */
static void
count_ended (WriterProcess *p)
{
  uint32_t ended;
  ssize_t n;
  while (p->fd >= 0 && (n = recv (p->fd, &ended, sizeof ended, MSG_DONTWAIT)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return;
      if (n == sizeof ended)
        p->logs -= ended < p->logs ? ended : p->logs;
    }
  if (p->fd >= 0)
    {
      close (p->fd);
      p->fd = -1;
    }
}

/* A writer process for USER with room for one more log, or NULL. */
static WriterProcess *
with_room (const User *user)
{
  for (size_t i = 0; i < n_processes; i++)
    if (processes[i].fd >= 0 && processes[i].logs < STEM_LOGWRITER_LOGS_PER_PROCESS
        && same_user (&processes[i].user, user))
      return &processes[i];
  return NULL;
}

/* A writer process for USER with room for one more log: 0 or an errno.
 * Under supervise the server stays, and so may its processes: before
 * another is forked, the room that ended logs left is taken again (else
 * a restart now and then would fork one for every 64). */
static int
writer_process_for (const User *user, WriterProcess **out)
{
  if ((*out = with_room (user)) != NULL)
    return 0;
  for (size_t i = 0; i < n_processes; i++)
    count_ended (&processes[i]);
  if ((*out = with_room (user)) != NULL)
    return 0;
  WriterProcess *grown = realloc (processes, (n_processes + 1) * sizeof *processes);
  if (grown == NULL)
    return ENOMEM;
  processes = grown;
  WriterProcess *p = &processes[n_processes];
  p->fd = writer_process_new (user);
  if (p->fd < 0)
    return errno;
  p->user = *user;
  p->logs = 0;
  n_processes++;
  *out = p;
  return 0;
}

/* Has a thread of a writer process run as USER write DATA_FD to LOG_FD
 * for PATH (its node's byte LOCK_AT); it (or we, when it cannot) says on
 * ANSWER_FD when it runs, or what failed. */
static void
start_writer (const User *user, const char *path, uint32_t lock_at, int data_fd, int log_fd,
              int answer_fd)
{
  /* The job: LOCK_AT, then the path. */
  char job[sizeof lock_at + STEM_LOGWRITER_MAX_PATH];
  size_t path_len = strlen (path);
  if (path_len >= STEM_LOGWRITER_MAX_PATH)
    {
      stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_START, ENAMETOOLONG);
      return;
    }
  memcpy (job, &lock_at, sizeof lock_at);
  memcpy (job + sizeof lock_at, path, path_len);
  WriterProcess *p = NULL;
  int errsv = 0;
  /* One that has gone (killed) is replaced once. */
  for (int attempt = 0; attempt < 2; attempt++)
    {
      if ((errsv = writer_process_for (user, &p)) != 0)
        break;
      int fds[3] = { data_fd, log_fd, answer_fd };
      if ((errsv = stem_exec_send (p->fd, job, sizeof lock_at + path_len, fds, 3)) == 0)
        {
          p->logs++;
          return;
        }
      close (p->fd);
      p->fd = -1;
    }
  stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_START, errsv);
}

/* ---- requests ------------------------------------------------------------ */

/* One message and its descriptors. */
typedef struct
{
  const unsigned char *data;
  size_t len;
  int fds[4];
  size_t n_fds;
} Message;

static bool
read_user (const uint32_t *head, uint32_t n_groups, const unsigned char *groups, User *user)
{
  if (n_groups > STEM_LOGWRITER_MAX_GROUPS)
    return false;
  user->change = head[0] != 0;
  user->uid = (uid_t)head[1];
  user->gid = (gid_t)head[2];
  user->n_groups = n_groups;
  for (uint32_t i = 0; i < n_groups; i++)
    memcpy (&user->groups[i], groups + i * sizeof (uint32_t), sizeof (uint32_t));
  return true;
}

static void
serve_writer (const Message *m)
{
  static User user;
  StemLogwriterRequest req;
  if (m->n_fds != 3 || m->len < sizeof req)
    return;
  memcpy (&req, m->data, sizeof req);
  size_t groups_len = (size_t)req.n_groups * sizeof (uint32_t);
  if (req.n_groups > STEM_LOGWRITER_MAX_GROUPS || req.path_len == 0
      || req.path_len >= STEM_LOGWRITER_MAX_PATH
      || m->len != sizeof req + groups_len + req.path_len)
    return;
  uint32_t head[3] = { req.change_user, req.uid, req.gid };
  if (!read_user (head, req.n_groups, m->data + sizeof req, &user))
    return;
  char path[STEM_LOGWRITER_MAX_PATH];
  memcpy (path, m->data + sizeof req + groups_len, req.path_len);
  path[req.path_len] = '\0';
  start_writer (&user, path, req.lock_at, m->fds[0], m->fds[1], m->fds[2]);
}

/* A launch, as read from its message: pointers into the message. */
typedef struct
{
  User user;
  bool with_writer;
  uint32_t lock_at;
  const char *log_path;
  const char *pidfile_name;
  const char *temp_name;
  StemExecWorker exec; /* its user is USER */
} Launch;

/* Splits the NUL-terminated strings of a launch: exactly 4 + ARGC + ENVC
 * of them, filling L's pointers.  *STRINGS is all of them. */
static bool
read_strings (const StemLogwriterLaunch *req, const char *strings, Launch *l)
{
  static char *pointers[4 + 2 * (STEM_LOGWRITER_MAX_ARGS + 1)];
  size_t want = 4 + (size_t)req->argc + req->envc, n = 0;
  if (req->argc == 0 || req->argc > STEM_LOGWRITER_MAX_ARGS || req->envc > STEM_LOGWRITER_MAX_ARGS
      || req->strings_len == 0 || strings[req->strings_len - 1] != '\0')
    return false;
  for (size_t at = 0; at < req->strings_len; at += strlen (strings + at) + 1)
    {
      if (n == want)
        return false;
      /* Room for the NULL ending argv before envp starts. */
      pointers[n < 4 + req->argc ? n : n + 1] = (char *)strings + at;
      n++;
    }
  if (n != want)
    return false;
  l->log_path = pointers[0];
  l->exec.workdir = pointers[1];
  l->pidfile_name = pointers[2];
  l->temp_name = pointers[3];
  l->exec.argv = pointers + 4;
  l->exec.argv[req->argc] = NULL;
  l->exec.envp = l->exec.argv + req->argc + 1;
  l->exec.envp[req->envc] = NULL;
  return true;
}

static bool
read_launch (const Message *m, Launch *l)
{
  StemLogwriterLaunch req;
  if (m->n_fds != 4 || m->len < sizeof req)
    return false;
  memcpy (&req, m->data, sizeof req);
  size_t groups_len = (size_t)req.n_groups * sizeof (uint32_t);
  if (req.n_groups > STEM_LOGWRITER_MAX_GROUPS || req.strings_len > STEM_LOGWRITER_MAX_STRINGS
      || m->len != sizeof req + groups_len + req.strings_len)
    return false;
  uint32_t head[3] = { req.change_user, req.uid, req.gid };
  l->with_writer = req.with_writer != 0;
  l->lock_at = req.lock_at;
  if (!read_user (head, req.n_groups, m->data + sizeof req, &l->user)
      || !read_strings (&req, (const char *)m->data + sizeof req + groups_len, l))
    return false;
  l->exec.change_user = l->user.change;
  l->exec.uid = l->user.uid;
  l->exec.gid = l->user.gid;
  l->exec.n_groups = l->user.n_groups;
  l->exec.groups = l->user.groups;
  l->exec.has_umask = req.has_umask != 0;
  l->exec.umask = (mode_t)(req.umask & 0777);
  return true;
}

/* Writes "PID\n" to a new temporary file in DIR_FD, mode 0644 whatever the
 * umask, and renames it over the pidfile (replacing a symbolic link, never
 * following it).  0 or an errno.  Not flushed to disk first: on a disk that
 * cost a write per node (make bench-ab, 200 nodes in /tmp on ext4: start
 * 0.84 times, stop 0.78 times), and what a power cut leaves of a pidfile
 * is known by its date from before the boot (stem-pidfile.c). */
static int
record_worker (int dir_fd, const Launch *l, pid_t worker)
{
  char text[16];
  int len = snprintf (text, sizeof text, "%d\n", (int)worker);
  int fd = openat (dir_fd, l->temp_name,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0)
    return errno;
  /* A few bytes to a new regular file: written whole or not at all (a
   * short count here means a full disk). */
  int errsv = 0;
  ssize_t n_written = fchmod (fd, 0644) < 0 ? -1 : write (fd, text, (size_t)len);
  if (n_written != len)
    errsv = n_written < 0 ? errno : ENOSPC;
  if (close (fd) < 0 && errsv == 0 && errno != EINTR)
    errsv = errno;
  if (errsv == 0 && renameat (dir_fd, l->temp_name, dir_fd, l->pidfile_name) < 0)
    errsv = errno;
  if (errsv != 0)
    unlinkat (dir_fd, l->temp_name, 0);
  return errsv;
}

/* The worker's output, in *OUT_FD: the log itself, or the write end of a
 * pipe to a new log writer, which says on *STATUS_FD whether it runs (not
 * waited for here: the worker starts meanwhile, and is killed should the
 * writer fail).  FALSE, answered, on failure. */
static bool
launch_output (const Launch *l, int log_fd, int answer_fd, int *out_fd, int *status_fd)
{
  *status_fd = -1;
  if (!l->with_writer)
    {
      if ((*out_fd = dup (log_fd)) < 0)
        stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_START, errno);
      return *out_fd >= 0;
    }
  int data[2], status[2];
  if (pipe2 (data, O_CLOEXEC) < 0)
    {
      stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_START, errno);
      return false;
    }
  if (pipe2 (status, O_CLOEXEC) < 0)
    {
      stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_START, errno);
      close (data[0]);
      close (data[1]);
      return false;
    }
  start_writer (&l->user, l->log_path, l->lock_at, data[0], log_fd, status[1]);
  close (status[1]);
  close (data[0]);
  *out_fd = data[1];
  *status_fd = status[0];
  return true;
}

/* What the writer said on STATUS_FD (-1: there is none). */
static StemLogwriterAnswer
writer_status (int status_fd)
{
  StemLogwriterAnswer a = { STEM_LOGWRITER_RUNNING, 0 };
  if (status_fd < 0)
    return a;
  StemLogwriterAnswer got;
  ssize_t n;
  while ((n = read (status_fd, &got, sizeof got)) < 0 && errno == EINTR)
    ;
  close (status_fd);
  if (n == sizeof got)
    return got;
  return (StemLogwriterAnswer){ STEM_LOGWRITER_FAILED_START, EIO };
}

static void
serve_launch (const Message *m, int null_fd)
{
  static Launch l;
  int log_fd = m->fds[0], dir_fd = m->fds[1], answer_fd = m->fds[3];
  int out_fd, writer_fd, status[2];
  if (!read_launch (m, &l))
    return; /* no answer: stem-multi says the server failed it */
  if (!launch_output (&l, log_fd, answer_fd, &out_fd, &writer_fd))
    return;
  if (pipe2 (status, O_CLOEXEC) < 0)
    {
      stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_FORK, errno);
      close (out_fd);
      writer_status (writer_fd);
      return;
    }
  /* A process group of its own, in our session; we wait only until its
   * exec.  It is stem-multi's child, not ours: stem-multi reaps none of
   * its workers, so that one that dies at once stays a zombie, its PID
   * its own, until stem-multi has ended what it left in its process group
   * (--settle), and exits. */
  StemExecChild c = { &l.exec, false, null_fd, out_fd, status[1] };
  pid_t worker = stem_exec_vfork_sibling (stem_exec_child, &c);
  int errsv = errno;
  close (status[1]);
  close (out_fd);
  StemLogwriterAnswer failed;
  ssize_t n = 0;
  if (worker > 0)
    while ((n = read (status[0], &failed, sizeof failed)) < 0 && errno == EINTR)
      ;
  close (status[0]);
  /* No worker without its writer.  The worker is stem-multi's child,
   * which stem-multi does not reap: its PID cannot have been reused. */
  StemLogwriterAnswer writer = writer_status (writer_fd);
  if (worker < 0)
    stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_FORK, errsv);
  else if (n == sizeof failed)
    stem_exec_answer (answer_fd, failed.kind, failed.value); /* it did not start, and has exited */
  else if (writer.kind != STEM_LOGWRITER_RUNNING)
    {
      kill (worker, SIGKILL);
      stem_exec_answer (answer_fd, writer.kind, writer.value);
    }
  else if ((errsv = record_worker (dir_fd, &l, worker)) != 0)
    {
      /* Nothing could find it again. */
      kill (worker, SIGKILL);
      stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_PIDFILE, errsv);
    }
  else
    stem_exec_answer (answer_fd, STEM_LOGWRITER_RUNNING, (int)worker);
}

/* Receives one message on FD: its length, 0 at the end, -1 on failure
 * (EINTR: try again). */
static ssize_t
receive (int fd, unsigned char *buffer, size_t size, Message *m)
{
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE (4 * sizeof (int))];
  } control;
  struct iovec iov = { buffer, size };
  struct msghdr msg = {
    .msg_iov = &iov,
    .msg_iovlen = 1,
    .msg_control = control.buf,
    .msg_controllen = sizeof control.buf,
  };
  ssize_t n = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0)
    return n;
  m->data = buffer;
  m->len = (size_t)n;
  m->n_fds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c != NULL; c = CMSG_NXTHDR (&msg, c))
    {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        continue;
      size_t count = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
      for (size_t i = 0; i < count; i++)
        {
          int got;
          memcpy (&got, CMSG_DATA (c) + i * sizeof (int), sizeof (int));
          if (m->n_fds < 4)
            m->fds[m->n_fds++] = got;
          else
            close (got);
        }
    }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
    m->len = 0; /* matches no request */
  return n;
}

/* Takes the next log the server sent a writer process on JOB_FD (its
 * node's byte and its path; descriptors: the worker's output, the log, the
 * answer pipe), unless SETUP_ERRSV says why none can be written (negative:
 * the switch to the user failed).  FALSE once the server has gone. */
static bool
take_job (int job_fd, int setup_errsv)
{
  static unsigned char buffer[sizeof (uint32_t) + STEM_LOGWRITER_MAX_PATH];
  Message m;
  ssize_t n = receive (job_fd, buffer, sizeof buffer, &m);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return true;
  if (n <= 0)
    return false;
  uint32_t lock_at;
  if (m.n_fds != 3 || m.len <= sizeof lock_at || m.len - sizeof lock_at >= STEM_LOGWRITER_MAX_PATH)
    {
      for (size_t i = 0; i < m.n_fds; i++)
        close (m.fds[i]);
      return true;
    }
  /* The job (start_writer): the node's byte, then the path. */
  char path[STEM_LOGWRITER_MAX_PATH];
  memcpy (&lock_at, m.data, sizeof lock_at);
  memcpy (path, m.data + sizeof lock_at, m.len - sizeof lock_at);
  path[m.len - sizeof lock_at] = '\0';
  int answer_fd = m.fds[2], errsv;
  if (setup_errsv != 0)
    {
      close (m.fds[0]);
      close (m.fds[1]);
      stem_exec_answer (answer_fd,
                        setup_errsv < 0 ? STEM_LOGWRITER_FAILED_USER : STEM_LOGWRITER_FAILED_START,
                        abs (setup_errsv));
      tell_ended (job_fd, 1);
    }
  else if ((errsv = writer_add (path, lock_at, m.fds[0], m.fds[1])) != 0)
    {
      stem_exec_answer (answer_fd, STEM_LOGWRITER_FAILED_START, errsv);
      tell_ended (job_fd, 1);
    }
  else
    {
      stem_exec_answer (answer_fd, STEM_LOGWRITER_RUNNING, (int)getpid ());
      title_writers ();
    }
  close (answer_fd);
  return true;
}

/* Reaps every child that has exited (writers; the workers are stem-multi's
 * children) when the signal descriptor says so. */
static void
reap_children (int signal_fd)
{
  struct signalfd_siginfo info;
  while (read (signal_fd, &info, sizeof info) > 0)
    ;
  while (waitpid (-1, NULL, WNOHANG) > 0)
    ;
}

static int
serve (char **argv)
{
  prepare_title (argv);
  signal (SIGPIPE, SIG_IGN);
  /* A session of our own: the workers we start lead process groups in it,
   * and none can ever acquire a terminal. */
  setsid ();
  /* Every signal blocked (children reset their mask): we finish what we
   * were sent whatever happens to stem-multi, and exit when it has closed
   * our socket.  SIGCHLD is read from a descriptor. */
  sigset_t all, child;
  sigfillset (&all);
  sigprocmask (SIG_BLOCK, &all, NULL);
  sigemptyset (&child);
  sigaddset (&child, SIGCHLD);
  int signal_fd = signalfd (-1, &child, SFD_NONBLOCK | SFD_CLOEXEC);
  int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (signal_fd < 0 || null_fd < 0)
    return 1;
  static unsigned char buffer[sizeof (StemLogwriterLaunch) + STEM_LOGWRITER_MAX_GROUPS * 4
                              + STEM_LOGWRITER_MAX_STRINGS];
  struct pollfd fds[2] = {
    { .fd = STDIN_FILENO, .events = POLLIN },
    { .fd = signal_fd, .events = POLLIN },
  };
  for (;;)
    {
      if (poll (fds, 2, -1) < 0 && errno != EINTR)
        return 1;
      if (fds[1].revents & POLLIN)
        reap_children (signal_fd);
      if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      Message m;
      ssize_t n = receive (STDIN_FILENO, buffer, sizeof buffer, &m);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n == 0 ? 0 : 1;
      uint32_t kind = 0;
      if (m.len >= sizeof kind)
        memcpy (&kind, m.data, sizeof kind);
      if (kind == STEM_LOGWRITER_WRITER)
        serve_writer (&m);
      else if (kind == STEM_LOGWRITER_LAUNCH)
        serve_launch (&m, null_fd);
      for (size_t i = 0; i < m.n_fds; i++)
        close (m.fds[i]);
    }
}

int
main (int argc, char **argv)
{
  /* As the tools: its messages and their characters, nothing else. */
  setlocale (LC_CTYPE, "");
  setlocale (LC_MESSAGES, "");
  const char *dir = getenv ("STEM_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, dir != NULL && *dir != '\0' ? dir : LOCALEDIR);

  if (argc == 2 && strcmp (argv[1], "--serve") == 0)
    return serve (argv);
  if (argc != 2 || argv[1][0] != '/')
    {
      fprintf (stderr, _ ("Usage: stem-logwriter /PATH/OF/LOG (run by “stem-multi start”)\n"));
      return 2;
    }
  stay_for_signals ();
  int signal_fd = writers_setup ();
  if (signal_fd < 0 || writer_add (argv[1], 0, STDIN_FILENO, STDOUT_FILENO) != 0)
    return 1;
  return writers_main (-1, signal_fd, 0);
}
