#!/bin/bash
# The log writer beside every detached worker: rotation by renaming (what
# logrotate does without copytruncate) or by removal loses no line and splits
# none, stop returns once the last line is in the log, and what the writer
# cannot do it says in the log, never dropping output on the floor.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

# in_order FILE…: the "line N" lines of the files, in that order, run 1, 2,
# 3… with none missing or repeated (and there are some).
in_order () {
  awk '/^line [0-9]+$/ { if ($2 != ++n) { print "line " n " expected, got " $0 >"/dev/stderr"; exit 1 } }
       END { exit n == 0 }' "$@"
}
# lines_in FILE: how many "line N" lines FILE holds.
lines_in () { grep -c '^line [0-9]*$' "$1" 2>/dev/null; }
# has_lines FILE N: FILE holds at least N of them.
has_lines () { [ "$(lines_in "$1")" -ge "$2" ]; }
# only_whole_lines FILE…: every line is one the worker printed whole.
only_whole_lines () {
  ! grep -qvhE '^(line [0-9]+|ready pid=[0-9]+ node=[a-z]+|got SIG[A-Z]+|stem-logwriter: .*)$' "$@"
}
# locked FILE: a log writer, or a worker writing FILE directly, holds its
# node's byte of FILE (an open file description lock, which /proc/locks
# lists by the file's inode).
locked () { grep -Eq "^[0-9]+: OFDLCK +ADVISORY +WRITE .*:$(stat -c %i "$1") " /proc/locks; }
# no_process_has ENTRY: no process has ENTRY in its environment.
no_process_has () {
  grep -lsqz "^$1\$" /proc/[0-9]*/environ
  [ $? -ne 0 ] # (2: some process went away meanwhile, and none matched)
}

log=$T/log/rot.log
multi start rot --command "$WORKER" --command count --command 2
rc_is 0 "start a worker printing a line every 2 ms"
rot=$(pid_of rot)
writer=$(log_writer_of "$rot")
ok_if "a stem-logwriter reads its output" test -n "$writer"
sid_of () { ps -o sid= -p "$1" | tr -d ' '; }
ok_if "the writer leads a session of its own, not the worker's" \
  eval '[ "$(sid_of "${writer:-0}")" = "${writer:-0}" ] && [ "$(sid_of "$rot")" != "${writer:-0}" ]'
ok_if "and its parent is not stem-multi, which has exited" test "$(ps -o ppid= -p "${writer:-0}" | tr -d ' ')" != $$
is "$(tr '\0' ' ' <"/proc/${writer:-0}/cmdline")" "$LOGWRITER $log " "ps shows it as \"stem-logwriter LOG\""
ok_if "its node's byte of the log is locked while the writer has it" locked "$log"

# Two rotations as logrotate does them: rename, then the writer follows.
wait_until 10 has_lines "$log" 50
mv "$log" "$log.1"
ok_if "after a rename the writer creates the log afresh" wait_until 10 test -f "$log"
ok_if "and writes on in it" wait_until 10 has_lines "$log" 50
ok_if "the new log is mode 0640" test "$(stat -c %a "$log")" = 640
mv "$log.1" "$log.2"
mv "$log" "$log.1"
ok_if "a second rotation is followed too" wait_until 10 has_lines "$log" 50
ok_if "… and the writer holds its node's byte of the new log" locked "$log"
# A SIGHUP with nothing rotated reopens the same file: the writer keeps
# its lock (a second open file of it could not take the byte beside it).
# hup_taken PID: no SIGHUP is pending for PID any more (its signalfd read it).
hup_taken () { [ $((0x$(sed -n 's/^ShdPnd:[[:space:]]*//p' "/proc/$1/status") & 1)) -eq 0 ]; }
kill -HUP "${writer:-none}"
wait_until 10 hup_taken "${writer:-0}"
before=$(lines_in "$log")
ok_if "after a SIGHUP with nothing rotated it writes on" wait_until 10 has_lines "$log" $((before + 20))
ok_if "… still holding its node's byte of the log" locked "$log"
# Nor is another name given to the log meanwhile a rotation: the writer
# keeps the file it has, and has nothing to say about it.
ln "$log" "$T/log/rot.link"
kill -HUP "${writer:-none}"
wait_until 10 hup_taken "${writer:-0}"
before=$(lines_in "$log")
wait_until 10 has_lines "$log" $((before + 20))
unlike "$log" "cannot reopen" "a SIGHUP after a hard link was made to the log: no complaint"
rm "$T/log/rot.link"
kill -TERM "${writer:-none}"
kill -INT "${writer:-none}"
before=$(lines_in "$log")
ok_if "TERM and INT do not stop the writer: it ends with the worker's output" \
  eval 'wait_until 10 has_lines "$log" $((before + 20)) && alive "${writer:-0}"'

