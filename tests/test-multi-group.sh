#!/bin/bash
# stop also ends what a worker left in its process group (a shell wrapper's
# background job, a forking worker's children), then still waits for the
# log writer; --no-kill-group leaves them; a process that left the group is
# never touched.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

# A wrapper that leaves a background child holding the worker's output, and
# says its PID in the log before it becomes the test worker.
leaver=(--command /bin/sh --command -c
  --command 'sleep 1000 & echo "child=$!"; exec "$0" run' --command "$WORKER")
# The same, but the child leaves the group (a session of its own).
escaper=(--command /bin/sh --command -c
  --command 'setsid sleep 1001 & echo "child=$!"; exec "$0" run' --command "$WORKER")

ready () { grep -q '^ready' "$T/log/$1.log" 2>/dev/null; }
child_of () { sed -n 's/^child=//p' "$T/log/$1.log"; }
# start_node NODE ARGS…: starts NODE and waits for its "ready" line.
start_node () {
  local node=$1
  shift
  multi start "$node" "$@"
  rc_is 0 "$node: started"
  wait_until 30 ready "$node" || fail "$node: the worker said ready" "it did not"
}

start_node a "${leaver[@]}"
worker=$(pid_of a) child=$(child_of a)
ok_if "a: the worker leads its own process group" \
  test "$(ps -o pgid= -p "$worker" | tr -d ' ')" = "$worker"
ok_if "a: its child is in that group" test "$(ps -o pgid= -p "$child" | tr -d ' ')" = "$worker"
writer=$(log_writer_of "$worker")
multi stop a -v
rc_is 0 "a: stop"
like "$T/out" "^a: stopped \(pid $worker\)$" "a: the worker stopped"
ok_if "a: the child it left in its group was ended too" dead "$child"
like "$T/err" "a: ended 1 process the worker left in its process group $worker" "a: --verbose says so"
unlike "$T/err" "still being written" "a: and the wait for the log writer completed"
ok_if "a: the log writer has exited" wait_until 10 dead "$writer"

# --no-kill-group: the worker alone.
start_node b "${leaver[@]}"
worker=$(pid_of b) child=$(child_of b)
multi stop b --no-kill-group --retry=TERM/10
rc_is 0 "b: stop --no-kill-group"
ok_if "b: the worker stopped" dead "$worker"
ok_if "b: the child it left is alone, still running" alive "$child"
kill "$child"

# kill ends the group as well.
start_node c "${leaver[@]}"
child=$(child_of c)
multi kill c
rc_is 0 "c: kill"
ok_if "c: the child it left was killed too" dead "$child"

# restart: the old worker's leftovers are gone before the new one starts.
start_node d "${leaver[@]}"
child=$(child_of d)
: >"$T/log/d.log"
multi restart d "${leaver[@]}"
rc_is 0 "d: restart"
ok_if "d: the old worker's child was ended" dead "$child"
wait_until 30 ready d
new_child=$(child_of d)
ok_if "d: the new worker's child runs" alive "$new_child"
multi stop d
ok_if "d: and is ended by the next stop" dead "$new_child"

# A process that left the group (setsid) is not the worker's to end.
start_node e "${escaper[@]}"
child=$(child_of e)
left_group () { [ "$(ps -o pgid= -p "$1" | tr -d ' ')" = "$1" ]; }
wait_until 10 left_group "$child" || fail "e: the child left the group" "it did not"
multi stop e
rc_is 0 "e: stop"
ok_if "e: the child that left the group is not touched" alive "$child"
kill "$child"

# What a worker left is ended from the top down: a process whose parent is
# one of them and still runs is left to that parent (a Celery master under
# a wrapper ends its pool warm; SIGTERM to the pool would kill its tasks).
cat >"$T/parent.sh" <<'SH'
"$1" run &
c=$!
trap 'echo "parent got TERM"; sleep 0.2; kill -INT $c; wait $c; exit 0' TERM
echo "parent=$$"
wait $c
SH
tree=(--command /bin/sh --command -c --command 'sh "$1" "$0"; exit $?'
  --command "$WORKER" --command "$T/parent.sh")
start_node f "${tree[@]}"
parent=$(sed -n 's/^parent=//p' "$T/log/f.log")
multi stop f -v --retry=TERM/20/KILL/5
rc_is 0 "f: stop of a wrapper over a parent and its child"
like "$T/err" "f: ended 2 processes the worker left in its process group" "f: both were ended"
like "$T/log/f.log" "^parent got TERM$" "f: the one whose parent had gone got SIGTERM"
like "$T/log/f.log" "^got SIGINT$" "f: its child was ended by it"
unlike "$T/log/f.log" "^got SIGTERM$" "f: and not by stop"
ok_if "f: nothing of it runs" dead "${parent:-0}"

