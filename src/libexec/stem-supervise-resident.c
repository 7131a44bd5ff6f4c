/* stem-supervise: the resident half of `stem-multi supervise`, which execs
 * it with the node plans on a file descriptor.  Not meant to be run by
 * hand. */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-plan-wire.h"
#include "stem-supervisor.h"

static GBytes *
read_all (int fd, GError **error)
{
  g_autoptr (GByteArray) data = g_byte_array_new ();
  guint8 buffer[65536];
  for (;;)
    {
      ssize_t n = read (fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          stem_throw_errno (error, _ ("Reading the node plans"));
          return NULL;
        }
      if (n == 0)
        break;
      g_byte_array_append (data, buffer, (guint)n);
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&data));
}

int
main (int argc, char **argv)
{
  /* It speaks for the command the operator typed. */
  stem_program_init ("stem-multi");

  guint64 fd;
  if (argc != 2 || !g_str_has_prefix (argv[1], "--plans-fd=")
      || !g_ascii_string_to_unsigned (argv[1] + strlen ("--plans-fd="), 10, 3, G_MAXINT, &fd, NULL))
    {
      g_printerr (_ ("Usage: stem-supervise --plans-fd=FD (run by “stem-multi supervise”)\n"));
      return STEM_EXIT_USAGE;
    }

  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) data = read_all ((int)fd, &error);
  close ((int)fd);
  g_autoptr (GPtrArray) plans = NULL;
  g_autoptr (GVariant) extra = NULL;
  if (data == NULL || !stem_plan_wire_unpack (data, &plans, &extra, &error))
    {
      g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      return STEM_EXIT_USAGE;
    }
  g_clear_pointer (&data, g_bytes_unref);

  StemSupervisorConfig config;
  stem_supervisor_config_unpack (extra, &config);
  return stem_supervisor_run (plans, &config);
}
