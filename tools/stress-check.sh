#!/bin/sh
# Runs `make check` (in parallel, -j2) COUNT times in a row in BUILDDIR
# while every core is kept busy by a CPU hog, and stops at the first
# failure, showing the failed tests' logs.  The suite must not depend on
# how fast the machine is: this is how that is checked.
# Usage: tools/stress-check.sh BUILDDIR [COUNT]   (default 20)
set -u
build=${1:?usage: tools/stress-check.sh BUILDDIR [COUNT]}
count=${2:-20}
cores=$(nproc 2>/dev/null || echo 2)
hogs=
stop_hogs () {
  # shellcheck disable=SC2086 # PIDs, one word each
  [ -z "$hogs" ] || kill $hogs 2>/dev/null
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM
i=0
while [ "$i" -lt "$cores" ]; do
  sh -c 'while :; do :; done' &
  hogs="$hogs $!"
  i=$((i + 1))
done
echo "stress-check: $cores CPU hogs running; make check $count times in $build"
run=1
while [ "$run" -le "$count" ]; do
  start=$(date +%s)
  if make -C "$build" -j2 check >"$build/stress-check.log" 2>&1; then
    echo "run $run: passed ($(($(date +%s) - start)) s; load $(cut -d' ' -f1 /proc/loadavg))"
  else
    echo "run $run: FAILED"
    grep -E '^(FAIL|ERROR):' "$build/stress-check.log"
    for log in "$build"/tests/*.log; do
      grep -q '^not ok\|^Bail out' "$log" 2>/dev/null && { echo "--- $log"; grep -B2 -A12 '^not ok\|^Bail out' "$log"; }
    done
    exit 1
  fi
  run=$((run + 1))
done
echo "stress-check: $count runs in a row passed"
