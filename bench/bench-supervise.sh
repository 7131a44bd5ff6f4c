#!/bin/sh
# Benchmark (not a test): what an idle supervisor costs.  `stem-multi supervise`
# and supervisord each run the same NODES nodes of a trivial worker, on this
# machine, in the same run; over IDLE_SECONDS of idleness we measure the
# supervisor process's own CPU time (utime + stime, not its children's) and its
# resident memory: peak (VmHWM) and at the end (VmRSS).
# Usage: bench-supervise.sh BUILDDIR [NODES] [IDLE_SECONDS]
# supervisord comes from the "supervisor" package (Debian: apt-get install -y supervisor).
set -eu
usage='usage: bench-supervise.sh BUILDDIR [NODES] [IDLE_SECONDS]'
build=${1:?$usage}
nodes=${2:-100}
idle=${3:-30}
multi=$build/src/stem-multi
worker=/bin/sleep
worker_arg=100000
settle=2        # seconds between "all nodes up" and the first sample
start_limit=60  # seconds the nodes may take to come up
hz=$(getconf CLK_TCK)

case $nodes$idle in *[!0-9]*) echo "$usage" >&2; exit 2 ;; esac
if [ "$nodes" -lt 1 ] || [ "$idle" -lt 1 ]; then echo "$usage" >&2; exit 2; fi
[ -x "$multi" ] || { echo "bench-supervise: no $multi (build first)" >&2; exit 1; }
if ! command -v supervisord >/dev/null 2>&1 || ! command -v supervisorctl >/dev/null 2>&1; then
  echo "bench-supervise: supervisord not found; nothing to compare against."
  echo "  Install it (Debian, Ubuntu: apt-get install -y supervisor; elsewhere: pip install supervisor) and run again."
  exit 0
fi

dir=$(mktemp -d)
mpid='' spid='' napper=''

alive () { # PID: running, not a zombie
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) && [ "${state%% *}" != Z ]
}

