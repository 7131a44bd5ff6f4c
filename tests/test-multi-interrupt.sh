#!/bin/bash
# start is crash-safe: stem-multi killed (SIGKILL, SIGTERM, SIGHUP) at
# several points of "start 20" leaves no worker that the next stop cannot
# find.  The kill points are events, not times: the worker of node K stops
# stem-multi (SIGSTOP) before it becomes the test worker, the test waits
# until the kernel says stem-multi is stopped, and only then sends the
# signal.  Wherever stem-multi was then, stop must find every worker.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

# count_workers: live processes started as a worker of this test (the
# wrapper shell and the test worker it becomes have the same environment).
count_workers () {
  local n=0 p
  for p in /proc/[0-9]*; do
    grep -qsz "^STEM_WORKER_PIDFILE=$T/run/" "$p/environ" && alive "${p#/proc/}" && n=$((n + 1))
  done
  echo "$n"
}
# Whatever the outcome, none of them outlives the test.
kill_workers () {
  local p
  for p in /proc/[0-9]*; do
    grep -qsz "^STEM_WORKER_PIDFILE=$T/run/" "$p/environ" && kill -9 "${p#/proc/}" 2>/dev/null
  done
}
trap 'kill_workers; cleanup' EXIT
no_workers () { [ "$(count_workers)" -eq 0 ]; }
stopped () { [ "$(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" = T ]; }
gone () { ! [ -e "/proc/$1" ] || dead "$1"; }

# The worker: a shell that stops stem-multi ($STEM_TEST_MULTI) when it is
# node STOP_AT, then becomes the test worker.  --settle keeps stem-multi
# alive until then, so the stop comes during the launches or after them.
cat >"$T/wrapper.sh" <<'SCRIPT'
if [ "$STEM_WORKER_INDEX" = "$STEM_TEST_STOP_AT" ]; then kill -STOP "$STEM_TEST_MULTI"; fi
exec "$1" run
SCRIPT

interrupted_start () { # SIGNAL STOP_AT
  local signal=$1 at=$2
  # exec keeps the pid: the shell's $$ is stem-multi's pid.  Signals that
  # whatever runs the suite ignores (nohup: HUP) are set back to their
  # default, or stem-multi would rightly inherit the ignoring.
  STEM_TEST_STOP_AT=$at env --default-signal=HUP,INT,QUIT,TERM \
    bash -c 'export STEM_TEST_MULTI=$$; exec "$@"' sh \
    "$MULTI" start 20 --settle=1h --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
    --command /bin/sh --command "$T/wrapper.sh" --command "$WORKER" >"$T/out" 2>"$T/err" &
  local pid=$!
  if ! wait_until 30 stopped "$pid"; then
    fail "SIG$signal at node $at: stem-multi was stopped by that node" "it was not"
    kill -9 "$pid" 2>/dev/null
    wait "$pid"
    return
  fi
  kill -s "$signal" "$pid"
  kill -s CONT "$pid"
  wait "$pid"
  local status=$?
  is "$status" "$((128 + $(kill -l "$signal")))" "SIG$signal at node $at: stem-multi died of it"
  local before
  before=$(count_workers)
  ok_if "SIG$signal at node $at: workers were left running ($before)" test "$before" -ge 1
  multi stop 20 --retry=KILL/10
  rc_is 0 "SIG$signal at node $at: the next stop"
  # A stopped worker may be a zombie until init reaps it: count the living.
  wait_until 10 no_workers
  is "$(count_workers)" 0 "SIG$signal at node $at: stop left no worker (before: $before)"
  ok_if "SIG$signal at node $at: no pidfile is left" \
    test -z "$(find "$T/run" -name '*.pid' -print -quit)"
}

is "$(count_workers)" 0 "no worker before the test"
for point in KILL:1 TERM:7 HUP:20 KILL:20 TERM:1 HUP:13; do
  interrupted_start "${point%%:*}" "${point#*:}"
done

# A start that was cut off leaves no node behind that the next start would
# start a second time: stop finds all of them, and a whole start gives 20.
interrupted_start KILL 10
multi start 20 --settle=0 --command "$WORKER" --command run
rc_is 0 "a full start after an interrupted one and its stop"
is "$(count_workers)" 20 "gives exactly 20 workers"
multi stop 20
wait_until 10 no_workers
is "$(count_workers)" 0 "and they are all stopped"

# A stop interrupted while it ends what a worker left in its process group
# (the worker gone, and its pidfile with it): no later call could find
# those processes, so the stop ends them with SIGKILL before it goes.
multi start left --command /bin/sh --command -c \
  --command '"$0" ignore-term & echo "child=$!"; exec "$0" run' --command "$WORKER"
wait_until 10 grep -qs '^child=' "$T/log/left.log"
child=$(sed -n 's/^child=//p' "$T/log/left.log")
wait_until 10 grep -qs "^ready pid=$child" "$T/log/left.log"
"$MULTI" stop left --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --timeout=300s \
  >"$T/left.out" 2>"$T/left.err" &
stopper=$!
# The worker has exited once its pidfile is gone; its child ignores SIGTERM.
wait_until 30 test ! -e "$T/run/left.pid"
ok_if "(what the worker left still runs)" alive "$child"
# (SIGTERM: a shell's background job ignores SIGINT, and so does stop then.)
kill -TERM "$stopper"
ok_if "SIGTERM to a stop that ends what a worker left: it ends at once" wait_until 30 dead "$stopper"
wait "$stopper"
rc=$?
rc_is 0 "(the node did stop)"
ok_if "what the worker left was ended" wait_until 10 dead "$child"
like "$T/left.err" "got SIGTERM while ending what workers left in their process groups: sent it SIGKILL" \
  "and it says so"

done_testing
