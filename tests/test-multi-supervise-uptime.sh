#!/bin/bash
# supervise: the time spent ending what a node left in its process group
# is not uptime, and the node's exit is told to systemd when it happens.
# A file of its own: it waits a minute (what makes a node count as having
# stayed up), while the other tests run beside it.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

"$WORKER" notify-listen "$T/notify" >"$T/notify.out" 2>&1 &
listener=$!
wait_until 10 grep -qs '^ready' "$T/notify.out"

# The node exits at once, twice; the second time it leaves a child that
# ignores SIGTERM, which is ended by SIGKILL 60 s later.  Up for no time
# at all, it has been restarted twice in a row, the most allowed.
NOTIFY_SOCKET=$T/notify "$MULTI" supervise loop --pidfile="$T/run/%n.pid" \
  --logfile="$T/log/%n.log" --max-restarts=2 --timeout=60s --command /bin/sh --command -c \
  --command 'if [ -e "$1" ]; then "$0" ignore-term & sleep 1; else : >"$1"; fi; exit 1' \
  --command "$WORKER" --command "$T/once" 2>"$T/err" &
sup=$!
wait_until 30 grep -qs 'loop: ending 1 process it left' "$T/err"
ok_if "its exit is told at once, while what it left is being ended" \
  wait_until 30 grep -qs 'STATUS=0 of 1 nodes running, 0 restarting$' "$T/notify.out"
ok_if "(what it left still runs)" test -z "$(sed -n '/sending SIGKILL/p' "$T/err")"
wait_until 120 eval '[ "$(grep -c "loop: restarting" "$T/err")" -ge 2 ]'
like "$T/err" "loop: restarting in 2s \(restart 2 of at most 2\)$" \
  "the minute spent ending what it left does not start its restarts over"
kill -TERM "$sup"
wait "$sup"
kill "$listener"

done_testing
