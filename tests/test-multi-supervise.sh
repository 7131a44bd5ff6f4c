#!/bin/bash
# supervise: restarts with backoff, the restart policies, signal forwarding,
# escalation, reaping as PID 1 of a PID namespace, sd_notify.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

# supervise_bg LOG ARGS…: runs supervise in the background, what it says in
# LOG.  $sup is its PID.
supervise_bg () {
  local log=$1
  shift
  "$MULTI" supervise --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" "$@" 2>"$log" &
  sup=$!
}
# stop_supervise: TERM to supervise, its exit status in $rc.
stop_supervise () {
  kill -TERM "$sup"
  wait "$sup"
  rc=$?
}
# ready NODE…: waits until each NODE's worker has said it is ready, and
# its pidfile is there: supervise writes it once the launch has returned,
# which on a loaded machine can be after the worker's first words.
ready () {
  local n
  for n in "$@"; do
    wait_until 10 grep -qs '^ready' "$T/log/$n.log"
    wait_until 10 test -s "$T/run/$n.pid"
  done
}
# supervise_sh ERR NODE SCRIPT OPTION…: supervise_bg of NODE, whose command
# is /bin/sh -c SCRIPT with the test worker as $0, until it is ready.
supervise_sh () {
  local err=$1 node=$2 script=$3
  shift 3
  supervise_bg "$err" "$node" "$@" --command /bin/sh --command -c --command "$script" \
    --command "$WORKER"
  ready "$node"
}
# child_of NODE: the PIDs NODE's wrapper said as "child=PID" in its log.
child_of () { sed -n 's/^child=//p' "$T/log/$1.log"; }
# restarted NODE OLD: NODE runs again, as another process than OLD.
restarted () {
  local now
  now=$(pid_of "$1")
  [ -n "$now" ] && [ "$now" != "$2" ] && alive "$now"
}

# A node that crashes is restarted after 1 s, then 2 s, then given up.  Each
# start logs its process's start tick (/proc/PID/stat field 22) before it
# becomes the worker, which exits 200 ms later.
supervise_bg "$T/crash.err" crash --command /bin/sh --command -c \
  --command 'echo "start tick $(cut -d" " -f22 /proc/$$/stat)"; exec "$0" exit-after 200 3' \
  --command "$WORKER" --max-restarts=2
wait "$sup"
rc=$?
rc_is 1 "supervise exits 1 when a node was given up"
wait_until 10 grep -qs 'all nodes have stopped' "$T/crash.err"
like "$T/crash.err" "crash: exited with status 3 \(pid [0-9]+\)$" "the exit is logged"
like "$T/crash.err" "crash: restarting in 1s \(restart 1 of at most 2\)$" "first restart after 1s"
like "$T/crash.err" "crash: restarting in 2s \(restart 2 of at most 2\)$" "second restart after 2s"
like "$T/crash.err" "crash: giving up after 2 restarts$" "then it gives up"
is "$(grep -c 'crash: started' "$T/crash.err")" 3 "three starts in all"
# From the kernel's start times: a start comes at least 200 ms (the run)
# plus the backoff after the one before (one tick of slack).
hz=$(getconf CLK_TCK)
tick_ms () { sed -n 's/^start tick //p' "$T/log/crash.log" | sed -n "${1}p" | awk -v hz="$hz" '{ print int($1 * 1000 / hz) }'; }
gap1=$(($(tick_ms 2) - $(tick_ms 1)))
gap2=$(($(tick_ms 3) - $(tick_ms 2)))
ok_if "the first restart waits 1s after the exit (starts ${gap1}ms apart, ≥ 1200 - 1 tick)" \
  test "$gap1" -ge $((1200 - 1000 / hz))
ok_if "the second waits 2s (starts ${gap2}ms apart, ≥ 2200 - 1 tick)" \
  test "$gap2" -ge $((2200 - 1000 / hz))
ok_if "no pidfile is left" test ! -e "$T/run/crash.pid"

# on-failure: a clean exit is not a failure; always: it is restarted anyway.
supervise_bg "$T/clean.err" done0 --command "$WORKER" --command exit --command 0
wait "$sup"
rc=$?
rc_is 0 "a node that exits 0 ends supervise cleanly"
wait_until 10 grep -qs 'all nodes have stopped' "$T/clean.err"
like "$T/clean.err" "done0: not restarting \(--restart=on-failure\)$" "exit 0 is not restarted under on-failure"
is "$(grep -c 'done0: started' "$T/clean.err")" 1 "started once"
supervise_bg "$T/always.err" again --restart=always --max-restarts=1 --command "$WORKER" \
  --command exit --command 0
