#!/bin/bash
# Stopping: escalation per --timeout/--retry, the shutdown modes, --no-wait,
# and zombies counting as stopped.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

multi start deaf --command "$WORKER" --command ignore-term
rc_is 0 "start a worker that ignores TERM"
deaf=$(pid_of deaf)
wait_until 10 grep -qs '^ready' "$T/log/deaf.log"
multi stop deaf --timeout=300ms
rc_is 0 "stop escalates to KILL after --timeout"
like "$T/out" "^deaf: killed \(pid $deaf\) by SIGKILL: still running 300ms after SIGTERM$" \
  "stop reports the escalation"
ok_if "the deaf worker is gone" dead "$deaf"
ok_if "its pidfile is gone" test ! -e "$T/run/deaf.pid"

multi start deaf --command "$WORKER" --command ignore-term
deaf=$(pid_of deaf)
wait_until 10 grep -qs "^ready pid=$deaf" "$T/log/deaf.log"
multi stop deaf --retry=TERM/200ms --json
rc_is 1 "a schedule that ends with the worker alive fails"
is "$(json "$T/out" '.nodes[0].state')" still-running "and reports still-running"
ok_if "the worker is left alone" alive "$deaf"
ok_if "its pidfile is kept" test -e "$T/run/deaf.pid"
multi stop deaf --retry=INT/200ms/KILL/5
rc_is 0 "a --retry schedule with KILL stops it"
like "$T/out" "by SIGKILL: still running 200ms after SIGINT" "the schedule's signals are used"
ok_if "gone after the schedule" dead "$deaf"
multi stopwait nothing-here --json
is "$(json "$T/out" '.verb')" stopwait "stopwait --json names the verb as it was given"
# A later step that is not SIGKILL: stopped, by that signal.
multi start deaf --command "$WORKER" --command ignore-term
deaf=$(pid_of deaf)
wait_until 10 grep -qs "^ready pid=$deaf" "$T/log/deaf.log"
multi stop deaf --retry=TERM/200ms/QUIT/5
rc_is 0 "a --retry schedule with QUIT stops it"
like "$T/out" "^deaf: stopped \(pid $deaf\) by SIGQUIT: still running 200ms after SIGTERM$" \
  "reported as stopped, by SIGQUIT"

for mode in warm:TERM soft:INT hard:QUIT; do
  name=${mode%%:*} sig=${mode#*:}
  multi start "m$name" --command "$WORKER" --command run
  pid=$(pid_of "m$name")
  wait_until 10 grep -qs "^ready pid=$pid" "$T/log/m$name.log"
  multi stop "m$name" --mode="$name"
  rc_is 0 "stop --mode=$name"
  like "$T/log/m$name.log" "^got SIG$sig$" "--mode=$name sends SIG$sig"
done

multi start slow --command "$WORKER" --command slow-term --command 60000
slow=$(pid_of slow)
wait_until 10 grep -qs "^ready pid=$slow" "$T/log/slow.log"
multi stop slow --no-wait
rc_is 0 "stop --no-wait"
like "$T/out" "^slow: sent SIGTERM \(pid $slow\)$" "--no-wait only signals"
wait_until 10 grep -qs '^got SIGTERM' "$T/log/slow.log"
ok_if "the worker got TERM and is still finishing" alive "$slow"
ok_if "the pidfile stays while the worker runs" test -e "$T/run/slow.pid"
multi kill slow
rc_is 0 "kill the slow worker"
ok_if "killed" dead "$slow"

# Stopping many nodes takes as long as the slowest, not the sum.  Each node
# takes 2 s to stop: one after the other, five cannot stop in under 10 s,
# so the bound only tells the two ways apart and leaves a loaded machine 8 s.
multi start 5 --prefix=p --command "$WORKER" --command slow-term --command 2000
rc_is 0 "start five slow-stopping nodes"
for n in 1 2 3 4 5; do wait_until 10 grep -qs '^ready' "$T/log/p$n.log"; done
start=$(date +%s%N)
multi stop 5 --prefix=p
rc_is 0 "stop five nodes"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
ok_if "nodes are signalled at once and waited for together (${elapsed_ms}ms < 5×2000ms)" \
  test "$elapsed_ms" -lt 10000

# A node's pidfile goes as soon as its worker has exited, not once the
# slowest node of the same stop has: the deaf one holds this stop for its
# whole 60 s of TERM, long after the quick one is gone.
multi start quick --command "$WORKER" --command run
multi start deaf --command "$WORKER" --command ignore-term
quick=$(pid_of quick) deaf=$(pid_of deaf)
wait_until 10 grep -qs "^ready pid=$deaf" "$T/log/deaf.log"
"$MULTI" stop quick deaf --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  --retry=TERM/60s/KILL/5 >"$T/both.out" 2>&1 &
both=$!
ok_if "the quick node's pidfile is gone while the deaf one still stops" \
  wait_until 20 test ! -e "$T/run/quick.pid"
ok_if "its worker has exited" dead "$quick"
ok_if "the deaf worker still runs" alive "$deaf"
ok_if "its pidfile is kept" test -e "$T/run/deaf.pid"
ok_if "the stop still waits for it" alive "$both"
kill -KILL "$deaf"
wait "$both"
is "$?" 0 "the stop ends once the deaf worker is gone"
like "$T/both.out" "^quick: stopped \(pid $quick\)$" "the quick node is reported stopped"
like "$T/both.out" "^deaf: stopped \(pid $deaf\)$" "and so is the deaf one"
ok_if "both pidfiles are gone" test ! -e "$T/run/quick.pid" -a ! -e "$T/run/deaf.pid"

# A worker whose parent never reaps it becomes a zombie when it exits: that
# is stopped, and stop must not wait for a reaper (nor escalate).
"$WORKER" zombie-parent >"$T/zp.out" 2>&1 &
zparent=$!
wait_until 10 grep -qs '^child=' "$T/zp.out"
child=$(sed -n 's/^child=//p' "$T/zp.out")
echo "$child" >"$T/run/zchild.pid"
multi status zchild
rc_is 0 "the unreaped child is running"
multi stop zchild --timeout=60s
rc_is 0 "stop the child"
like "$T/out" "^zchild: stopped \(pid $child\)$" "stopped by TERM, without escalation"
is "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$child/status")" Z \
  "the child is a zombie nobody reaped"
