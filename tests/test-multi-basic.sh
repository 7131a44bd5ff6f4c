#!/bin/bash
# The lifecycle of several nodes: start, status, stop, kill, restart, show,
# with the JSON forms of each.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

cmd=(--command "$WORKER" --command run)

multi start alpha beta gamma "${cmd[@]}"
rc_is 0 "start three nodes"
for n in alpha beta gamma; do
  like "$T/out" "^$n: started \(pid [0-9]+\)$" "start reports $n"
done
for n in alpha beta gamma; do
  pid=$(pid_of $n)
  ok_if "$n's pidfile names a live worker" alive "$pid"
  is "$(od -An -c "$T/run/$n.pid" | tr -d ' ')" "${pid}\\n" "$n's pidfile holds the PID and a newline, nothing else"
  ok_if "$n runs with its own STEM_WORKER_NODE" grep -qz "^STEM_WORKER_NODE=$n\$" "/proc/$pid/environ"
  ok_if "$n has a session of its own but does not lead it (can never get a terminal)" \
    test "$(ps -o sid= -p "$pid" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" -a \
    "$(ps -o sid= -p "$pid" | tr -d ' ')" != "$pid"
  ok_if "$n's stdin is /dev/null" test "$(readlink "/proc/$pid/fd/0")" = /dev/null
  ok_if "$n's stdout and stderr are one pipe" \
    eval '[[ "$(readlink "/proc/$pid/fd/1")" == pipe:* ]] && [ "$(readlink "/proc/$pid/fd/1")" = "$(readlink "/proc/$pid/fd/2")" ]'
  writer=$(log_writer_of "$pid")
  ok_if "$n's output is read by a stem-logwriter" test -n "$writer"
  ok_if "which has $n's log open" has_fd_to "${writer:-0}" "$T/log/$n.log"
  wait_until 10 grep -qs "^ready pid=$pid node=$n" "$T/log/$n.log"
  like "$T/log/$n.log" "^ready pid=$pid node=$n" "$n's output reaches its log"
done
ok_if "pidfiles are mode 0644" test "$(stat -c %a "$T/run/alpha.pid")" = 644
alpha=$(pid_of alpha) beta=$(pid_of beta) gamma=$(pid_of gamma)

multi status alpha beta gamma
rc_is 0 "status of running nodes"
like "$T/out" "^beta: running \(pid $beta, up $AGE_RE\)$" "status shows pid and uptime"

multi status alpha beta gamma --json
rc_is 0 "status --json"
is "$(json "$T/out" '[.nodes[] | .node + "=" + .state] | join(" ")')" \
  "alpha=running beta=running gamma=running" "status --json carries each node's state"
is "$(json "$T/out" '.nodes[1].pid')" "$beta" "status --json carries the pid"
is "$(json "$T/out" '.nodes[1].uptimeSeconds | type')" "number" "status --json carries uptimeSeconds"

multi start alpha beta gamma "${cmd[@]}"
rc_is 0 "starting running nodes again"
like "$T/out" "^alpha: already running \(pid $alpha\)$" "a running node is not started twice"
is "$(pid_of gamma)" "$gamma" "the pidfile still names the first worker"

multi stop beta
rc_is 0 "stop one node"
like "$T/out" "^beta: stopped \(pid $beta\)$" "stop reports the node"
ok_if "beta's worker is gone" dead "$beta"
ok_if "beta's pidfile is gone" test ! -e "$T/run/beta.pid"
like "$T/log/beta.log" "^got SIGTERM" "stop sends TERM (Stem's warm shutdown) by default"
ok_if "alpha is untouched" alive "$alpha"

multi status alpha beta gamma
rc_is 3 "status with a stopped node is LSB 3"
like "$T/out" "^beta: stopped$" "status reports the stopped node"

multi kill alpha --json
rc_is 0 "kill"
is "$(json "$T/out" '.nodes[0].state')" killed "kill --json reports killed"
ok_if "alpha's worker is gone" dead "$alpha"
unlike "$T/log/alpha.log" "got SIG" "kill gives no chance to clean up (SIGKILL)"
ok_if "alpha's pidfile is gone" test ! -e "$T/run/alpha.pid"