wait "$sup"
wait_until 10 grep -qs 'all nodes have stopped' "$T/always.err"
like "$T/always.err" "again: restarting in 1s" "--restart=always restarts a clean exit"
is "$(grep -c 'again: started' "$T/always.err")" 2 "started twice"
supervise_bg "$T/never.err" once --restart=never --command "$WORKER" --command exit --command 4
wait "$sup"
rc=$?
rc_is 1 "--restart=never: a failed node ends supervise with 1"
wait_until 10 grep -qs 'all nodes have stopped' "$T/never.err"
like "$T/never.err" "once: not restarting \(--restart=never\)$" "and it was not restarted"

# Its standard error a pipe whose reader has gone: supervise goes on.
exec 3> >(head -c 1 >/dev/null)
"$MULTI" supervise --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" p1 --verbose \
  --command "$WORKER" --command run 2>&3 &
sup=$!
exec 3>&-
ready p1
first=$(pid_of p1)
kill -KILL "${first:-none}"
ok_if "with nobody reading its stderr, supervise still restarts a node" \
  wait_until 15 restarted p1 "$first"
ok_if "and lives on" alive "$sup"
stop_supervise
rc_is 0 "and stops cleanly"

# A node's lock held by another call (stop, kill, start) is waited for
# without stopping the loop: the other nodes are still restarted, and TERM
# still ends supervise at once.
supervise_bg "$T/lock.err" la lb --command "$WORKER" --command run
ready la lb
# The holder is the sleep itself, so that killing it leaves nothing behind
# (flock's own child would outlive it, holding the test's output open).
(exec 9<"$T/run/la.pid.lock" && flock 9 && exec sleep 300) >/dev/null 2>&1 &
holder=$!
lock_held () { ! flock -n "$T/run/la.pid.lock" true; }
wait_until 10 lock_held
kill -KILL "$(pid_of la)"
wait_until 10 grep -qs '^stem-multi: la: restarting in 1s' "$T/lock.err"
b1=$(pid_of lb)
kill -KILL "${b1:-none}"
ok_if "while la waits for its lock, lb is restarted" wait_until 15 restarted lb "$b1"
ok_if "la is not started while its lock is held" test ! -e "$T/run/la.pid"
kill -TERM "$sup"
ok_if "TERM ends supervise while the lock is still held" wait_until 30 dead "$sup"
ok_if "(the lock was held all along)" alive "$holder"
wait "$sup"
kill "$holder"
wait "$holder" 2>/dev/null
is "$(grep -c 'la: started' "$T/lock.err")" 1 "la was never started again over its holder"

# A node whose directories cannot be made fails like a node that exits:
# retried with the restarts, then given up; the others run on.
: >"$T/not-a-dir"
supervise_bg "$T/dirs.err" da db --workdir:db="$T/not-a-dir/sub" --max-restarts=1 \
  --command "$WORKER" --command run
ready da
ok_if "db's directory that cannot be made is tried again" \
  wait_until 15 grep -qs '^stem-multi: db: giving up after 1 restart' "$T/dirs.err"
is "$(grep -c 'db: Creating directory' "$T/dirs.err")" 2 "db failed twice, each time saying why"
ok_if "da still runs" alive "$(pid_of da)"
stop_supervise
rc_is 1 "supervise exits 1: db was given up"

# TERM stops every node and supervise exits 0; status sees supervised nodes.
supervise_bg "$T/term.err" s1 s2 --command "$WORKER" --command run
ready s1 s2
multi status s1 s2
rc_is 0 "stem-multi status sees the supervised nodes"
p1=$(pid_of s1) p2=$(pid_of s2)
is "$(awk '{ print $4 }' "/proc/$p1/stat")" "$sup" "the supervisor is the worker's parent"
like "$T/log/s1.log" "^ready pid=$p1 node=s1$" "the pidfile names the running worker"
stop_supervise
rc_is 0 "TERM to supervise: exit 0 once all stopped cleanly"
like "$T/log/s1.log" '^got SIGTERM$' "TERM was forwarded to s1"
like "$T/log/s2.log" '^got SIGTERM$' "and to s2"
ok_if "no worker is left" dead "$p1"
ok_if "no worker is left (s2)" dead "$p2"
ok_if "the pidfiles are removed" test ! -e "$T/run/s1.pid" -a ! -e "$T/run/s2.pid"

# A worker whose exec fails (here: an executable file in no format the
# kernel runs, no #! line and no ELF) is said to have failed, with the
# reason, and has no pidfile.
printf 'not a program\n' >"$T/not-a-program"
chmod 755 "$T/not-a-program"
supervise_bg "$T/noexec.err" noexec --max-restarts=0 --command "$T/not-a-program"
wait "$sup"
rc=$?
rc_is 1 "supervise of a node that cannot be executed"
like "$T/noexec.err" "noexec: Executing “$T/not-a-program”: Exec format error$" \
  "the exec error is said"