multi stop rot
rc_is 0 "stop"
is "$(tail -n 1 "$log")" "got SIGTERM" "the worker's last line is in the log when stop returns"
ok_if "the writer exits once it has written everything" wait_until 10 dead "${writer:-0}"
ok_if "and the log is unlocked" eval '! locked "$log"'
ok_if "every line is in $log.2, $log.1 or $log, once, in order" in_order "$log.2" "$log.1" "$log"
ok_if "no line was split between two files" only_whole_lines "$log.2" "$log.1" "$log"

# --foreground with an explicit --logfile (as in a unit's drop-in): the same.
"$MULTI" start fgl --foreground --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  --command "$WORKER" --command count --command 2 >"$T/fg.out" 2>&1 &
fgl=$!
wait_until 10 has_lines "$T/log/fgl.log" 20
ok_if "--foreground --logfile: a writer reads the worker's output" test -n "$(log_writer_of "$fgl")"
mv "$T/log/fgl.log" "$T/log/fgl.log.1"
ok_if "--foreground --logfile: the writer follows a rename" wait_until 10 has_lines "$T/log/fgl.log" 20
multi stop fgl
rc_is 0 "stop the foreground node"
wait "$fgl"
is "$(tail -n 1 "$T/log/fgl.log")" "got SIGTERM" "its last line is in the log when stop returns"
ok_if "every line is in fgl.log.1 or fgl.log, once, in order" in_order "$T/log/fgl.log.1" "$T/log/fgl.log"
ok_if "nothing went to the terminal" test ! -s "$T/fg.out"

# Started with standard input closed (as by some init systems), the log
# still gets the output: the file stem-multi opens must not become fd 0.
"$MULTI" start closed --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  --command "$WORKER" --command run <&- >"$T/out" 2>"$T/err"
rc=$?
rc_is 0 "start with standard input closed"
ok_if "the worker's output reaches its log" \
  wait_until 10 grep -qs "^ready pid=$(pid_of closed) node=closed$" "$T/log/closed.log"
multi stop closed

# A descriptor the caller left open (not close-on-exec) reaches neither the
# writer nor the worker: what root had open stays root's.
: >"$T/stray"
exec 9<"$T/stray"
ok_if "(the test holds the stray descriptor)" has_fd_to $$ "$T/stray"
multi start stray --command "$WORKER" --command run
exec 9<&-
rc_is 0 "start with a stray descriptor open"
stray=$(pid_of stray)
writer=$(log_writer_of "${stray:-0}")
ok_if "the worker has a log writer" test -n "$writer"
ok_if "the worker has not the caller's stray descriptor" lacks_fd_to "${stray:-0}" "$T/stray"
ok_if "nor has its log writer" lacks_fd_to "${writer:-0}" "$T/stray"
multi stop stray

# Removal: the writer recreates the log.
multi start rot --command "$WORKER" --command count --command 2
rot=$(pid_of rot)
wait_until 10 has_lines "$log" 10
rm "$log"
ok_if "a removed log is created again" wait_until 10 has_lines "$log" 10
multi stop rot

# What cannot be reopened: said in the log the output still goes to.
multi start rot --command "$WORKER" --command count --command 2
rot=$(pid_of rot)
writer=$(log_writer_of "$rot")
wait_until 10 has_lines "$log" 10
# (The log is replaced by a symbolic link in one rename, the old file kept
# under another name: the writer must not follow the link.)
ln "$log" "$log.old"
ln -s /nowhere "$T/log/link"
mv -T "$T/log/link" "$log"
ok_if "a log that cannot be reopened is reported in the old one" \
  wait_until 10 grep -qs "^stem-logwriter: cannot reopen $log: Too many levels of symbolic links; still writing to the file it was rotated to$" "$log.old"
