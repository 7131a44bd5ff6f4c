#!/bin/bash
# stem-multi logs: the last lines of each node's log, prefixed by node when
# there are several, and with --follow everything after, across a rotation
# by renaming, with no line missed or doubled.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

lines_in () { grep -c '^line [0-9]*$' "$1" 2>/dev/null; }
has_lines () { [ "$(lines_in "$1")" -ge "$2" ]; }

multi start a b --command "$WORKER" --command count --command 2
rc_is 0 "start two workers printing a line every 2 ms"
wait_until 10 has_lines "$T/log/a.log" 20
wait_until 10 has_lines "$T/log/b.log" 20

multi logs a --lines=3
rc_is 0 "logs a --lines=3"
is "$(wc -l <"$T/out")" 3 "prints three lines"
ok_if "the last lines of the log, unprefixed" grep -qxF "$(head -n 1 "$T/out")" "$T/log/a.log"
run "$MULTI" logs a -n 0 --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log"
is "$rc:$(wc -c <"$T/out")" "0:0" "-n 0 prints nothing"

multi logs a b -n 2
rc_is 0 "logs of two nodes"
is "$(cut -d' ' -f1 "$T/out" | tr '\n' ' ')" "a: a: b: b: " "each line is prefixed by its node, node by node"

: >"$T/log/short.log"
printf 'one\ntwo\n' >"$T/log/short.log"
multi logs short --lines=5
is "$(cat "$T/out")" "$(printf 'one\ntwo')" "a log shorter than --lines is printed whole"
printf 'one\ntwo' >"$T/log/short.log"
multi logs short --lines=1
is "$(cat "$T/out")" "two" "an unfinished last line counts as a line"
is "$(tail -c 1 "$T/out" | od -An -tx1 | tr -d ' ')" 0a "… and is printed ended, for one node too"
printf 'zero\nlast' >"$T/log/short2.log"
multi logs short short2 --lines=1
is "$(cat "$T/out")" "$(printf 'short: two\nshort2: last')" \
  "with several nodes too, an unfinished last line is printed, ended"

# The worker's control characters: shown as "?" on a terminal (here the
# pseudo-terminal of script(1)), passed on as they are into a pipe.
printf 'title \033]0;PWNED\007 erase \033[2J\rCR \302\233C1 é\tend\n' >"$T/log/esc.log"
script -qec "'$MULTI' logs esc --pidfile='$T/run/%n.pid' --logfile='$T/log/%n.log'" /dev/null \
  | tr -d '\r' >"$T/tty.out"
is "$(cat "$T/tty.out")" "$(printf 'title ?]0;PWNED? erase ?[2J?CR ?C1 é\tend')" \
  "to a terminal, control characters (C0, C1) are shown as ?"
script -qec "'$MULTI' logs esc short2 --pidfile='$T/run/%n.pid' --logfile='$T/log/%n.log'" \
  /dev/null | tr -d '\r' >"$T/tty.out"
like "$T/tty.out" "^esc: title \?\]0;PWNED\? erase" "so they are with a prefix"
multi logs esc
is "$(od -An -c "$T/out" | tr -s ' \n' ' ')" "$(od -An -c "$T/log/esc.log" | tr -s ' \n' ' ')" \
  "into a pipe, they are passed on as they are"
printf 'abc\302' >"$T/log/c2.log"
script -qec "'$MULTI' logs c2 --pidfile='$T/run/%n.pid' --logfile='$T/log/%n.log'" /dev/null \
  | od -An -tx1 | tr -d ' \n' >"$T/tty.out"
is "$(cat "$T/tty.out")" 616263c20d0a "a last byte 0xc2 (no C1 after it) is shown too, then the line's end"

# A log of a gigabyte with no line end (a sparse file the worker's user
# could make of any size): its last 64 MiB are shown, and it says so.
truncate -s 1G "$T/log/sparse.log"
printf 'end\n' >>"$T/log/sparse.log"
run timeout 120 "$MULTI" logs sparse --lines=2 --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log"
rc_is 0 "logs of a huge log without line ends"
is "$(wc -c <"$T/out")" $((64 * 1024 * 1024)) "prints its last 64 MiB, not the whole file"
is "$(tail -c 4 "$T/out")" "end" "ending with its last line"
like "$T/err" "^stem-multi: sparse: the first [0-9]+ bytes of “$T/log/sparse.log” are not shown \(no line ends in the last 64 MiB\)$" \
  "and says what it left out"
rm -f "$T/log/sparse.log"
# The same gigabyte added at once while --follow reads: its last 64 MiB.
printf 'first\n' >"$T/log/grow.log"
"$MULTI" logs grow --follow --lines=1 --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  >"$T/grow.out" 2>"$T/grow.err" &
grower=$!
wait_until 10 grep -qx first "$T/grow.out"
truncate -s +1G "$T/log/grow.log"
printf 'after\n' >>"$T/log/grow.log"
ok_if "--follow gets past a gigabyte added at once" wait_until 60 grep -qa 'after$' "$T/grow.out"
kill "$grower" 2>/dev/null
wait "$grower" 2>/dev/null
ok_if "printing at most its last 64 MiB" test "$(wc -c <"$T/grow.out")" -le $((64 * 1024 * 1024 + 16))
like "$T/grow.err" "^stem-multi: grow: the first [0-9]+ bytes of “$T/log/grow.log” are not shown" \
  "and saying what it left out"
rm -f "$T/log/grow.log" "$T/grow.out"

multi logs missing
rc_is 1 "a node without a log"
like "$T/err" "^stem-multi: missing: Cannot open log file “$T/log/missing.log”: No such file or directory$" \
  "says which file is missing"