# With a one-step schedule, a process held back for a parent that does not
# end it (here one that ignores SIGTERM and waits for it) gets the first
# signal when the step runs out, and the step's time again.
cat >"$T/stubborn.sh" <<'SH'
sleep 1002 &
echo "child=$!"
trap '' TERM
echo "parent=$$"
echo ready
wait
SH
start_node g --command /bin/sh --command -c --command 'sh "$0"; exit $?' --command "$T/stubborn.sh"
child=$(child_of g)
parent=$(sed -n 's/^parent=//p' "$T/log/g.log")
multi stop g -v --retry=TERM/1
ok_if "g: the held-back child got SIGTERM after the step" dead "${child:-0}"
# The parent, given up when the step ran out, may end before the count.
like "$T/err" "g: ended [12] process(es)? the worker left in its process group" "g: --verbose says so"
ok_if "g: its parent, which ignores SIGTERM, then ends (its wait is over)" wait_until 10 dead "${parent:-0}"

# A process a worker left that ignores the stop signal gets SIGTERM: a
# shell's background job ignores both SIGINT and SIGQUIT, and would
# otherwise run on until the KILL step.
cat >"$T/deaf.sh" <<'SH'
trap 'echo "child got TERM"; exit 0' TERM
echo "child=$$"
while :; do sleep 1; done
SH
start_node h --command /bin/sh --command -c --command 'sh "$1" & exec "$0" run' \
  --command "$WORKER" --command "$T/deaf.sh"
wait_until 10 grep -qs '^child=' "$T/log/h.log"
child=$(child_of h)
ok_if "h: the background job ignores SIGINT and SIGQUIT" grep -Eq '^SigIgn:.*[67ef]$' "/proc/${child:-0}/status"
multi stop h -v --mode=soft --timeout=20
rc_is 0 "h: stop --mode=soft"
like "$T/log/h.log" "^got SIGINT$" "h: the worker got SIGINT"
like "$T/log/h.log" "^child got TERM$" "h: what it left, which ignores both, got SIGTERM"
like "$T/err" "h: ended 2 processes the worker left in its process group" "h: --verbose says so"
ok_if "h: nothing of it runs" dead "${child:-0}"

# But a process that ignores SIGINT alone chose to: Celery's pool leaves
# SIGINT to its master and dies of SIGTERM, with its task.  Here the
# master dies of SIGINT at once; its pool, which began a task then,
# finishes it.
start_node i --command "$WORKER" --command pool --command 2000
wait_until 10 grep -qs '^pool=' "$T/log/i.log"
pool=$(sed -n 's/^pool=//p' "$T/log/i.log")
multi stop i -v --mode=soft --timeout=30
rc_is 0 "i: stop --mode=soft"
like "$T/log/i.log" "^got SIGINT$" "i: the master got SIGINT"
like "$T/log/i.log" "^task done$" "i: its pool process, which ignores SIGINT alone, finished its task"
ok_if "i: and has exited" dead "${pool:-0}"

# A worker whose every process starts another as it is ended: stop gives
# up on its group after a few rounds, and names what still runs there,
# those started during the last round included.  What stop can prove to
# be the worker's is what it names: here the worker's zombie is held (as
# where PID 1 reaps late), which proves the whole group its own.
cat >"$T/respawn.sh" <<'SH'
"$1" start j --pidfile="$2/run/%n.pid" --logfile="$2/log/%n.log" \
  --command "$3" --command respawn-on-term || exit 1
until grep -qs '^ready' "$2/log/j.log"; do sleep 0.05; done
"$1" stop j --pidfile="$2/run/%n.pid" --logfile="$2/log/%n.log" --retry=TERM/1
SH
run "$WORKER" hold-orphans sh "$T/respawn.sh" "$MULTI" "$T" "$WORKER"
rc_is 0 "j: start, then stop of a worker whose leftovers respawn when ended"
# (One, or more where the machine is slow: one that got SIGTERM in the
# last round may not have exited yet after forking its next.)
like "$T/err" "^stem-multi: j: [1-9][0-9]* process(es)? the worker left in its process group [0-9]+ (is|are) still running$" \
  "j: what still runs in its group is named on standard error"
for p in $(sed -n 's/^respawned pid=//p' "$T/log/j.log"); do kill -KILL "$p" 2>/dev/null; done

done_testing