ok_if "no pidfile is left" test ! -e "$T/run/noexec.pid"

# Forwarding: HUP reaches the nodes and stops nothing; INT stops them.
supervise_bg "$T/hup.err" h1 --command "$WORKER" --command run
ready h1
kill -HUP "$sup"
wait_until 10 grep -qs '^got SIGHUP' "$T/log/h1.log"
like "$T/log/h1.log" '^got SIGHUP$' "HUP is forwarded"
ok_if "and the node keeps running" alive "$(pid_of h1)"
kill -USR1 "$sup"
wait_until 10 grep -qs '^got SIGUSR1' "$T/log/h1.log"
kill -USR2 "$sup"
wait_until 10 grep -qs '^got SIGUSR2' "$T/log/h1.log"
like "$T/log/h1.log" '^got SIGUSR2$' "USR1 and USR2 are forwarded too"
ok_if "and supervise and the node keep running" eval 'alive "$sup" && alive "$(pid_of h1)"'
like "$T/hup.err" '^stem-multi: got SIGUSR1: forwarding it to all nodes$' "saying so"
kill -INT "$sup"
wait "$sup"
rc=$?
rc_is 0 "INT stops supervise"
like "$T/log/h1.log" '^got SIGINT$' "INT was forwarded"

# The log writers come from one resident server, supervise's child; when it
# dies, the next start has a new one started.
supervise_bg "$T/server.err" w1 --restart=always --command "$WORKER" --command run
ready w1
p1=$(pid_of w1)
writer=$(log_writer_of "$p1")
server=$(awk '{ print $4 }' "/proc/${writer:-0}/stat" 2>/dev/null)
is "$(tr '\0' ' ' <"/proc/${server:-0}/cmdline" 2>/dev/null)" "$LOGWRITER --serve " \
  "the node's log writer was forked by the server"
is "$(awk '{ print $4 }' "/proc/${server:-0}/stat" 2>/dev/null)" "$sup" "which is supervise's child"
ok_if "it holds the node's byte of the log (stop waits for that)" \
  grep -Eq "^[0-9]+: OFDLCK +ADVISORY +WRITE .*:$(stat -c %i "$T/log/w1.log") " /proc/locks
kill -KILL "${server:-none}"
ok_if "supervise says when the server is gone" \
  wait_until 10 grep -qs "the log writers' server (pid $server) has exited" "$T/server.err"
kill -TERM "$p1"
w1_restarted () { restarted w1 "$p1" && grep -qs "^ready pid=$(pid_of w1) " "$T/log/w1.log"; }
wait_until 20 w1_restarted
p2=$(pid_of w1)
ok_if "the node is started again" test -n "$p2" -a "$p2" != "$p1"
like "$T/log/w1.log" "^ready pid=$p2 node=w1$" "and its output reaches the log"
writer2=$(log_writer_of "$p2")
server2=$(awk '{ print $4 }' "/proc/${writer2:-0}/stat" 2>/dev/null)
ok_if "through a writer of a new server" test -n "$server2" -a "$server2" != "$server"
is "$(awk '{ print $4 }' "/proc/${server2:-0}/stat" 2>/dev/null)" "$sup" "also supervise's child"
stop_supervise
rc_is 0 "supervise stops cleanly"
ok_if "and the server is gone with it" dead "$server2"

# The server and the workers start clean whatever supervise was given:
# none of the caller's descriptors that are not close-on-exec, and no
# signal ignored (but the SIGPIPE the server ignores itself).
: >"$T/stray"
exec 9<"$T/stray"
bash -c 'trap "" USR2; exec "$@"' sh "$MULTI" supervise --pidfile="$T/run/%n.pid" \
  --logfile="$T/log/%n.log" clean --command "$WORKER" --command run 2>"$T/stray.err" &