before=$(lines_in "$log.old")
ok_if "which still gets the output" wait_until 10 has_lines "$log.old" $((before + 20))
ok_if "the link was not followed" test ! -e /nowhere
rm "$log"
kill -HUP "${writer:-none}"
ok_if "SIGHUP reopens the log" wait_until 10 has_lines "$log" 10
multi stop rot
ok_if "nothing was lost meanwhile" in_order "$log.old" "$log"
ok_if "and no line split" only_whole_lines "$log.old" "$log"

# A process the worker leaves behind keeps its output open: with
# --no-kill-group (stop would end it otherwise), stop waits a while for
# the writer, then says why it did not finish.
multi start orphaned --command /bin/sh --command -c \
  --command "sleep 300 & echo \"straggler=\$!\"; exec \"$WORKER\" run"
orphaned=$(pid_of orphaned)
wait_until 10 grep -qs '^straggler=' "$T/log/orphaned.log"
straggler=$(sed -n 's/^straggler=//p' "$T/log/orphaned.log")
multi stop orphaned --verbose --no-kill-group
rc_is 0 "stop a worker that left a process behind"
like "$T/err" "^stem-multi: orphaned: “$T/log/orphaned.log” is still being written: a process the worker started is still running$" \
  "stop --verbose says the output is still open"
ok_if "and the worker itself is stopped" dead "$orphaned"
kill "${straggler:-none}"

# Nodes that share a log file: each writer holds its own node's byte of
# it, so stopping or restarting one while another writes on waits for its
# own writer alone.  (Before, all held one lock on the whole file, and each
# stop waited its 5 s out and said the log was still being written.)
shared=$T/log/shared.log
multi start sa sb --logfile="$shared" --command "$WORKER" --command count --command 2
rc_is 0 "start two nodes with one log file"
wait_until 10 has_lines "$shared" 20
is "$(grep -Ec "^[0-9]+: OFDLCK +ADVISORY +WRITE .*:$(stat -c %i "$shared") " /proc/locks)" 2 \
  "each writer holds a byte of the shared log"
ok_if "… one byte each, below 2^31 (where a 32-bit off_t reaches)" \
  awk -v ino=":$(stat -c %i "$shared")" '$2 == "OFDLCK" && substr($6, length($6) - length(ino) + 1) == ino {
      n++; if ($7 != $8 || $7 < 1 || $7 > 2147483647) bad = 1 } END { exit bad || n != 2 }' /proc/locks
multi restart sb --logfile="$shared" --verbose --settle=0 --command "$WORKER" --command count --command 2
rc_is 0 "restart one of them"
unlike "$T/err" "still being written" "… waits for its own writer, not for the other's"
is "$(grep -c '^got SIGTERM$' "$shared")" 1 "… its old worker's last line in the log"
multi stop sa --logfile="$shared" --verbose
rc_is 0 "stop the other"
unlike "$T/err" "still being written" "… without waiting for the restarted one's writer either"
is "$(grep -c '^got SIGTERM$' "$shared")" 2 "… whose last line is in the log"
sb=$(pid_of sb)
ok_if "… while the restarted one writes on" eval 'alive "${sb:-0}" && wait_until 10 has_lines "$shared" $(($(lines_in "$shared") + 20))'
multi stop sa sb --logfile="$shared"
ok_if "… and no lock is left on it" eval '! locked "$shared"'