multi restart alpha beta gamma "${cmd[@]}"
rc_is 0 "restart"
like "$T/out" "^alpha: started \(pid [0-9]+\)$" "restart starts a stopped node"
like "$T/out" "^gamma: restarted \(pid [0-9]+\)$" "restart restarts a running node"
ok_if "gamma has a new worker" test "$(pid_of gamma)" != "$gamma"
ok_if "the old gamma worker is gone" dead "$gamma"
is "$(grep -c '^ready pid=' "$T/log/gamma.log")" 2 "the log is appended across restarts, not truncated"

multi show alpha beta "${cmd[@]}" --queue=default,images -- extra-word
rc_is 0 "show"
like "$T/out" "^  argv: +$WORKER run extra-word$" "show prints the argv with the words after --"
like "$T/out" "^  pidfile: +$T/run/alpha.pid$" "show prints the pidfile"
like "$T/out" "^  env: +STEM_WORKER_QUEUES=default,images$" "show prints the added environment"
like "$T/out" "^  env: +STEM_DEFAULT_QUEUE=default$" "the first queue is the default queue"

multi show alpha beta "${cmd[@]}" --umask:beta=027
like "$T/out" "^  umask: +0027$" "show prints a node's --umask"
is "$(grep -c '^  umask:' "$T/out")" 1 "… only where one is given"
if [ "$(id -u)" -eq 0 ]; then
  multi show alpha "${cmd[@]}" --uid=65534 --gid=65534 --json
  is "$(json "$T/out" '.nodes[0] | "\(.uid):\(.gid)"')" "65534:65534" "show --json prints --uid and --gid"
  multi show alpha "${cmd[@]}" --uid=65534 --gid=65534
  like "$T/out" "^  user: +uid 65534( \(.*\))?, gid 65534$" "… and so does show"
else
  skip "--uid of another user needs root"
  skip "--uid of another user needs root"
fi
multi show alpha beta "${cmd[@]}" --json
rc_is 0 "show --json"
is "$(json "$T/out" '.nodes[1] | .node + " " + .env.STEM_WORKER_INDEX + " " + .argv[0]')" \
  "beta 2 $WORKER" "show --json carries node, environment and argv"

# Every node of a start or restart --json names its pidfile, a node that
# failed included (here: a pidfile that is no pidfile).
printf 'not a pid\n' >"$T/run/bad.pid"
multi start gamma bad "${cmd[@]}" --json
rc_is 1 "start --json of a running node and one with an invalid pidfile"
is "$(json "$T/out" '[.nodes[] | .node + "=" + .state + ":" + .pidfile] | join(" ")')" \
  "gamma=already-running:$T/run/gamma.pid bad=failed:$T/run/bad.pid" "… each with its pidfile"
multi restart bad "${cmd[@]}" --json
is "$(json "$T/out" '.nodes[0].state + ":" + .nodes[0].pidfile')" "unknown:$T/run/bad.pid" \
  "restart --json of that node (unknown: nothing was signalled) names its pidfile too"
rm -f "$T/run/bad.pid"

multi stop alpha beta gamma --json
rc_is 0 "stop all"
is "$(json "$T/out" '[.nodes[].state] | join(" ")')" "stopped stopped stopped" "stop --json states"
is "$(ls "$T/run" | grep -c '\.pid$')" 0 "no pidfile is left"

multi stop alpha
rc_is 0 "stopping a stopped node is success"
like "$T/out" "^alpha: not running$" "and says so"

# Rolling restart: all workers write one log, so the order of their lines is
# the order of events; at no point may every node be down.
ready_lines_are () { [ "$(grep -c '^ready' "$T/log/all.log")" -eq "$1" ]; }
run "$MULTI" start a b c --pidfile="$T/run/%n.pid" --logfile="$T/log/all.log" "${cmd[@]}"
rc_is 0 "start three nodes sharing one log"
ok_if "all three say they are ready" wait_until 10 ready_lines_are 3
run "$MULTI" restart a b c --pidfile="$T/run/%n.pid" --logfile="$T/log/all.log" "${cmd[@]}"
rc_is 0 "rolling restart"
ok_if "all three say so again" wait_until 10 ready_lines_are 6
max_down=$(awk '/^ready/ { if (seen++ >= 3) down-- } /^got SIGTERM/ { down++; if (down > max) max = down } END { print max + 0 }' "$T/log/all.log")
is "$max_down" 1 "restart takes one node down at a time"
run "$MULTI" stop a b c --pidfile="$T/run/%n.pid"
rc_is 0 "stop the rolling set"

done_testing