sup=$!
exec 9<&-
ready clean
# sig_ignored PID: the standard signals (1-31) PID ignores, as a hex mask;
# above those, the C library's own are its business.
sig_ignored () {
  local mask
  mask=$(sed -n 's/^SigIgn:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
  [ -n "$mask" ] && printf '%x\n' $((0x$mask & 0x7fffffff))
}
writer=$(log_writer_of "$(pid_of clean)")
server=$(awk '{ print $4 }' "/proc/${writer:-0}/stat" 2>/dev/null)
is "$(tr '\0' ' ' <"/proc/${server:-0}/cmdline" 2>/dev/null)" "$LOGWRITER --serve " \
  "(the node's writer comes from the server)"
ok_if "(supervise has the stray descriptor)" has_fd_to "$sup" "$T/stray"
is "$(sig_ignored "$sup")" 1800 "(supervise ignores SIGUSR2, as its caller did, and SIGPIPE, itself)"
ok_if "the server has not the caller's stray descriptor" lacks_fd_to "${server:-0}" "$T/stray"
is "$(sig_ignored "${server:-0}")" 1000 "and ignores no signal but SIGPIPE"
ok_if "nor has the worker that descriptor" lacks_fd_to "$(pid_of clean)" "$T/stray"
is "$(sig_ignored "$(pid_of clean)")" 0 "and it ignores no signal"
stop_supervise
rc_is 0 "supervise stops cleanly"

# A worker that ignores TERM is killed after --timeout.
supervise_bg "$T/deaf.err" deaf --timeout=300ms --command "$WORKER" --command ignore-term
ready deaf
deaf=$(pid_of deaf)
stop_supervise
rc_is 1 "a node that had to be killed makes supervise exit 1"
wait_until 10 grep -qs 'all nodes have stopped' "$T/deaf.err"
like "$T/deaf.err" "deaf: still running 300ms after the stop signal: sending SIGKILL$" "it says so"
ok_if "the deaf worker is gone" dead "$deaf"

# What a node leaves in its process group is ended when it exits, before
# it is restarted: a shell wrapper killed three times leaves no second
# worker running, and TERM to supervise ends the worker of a wrapper that
# dies of it.
# worker_of NODE: the PID of the worker that last said it was ready.
worker_of () { sed -n 's/^ready pid=\([0-9]*\) .*/\1/p' "$T/log/$1.log" | tail -n 1; }
# new_worker NODE OLD: NODE's worker said it was ready, and is not OLD.
new_worker () { [ -n "$(worker_of "$1")" ] && [ "$(worker_of "$1")" != "$2" ]; }
supervise_bg "$T/wrap.err" wr --restart=always \
  --command /bin/sh --command -c --command '"$0" run; exit $?' --command "$WORKER"
ready wr
for round in 1 2 3; do
  shell=$(pid_of wr) worker=$(worker_of wr)
  ok_if "round $round: the wrapper's worker is its child" \
    test "$(awk '{ print $4 }' "/proc/${worker:-0}/stat" 2>/dev/null)" = "$shell"
  kill -KILL "${shell:-none}"
  wait_until 20 new_worker wr "$worker"
  ok_if "round $round: the worker the killed wrapper left was ended before the restart" \
    dead "$worker"
done
is "$(grep -c 'wr: ending 1 process it left in its process group$' "$T/wrap.err")" 3 \
  "supervise said so each time"
running=0
for w in $(sed -n 's/^ready pid=\([0-9]*\) .*/\1/p' "$T/log/wr.log"); do
  alive "$w" && running=$((running + 1))
done
is "$running" 1 "one worker runs, not four"
last=$(worker_of wr)
stop_supervise
rc_is 0 "TERM to supervise, which kills the wrapper: exit 0"
ok_if "the worker the wrapper left is ended too" dead "$last"
like "$T/log/wr.log" '^got SIGTERM$' "by SIGTERM"
ok_if "before supervise exited (nothing left in its group)" \
  test -z "$(ps -o pid= -g "$last" 2>/dev/null)"

# What ignores SIGTERM gets SIGKILL after --timeout; a process that left the
# group is not touched; --no-kill-group leaves them all.
supervise_bg "$T/left.err" deafchild escaper --timeout=300ms \
  --command:deafchild /bin/sh --command:deafchild -c \
  --command:deafchild '(trap "" TERM; exec sleep 1000) & echo "child=$!"; exec "$0" run' \
  --command:deafchild "$WORKER" \
  --command:escaper /bin/sh --command:escaper -c \
  --command:escaper 'setsid sleep 1001 & echo "child=$!"; exec "$0" run' \
  --command:escaper "$WORKER"
ready deafchild escaper
deaf_child=$(child_of deafchild)
escaped=$(child_of escaper)
left_group () { [ "$(ps -o pgid= -p "$1" | tr -d ' ')" = "$1" ]; }
wait_until 10 left_group "$escaped" || fail "the escaper's child left the group" "it did not"
stop_supervise
rc_is 1 "what had to be killed makes supervise exit 1"
like "$T/left.err" "deafchild: ending 1 process it left in its process group$" \
  "the child ignoring TERM is found"
like "$T/left.err" "deafchild: what it left in its process group still runs [0-9]+ms after SIGTERM: sending SIGKILL$" \
  "and killed after --timeout (of the stop signal)"
ok_if "it is gone" dead "$deaf_child"
ok_if "the process that left the group runs on" alive "$escaped"
unlike "$T/left.err" "escaper: ending" "and was never counted"
kill "$escaped"
supervise_bg "$T/nokill.err" keep --no-kill-group \
  --command /bin/sh --command -c --command 'sleep 1002 & echo "child=$!"; exec "$0" run' \
  --command "$WORKER"
ready keep
kept=$(child_of keep)
stop_supervise
rc_is 0 "--no-kill-group: supervise stops"
ok_if "and leaves the worker's child running" alive "$kept"
unlike "$T/nokill.err" "ending" "saying nothing of it"
kill "$kept"

# What a node left that starts a new process each time it is ended is
# looked for again at most 8 times, then killed with SIGKILL (its zombie is
# still held), not left running beside the restarted node.
supervise_bg "$T/respawn.err" resp --restart=always --timeout=20s \
  --command /bin/sh --command -c \
  --command '[ -e "$1" ] || { : >"$1"; "$0" respawn-on-term & }; exec "$0" run' \
  --command "$WORKER" --command "$T/resp.first"
both_ready () { [ "$(grep -s '^ready' "$T/log/resp.log" | wc -l)" -ge 2 ]; }
wait_until 10 both_ready
wait_until 10 test -s "$T/run/resp.pid"
first=$(pid_of resp)
kill -KILL "${first:-none}"
ok_if "the node whose leftover respawns is restarted" wait_until 15 restarted resp "$first"
respawned=$(sed -n 's/^respawned pid=//p' "$T/log/resp.log" | tail -n 1)
ok_if "what it left was ended before the restart, though it respawned" dead "${respawned:-0}"
like "$T/respawn.err" "resp: what it left in its process group still runs [0-9]+m?s after SIGTERM: sending SIGKILL$" \
  "by SIGKILL, well before --timeout"
stop_supervise
[ -n "$respawned" ] && kill -KILL "$respawned" 2>/dev/null

# What a node left is ended from the top down: a process whose parent is
# a member still running is left to that parent (a Celery master ends its
# pool warm; SIGTERM to the pool would kill the tasks), and gets SIGTERM
# only once its parent has exited.
cat >"$T/parent.sh" <<'SH'
"$1" run &
c=$!
trap 'echo "parent got TERM"; sleep 0.2; kill -INT $c; wait $c; exit 0' TERM
wait $c
SH
supervise_bg "$T/tree.err" tree --restart=never --timeout=10s \
  --command /bin/sh --command -c --command 'sh "$1" "$0"; exit $?' \
  --command "$WORKER" --command "$T/parent.sh"
ready tree
kill -KILL "$(pid_of tree)"
wait "$sup"
like "$T/tree.err" "tree: ending 2 processes it left in its process group$" "both are found"
like "$T/log/tree.log" "^parent got TERM$" "the one whose parent had gone got SIGTERM"
like "$T/log/tree.log" "^got SIGINT$" "its child was ended by it"
unlike "$T/log/tree.log" "^got SIGTERM$" "and not by supervise"

# While what a node left is being ended, supervise holds the node's lock:
# a start by hand waits for it, rather than start a second worker beside
# what the first left (its pidfile is already gone).
supervise_bg "$T/lock.err" lk --restart=never --timeout=30s \
  --command /bin/sh --command -c \
  --command '(trap "" TERM; exec sleep 1007) & echo "child=$!"; exec "$0" run' \
  --command "$WORKER"
ready lk
lk_child=$(child_of lk)
kill -KILL "$(pid_of lk)"
wait_until 10 grep -qs "lk: ending 1 process" "$T/lock.err"
multi start lk --lock-timeout=0.3s --settle=0 --command "$WORKER" --command run
rc_is 1 "a start by hand meanwhile fails"
like "$T/err" "lk: .*lk\.pid\.lock.* $sup" "for want of the lock, which supervise holds"
ok_if "and starts nothing" test ! -e "$T/run/lk.pid"
kill -KILL "${lk_child:-none}"
wait "$sup"
rc_is 1 "once what it left has ended, supervise exits (the node was killed: a failure)"
multi start lk --settle=0 --command "$WORKER" --command run
rc_is 0 "then the node can be started by hand"
multi stop lk
# What a node left after a stop signal gets that signal, not SIGTERM: a hard
# shutdown (SIGQUIT) asked for is not made a warm one.  But a process that
# ignores it (a shell's background job ignores SIGINT and SIGQUIT) gets
# SIGTERM, not nothing until SIGKILL.
supervise_sh "$T/quit.err" qt \
  '"$0" run & echo "child=$!"; sleep 1010 & echo "sleeper=$!"; wait' --timeout=20s
wait_until 10 grep -qs '^sleeper=' "$T/log/qt.log"
qt_child=$(child_of qt)
qt_sleeper=$(sed -n 's/^sleeper=//p' "$T/log/qt.log")
ok_if "the background sleep ignores SIGQUIT" grep -Eq '^SigIgn:.*[4567cdef]$' "/proc/${qt_sleeper:-0}/status"
kill -QUIT "$sup"
wait "$sup"
rc_is 0 "supervise stopped by SIGQUIT"
like "$T/quit.err" "qt: ending 2 processes it left in its process group$" "after SIGQUIT, what the wrapper left is ended"
like "$T/log/qt.log" "^got SIGQUIT$" "with SIGQUIT, the stop signal"
unlike "$T/log/qt.log" "^got SIGTERM$" "not with SIGTERM"
ok_if "it is gone" dead "${qt_child:-0}"
ok_if "so is the sleep that ignores SIGQUIT" dead "${qt_sleeper:-0}"
unlike "$T/quit.err" "qt: .*sending SIGKILL" "which got SIGTERM, not SIGKILL at --timeout"

# A stop signal that comes while supervise ends what a crashed node left
# reaches what it left too, as it reaches a running worker: SIGQUIT (a hard
# shutdown) after the crash's SIGTERM (a warm one, still under way).
supervise_sh "$T/after.err" aq '"$0" slow-term 60000 & echo "child=$!"; wait' --timeout=20s
aq_child=$(child_of aq)
kill -KILL "$(pid_of aq)"
wait_until 10 grep -qs '^got SIGTERM$' "$T/log/aq.log" ||
  fail "what the killed wrapper left got SIGTERM" "it did not"
kill -QUIT "$sup"
wait "$sup"
rc=$?
rc_is 1 "supervise stopped by SIGQUIT after a crash: exit 1 (the node was killed)"
like "$T/log/aq.log" "^got SIGQUIT$" "what it left got SIGQUIT too"
ok_if "and ended at once" dead "${aq_child:-0}"
unlike "$T/after.err" "aq: .*sending SIGKILL" "not by SIGKILL at --timeout"
# What outlives both gets SIGKILL, and the message counts from the first.
supervise_sh "$T/after2.err" ak '(trap "" TERM; exec sleep 1011) & echo "child=$!"; wait' \
  --timeout=2s
ak_child=$(child_of ak)
kill -KILL "$(pid_of ak)"
wait_until 10 grep -qs "ak: ending 1 process" "$T/after2.err"
kill -QUIT "$sup"
wait "$sup"
like "$T/after2.err" "ak: what it left in its process group still runs [0-9]+m?s after SIGTERM: sending SIGKILL$" \
  "SIGKILL after --timeout, counted from the first signal, which it names"
ok_if "it is gone" dead "${ak_child:-0}"

# After a stop signal nothing runs more than --timeout before SIGKILL: what a
# worker killed at --timeout left does not get another --timeout.
supervise_sh "$T/deadline.err" dl \
  '(trap "" TERM; exec sleep 1003) & echo "child=$!"; exec "$0" ignore-term' --timeout=2s
dl_child=$(child_of dl)
stop_supervise
rc_is 1 "a worker and its child killed: exit 1"
ok_if "its child is gone" dead "${dl_child:-0}"
# Its SIGKILL came at the stop signal's --timeout, just after the worker's
# own, not a whole --timeout (2s) after its SIGTERM.
like "$T/deadline.err" "dl: what it left in its process group still runs [0-9]+m?s after SIGTERM: sending SIGKILL$" \
  "its child got SIGKILL"
unlike "$T/deadline.err" "dl: what it left in its process group still runs 2s after" \
  "at the stop signal's --timeout, not another --timeout later"
[ -n "$dl_child" ] && kill -KILL "$dl_child" 2>/dev/null

# The log writers' server that exits while a node's zombie is held (here
# a server started after that node's worker, the first having been killed)
# is still reaped at once: the next start of another node needs a new one.
server_of () { local w; w=$(log_writer_of "$1") && awk '{ print $4 }' "/proc/$w/stat"; }
supervise_bg "$T/held.err" ha hb --restart=always --timeout=6s \
  --command:ha /bin/sh --command:ha -c \
  --command:ha '(trap "" TERM; exec sleep 1006) & echo "child=$!"; exec "$0" run' \
  --command:ha "$WORKER" --command:hb "$WORKER" --command:hb run
ready ha hb
s1=$(server_of "$(pid_of ha)")
kill -KILL "${s1:-none}"
wait_until 10 grep -qs "server (pid $s1) has exited" "$T/held.err"
b1=$(pid_of hb)
kill -KILL "${b1:-none}"
wait_until 15 restarted hb "$b1"
b2=$(pid_of hb)
s2=$(server_of "$b2")
kill -KILL "$(pid_of ha)"
wait_until 10 grep -qs "ha: ending 1 process" "$T/held.err"
kill -KILL "${s2:-none}"
ok_if "the second server's exit is seen while ha's zombie is held" \
  wait_until 3 grep -qs "server (pid $s2) has exited" "$T/held.err"
kill -KILL "${b2:-none}"
ok_if "hb is started again meanwhile" wait_until 5 restarted hb "$b2"
unlike "$T/held.err" "hb: Starting the log writer" "its start did not fail on the dead server"
stop_supervise
for p in $(child_of ha); do kill -KILL "$p" 2>/dev/null; done

# More processes left than supervise may open descriptors for: those it
# cannot open are ended with their process group, not left running beside
# the restarted node.
( ulimit -n 128 && exec "$MULTI" supervise --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  many --restart=always --timeout=20s --command /bin/sh --command -c \
  --command '[ -e "$1" ] || { : >"$1"; for i in $(seq 300); do sleep 1003 & done; }; exec "$0" run' \
  --command "$WORKER" --command "$T/many-first" 2>"$T/many.err" ) &
sup=$!
ready many
first=$(pid_of many)
many_left () { test "$(pgrep -x -g "${first:-0}" sleep | wc -l)" -ge 300; }
wait_until 20 many_left || fail "the worker left 300 processes" "it did not"
kill -KILL "${first:-none}"
ok_if "the node is restarted" wait_until 30 restarted many "$first"
is "$(pgrep -x -g "${first:-0}" sleep | wc -l)" 0 "nothing it left runs beside the restarted node"
like "$T/many.err" "many: ending [0-9]+ processes it left in its process group$" "those it opened are ended"
like "$T/many.err" "many: some processes it left could not be opened: sending SIGTERM to its process group$" \
  "those it could not open were ended with the group"
pkill -KILL -g "${first:-0}" 2>/dev/null
stop_supervise

# A stop signal while it ends such a group goes to the whole group, as
# the SIGTERM did: those it could not open get it too, not only SIGKILL at
# --timeout.  What it left says each signal and ends on none.
( ulimit -n 128 && exec "$MULTI" supervise --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  blind --timeout=60s --command /bin/sh --command -c \
  --command 'for i in $(seq 200); do "$0" stubborn >>"$1" & done; exec "$0" run' \
  --command "$WORKER" --command "$T/blind-left.out" 2>"$T/blind.err" ) &
sup=$!
ready blind
blind_first=$(pid_of blind)
blind_left () { test "$(grep -c '^ready' "$T/blind-left.out")" -ge 200; }
wait_until 30 blind_left || fail "the worker left 200 processes" "it did not"
kill -KILL "${blind_first:-none}"
wait_until 20 grep -qs "blind: some processes it left could not be opened" "$T/blind.err" ||
  fail "supervise could not open all it left" "it says nothing of it"
kill -QUIT "$sup"
blind_quit () { test "$(grep -c '^got SIGQUIT$' "$T/blind-left.out")" -ge 200; }
ok_if "all 200 processes it left got SIGQUIT, those it could not open too" wait_until 30 blind_quit
pkill -KILL -g "${blind_first:-0}"
wait "$sup"

# A node already running elsewhere: supervise starts nothing.
multi start busy --command "$WORKER" --command run
supervise_bg "$T/busy.err" busy other --command "$WORKER" --command run
wait "$sup"
rc=$?
rc_is 1 "supervise refuses nodes that already run"
wait_until 10 grep -qs 'stop it first' "$T/busy.err"
like "$T/busy.err" "busy: already running \(pid [0-9]+\): stop it first$" "naming them"
ok_if "and starts none of the others" test ! -e "$T/run/other.pid"
multi stop busy

# A pidfile a power cut left empty before this boot names no worker: it
# is replaced.  An empty one written in this boot is not started over.
: >"$T/run/left.pid"
before_boot "$T/run/left.pid"
supervise_bg "$T/left.err" left --command "$WORKER" --command run
ready left
ok_if "supervise starts a node whose pidfile is a leftover from before this boot" alive "$(pid_of left)"
stop_supervise
: >"$T/run/empty.pid"
supervise_bg "$T/empty.err" empty --command "$WORKER" --command run
wait "$sup"
rc=$?
rc_is 1 "supervise does not start over an empty pidfile of this boot"
like "$T/empty.err" "empty: Invalid pidfile .$T/run/empty.pid.: it is empty" "… and says why"

# sd_notify: READY once started, STATUS, STOPPING at the end.
"$WORKER" notify-listen "$T/notify" >"$T/notify.out" 2>&1 &
listener=$!
wait_until 10 grep -qs '^ready' "$T/notify.out"
NOTIFY_SOCKET=$T/notify supervise_bg "$T/notify.err" n1 n2 --command "$WORKER" --command print-env
wait_until 10 grep -qs '^notify: READY=1' "$T/notify.out"
like "$T/notify.out" '^notify: READY=1\|STATUS=2 of 2 nodes running, 0 restarting$' "READY=1 with STATUS once all nodes run"
wait_until 10 grep -qs '^env STEM_WORKER_NODE' "$T/log/n1.log"
unlike "$T/log/n1.log" '^env NOTIFY_SOCKET=' "workers do not get NOTIFY_SOCKET"
kill -TERM "$sup"
wait "$sup"
wait_until 10 grep -qs '^notify: STOPPING=1' "$T/notify.out"
like "$T/notify.out" '^notify: STOPPING=1$' "STOPPING=1 on TERM"

# A node whose lock another call holds is neither started nor failed:
# READY=1 waits for it, and its retries (every 200 ms) say nothing new.
: >"$T/notify.out"
: >"$T/run/nl.pid.lock"
(exec 9<"$T/run/nl.pid.lock" && flock 9 && exec sleep 300) >/dev/null 2>&1 &
holder=$!
lock_held () { ! flock -n "$T/run/nl.pid.lock" true; }
wait_until 10 lock_held
NOTIFY_SOCKET=$T/notify supervise_bg "$T/nl.err" nl --command "$WORKER" --command run
wait_until 10 grep -qs 'nl: its lock file' "$T/nl.err"
like "$T/nl.err" "nl: its lock file “$T/run/nl.pid.lock” is held by another process: waiting for it, 1m at most$" \
  "a node waiting for its lock says so"
# A second of retries, whatever they would have sent.
sleep 1
is "$(cat "$T/notify.out")" "" "nothing is told while it waits"
kill "$holder"
wait "$holder" 2>/dev/null
wait_until 10 grep -qs '^notify: READY=1' "$T/notify.out"
like "$T/notify.out" '^notify: READY=1\|STATUS=1 of 1 nodes running, 0 restarting$' \
  "READY=1 once it has started"
stop_supervise
kill "$listener"

# As PID 1 of a new PID namespace, it reaps orphaned grandchildren.
if [ "$(id -u)" -eq 0 ] && unshare --pid --fork --mount-proc true 2>/dev/null; then
  unshare --pid --fork --mount-proc "$MULTI" supervise orph --verbose --pidfile="$T/run/%n.pid" \
    --logfile="$T/log/%n.log" --command "$WORKER" --command orphan-maker 2>"$T/ns.err" &
  ns=$!
  wait_until 10 grep -qs '^grandchild=' "$T/log/orph.log"
  # Pids 2 to 4 went to the node's log writer: the writers' server (2),
  # the writer process it forked (3) and the thread in it for this log (4).
  like "$T/log/orph.log" "^ready pid=5 node=orph$" "in the namespace supervise is PID 1 and the node PID 5"
  wait_until 15 grep -qs 'reaped orphan pid' "$T/ns.err"
  like "$T/ns.err" "reaped orphan pid [0-9]+$" "the orphaned grandchild was reaped by supervise as PID 1"
  init=$(pgrep -P "$ns")
  zombies=$(for p in $(pgrep -P "$init"); do awk '{ print $3 }' "/proc/$p/stat"; done | grep -c Z)
  is "$zombies" 0 "no zombie remains under it"
  kill -TERM "$init"
  wait "$ns"
  rc=$?
  rc_is 0 "TERM ends supervise as PID 1"
else
  skip "needs root and unshare --pid to test supervise as PID 1 of a PID namespace"
fi

# As PID 1, a SIGTERM before supervise has its handlers (docker stop right
# after docker run) is not lost: the kernel drops a signal left to its
# default there, so stem-multi holds it from the start, for supervise.
# strace -D (stem-multi stays PID 1) holds it in its last system call
# before the exec of the supervisor, as long as needed for the signal to
# arrive; then strace goes, and stem-multi goes on.
if [ "$(id -u)" -eq 0 ] && unshare --pid --fork --mount-proc true 2>/dev/null \
  && command -v strace >/dev/null; then
  unshare --pid --fork --mount-proc strace -D -qq -o "$T/early.trace" -e trace=memfd_create \
    -e inject=memfd_create:delay_enter=3600000000 "$MULTI" supervise early \
    --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --command "$WORKER" --command run \
    2>"$T/early.err" &
  ns=$!
  wait_until 30 grep -qs '^memfd_create(' "$T/early.trace"
  init=$(pgrep -P "$ns")
  kill -TERM "$init"
  kill -KILL "$(pgrep -x -P "$init" strace)"
  ok_if "a SIGTERM to supervise as PID 1 before its handlers ends it" wait_until 30 dead "$init"
  kill -KILL "$init" 2>/dev/null
  wait "$ns"
  rc=$?
  rc_is 0 "as it would have later"
  like "$T/early.err" "got SIGTERM: stopping all nodes" "(the SIGTERM was read by supervise)"
else
  skip "needs root, unshare --pid and strace to hold supervise as PID 1 before its handlers"
fi

done_testing
