#!/bin/sh
# Benchmark (not a test): stem-multi against a start-stop-daemon loop over the
# same 50 nodes of a trivial worker, on this machine, in the same run.
# Usage: bench-multi.sh BUILDDIR [NODES] [ROUNDS]
set -eu
build=${1:?usage: bench-multi.sh BUILDDIR [NODES] [ROUNDS]}
nodes=${2:-50}
rounds=${3:-5}
# Under a reaper that reaps at once, as bench-floor.sh: start-stop-daemon
# --stop waits until the worker is gone, and where PID 1 reaps orphans
# late it would be timed on PID 1's delay (bench/README).
if [ -z "${STEM_BENCH_REAPED:-}" ]; then
  STEM_BENCH_REAPED=1 exec "$build/bench/reaper" sh "$0" "$build" "$nodes" "$rounds"
fi
multi=$build/src/stem-multi
ssd=$(command -v start-stop-daemon || echo /sbin/start-stop-daemon)
worker=/bin/sleep
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

now_ms () { echo $(($(date +%s%N) / 1000000)); }
. "$(dirname "$0")/bench-lib.sh" || exit 0

: >"$dir/ms-start" >"$dir/ms-stop" >"$dir/ssd-start" >"$dir/ssd-stop"
for r in $(seq 1 "$rounds"); do
  t0=$(now_ms)
  "$multi" start "$nodes" --settle=0 --quiet --pidfile="$dir/m/%n.pid" --logfile="$dir/m/%n.log" \
    --command "$worker" --command 3600
  t1=$(now_ms)
  "$multi" stop "$nodes" --quiet --pidfile="$dir/m/%n.pid"
  t2=$(now_ms)
  echo $((t1 - t0)) >>"$dir/ms-start"
  echo $((t2 - t1)) >>"$dir/ms-stop"

  mkdir -p "$dir/s"
  t0=$(now_ms)
  for i in $(seq 1 "$nodes"); do
    "$ssd" --start --quiet --background --make-pidfile --pidfile "$dir/s/stem$i.pid" \
      --exec "$worker" -- 3600
  done
  t1=$(now_ms)
  for i in $(seq 1 "$nodes"); do
    "$ssd" --stop --quiet --retry TERM/5/KILL/5 --pidfile "$dir/s/stem$i.pid" --remove-pidfile
  done
  t2=$(now_ms)
  echo $((t1 - t0)) >>"$dir/ssd-start"
  echo $((t2 - t1)) >>"$dir/ssd-stop"
done

ms_start=$(median <"$dir/ms-start") ms_stop=$(median <"$dir/ms-stop")
ssd_start=$(median <"$dir/ssd-start") ssd_stop=$(median <"$dir/ssd-stop")
echo "$nodes nodes of '$worker', median of $rounds rounds:"
printf '  %-28s %6s ms   %-26s %6s ms   ratio %s (target <= 0.50)\n' "stem-multi start --settle=0" "$ms_start" \
  "start-stop-daemon --start" "$ssd_start" "$(awk "BEGIN { printf \"%.3f\", $ms_start / ($ssd_start ? $ssd_start : 1) }")"
printf '  %-28s %6s ms   %-26s %6s ms   ratio %s (target <= 0.25)\n' "stem-multi stop" "$ms_stop" \
  "start-stop-daemon --stop" "$ssd_stop" "$(awk "BEGIN { printf \"%.3f\", $ms_stop / ($ssd_stop ? $ssd_stop : 1) }")"
