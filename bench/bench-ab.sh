#!/bin/bash
# Benchmark (not a test): two builds of stem-multi against each other, for
# the figure a change made only for speed must name.  Each round, each
# build starts N nodes of a trivial worker with log files, reports their
# status twice and stops them, the two builds taking turns (which goes
# first alternates), all under bench/reaper.  Prints each build's medians
# and the ratio of B to A.  bench/reaper and bench/measure come from B.
# Always exits 0.
# Usage: bench-ab.sh BUILDDIR-A BUILDDIR-B [N] [ROUNDS]   (default 200 nodes, 9 rounds)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
usage='usage: bench-ab.sh BUILDDIR-A BUILDDIR-B [N] [ROUNDS]'
a=$(cd "${1:?$usage}" && pwd) || exit 0
b=$(cd "${2:?$usage}" && pwd) || exit 0
n=${3:-200}
rounds=${4:-9}
if [ -z "${STEM_BENCH_REAPED:-}" ]; then
  STEM_BENCH_REAPED=1 exec "$b/bench/reaper" bash "$0" "$a" "$b" "$n" "$rounds"
fi

measure=$b/bench/measure
worker=/bin/sleep
dir=$(mktemp -d)
cleanup () {
  for x in a b; do
    "$dir/$x/stem-multi" stop "$n" --quiet --pidfile="$dir/$x/%n.pid" --logfile="$dir/$x/%n.log" \
      >/dev/null 2>&1
  done
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/a" "$dir/b"
ln -s "$a/src/stem-multi" "$dir/a/stem-multi"
ln -s "$b/src/stem-multi" "$dir/b/stem-multi"

. "$(dirname "$0")/bench-lib.sh" || exit 0

# One build's turn: start, status twice, stop of its own N nodes.
turn () {
  local x=$1 multi=$dir/$1/stem-multi
  local m=(--pidfile="$dir/$x/%n.pid" --logfile="$dir/$x/%n.log")
  timed "start-$x" "$multi" start "$n" --settle=0 --quiet "${m[@]}" --command "$worker" --command 3602
  timed "status-$x" "$multi" status "$n" --quiet "${m[@]}"
  timed "status-$x" "$multi" status "$n" --quiet "${m[@]}"
  timed "stop-$x" "$multi" stop "$n" --quiet "${m[@]}"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then turn a; turn b; else turn b; turn a; fi
done
echo "$n nodes of '$worker' with log files, median of $rounds rounds (status: twice a round):"
echo "  A: $a"
echo "  B: $b"
for verb in start status stop; do
  awk -v v="$verb" -v a="$(median <"$dir/$verb-a")" -v b="$(median <"$dir/$verb-b")" \
    'BEGIN { printf "  %-8s A %9.1f ms   B %9.1f ms   B/A %.3f\n", v, a / 1000, b / 1000, a ? b / a : 0 }'
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
