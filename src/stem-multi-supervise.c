/* stem-multi supervise: everything that needs the whole library (options,
 * env files, routing files, command resolution) happens here; then this
 * process becomes the small supervisor (stem-supervise), which links GLib
 * only and is handed the finished node plans.  The PID stays the same, so
 * systemd's MainPID and a container's PID 1 are the supervisor. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stem-schedule.h"
#include "stem-error.h"
#include "stem-i18n.h"
#include "stem-multi.h"
#include "stem-plan-wire.h"
#include "stem-spawn.h"
#include "stem-plan.h"
#include "stem-supervisor.h"

static gboolean
parse_config (StemMultiOptions *opts, StemSupervisorConfig *config, GError **error)
{
  config->policy = opts->restart;
  config->max_restarts = opts->max_restarts;
  config->timeout_ms = g_array_index (opts->schedule, StemScheduleStep, 0).timeout_ms;
  /* The wait of the schedule's KILL step (default TERM/30s/KILL/5s). */
  config->kill_wait_ms = 5 * 1000;
  for (guint i = 1; i < opts->schedule->len; i++)
    if (g_array_index (opts->schedule, StemScheduleStep, i).signum == SIGKILL)
      {
        config->kill_wait_ms = g_array_index (opts->schedule, StemScheduleStep, i).timeout_ms;
        break;
      }
  config->verbose = opts->verbose;
  config->kill_group = !opts->no_kill_group;
  return TRUE;
}

int
stem_multi_supervise (StemMultiOptions *opts, GError **error)
{
  StemSupervisorConfig config;
  if (!parse_config (opts, &config, error))
    return -1;
  g_autoptr (StemPlanSet) set = stem_plan_build_commands (opts->args, opts->words, error);
  if (set == NULL)
    return -1;

  g_autoptr (GVariant) wire
      = stem_plan_wire_pack (set->plans, stem_supervisor_config_pack (&config));
  /* A memfd, not a pipe: the plans of many nodes outgrow a pipe's buffer,
   * and nobody would be reading it before the exec. */
  int fd = memfd_create ("stem-plans", 0);
  if (fd < 0)
    {
      stem_throw_errno (error, "memfd_create");
      return -1;
    }
  const char *data = g_variant_get_data (wire);
  gsize left = g_variant_get_size (wire);
  while (left > 0)
    {
      ssize_t n = write (fd, data, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          stem_throw_errno (error, "memfd");
          return -1;
        }
      data += n;
      left -= (gsize)n;
    }
  lseek (fd, 0, SEEK_SET);

  g_autofree char *program = stem_spawn_helper_path ("stem-supervise");
  g_autofree char *fd_arg = g_strdup_printf ("--plans-fd=%d", fd);
  char *argv[] = { program, fd_arg, NULL };
  execv (program, argv);
  stem_throw_errno (error, _ ("Executing the supervisor “%s”"), program);
  return -1;
}
