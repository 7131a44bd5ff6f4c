#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Splits LINE into words like /bin/sh would (blanks separate words; '…' is
 * literal; "…" allows \" \\ \$ \`; a backslash outside quotes quotes the next
 * character) but never runs a shell, so what a shell would expand or
 * interpret — unquoted $ ` ; & | < > ( ) and a word starting with # — is an
 * error rather than a silent literal.  ORIGIN names where LINE came from
 * (an option or variable) in messages.  STEM_ERROR_CONFIG. */
gboolean stem_command_split (const char *origin, const char *line, GStrv *out_argv, GError **error);

/* The worker command line that ENVP gives: STEM_WORKER_COMMAND, else
 * STEMD_COMMAND (an empty value counts as unset), whose name goes to
 * *OUT_VARIABLE; NULL when neither is set. */
const char *stem_command_from_env (const char *const *envp, const char **out_variable);

/* The worker command, first of: WORDS (--command, one word each), LINE
 * (--command-line), STEM_WORKER_COMMAND, then STEMD_COMMAND in ENVP; EXTRA
 * (the words after "--") is appended.  OUT_ORIGIN (may be NULL) names the
 * source.  No command is a STEM_ERROR_CONFIG saying where it looked. */
gboolean stem_command_resolve (const char *const *words, const char *line, const char *const *envp,
                               const char *const *extra, GStrv *out_argv, char **out_origin,
                               GError **error);

/* Resolves PROGRAM the way execvp would, on PATH from ENVP (a default PATH
 * when unset), to an absolute path of an executable regular file.  A name
 * with a slash is taken relative to the current directory.  Errors
 * (STEM_ERROR_CONFIG) say whether it was not found or not executable. */
char *stem_command_find_program (const char *program, const char *const *envp, GError **error);

/* 0 when PATH names a regular file we may execute; else ENOENT (no such
 * file), EISDIR (not a regular file) or EACCES (not executable). */
int stem_command_check_executable (const char *path);

/* The interpreter that the "#!" line of script PROGRAM names (the kernel
 * executes that, and fails when it cannot, as for the program itself), or
 * NULL for a program without one, or one that is not a regular file
 * reached through links only root or the caller can have made. */
char *stem_command_interpreter (const char *program);

G_END_DECLS