multi logs journal --logfile=-
rc_is 0 "a node that logs to its starter's output (--logfile=-)"
like "$T/err" "journalctl -u stem-worker@journal$" "says which journalctl to run"
multi logs a --json
rc_is 2 "--json with logs is a usage error"
like "$T/err" "^stem-multi: --json cannot be used with logs: it prints the logs' own lines$" \
  "saying why"
multi logs a --lines=-1
rc_is 2 "--lines=-1 is a usage error"
like "$T/err" "Invalid --lines “-1”" "naming the value"
ln -s /etc/passwd "$T/log/evil.log"
multi logs evil
rc_is 1 "a log that is a symbolic link"
unlike "$T/out" "^root:" "is never followed"
mkfifo "$T/log/fifo.log"
multi logs fifo
rc_is 1 "a FIFO at the log path is refused, without blocking"
like "$T/err" "is not a regular file" "naming it"

# --follow from the first line, across a rotation by renaming, until the
# worker has stopped and the writer has written its last line.
"$MULTI" logs a --follow --lines=100000000 --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  >"$T/follow" 2>"$T/follow.err" &
follower=$!
wait_until 10 has_lines "$T/follow" "$(($(lines_in "$T/log/a.log") + 20))"
mv "$T/log/a.log" "$T/log/a.log.1"
ok_if "the log writer creates the log afresh after the rename" wait_until 10 test -f "$T/log/a.log"
ok_if "the follower goes on into the new file" wait_until 10 has_lines "$T/follow" \
  "$(($(lines_in "$T/log/a.log.1") + 20))"
multi stop a b
rc_is 0 "stop the workers"
total=$(cat "$T/log/a.log.1" "$T/log/a.log" | wc -l)
follow_has () { [ "$(wc -l <"$T/follow")" -ge "$1" ]; }
ok_if "the follower prints the last line too" wait_until 10 follow_has "$total"
kill "$follower" 2>/dev/null
wait "$follower" 2>/dev/null
ok_if "what it printed is the old file then the new one, every line once, in order" \
  cmp -s "$T/follow" <(cat "$T/log/a.log.1" "$T/log/a.log")
is "$(cat "$T/follow.err")" "" "and it said nothing on stderr"

# --follow of a log that is not there yet says it waits for it, and does.
"$MULTI" logs e --follow --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  >"$T/waited" 2>"$T/waited.err" &
waiter=$!
wait_until 10 test -s "$T/waited.err"
is "$(cat "$T/waited.err")" "stem-multi: e: no log file “$T/log/e.log” yet: waiting for it" \
  "--follow of a log not there yet says it waits for it"
multi start e --command "$WORKER" --command count --command 2
ok_if "and follows it once it is there" wait_until 10 grep -qs '^line 5$' "$T/waited"
kill "$waiter" 2>/dev/null
wait "$waiter" 2>/dev/null
multi stop e

# A symbolic link put in the log's place is never followed, nor does it
# end the following: the writer goes on in the file it has, and says so
# there, and so does the follower.
multi start d --command "$WORKER" --command count --command 2
wait_until 10 has_lines "$T/log/d.log" 20
"$MULTI" logs d --follow --lines=0 --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  >"$T/linked" 2>"$T/linked.err" &
linker=$!
wait_until 10 has_lines "$T/linked" 20
ln -s /etc/passwd "$T/log/link"
mv -T "$T/log/link" "$T/log/d.log"
ok_if "a link in the log's place: the follower prints what the writer says of it" \
  wait_until 10 grep -qs '^stem-logwriter: cannot reopen .*still writing to the file it was rotated to$' "$T/linked"
before=$(lines_in "$T/linked")
ok_if "and goes on with the worker's lines" wait_until 10 has_lines "$T/linked" $((before + 20))
unlike "$T/linked" "^root:" "never what the link points to"
kill "$linker" 2>/dev/null
wait "$linker" 2>/dev/null
multi stop d
rm -f "$T/log/d.log"

# Without an inotify instance (a user's are limited; here a user namespace
# allows none), --follow says so and looks at the log every second
# instead, across a rotation all the same.
if unshare -U -r sh -c 'echo 0 >/proc/sys/user/max_inotify_instances' 2>/dev/null; then
  multi start c --command "$WORKER" --command count --command 2
  wait_until 10 has_lines "$T/log/c.log" 20
  unshare -U -r sh -c 'echo 0 >/proc/sys/user/max_inotify_instances && exec "$@"' sh \
    "$MULTI" logs c --follow --lines=100000000 --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
    >"$T/polled" 2>"$T/polled.err" &
  poller=$!
  ok_if "without inotify the follower prints the log" \
    wait_until 10 has_lines "$T/polled" "$(($(lines_in "$T/log/c.log") + 20))"
  mv "$T/log/c.log" "$T/log/c.log.1"
  ok_if "and goes on into the new file" wait_until 10 has_lines "$T/polled" \
    "$(($(lines_in "$T/log/c.log.1") + 20))"
  multi stop c
  total=$(cat "$T/log/c.log.1" "$T/log/c.log" | wc -l)
  polled_has () { [ "$(wc -l <"$T/polled")" -ge "$1" ]; }
  ok_if "to the last line" wait_until 10 polled_has "$total"
  kill "$poller" 2>/dev/null
  wait "$poller" 2>/dev/null
  ok_if "every line once, in order" cmp -s "$T/polled" <(cat "$T/log/c.log.1" "$T/log/c.log")
  is "$(cat "$T/polled.err")" \
    "stem-multi: cannot watch the logs (Too many open files): looking at them every second instead" \
    "saying on stderr that it looks every second"
else
  skip "cannot make a user namespace with a limit of its own here (unshare -U; /proc/sys read-only?): no way to take the follower's inotify instance"
fi

done_testing