echo "$child" >"$T/run/zchild.pid"
multi status zchild
rc_is 1 "a zombie's pidfile is stale (LSB 1)"
like "$T/out" "^zchild: stale pidfile: pid $child is not running \(removed\)$" "a zombie counts as dead"
ok_if "the stale pidfile was cleaned" test ! -e "$T/run/zchild.pid"
kill "$zparent"
wait "$zparent" 2>/dev/null

# Many nodes: status looks at them on several threads (one for each 32
# nodes, at most one a processor), and each node still gets its own
# result, in the order of the command line; so does stop.
multi start 100 --command "$WORKER" --command run
rc_is 0 "start 100 nodes"
stale=
for n in 3 50 99; do
  p=$(pid_of "stem$n")
  kill -KILL "${p:-none}"
  wait_until 10 dead "$p"
  stale="$stale $p"
done
read -r p3 p50 p99 <<<"$stale"
p70=$(pid_of stem70)
echo garbage >"$T/run/stem70.pid"
multi status 100 --no-clean --json
rc_is 4 "status of 100 nodes, one of them unknown (LSB 4)"
is "$(json "$T/out" '[.nodes[].node] | join(" ")')" "$(seq -f 'stem%g' -s ' ' 1 100)" \
  "a result for each node, in order"
is "$(json "$T/out" '[.nodes[] | select(.state == "running")] | length')" 96 "96 running"
is "$(json "$T/out" '[.nodes[2, 49, 98] | "\(.state) \(.pid)"] | join(" ")')" \
  "stale $p3 stale $p50 stale $p99" "the three killed are stale, each with its own pid"
is "$(json "$T/out" '.nodes[69].state')" unknown "the garbled pidfile is unknown"
running=$(for i in $(seq 1 100); do
  case $i in 3 | 50 | 70 | 99) ;; *) echo "stem$i $(pid_of "stem$i")" ;; esac
done)
is "$(json "$T/out" '.nodes[] | select(.state == "running") | "\(.node) \(.pid)"')" "$running" \
  "each running node with its own pid"
multi stop 100
rc_is 1 "stop of 100 nodes, one of them unknown, fails"
is "$(grep -c '^stem[0-9]*: stopped (pid [0-9]*)$' "$T/out")" 96 "the 96 running are stopped"
like "$T/out" \
  "^stem50: not running \(removed stale pidfile: pid $p50 (is not running|now belongs to another process)\)$" \
  "a stale one is cleaned"
like "$T/err" "^stem-multi: stem70: .*; nothing was signalled$" "the unknown one is left alone"
ok_if "no pidfile is left but the unknown one" \
  test "$(ls "$T/run" | grep -c '^stem[0-9]*\.pid$')" -eq 1
ok_if "and its worker runs on" alive "$p70"
kill -KILL "${p70:-none}"
rm -f "$T/run/stem70.pid"

done_testing