# A log path of 4096 bytes or more: stem-multi opens it (a component at a
# time), but the log writers take paths of 4095 at most.  A clear error,
# and nothing started.
long=$T/log
while [ ${#long} -lt 3900 ]; do long=$long/$(printf 'd%.0s' $(seq 1 200)); done
mkdir -p "$long"
multi start longlog --logfile="$long/$(printf 'l%.0s' $(seq 1 240)).log" --command "$WORKER" --command run
rc_is 1 "a log path of more than 4095 bytes fails the node"
like "$T/err" "longlog: .*File name too long" "… saying so"
ok_if "… and starts nothing" test ! -e "$T/run/longlog.pid"
multi start longdirect --no-log-writer --logfile="$long/$(printf 'l%.0s' $(seq 1 240)).log" \
  --command "$WORKER" --command run
rc_is 0 "with --no-log-writer (no log writer to send it to) it starts"
multi stop longdirect --no-log-writer --logfile="$long/$(printf 'l%.0s' $(seq 1 240)).log"
rc_is 0 "… and stops"

# A writer whose node's byte was held when it started (by the node's
# previous writer, which a process of its previous worker kept writing)
# gets none; it takes it at a SIGHUP, once free.
late=$T/log/late.log
multi start late --command /bin/sh --command -c \
  --command "sleep 300 & echo \"straggler=\$!\"; exec \"$WORKER\" run"
wait_until 10 grep -qs '^straggler=' "$late"
straggler=$(sed -n 's/^straggler=//p' "$late")
multi stop late --no-kill-group
multi start late --command "$WORKER" --command run
late_pid=$(pid_of late)
wait_until 10 grep -qs "^ready pid=${late_pid:-0} " "$late"
late_writer=$(log_writer_of "${late_pid:-0}")
kill "${straggler:-none}"
ok_if "the previous writer ends once the straggler has gone, and the new one holds nothing" \
  wait_until 10 eval '! locked "$late"'
kill -HUP "${late_writer:-none}"
ok_if "… until a SIGHUP, when it takes its node's byte" wait_until 10 locked "$late"
multi stop late

# A writer killed all the same: the worker's next write gets SIGPIPE, as
# stem-multi(1) says, and status sees the worker gone.
multi start doomed --command "$WORKER" --command count --command 2
doomed=$(pid_of doomed)
writer=$(log_writer_of "$doomed")
kill -KILL "${writer:-none}"
ok_if "a worker whose log writer was killed dies at its next write" wait_until 10 dead "$doomed"
multi status doomed --no-clean
rc_is 1 "… and status says the node is dead (pidfile left)"
multi stop doomed

# Nodes started together: a writer thread each, in one writer process
# (forked by one writer server, which is gone when start returns) whose
# title names their logs.
multi start w1 w2 w3 --command "$WORKER" --command count --command 50
rc_is 0 "start three nodes at once"
writers=
for n in w1 w2 w3; do
  w=$(log_writer_of "$(pid_of $n)")
  writers="$writers ${w:-0}"
done
w=$(log_writer_of "$(pid_of w1)")
is "$(echo $writers | tr ' ' '\n' | sort -u | wc -l)" 1 "one writer process for the three"
is "$(tr '\0' ' ' <"/proc/${w:-0}/cmdline" 2>/dev/null)" "$LOGWRITER $T/log/w1.log $T/log/w2.log $T/log/w3.log " \
  "ps shows it as \"stem-logwriter LOG…\", with the three logs"
is "$(ls "/proc/${w:-0}/task" 2>/dev/null | wc -l)" 4 "a thread for each log, beside its main thread"
ok_if "no writer server is left behind" \
  eval '! ps -eo ppid=,args= | awk -v s="$LOGWRITER --serve" '"'"'$1 == 1 && index($0, s)'"'"' | grep -q .'
multi stop w2
rc_is 0 "stop one of them"
like "$T/log/w2.log" "^got SIGTERM$" "its last line is in its log"
before=$(lines_in "$T/log/w1.log")
ok_if "the others' output is still written" wait_until 10 has_lines "$T/log/w1.log" $((before + 5))
ok_if "and the title names their logs only" \
  wait_until 10 eval '[ "$(tr "\0" " " <"/proc/${w:-0}/cmdline" 2>/dev/null)" = "$LOGWRITER $T/log/w1.log $T/log/w3.log " ]'
multi stop w1 w3
rc_is 0 "stop the others"
for n in w1 w3; do
  like "$T/log/$n.log" "^got SIGTERM$" "$n's last line is in its log"
done
ok_if "the writer process exits with its last log" wait_until 10 dead "${w:-0}"

# Two nodes writing one log file: one writer process, the same inotify
# watch for both.  When one of them stops, the other, which prints nothing
# more (a rotation is seen only through its watch), still follows the
# file through a rotation.
multi start sa sb --logfile="$T/log/shared.log" --command "$WORKER" --command run
rc_is 0 "start two quiet nodes with one log file"
ok_if "both write to it" \
  wait_until 10 eval 'grep -q "node=sa" "$T/log/shared.log" && grep -q "node=sb" "$T/log/shared.log"'
mv "$T/log/shared.log" "$T/log/shared.log.1"
ok_if "after a rename the shared log is created afresh" wait_until 10 test -f "$T/log/shared.log"
multi stop sa --logfile="$T/log/shared.log"
rc_is 0 "stop one of them"
mv "$T/log/shared.log" "$T/log/shared.log.2"
ok_if "the other still follows a rename: its watch was not taken away with the first" \
  wait_until 10 test -f "$T/log/shared.log"
ok_if "no writer says it cannot watch" eval '! grep -qs "cannot watch" "$T"/log/shared.log*'
multi stop sb --logfile="$T/log/shared.log"
rc_is 0 "stop the other"
like "$T/log/shared.log" "^got SIGTERM$" "its last words are in the new file"

# Two nodes with logs of their own in one writer process, which takes no
# more logs once start has returned: the first to end leaves its watch to
# the end of the process, not its log.  The other still follows a rename,
# and the first one's old file, renamed too, is written by nobody.
multi start qa qb --command "$WORKER" --command run
rc_is 0 "start two quiet nodes with logs of their own"
ok_if "both write to their logs" \
  wait_until 10 eval 'grep -qs "node=qa" "$T/log/qa.log" && grep -qs "node=qb" "$T/log/qb.log"'
wq=$(log_writer_of "$(pid_of qb)")
is "$(log_writer_of "$(pid_of qa)")" "$wq" "one writer process writes both"
multi stop qa
rc_is 0 "stop the first"
ok_if "its writer process stays for the other" alive "${wq:-0}"
mv "$T/log/qa.log" "$T/log/qa.log.1"
mv "$T/log/qb.log" "$T/log/qb.log.1"
ok_if "the other's log is created afresh after a rename" wait_until 10 test -f "$T/log/qb.log"
ok_if "the first one's is not, and the process holds its file no more" \
  eval 'test ! -e "$T/log/qa.log" && ! ls -l "/proc/${wq:-0}/fd" | grep -q "/qa\.log"'
multi stop qb
rc_is 0 "stop the other"
like "$T/log/qb.log" "^got SIGTERM$" "its last words are in the new file"
ok_if "the writer process exits with its last log" wait_until 10 dead "${wq:-0}"

# More logs than a writer process takes (64): more processes, and every
# log watched, even past the 128 inotify instances a user may have (an
# instance per log would not be).
multi start 130 --command "$WORKER" --command count --command 1000
rc_is 0 "start 130 nodes"
# log_fds: how many of 130's logs each writer process has open, a line each.
log_fds () {
  local p
  for p in $(pgrep -x stem-logwriter); do
    ls -l "/proc/$p/fd" 2>/dev/null | grep -c " $T/log/stem[0-9]*\.log\$"
  done | grep -v '^0$'
}
log_fds >"$T/fds"
is "$(awk '{ s += $1 } END { print s }' "$T/fds")" 130 "each log is open in one writer process"
ok_if "none has more than 64" eval '[ "$(sort -n "$T/fds" | tail -n 1)" -le 64 ]'
ok_if "so there are at least 3" eval '[ "$(wc -l <"$T/fds")" -ge 3 ]'
ok_if "every log gets its worker's output" wait_until 10 eval '[ "$(grep -l "^ready" "$T"/log/stem*.log | wc -l)" -eq 130 ]'
ok_if "and none says it cannot be watched for rotation" eval '! grep -q "cannot watch" "$T"/log/stem*.log'
mv "$T/log/stem130.log" "$T/log/stem130.log.1"
ok_if "the last is followed through a rename" wait_until 10 test -f "$T/log/stem130.log"
multi stop 130
rc_is 0 "stop them"

# Under supervise the writers' server stays, and so do its writer
# processes: one whose logs have ended takes others in their place.  64
# nodes fill one; the new log of a node restarted after a crash goes to
# it, not to a process forked for it.
"$MULTI" supervise --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" 64 --prefix=sv \
  --command "$WORKER" --command run 2>"$T/sv.err" &
sup=$!
sv_ready () {
  [ "$(grep -ls '^ready' "$T"/log/sv*.log | wc -l)" -eq 64 ] &&
    [ "$(ls "$T"/run/sv*.pid 2>/dev/null | wc -l)" -eq 64 ]
}
wait_until 30 sv_ready || fail "64 supervised nodes run" "they do not"
sv_writers () { for n in $(seq 64); do log_writer_of "$(pid_of "sv$n")"; done | sort -u; }
sv_writers >"$T/sv-writers"
is "$(wc -l <"$T/sv-writers")" 1 "one writer process writes the 64 logs"
first=$(pid_of sv1)
kill -KILL "${first:-none}"
sv1_again () { [ "$(grep -c '^ready' "$T/log/sv1.log")" -ge 2 ] && [ "$(pid_of sv1)" != "$first" ]; }
wait_until 30 sv1_again || fail "the killed node is restarted" "it is not"
is "$(log_writer_of "$(pid_of sv1)")" "$(cat "$T/sv-writers")" \
  "its new log is written by that process, where the old one has ended"
kill -TERM "$sup"
wait "$sup"

# The writer runs as the worker's user.
if [ "$(id -u)" -eq 0 ]; then
  "$MULTI" start owned --uid=nobody --pidfile="$T/run/%n.pid" --logfile="$T/nobody/%n.log" \
    --command "$WORKER" --command count --command 2 >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 0 "start a worker as nobody"
  owned=$(pid_of owned)
  writer=$(log_writer_of "$owned")
  is "$(ps -o user= -p "${writer:-0}" | tr -d ' ')" nobody "its writer runs as nobody too"
  ids () { sed -n 's/^\(Uid\|Gid\|Groups\):[[:space:]]*//p' "/proc/$1/status" | tr -s ' \t' ' '; }
  is "$(ids "${writer:-0}")" "$(ids "$owned")" "… with the worker's uid, gid and supplementary groups"
  wait_until 10 has_lines "$T/nobody/owned.log" 5
  mv "$T/nobody/owned.log" "$T/nobody/owned.log.1"
  wait_until 10 test -f "$T/nobody/owned.log"
  is "$(stat -c %U "$T/nobody/owned.log")" nobody "a log it creates belongs to nobody"
  "$MULTI" stop owned --pidfile="$T/run/%n.pid" --logfile="$T/nobody/%n.log" >"$T/out" 2>"$T/err"

  # In a directory the worker's user cannot write (root's /var/log, with
  # logrotate's "create" making the new file for it): the writer cannot
  # make the file itself when the rename is seen, and must then find the
  # one created afterwards, not write on into the rotated file.
  mkdir -m 0755 "$T/rootdir"
  "$MULTI" start ro --uid=nobody --pidfile="$T/run/%n.pid" --logfile="$T/rootdir/%n.log" \
    --command "$WORKER" --command count --command 20 >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 0 "start a worker as nobody, logging in a directory of root's"
  wait_until 10 has_lines "$T/rootdir/ro.log" 5
  mv "$T/rootdir/ro.log" "$T/rootdir/ro.log.1"
  ok_if "the writer cannot create the log afresh, and says so" \
    wait_until 10 grep -qs "^stem-logwriter: cannot reopen $T/rootdir/ro.log: Permission denied" "$T/rootdir/ro.log.1"
  install -o nobody -m 0640 /dev/null "$T/rootdir/ro.log"
  ok_if "it writes to the log created for it afterwards" wait_until 10 has_lines "$T/rootdir/ro.log" 5
  "$MULTI" stop ro --pidfile="$T/run/%n.pid" --logfile="$T/rootdir/%n.log" >"$T/out" 2>"$T/err"
  ok_if "every line is in ro.log.1 or ro.log, once, in order" in_order "$T/rootdir/ro.log.1" "$T/rootdir/ro.log"
else
  skip "needs root to start a worker as another user"
  skip "needs root: a log directory the worker's user cannot write"
fi

# Without its writer, nothing starts.
if [ -e "${STEM_TEST_PKGLIBEXECDIR:?run through make check}/stem-logwriter" ]; then
  skip "stem-logwriter is installed in $STEM_TEST_PKGLIBEXECDIR: cannot test a missing one"
else
  mkdir "$T/lonely"
  cp "$MULTI" "$T/lonely/"
  run "$T/lonely/stem-multi" start lonely --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
    --command "$WORKER" --command run
  rc_is 1 "start without stem-logwriter fails"
  like "$T/err" "^stem-multi: lonely: Starting the log writer “$STEM_TEST_PKGLIBEXECDIR/stem-logwriter” for “lonely”: No such file or directory$" \
    "naming the program it could not run"
  ok_if "no pidfile is left" test ! -e "$T/run/lonely.pid"
  ok_if "and no worker runs" no_process_has "STEM_WORKER_PIDFILE=$T/run/lonely.pid"
fi

# Output that cannot be written (here: past a file size limit) is counted,
# and the count written down once writing works again.
syscw () { sed -n 's/^syscw: //p' "/proc/$1/io"; }
size_is () { [ "$(stat -c %s "$1")" -eq "$2" ]; }
# (wait_until runs its command again and again: what it must read afresh
# is read by a function, not expanded once in its arguments.)
writes_above () { [ "$(syscw "$1")" -gt "$2" ]; }
# The kernel counts a write once it has returned, after the file has grown:
# the writer is done with it when all its threads sleep again, in poll().
sleeping () { ! sed 's/.*) //; s/ .*//' "/proc/$1"/task/*/stat | grep -qv '^S$'; }
: >"$T/limited.log"
mkfifo "$T/feed"
bash -c 'ulimit -f 1 && exec "$0" "$1"' "$LOGWRITER" "$T/limited.log" <"$T/feed" >>"$T/limited.log" 2>&1 &
lw=$!
exec 7>"$T/feed"
{ head -c 1023 /dev/zero | tr '\0' x; echo; } >&7
ok_if "a line of 1024 bytes fills the limit" wait_until 10 size_is "$T/limited.log" 1024
wait_until 10 sleeping "$lw"
writes=$(syscw "$lw")
printf 'lost\n' >&7
ok_if "a write past the limit is attempted" wait_until 10 writes_above "$lw" "$writes"
ok_if "and fails without killing the writer (SIGXFSZ)" alive "$lw"
: >"$T/limited.log"
printf 'after\n' >&7
wait_until 10 grep -qs '^after$' "$T/limited.log"
is "$(cat "$T/limited.log")" "stem-logwriter: 5 bytes of output lost: File too large
after" "once writing works, the log says how many bytes were lost, then goes on"
exec 7>&-
wait "$lw"
rc=$?
rc_is 0 "the writer exits at the end of its input"

# A writer without an inotify instance (its user's are used up; here a
# user namespace allows none) says so in the log, and still follows a
# rotation: it looks at the path before it writes.
unwatched=$T/unwatched.log
if unshare -U -r sh -c 'echo 0 >/proc/sys/user/max_inotify_instances' 2>/dev/null; then
  : >"$unwatched"
  mkfifo "$T/feed-unwatched"
  unshare -U -r sh -c 'echo 0 >/proc/sys/user/max_inotify_instances && exec "$0" "$1"' \
    "$LOGWRITER" "$unwatched" <"$T/feed-unwatched" >>"$unwatched" 2>&1 &
  lw=$!
  exec 7>"$T/feed-unwatched"
  printf 'line 1\n' >&7
  ok_if "a writer with no inotify instance writes on" wait_until 10 grep -qs '^line 1$' "$unwatched"
  is "$(head -n 1 "$unwatched")" "stem-logwriter: cannot watch $unwatched for rotation (Too many open files): a rotation is noticed when the worker next writes" \
    "and says, first, that it cannot watch the log"
  mv "$unwatched" "$unwatched.1"
  printf 'line 2\n' >&7
  ok_if "a rename is followed at the next write" wait_until 10 grep -qs '^line 2$' "$unwatched"
  is "$(grep -c '^line' "$unwatched.1")" 1 "which goes to the new log only"
  exec 7>&-
  wait "$lw"
  rc=$?
  rc_is 0 "the writer exits at the end of its input"
else
  skip "cannot make a user namespace with a limit of its own here (unshare -U; /proc/sys read-only?): no way to take the writer's inotify instances"
fi

# --no-log-writer: the worker appends to its log itself, for start,
# supervise and --foreground alike; copytruncate is then how to rotate.
# starts_with_text FILE: no NUL byte at its start (a writer that did not
# append would leave a hole there after a truncation).
starts_with_text () { ! head -c 64 "$1" | od -An -tx1 | grep -qw 00; }
direct=$T/log/direct.log
multi start direct --no-log-writer --command "$WORKER" --command count --command 2
rc_is 0 "start --no-log-writer"
dpid=$(pid_of direct)
is "$(readlink "/proc/${dpid:-0}/fd/1")" "$direct" "the worker's standard output is its log file"
is "$(readlink "/proc/${dpid:-0}/fd/2")" "$direct" "and so is its standard error"
ok_if "no log writer reads its output" eval '! log_writer_of "${dpid:-0}" >/dev/null'
ok_if "it writes its lines there" wait_until 10 has_lines "$direct" 20
ok_if "its node's byte of the log is locked while the worker has it open" locked "$direct"
cp "$direct" "$direct.1"
: >"$direct"
ok_if "after a copytruncate it writes on at the start of the file" \
  eval 'wait_until 10 has_lines "$direct" 5 && starts_with_text "$direct"'
multi stop direct
rc_is 0 "stop"
is "$(tail -n 1 "$direct")" "got SIGTERM" "the worker's last line is in the log when stop returns"
ok_if "and nothing is left locking it" eval '! locked "$direct"'

"$MULTI" supervise sdirect --no-log-writer --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  --command "$WORKER" --command run 2>"$T/sdirect.err" &
sup=$!
wait_until 10 grep -qs '^ready' "$T/log/sdirect.log"
# Its pidfile is written once the launch has returned: on a loaded machine,
# after the worker's first words.
wait_until 10 test -s "$T/run/sdirect.pid"
is "$(readlink "/proc/$(pid_of sdirect)/fd/1")" "$T/log/sdirect.log" \
  "supervise --no-log-writer: the worker writes its log itself"
kill -TERM "$sup"
wait "$sup"
rc=$?
rc_is 0 "supervise stops"
like "$T/log/sdirect.log" '^got SIGTERM$' "its last line is in the log"

"$MULTI" start fdirect --foreground --no-log-writer --pidfile="$T/run/%n.pid" \
  --logfile="$T/log/%n.log" --command "$WORKER" --command run 2>"$T/fdirect.err" &
fg=$!
wait_until 10 grep -qs '^ready' "$T/log/fdirect.log"
is "$(readlink "/proc/$fg/fd/1")" "$T/log/fdirect.log" \
  "--foreground --no-log-writer: the worker writes its log itself"
kill -TERM "$fg"
wait "$fg"
like "$T/log/fdirect.log" '^got SIGTERM$' "its last line is in the log"

# A last line without a newline ends with the run: the next run's first
# line starts a line of its own.
ends_with_newline () { [ -s "$1" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ]; }
multi start part --settle=0 --command /bin/sh --command -c --command 'printf "progress: 50"'
rc_is 0 "start a worker whose last line has no newline, and exits"
ok_if "when the worker is gone, its writer ends the line" wait_until 10 ends_with_newline "$T/log/part.log"
multi start part --settle=0 --command /bin/sh --command -c --command 'echo second run'
rc_is 0 "start it again, printing a whole line"
wait_until 10 grep -q 'second run' "$T/log/part.log"
is "$(cat "$T/log/part.log")" "progress: 50
second run" "the two runs' lines stay apart"

# By hand: a usage message.
run "$LOGWRITER"
rc_is 2 "stem-logwriter without a path"
like "$T/err" "^Usage: stem-logwriter /PATH/OF/LOG" "prints its usage"

done_testing
