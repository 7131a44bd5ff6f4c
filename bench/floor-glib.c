/* The floor of one status or health call under this project's own stack,
 * for `make bench`: a program linked with GLib that sets up its locale and
 * translations as every stem tool does on start (stem_program_init), then
 * reads one pidfile and checks its pid with kill(pid, 0), and nothing else
 * (no option parsing, no checks of the file or of the process's identity).
 * The distance from start-stop-daemon --status to this is what the stack
 * costs; from this to stem-health, what stem-health's own work costs.
 *
 *   floor-glib PIDFILE    exit 0 when the pid runs, 1 otherwise */

#include "config.h"

#include <fcntl.h>
#include <glib.h>
#include <libintl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: floor-glib PIDFILE\n");
      return 2;
    }
  setlocale (LC_CTYPE, "");
  setlocale (LC_MESSAGES, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("floor-glib");
  char text[32];
  int fd = open (argv[1], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  ssize_t len = fd < 0 ? -1 : read (fd, text, sizeof text - 1);
  if (fd >= 0)
    close (fd);
  if (len <= 0)
    return 1;
  text[len] = '\0';
  pid_t pid = (pid_t)atoi (text);
  return pid > 1 && kill (pid, 0) == 0 ? 0 : 1;
}
