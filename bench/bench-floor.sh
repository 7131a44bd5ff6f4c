#!/bin/bash
# Benchmark (not a test): stem-multi against the physical floor (bench/floor:
# posix_spawn + pidfiles; read + kill(0); pidfd + poll) and against the peers
# present on this machine (a start-stop-daemon loop; supervisord through
# supervisorctl), for N nodes of a trivial worker with log files, all in
# the same run, round by round, under a reaper that reaps at once.  Prints
# medians and ratios with the goals; see bench/README.  Always exits 0.
# Usage: bench-floor.sh BUILDDIR [ROUNDS] [N…]   (default: 5 rounds, N = 10 50 200 1000)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
build=${1:?usage: bench-floor.sh BUILDDIR [ROUNDS] [N...]}
build=$(cd "$build" && pwd)
rounds=${2:-5}
shift $(($# >= 2 ? 2 : 1))
sizes=${*:-10 50 200 1000}
bench=$build/bench
if [ -z "${STEM_BENCH_REAPED:-}" ]; then
  STEM_BENCH_REAPED=1 exec "$bench/reaper" bash "$0" "$build" "$rounds" $sizes
fi

multi=$build/src/stem-multi
health=$build/src/stem-health
floor=$bench/floor
measure=$bench/measure
ssd=$(command -v start-stop-daemon || echo /sbin/start-stop-daemon)
worker=/bin/sleep
dir=$(mktemp -d)
supd_pid=
cleanup () {
  [ -z "$supd_pid" ] || { kill "$supd_pid" 2>/dev/null; wait "$supd_pid" 2>/dev/null; }
  pkill -f "^$worker 3601$" 2>/dev/null
  pkill -f "^/usr/bin/python3 -m celery -A benchapp worker" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

. "$(dirname "$0")/bench-lib.sh" || exit 0
ms () { awk -v us="$(median <"$dir/$1")" 'BEGIN { printf "%.1f", us / 1000 }'; }
ratio () { awk -v a="$(median <"$dir/$1")" -v b="$(median <"$dir/$2")" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
load () { cut -d' ' -f1-3 /proc/loadavg; }

have_supervisord=
command -v supervisord >/dev/null && command -v supervisorctl >/dev/null && have_supervisord=1

# supervisord serving N programs (not started), for supervisorctl to time.
supervisord_up () {
  local n=$1 conf=$dir/supervisord-$1.conf
  {
    printf '[unix_http_server]\nfile=%s/supervisor.sock\n' "$dir"
    printf '[supervisord]\nlogfile=%s/supervisord.log\npidfile=%s/supervisord.pid\nnodaemon=true\n' "$dir" "$dir"
    printf '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n'
    printf '[supervisorctl]\nserverurl=unix://%s/supervisor.sock\n' "$dir"
    for i in $(seq 1 "$n"); do
      printf '[program:stem%d]\ncommand=%s 3601\nautostart=false\nstartsecs=0\nstdout_logfile=%s/sup/stem%d.log\nredirect_stderr=true\n' \
        "$i" "$worker" "$dir" "$i"
    done
  } >"$conf"
  mkdir -p "$dir/sup"
  supervisord -c "$conf" >/dev/null 2>&1 &
  supd_pid=$!
  for _ in $(seq 1 600); do
    supervisorctl -c "$conf" pid >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
supervisord_down () {
  kill "$supd_pid" 2>/dev/null
  wait "$supd_pid" 2>/dev/null
  supd_pid=
  rm -f "$dir/supervisor.sock"
}

# One round of every tool for N nodes: start, status, stop, in turn.
round () {
  local n=$1 conf=$dir/supervisord-$1.conf
  mkdir -p "$dir/f" "$dir/m" "$dir/w" "$dir/s"
  timed "floor-start-$n" "$floor" start "$dir/f" "$n" "$worker" 3601
  timed "floor-status-$n" "$floor" status "$dir/f" "$n"
  timed "floori-status-$n" "$floor" status --identity "$dir/f" "$n"
  timed "floor-stop-$n" "$floor" stop "$dir/f" "$n"
  # The floor of a log writer thread per node: a pipe and a thread for each worker.
  mkdir -p "$dir/fw"
  timed "floorw-start-$n" "$floor" start --writer "$dir/fw" "$n" "$worker" 3601
  timed "floorw-stop-$n" "$floor" stop --writer "$dir/fw" "$n"

  local m=(--pidfile="$dir/m/%n.pid" --logfile="$dir/m/%n.log")
  timed "multi-start-$n" "$multi" start "$n" --settle=0 --quiet "${m[@]}" --command "$worker" --command 3601
  timed "multi-status-$n" "$multi" status "$n" --quiet "${m[@]}"
  timed "multi-stop-$n" "$multi" stop "$n" --quiet "${m[@]}"
  # The same without a log writer per node: what the writers cost.
  local w=(--pidfile="$dir/w/%n.pid" --logfile="$dir/w/%n.log")
  timed "multiw-start-$n" "$multi" start "$n" --settle=0 --quiet --no-log-writer "${w[@]}" \
    --command "$worker" --command 3601
  timed "multiw-stop-$n" "$multi" stop "$n" --quiet "${w[@]}"

  if [ "$n" -le 200 ]; then
    timed "ssd-start-$n" sh -c 'd=$1 n=$2 ssd=$3 w=$4; i=1; while [ $i -le $n ]; do
        "$ssd" --start --quiet --background --make-pidfile --pidfile "$d/stem$i.pid" \
          --output "$d/stem$i.log" --exec "$w" -- 3601; i=$((i + 1)); done' sh "$dir/s" "$n" "$ssd" "$worker"
    timed "ssd-status-$n" sh -c 'd=$1 n=$2 ssd=$3; i=1; while [ $i -le $n ]; do
        "$ssd" --status --pidfile "$d/stem$i.pid"; i=$((i + 1)); done' sh "$dir/s" "$n" "$ssd"
    timed "ssd-stop-$n" sh -c 'd=$1 n=$2 ssd=$3; i=1; while [ $i -le $n ]; do
        "$ssd" --stop --quiet --retry TERM/5/KILL/5 --pidfile "$d/stem$i.pid" --remove-pidfile
        i=$((i + 1)); done' sh "$dir/s" "$n" "$ssd"
  fi
  if [ -n "$have_supervisord" ] && [ -n "$supd_pid" ]; then
    timed "sup-start-$n" supervisorctl -c "$conf" start all
    timed "sup-status-$n" supervisorctl -c "$conf" status all
    timed "sup-stop-$n" supervisorctl -c "$conf" stop all
  fi
}

# The fixed cost of one call, against start-stop-daemon --status of one
# running worker; memory is the peak RSS of the call.
fixed_cost () {
  local m=(--pidfile="$dir/one/%n.pid" --logfile="$dir/one/%n.log")
  "$multi" start alpha --settle=0 --quiet "${m[@]}" --command "$worker" --command 3601
  for _ in $(seq 1 $((rounds * 20))); do
    "$measure" "$ssd" --status --pidfile "$dir/one/alpha.pid" >>"$dir/ssd-one"
    "$measure" "$bench/floor-glib" "$dir/one/alpha.pid" >>"$dir/glib-one"
    "$measure" "$multi" status alpha --quiet "${m[@]}" >>"$dir/multi-one"
    "$measure" "$health" alpha --quiet "${m[@]}" >>"$dir/health-one"
  done
  "$multi" stop alpha --quiet "${m[@]}"
  for f in ssd-one glib-one multi-one health-one; do
    awk '{ print $1 }' "$dir/$f" >"$dir/$f-us"
    awk '{ print $2 }' "$dir/$f" >"$dir/$f-kb"
  done
}

# stop of one node while 1,000 other processes run: what a worker left in
# its process group is found by looking at every process on the machine.
busy_stop () {
  local m=(--pidfile="$dir/one/%n.pid" --logfile="$dir/one/%n.log")
  mkdir -p "$dir/busy" "$dir/fone"
  "$floor" start "$dir/busy" 1000 "$worker" 3601
  for _ in $(seq 1 $((rounds * 4))); do
    "$floor" start "$dir/fone" 1 "$worker" 3601
    timed floor-stop-one "$floor" stop "$dir/fone" 1
    "$multi" start alpha --settle=0 --quiet "${m[@]}" --command "$worker" --command 3601
    timed multi-stop-one "$multi" stop alpha --quiet "${m[@]}"
    "$ssd" --start --quiet --background --make-pidfile --pidfile "$dir/one/ssd.pid" \
      --output "$dir/one/ssd.log" --exec "$worker" -- 3601
    timed ssd-stop-one "$ssd" --stop --quiet --retry TERM/5/KILL/5 --pidfile "$dir/one/ssd.pid" \
      --remove-pidfile
  done
  "$floor" stop "$dir/busy" 1000
}

goal () { awk -v r="$1" -v g="$2" 'BEGIN { print (r <= g) ? "ok" : "OVER" }'; }
row () { # LABEL TOOL-FILE FLOOR-FILE GOAL
  local r
  r=$(ratio "$2" "$3")
  printf '    %-34s %9s ms  %5s x floor' "$1" "$(ms "$2")" "$r"
  [ -z "${4:-}" ] || printf '  (goal <= %s: %s)' "$4" "$(goal "$r" "$4")"
  echo
}

echo "load average at start: $(load)"
for n in $sizes; do
  if [ -n "$have_supervisord" ] && [ "$n" -le 200 ]; then supervisord_up "$n" || echo "  (supervisord did not come up)"; fi
  for _ in $(seq 1 "$rounds"); do round "$n"; done
  [ -z "$supd_pid" ] || supervisord_down
  echo "$n nodes of '$worker' with log files, median of $rounds rounds:"
  for verb in start status stop; do
    case $verb in start) g=1.5 ;; status) g=1.3 ;; stop) g=1.5 ;; esac
    [ "$verb" = start ] || [ "$n" = 200 ] || g=
    printf '  %s\n' "$verb"
    printf '    %-34s %9s ms\n' "floor" "$(ms "floor-$verb-$n")"
    [ ! -s "$dir/floorw-$verb-$n" ] || row "floor, a writer thread per node" "floorw-$verb-$n" "floor-$verb-$n"
    [ ! -s "$dir/floori-$verb-$n" ] || row "floor, reading each identity" "floori-$verb-$n" "floor-$verb-$n"
    row "stem-multi $verb" "multi-$verb-$n" "floor-$verb-$n" "$g"
    [ ! -s "$dir/floorw-$verb-$n" ] \
      || printf '    %-34s %9s x the floor with writers\n' "stem-multi" "$(ratio "multi-$verb-$n" "floorw-$verb-$n")"
    [ ! -s "$dir/floori-$verb-$n" ] \
      || printf '    %-34s %9s x the floor with identities\n' "stem-multi" "$(ratio "multi-$verb-$n" "floori-$verb-$n")"
    [ ! -s "$dir/multiw-$verb-$n" ] || row "  with --no-log-writer" "multiw-$verb-$n" "floor-$verb-$n"
    if [ -s "$dir/ssd-$verb-$n" ]; then
      row "start-stop-daemon loop" "ssd-$verb-$n" "floor-$verb-$n"
      printf '    %-34s %9s x the start-stop-daemon loop\n' "stem-multi" "$(ratio "multi-$verb-$n" "ssd-$verb-$n")"
    fi
    if [ -s "$dir/sup-$verb-$n" ]; then
      row "supervisorctl $verb all" "sup-$verb-$n" "floor-$verb-$n"
      printf '    %-34s %9s x supervisorctl\n' "stem-multi" "$(ratio "multi-$verb-$n" "sup-$verb-$n")"
    fi
  done
done
case " $sizes " in
  *" 50 "*" 1000 "*)
    per () { awk -v a="$(median <"$dir/multi-start-$1")" -v n="$1" 'BEGIN { print a / n }'; }
    printf 'start time per node at N=1000 against N=50: %s (goal <= 1.10)\n' \
      "$(awk -v a="$(per 1000)" -v b="$(per 50)" 'BEGIN { printf "%.2f", a / b }')"
    ;;
esac

fixed_cost
echo "the fixed cost of one call (one running node), median of $((rounds * 20)):"
printf '    %-34s %9s ms  %6s kB peak RSS\n' "start-stop-daemon --status" "$(ms ssd-one-us)" "$(median <"$dir/ssd-one-kb")"
printf '    %-34s %9s ms  %6s x ssd, %6s kB peak RSS (%s x ssd)\n' "floor-glib (GLib, locale, read+kill)" \
  "$(ms glib-one-us)" "$(ratio glib-one-us ssd-one-us)" "$(median <"$dir/glib-one-kb")" "$(ratio glib-one-kb ssd-one-kb)"
printf '    %-34s %9s ms  %6s x ssd (goal <= 1.5: %s)\n' "stem-multi status" "$(ms multi-one-us)" \
  "$(ratio multi-one-us ssd-one-us)" "$(goal "$(ratio multi-one-us ssd-one-us)" 1.5)"
printf '    %-34s %9s ms  %6s x ssd (goal <= 1.2: %s)\n' "stem-health" "$(ms health-one-us)" \
  "$(ratio health-one-us ssd-one-us)" "$(goal "$(ratio health-one-us ssd-one-us)" 1.2)"
printf '    %-34s %9s kB  %6s x ssd (goal <= 1.5: %s)\n' "stem-health peak RSS" "$(median <"$dir/health-one-kb")" \
  "$(ratio health-one-kb ssd-one-kb)" "$(goal "$(ratio health-one-kb ssd-one-kb)" 1.5)"
printf '    %-34s %9s x floor-glib in time, %s x in peak RSS\n' "stem-health" \
  "$(ratio health-one-us glib-one-us)" "$(ratio health-one-kb glib-one-kb)"
busy_stop
echo "stop of one node with 1,000 other processes running, median of $((rounds * 4)):"
printf '    %-34s %9s ms\n' "floor" "$(ms floor-stop-one)"
row "stem-multi stop" multi-stop-one floor-stop-one
row "start-stop-daemon --stop" ssd-stop-one floor-stop-one
# celery multi against stem-multi, both running the same real Celery
# workers (kombu's filesystem transport: no broker server), N of them, for
# the sizes in $celery_sizes: start returns, every worker logs "ready.",
# then stop (celery multi stopwait; stem-multi stop) returns once they
# have exited.  Start times only what the command takes to return.
celery_python=/usr/bin/python3
celery_sizes=${STEM_BENCH_CELERY_NODES:-10}
celery_ready () { # DIR N: every worker of DIR says it is ready
  [ "$(grep -ls 'ready\.' "$1"/*.log 2>/dev/null | wc -l)" -ge "$2" ]
}
celery_wait_ready () {
  for _ in $(seq 1 1200); do celery_ready "$1" "$2" && return 0; sleep 0.1; done
  echo "  (not all celery workers came up)"
  return 1
}
celery_round () {
  local n=$1 c=$dir/celery-c m=$dir/celery-m
  rm -rf "$c" "$m"
  mkdir -p "$c" "$m" "$dir/q"
  timed "celery-start-$n" "$celery_python" -m celery -A benchapp multi start "$n" --pool=solo --loglevel=INFO \
    --pidfile="$c/%n.pid" --logfile="$c/%n%I.log"
  celery_wait_ready "$c" "$n"
  timed "celery-stop-$n" "$celery_python" -m celery -A benchapp multi stopwait "$n" \
    --pidfile="$c/%n.pid" --logfile="$c/%n%I.log"
  local o=(--pidfile="$m/%n.pid" --logfile="$m/%n.log")
  timed "multic-start-$n" "$multi" start "$n" --prefix=celery --settle=0 --quiet "${o[@]}" \
    --command "$celery_python" --command -m --command celery --command -A --command benchapp \
    --command worker --command --pool=solo --command --loglevel=INFO --command -n --command '%n@%h'
  celery_wait_ready "$m" "$n"
  timed "multic-stop-$n" "$multi" stop "$n" --prefix=celery --quiet "${o[@]}"
}
if "$celery_python" -c 'import celery, kombu' 2>/dev/null; then
  cat >"$dir/benchapp.py" <<'PY'
import os
from celery import Celery
_queue = os.path.join(os.environ["STEM_BENCH_DIR"], "q")
app = Celery("benchapp", broker="filesystem://")
app.conf.broker_transport_options = {"data_folder_in": _queue, "data_folder_out": _queue}
PY
  export STEM_BENCH_DIR=$dir PYTHONPATH=$dir
  for n in $celery_sizes; do
    for _ in $(seq 1 "$rounds"); do celery_round "$n"; done
    echo "$n real Celery workers (solo pool, filesystem transport), median of $rounds rounds:"
    printf '    %-34s %9s ms\n' "celery multi start" "$(ms "celery-start-$n")"
    printf '    %-34s %9s ms  %5s x celery multi\n' "stem-multi start" "$(ms "multic-start-$n")" \
      "$(ratio "multic-start-$n" "celery-start-$n")"
    printf '    %-34s %9s ms\n' "celery multi stopwait" "$(ms "celery-stop-$n")"
    printf '    %-34s %9s ms  %5s x celery multi\n' "stem-multi stop" "$(ms "multic-stop-$n")" \
      "$(ratio "multic-stop-$n" "celery-stop-$n")"
  done
else
  echo "celery multi: not measured (no python3-celery; Debian: apt-get install -y python3-celery)"
fi
echo "load average at end: $(load)"
