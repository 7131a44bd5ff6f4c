#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define STEM_ERROR (stem_error_quark ())

typedef enum
{
  STEM_ERROR_FAILED,     /* a runtime failure of one node or operation */
  STEM_ERROR_USAGE,      /* bad command line: nothing was done */
  STEM_ERROR_CONFIG,     /* bad configuration (env file, template, command): nothing was done */
  STEM_ERROR_NOT_FOUND,  /* a file or process that should exist does not (ENOENT, ESRCH) */
  STEM_ERROR_PERMISSION, /* EACCES / EPERM */
  STEM_ERROR_INVALID_PIDFILE,  /* a pidfile that must not be trusted */
  STEM_ERROR_UNSAFE,           /* a file that root would trust and another user could change:
                                  nothing was done */
  STEM_ERROR_NO_NODES,         /* no node named, on the command line or in the environment: a
                                  usage error, which a check of the setup may report as such */
  STEM_ERROR_LOCKED,           /* a node's lock that another process held all the time given */
  STEM_ERROR_LEFTOVER_PIDFILE, /* a pidfile written before this boot that holds no PID (what a
                                  power cut can leave): no process can be named by it */
} StemErrorCode;

/* Exit codes of every tool (documented in each man page's EXIT STATUS). */
typedef enum
{
  STEM_EXIT_OK = 0,
  STEM_EXIT_FAILURE = 1,
  STEM_EXIT_USAGE = 2,
} StemExit;

/* LSB init-script status codes, used by `status`. */
typedef enum
{
  STEM_LSB_RUNNING = 0,
  STEM_LSB_DEAD_PIDFILE = 1,
  STEM_LSB_NOT_RUNNING = 3,
  STEM_LSB_UNKNOWN = 4,
} StemLsbStatus;

GQuark stem_error_quark (void);

/* All of these set *error and return FALSE, so a caller can write
 * `return stem_throw (error, …);`. */
gboolean stem_throw (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);
gboolean stem_throw_code (GError **error, StemErrorCode code, const char *format, ...)
    G_GNUC_PRINTF (3, 4);
/* Appends ": strerror(errno)" and maps errno to a code (ENOENT/ESRCH → NOT_FOUND,
 * EACCES/EPERM → PERMISSION, else FAILED).  errno is read on entry. */
gboolean stem_throw_errno (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Prefixes an existing error's message with "PREFIX: " (e.g. a node name). */
void stem_error_prefix (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* What every tool's main() does first: /dev/null on a closed standard
 * descriptor, the locale, the message catalogue
 * (from STEM_LOCALEDIR when set, else the installed one), and the name its
 * messages start with. */
void stem_program_init (const char *name);

/* Prints ERROR on stderr, every line of it starting with the program name. */
void stem_error_print (const GError *error);

/* The exit code a configuration-time error maps to: USAGE/CONFIG → 2, else 1. */
StemExit stem_error_exit_code (const GError *error);

G_END_DECLS