# Stops PID (TERM, then KILL after 10 s) and reaps it.
stop_hard () {
  ps -o pid= --ppid "$1" >>"$dir/workers" 2>/dev/null || true
  kill -TERM "$1" 2>/dev/null || true
  i=0
  while alive "$1" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

cleanup () {
  trap - EXIT INT TERM HUP
  [ -z "$napper" ] || kill "$napper" 2>/dev/null || true
  for pid in $mpid $spid; do stop_hard "$pid"; done
  # Workers left behind by a supervisor that had to be killed.
  if [ -f "$dir/workers" ]; then
    while read -r pid; do
      if [ "$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" = "$worker $worker_arg " ]; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done <"$dir/workers"
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

now_ms () { echo $(($(date +%s%N) / 1000000)); }

die () {
  echo "bench-supervise: $1" >&2
  [ -z "${2-}" ] || tail -n 20 "$2" >&2
  exit 1
}

cpu_ticks () { # utime + stime of PID (its own, not its children's), in clock ticks
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

run_ns () { # time PID spent on a CPU, in ns, from the scheduler (0 if unavailable)
  if [ -r "/proc/$1/schedstat" ]; then cut -d' ' -f1 "/proc/$1/schedstat"; else echo 0; fi
}

status_kb () { # PID FIELD: a "FIELD: N kB" line of /proc/PID/status
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# Waits until COMMAND prints at least $nodes, for at most $start_limit seconds,
# while PID is alive, looking every 20 ms; then prints the ms since T0 (the
# start time is that close, plus what COMMAND takes: supervisorctl is slow).
# Usage: wait_up T0 PID LOG COMMAND...
wait_up () {
  t0=$1 pid=$2 log=$3
  shift 3
  i=0
  while :; do
    alive "$pid" || die "the supervisor died while starting its nodes" "$log"
    up=$("$@")
    [ "$up" -lt "$nodes" ] || break
    [ $i -lt $((start_limit * 50)) ] || die "only $up of $nodes nodes came up in ${start_limit}s" "$log"
    sleep 0.02
    i=$((i + 1))
  done
  echo $(($(now_ms) - t0))
  ps -o pid= --ppid "$pid" >>"$dir/workers" || true
}

# Idles for $idle seconds after $settle, then prints one line:
# NAME VmHWM-kB VmRSS-kB CPU-ms(ticks) CPU-ms(scheduler) RssAnon-kB RssFile-kB
measure () { # PID NAME LOG
  sleep "$settle"
  alive "$1" || die "$2 died" "$3"
  t0=$(cpu_ticks "$1") n0=$(run_ns "$1")
  sleep "$idle" & # in the background, so that a signal to this script is acted on at once
  napper=$!
  wait "$napper"
  napper=''
  alive "$1" || die "$2 died while idle" "$3"
  t1=$(cpu_ticks "$1") n1=$(run_ns "$1")
  echo "$2 $(status_kb "$1" VmHWM) $(status_kb "$1" VmRSS) $(((t1 - t0) * 1000 / hz))" \
    "$(awk "BEGIN { printf \"%.1f\", ($n1 - $n0) / 1e6 }")" \
    "$(status_kb "$1" RssAnon) $(status_kb "$1" RssFile)"
}

# The PSS, in kB, of PID and every process under it that is not a worker
# (for stem-multi: the supervisor, its log writers' server and the writers),
# and how many processes that is: "KB N".
tree_pss_kb () {
  ps -e -o pid=,ppid=,args= | awk -v root="$1" -v worker="$worker $worker_arg" '
    { parent[$1] = $2; line = $0; sub(/^ *[0-9]+ +[0-9]+ /, "", line); args[$1] = line }
    END {
      for (p in parent) {
        for (q = p; q != "" && q != root && q > 1; q = parent[q]) ;
        if (q == root && args[p] != worker) print p
      }
    }' | while read -r p; do
    awk '$1 == "Pss:" { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null
  done | awk '{ kb += $1; n++ } END { printf "%d %d\n", kb, n }'
}

count_pidfiles () {
  n=0
  for f in "$dir"/m/n*.pid; do [ -e "$f" ] && n=$((n + 1)); done
  echo $n
}

count_running () {
  supervisorctl -c "$dir/s/supervisord.conf" status 2>/dev/null | grep -c ' RUNNING ' || true
}

# ---- stem-multi supervise -------------------------------------------------------
mkdir "$dir/m"
t0=$(now_ms)
"$multi" supervise "$nodes" --prefix=n --pidfile="$dir/m/%n.pid" --logfile="$dir/m/%n.log" \
  --command "$worker" --command "$worker_arg" >"$dir/m/supervise.log" 2>&1 &
mpid=$!
mstart=$(wait_up "$t0" "$mpid" "$dir/m/supervise.log" count_pidfiles)
measure "$mpid" stem-multi "$dir/m/supervise.log" >"$dir/results"
tree=$(tree_pss_kb "$mpid")
t0=$(now_ms)
kill -TERM "$mpid"
rc=0
wait "$mpid" || rc=$?
mstop=$(($(now_ms) - t0))
mpid=''
[ $rc -eq 0 ] || die "stem-multi supervise exited with status $rc after SIGTERM" "$dir/m/supervise.log"

# ---- supervisord ---------------------------------------------------------------
mkdir "$dir/s"
{
  printf '[unix_http_server]\nfile=%s\n\n' "$dir/s/supervisor.sock"
  printf '[supervisord]\nnodaemon=true\nlogfile=%s\npidfile=%s\nchildlogdir=%s\n\n' \
    "$dir/s/supervisord.log" "$dir/s/supervisord.pid" "$dir/s"
  printf '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n'
  printf '[supervisorctl]\nserverurl=unix://%s\n' "$dir/s/supervisor.sock"
  # One log per node, as stem-multi's --logfile.
  for i in $(seq 1 "$nodes"); do
    printf '\n[program:n%s]\ncommand=%s %s\nredirect_stderr=true\nstdout_logfile=%s\n' \
      "$i" "$worker" "$worker_arg" "$dir/s/n$i.log"
  done
} >"$dir/s/supervisord.conf"
t0=$(now_ms)
supervisord -c "$dir/s/supervisord.conf" >"$dir/s/out.log" 2>&1 &
spid=$!
sstart=$(wait_up "$t0" "$spid" "$dir/s/out.log" count_running)
measure "$spid" supervisord "$dir/s/out.log" >>"$dir/results"
t0=$(now_ms)
kill -TERM "$spid"
rc=0
wait "$spid" || rc=$?
sstop=$(($(now_ms) - t0))
spid=''
[ $rc -eq 0 ] || die "supervisord exited with status $rc after SIGTERM" "$dir/s/out.log"

# ---- report ----------------------------------------------------------------------
echo "$nodes nodes of '$worker $worker_arg', ${idle}s idle; the supervisor process only:"
awk -v idle="$idle" -v hz="$hz" -v mstop="$mstop" -v sstop="$sstop" -v tree="$tree" \
  -v mstart="$mstart" -v sstart="$sstart" '
  function mb(kb) { return sprintf("%.2f", kb / 1024) }
  function ratio(a, b) { return b > 0 ? sprintf("%.1fx", a / b) : "n/a" }
  { name[NR] = $1; hwm[NR] = $2; rss[NR] = $3; cpu[NR] = $4; sched[NR] = $5; anon[NR] = $6; file[NR] = $7 }
  END {
    stop[1] = mstop; stop[2] = sstop; start[1] = mstart; start[2] = sstart
    fmt = "  %-22s %11s %10s %11s %15s %8s %8s\n"
    printf fmt, "supervisor", "peak RSS MB", "RSS now MB", "CPU idle ms", "(scheduler ms)", "start ms",
      "stop ms"
    for (i = 1; i <= NR; i++)
      printf fmt, name[i] == "stem-multi" ? "stem-multi supervise" : name[i],
        mb(hwm[i]), mb(rss[i]), cpu[i], sched[i], start[i], stop[i]
    printf fmt, "supervisord/stem-multi", ratio(hwm[2], hwm[1]), ratio(rss[2], rss[1]),
      ratio(cpu[2], cpu[1]), ratio(sched[2], sched[1]), ratio(start[2], start[1]), ratio(stop[2], stop[1])
    for (i = 1; i <= NR; i++)
      printf "  %-22s RSS now = %s MB anonymous + %s MB file-backed (mostly shared libraries)\n",
        name[i] == "stem-multi" ? "stem-multi supervise" : name[i], mb(anon[i]), mb(file[i])
    split(tree, t, " ")
    printf "  stem-multi supervise and its helpers (%d processes, workers excluded): %s MB PSS\n", t[2], mb(t[1])
    cpu_target = 10 * idle / 30
    print "targets for stem-multi supervise (informative):"
    printf "  peak RSS < 4 MB: %s (%s MB)\n", hwm[1] < 4096 ? "PASS" : "MISS", mb(hwm[1])
    printf "  RSS now  < 4 MB: %s (%s MB)\n", rss[1] < 4096 ? "PASS" : "MISS", mb(rss[1])
    printf "  CPU < %.3g ms over %ss idle: %s (%s ms, in clock ticks of %g ms; %s ms by the scheduler)\n",
      cpu_target, idle, cpu[1] < cpu_target ? "PASS" : "MISS", cpu[1], 1000 / hz, sched[1]
    printf "  supervisor and helpers <= 8 MB PSS: %s (%s MB)\n", t[1] <= 8192 ? "PASS" : "MISS", mb(t[1])
  }' "$dir/results"
