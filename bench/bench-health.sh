#!/bin/bash
# Benchmark (not a test): one stem-health check of a running node against the
# shell probe it replaces, sh -c 'kill -0 "$(cat PIDFILE)"', on this machine,
# in the same run.  Targets: median wall time at most 1.5 times the shell
# probe's, peak resident memory at most 4 MB.  Informative: always exits 0.
# Usage: bench-health.sh BUILDDIR [RUNS]
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
build=${1:?usage: bench-health.sh BUILDDIR [RUNS]}
runs=${2:-200}
health=$build/src/stem-health
multi=$build/src/stem-multi
dir=$(mktemp -d)
trap '"$multi" stop alpha --quiet --pidfile="$dir/%n.pid" >/dev/null 2>&1; rm -rf "$dir"' EXIT

"$multi" start alpha --settle=0 --quiet --pidfile="$dir/%n.pid" --logfile="$dir/%n.log" \
  --command /bin/sleep --command 3600 || { echo "bench-health: cannot start a worker"; exit 0; }
pidfile=$dir/alpha.pid
check=("$health" alpha --quiet --pidfile="$dir/%n.pid" --logfile="$dir/%n.log" --max-log-age=1h)
probe=(sh -c 'kill -0 "$(cat "$1")"' sh "$pidfile")
"${check[@]}" || echo "bench-health: warning: stem-health says the node is unhealthy"

now_us () { echo "${EPOCHREALTIME/./}"; }
. "$(dirname "$0")/bench-lib.sh" || exit 0

# time_runs FILE CMD…: the wall time of each of $runs runs, in µs, into FILE;
# the two commands take turns so that both see the same machine.
: >"$dir/health.us" >"$dir/shell.us"
for _ in $(seq 1 "$runs"); do
  t0=$(now_us)
  "${check[@]}" >/dev/null 2>&1
  t1=$(now_us)
  "${probe[@]}" >/dev/null 2>&1
  t2=$(now_us)
  echo $((t1 - t0)) >>"$dir/health.us"
  echo $((t2 - t1)) >>"$dir/shell.us"
done
h=$(median <"$dir/health.us") s=$(median <"$dir/shell.us")

# peak_kb CMD…: the peak resident set size of CMD in KiB.
peak_kb () {
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1
  elif command -v python3 >/dev/null; then
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
  else
    echo "?"
  fi
}
max_of () { # CMD…: the largest peak of 5 runs
  for _ in 1 2 3 4 5; do peak_kb "$@"; done | sort -n | tail -n 1
}
rss_check=$(max_of "${check[@]}")
rss_json=$(max_of "$health" alpha --json --pidfile="$dir/%n.pid" --logfile="$dir/%n.log")
rss_version=$(max_of "$health" --version)
rss_shell=$(max_of "${probe[@]}")

ratio=$(awk "BEGIN { printf \"%.2f\", $h / ($s ? $s : 1) }")
verdict () { awk "BEGIN { exit !($1) }" && echo met || echo MISSED; }
echo "one node, median of $runs runs each, taking turns:"
printf '  %-44s %8.2f ms\n' "stem-health --quiet --max-log-age=1h" "$(awk "BEGIN { print $h / 1000 }")"
printf '  %-44s %8.2f ms\n' "sh -c 'kill -0 \"\$(cat PIDFILE)\"'" "$(awk "BEGIN { print $s / 1000 }")"
printf '  ratio %s (target <= 1.50: %s)\n' "$ratio" "$(verdict "$ratio <= 1.5")"
echo "peak resident memory (largest of 5 runs):"
printf '  %-44s %8s KiB (target <= 4096: %s)\n' "stem-health --quiet --max-log-age=1h" "$rss_check" \
  "$(verdict "\"$rss_check\" + 0 <= 4096")"
printf '  %-44s %8s KiB\n' "stem-health --json" "$rss_json"
printf '  %-44s %8s KiB\n' "stem-health --version (libraries only)" "$rss_version"
printf '  %-44s %8s KiB\n' "the shell probe" "$rss_shell"
exit 0
