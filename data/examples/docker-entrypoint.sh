#!/bin/sh
# Container entrypoint for Stem workers: runs every node as a child of
# `stem-multi supervise`, which this script becomes (exec), so that the
# supervisor is PID 1: `docker stop` (SIGTERM) reaches it directly, it
# forwards the signal to every worker (Stem's warm shutdown), waits for them,
# restarts workers that crash and reaps orphaned processes.  No shell stays
# in between, and no `--init` is needed.
#
#   docker run IMAGE                      supervise the nodes configured below
#   docker run IMAGE --queue=images -v    the same, with extra stem-multi options
#   docker run IMAGE COMMAND [ARG...]     run COMMAND instead, for instance
#                                         `stem-multi show` or a shell
#
# Environment:
#   STEM_WORKER_COMMAND  the worker command line (required, unless options
#                        give --command, --command-line or --env-file);
#                        stem-multi reads it from the environment itself and
#                        splits it like a shell would, without running one;
#                        STEMD_COMMAND is accepted too
#   STEM_WORKER_NODES    the node names, or a count (default: worker1);
#                        STEMD_NODES is used when this is unset
#   STEM_LOG_TO_STDOUT   1, yes or true: workers write to the container's
#                        stdout and stderr (`docker logs`); otherwise each
#                        node logs to STEM_LOG_DIR/NODE.log
#   STEM_LOG_DIR         default /var/log/stem
#   STEM_PID_DIR         default /run/stem
#   STEMD_TIMEOUT        how long a stopping worker may take before SIGKILL
#                        (default 30s); give `docker stop` more than that
#   STEMD_OPTS           more stem-multi options, split at blanks
#                        (for example "--mode=soft --max-restarts=20")
#   STEM_MULTI           the stem-multi program (default: stem-multi on PATH)
set -eu

multi=${STEM_MULTI:-stem-multi}

# `docker run IMAGE stem-multi status`, `docker run IMAGE sh`: run that.
# Arguments that start with a dash are options for supervise instead.
if [ "$#" -gt 0 ]; then
  case $1 in
    -*) ;;
    *) exec "$@" ;;
  esac
fi

# The command may also come from options (--command, --command-line, or an
# --env-file that sets STEM_WORKER_COMMAND).
case " $* ${STEMD_OPTS:-} " in
  *" --command"* | *" --env-file"*) has_command_option=1 ;;
  *) has_command_option= ;;
esac
if [ -z "${STEM_WORKER_COMMAND:-}" ] && [ -z "${STEMD_COMMAND:-}" ] && [ -z "$has_command_option" ]; then
  echo "stem-entrypoint: STEM_WORKER_COMMAND is not set: give the worker command line," >&2
  echo "stem-entrypoint: for example -e STEM_WORKER_COMMAND='/app/worker --queues=default'" >&2
  exit 2
fi

nodes=${STEM_WORKER_NODES:-${STEMD_NODES:-worker1}}
pid_dir=${STEM_PID_DIR:-/run/stem}
timeout=${STEMD_TIMEOUT:-30s}

case ${STEM_LOG_TO_STDOUT:-} in
  1 | [Yy][Ee][Ss] | [Tt][Rr][Uu][Ee]) logfile=- ;;
  *) logfile=${STEM_LOG_DIR:-/var/log/stem}/%n.log ;;
esac

# The node list and STEMD_OPTS are split into words on purpose, and must not
# be expanded as file name patterns.
set -f
# shellcheck disable=SC2086
exec "$multi" supervise $nodes --pidfile="$pid_dir/%n.pid" --logfile="$logfile" \
  --timeout="$timeout" ${STEMD_OPTS:-} "$@"
