#!/bin/bash
# A privileged stem-multi against the worker's user: each attack of a
# compromised worker (SECURITY in stem-multi(1)) does no harm, and every
# operation ends with a clear message.  Root runs stem-multi, "nobody" runs
# the attacker; tests/stem-attacker.c does the racing, driven by inotify.
if [ "$(id -u)" -ne 0 ]; then
  echo "1..0 # SKIP needs root: the attacks are on a stem-multi run by root"
  exit 0
fi
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

ROUNDS=${STEM_ATTACK_ROUNDS:-50}
ATTACKER=$top_builddir/tests/stem-attacker
private_bin
cp "$ATTACKER" "$T/bin/"
chmod 755 "$T/bin/stem-attacker"
NOBODY=65534

# attacker_dir NAME: a directory of the attacker's, as /run/stem is the worker user's.
attacker_dir () {
  mkdir -p "$T/$1"
  chown "$NOBODY:$NOBODY" "$T/$1"
  echo "$T/$1"
}

# attack ARGS…: starts the attacker in the background (pid in $attacker)
# and waits until it is ready to strike.
attack () {
  : >"$T/attacker.out"
  # setpriv execs the attacker: $attacker is its very PID, which kill and
  # the test's cleanup end (a function in the background would be a shell
  # of its own, and killing that left the attacker holding its lock).
  setpriv --reuid=65534 --regid=65534 --clear-groups --reset-env -- \
    "$T/bin/stem-attacker" "$@" >"$T/attacker.out" 2>&1 &
  attacker=$!
  wait_until 30 grep -qs '^ready' "$T/attacker.out"
}

# bounded CMD…: runs CMD as root, killed after 60 s (exit 124): the bound
# only catches a hang, nothing waits for it.
bounded () { run timeout 60 "$@"; }

# 1. A pidfile that names root's process, swapped for root's own file once
# stem-multi has read it, with and without a date in the future.
P=$(attacker_dir pid)
"$WORKER" sleep-forever &
victim=$!
harmed=0 refused=0 hung=0
for round in $(seq "$ROUNDS"); do
  rm -f "$P"/*
  : >"$P/alpha.pid.lock" # root's, as stem-multi would have made it
  attack plant-pidfile "$P" alpha.pid "$victim" $((round % 2)) alpha.pid.lock
  bounded "$MULTI" stop alpha --pidfile="$P/%n.pid" --logfile="$T/log/%n.log" --timeout=1s
  [ "$rc" -eq 124 ] && hung=$((hung + 1))
  wait "$attacker"
  if dead "$victim"; then
    harmed=$((harmed + 1))
    break
  fi
  grep -Eq "dated in the future|belongs to uid $NOBODY but names pid $victim of uid 0" "$T/err" \
    && refused=$((refused + 1))
done
is "$harmed" 0 "a planted pidfile swapped for root's file after the read never kills root's process"
is "$hung" 0 "and stop always ends"
is "$refused" "$ROUNDS" "stop says the pidfile is not trusted, every time"
kill "$victim"

# 2 and 3. A directory root creates for the worker (workdir, log directory)
# swapped for a link to a root-only directory between mkdir and its use.
W=$(attacker_dir work)
mkdir -m 700 "$T/target"
echo secret >"$T/target/w.log"
chmod 600 "$T/target/w.log"
before=$(stat -c '%u %a' "$T/target"; ls -A "$T/target"; cat "$T/target/w.log")
harmed=0 hung=0 unclear=0
for round in $(seq "$ROUNDS"); do
  rm -rf "${W:?}"/*
  if [ $((round % 2)) -eq 0 ]; then
    where=(--workdir="$W/%n" --logfile="$T/log/%n.log")
  else
    where=(--workdir=/ --logfile="$W/%n/w.log")
  fi
  attack swap-dir "$W" "$T/target"
  bounded "$MULTI" start alpha --pidfile="$T/run/%n.pid" "${where[@]}" --uid="$NOBODY" \
    --settle=0 --command "$T/bin/stem-test-worker" --command sleep-forever
  [ "$rc" -eq 124 ] && hung=$((hung + 1))
  # Caught between the attacker's rename and its link, the directory is
  # briefly not there at all: that, too, is said plainly.
  if [ "$rc" -ne 0 ] \
    && ! grep -Eq "Not a directory|symbolic link|Permission denied|No such file or directory" "$T/err"; then
    unclear=$((unclear + 1))
    cat "$T/err" >>"$T/unclear"
  fi
  wait "$attacker"
  timeout 60 "$MULTI" stop alpha --pidfile="$T/run/%n.pid" "${where[@]}" >/dev/null 2>&1
  after=$(stat -c '%u %a' "$T/target"; ls -A "$T/target"; cat "$T/target/w.log")
  if [ "$after" != "$before" ]; then
    harmed=$((harmed + 1))
    break
  fi
done
is "$harmed" 0 "a directory swapped for a link is never given away or written through"
is "$hung" 0 "and start always ends"
if [ "$unclear" -eq 0 ]; then
  pass "a start that fails says why"
else
  fail "a start that fails says why" "$unclear unclear failures:" "$(cat "$T/unclear")"
fi

# A directory of root's with files in it, renamed over the one start has
# just made (strace holds start there, for the attacker to be in time):
# neither opened up (chmod 0755) nor handed to the worker's user.
if command -v strace >/dev/null; then
  rm -rf "${W:?}"/*
  mkdir -m 700 "$W/private"
  echo secret >"$W/private/key"
  attack swap-in-dir "$W" private
  run strace -qq -o /dev/null -e trace=mkdirat -e inject=mkdirat:delay_exit=1000000 \
    "$MULTI" start alpha --pidfile="$T/run/%n.pid" --logfile="$W/%n/w.log" --uid="$NOBODY" \
    --settle=0 --command "$T/bin/stem-test-worker" --command sleep-forever
  wait "$attacker"
  like "$T/attacker.out" "^swapped alpha$" "(the attacker's rename came in time)"
  is "$(stat -c '%u %a' "$W/alpha")" "0 700" "root's directory keeps its owner and mode"
  as_nobody cat "$W/alpha/key" >"$T/read" 2>/dev/null
  is "$(cat "$T/read")" "" "and what is in it stays unreadable"
  bounded "$MULTI" stop alpha --pidfile="$T/run/%n.pid" --logfile="$W/%n/w.log"
else
  skip "needs strace to hold start between making a directory and opening it"
fi

# The same link left in place: refused by name.
rm -rf "${W:?}"/*
as_nobody ln -s "$T/target" "$W/alpha"
bounded "$MULTI" start alpha --pidfile="$T/run/%n.pid" --logfile="$W/%n/w.log" --uid="$NOBODY" \
  --settle=0 --command "$T/bin/stem-test-worker" --command sleep-forever
rc_is 1 "a log directory that is the worker user's link fails the node"
like "$T/err" "“$W/alpha” is a symbolic link that a user other than root could have made" \
  "naming the link"
is "$(ls -A "$T/target"; stat -c '%u %a' "$T/target/w.log")" "w.log
0 600" "nothing is created or given away behind it"
bounded "$MULTI" start alpha --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  --workdir="$W/%n" --uid="$NOBODY" \
  --settle=0 --command "$T/bin/stem-test-worker" --command sleep-forever
rc_is 1 "so does a working directory that is such a link"
is "$(stat -c %u "$T/target")" 0 "which keeps its owner"

# 4. A lock file of the worker user's, held: refused at once, by name.
L=$(attacker_dir lock)
attack hold-lock "$L/alpha.pid.lock"
for verb in start stop restart; do
  bounded "$MULTI" "$verb" alpha --pidfile="$L/%n.pid" --logfile="$T/log/%n.log" --settle=0 \
    --command "$T/bin/stem-test-worker" --command sleep-forever
  rc_is 1 "$verb with a lock file planted by another user fails"
  like "$T/err" "Refusing lock file “$L/alpha.pid.lock”: it belongs to nobody \(uid $NOBODY\)" \
    "$verb names the file and its owner"
done
kill "$attacker"
wait "$attacker" 2>/dev/null

# Root's own lock file, held by the worker's user: a bounded wait that
# names the holder.
: >"$L/beta.pid.lock"
chmod 644 "$L/beta.pid.lock"
attack hold-lock "$L/beta.pid.lock"
holder=$(sed -n 's/^ready //p' "$T/attacker.out")
for verb in stop start; do
  bounded "$MULTI" "$verb" beta --pidfile="$L/%n.pid" --logfile="$T/log/%n.log" --settle=0 \
    --lock-timeout=0.3s --command "$T/bin/stem-test-worker" --command sleep-forever
  rc_is 1 "$verb gives up waiting for a lock someone holds"
  like "$T/err" "Gave up waiting 0\.3 s for lock file “$L/beta.pid.lock”: it is held by pid $holder \(stem-attacker\)" \
    "$verb names the holder's pid"
done
kill "$attacker"
wait "$attacker" 2>/dev/null

# A private file of root's that the directory's owner renamed to a lock
# file's name: used as a lock, but its mode is left as it is (root made it
# 0644 once, for the owner to read).
printf 'root-only words\n' >"$L/secret"
chmod 600 "$L/secret"
as_nobody mv "$L/secret" "$L/mu.pid.lock"
for verb in stop start; do
  bounded "$MULTI" "$verb" mu --pidfile="$L/%n.pid" --logfile="$T/log/%n.log" --settle=0 \
    --command "$T/bin/stem-test-worker" --command sleep-forever
  is "$(stat -c %a "$L/mu.pid.lock")" 600 "$verb leaves the mode of root's file at a lock's name"
done
bounded "$MULTI" stop mu --pidfile="$L/%n.pid" --logfile="$T/log/%n.log"
as_nobody cat "$L/mu.pid.lock" >"$T/read" 2>/dev/null
is "$(cat "$T/read")" "" "which the directory's owner still cannot read"

# 5. A FIFO at the log path: start fails at once, stop does not hang.
F=$(attacker_dir fifo)
as_nobody mkfifo "$F/gamma.log"
bounded "$MULTI" start gamma --pidfile="$T/run/%n.pid" --logfile="$F/%n.log" --uid="$NOBODY" \
  --settle=0 --command "$T/bin/stem-test-worker" --command sleep-forever
rc_is 1 "start with a FIFO at the log path fails"
like "$T/err" "Opening log file “$F/gamma.log”: it is not a regular file" "saying what is wrong"
bounded "$MULTI" stop gamma --pidfile="$T/run/%n.pid" --logfile="$F/%n.log"
rc_is 0 "stop after it ends at once"

# 6. Root's lock file moved into the log's place, for the worker to write a
# PID into it and move it over the pidfile: root never hands a worker a
# log its user does not own.
W=$(attacker_dir pidlog)
: >"$W/delta.pid.lock" # root's, as stem-multi would have made it
chmod 644 "$W/delta.pid.lock"
as_nobody mv "$W/delta.pid.lock" "$W/delta.log"
bounded "$MULTI" start delta --pidfile="$W/%n.pid" --logfile="$W/%n.log" --uid="$NOBODY" \
  --settle=0 --command "$T/bin/stem-test-worker" --command sleep-forever
rc_is 1 "start refuses a log of root's in the worker user's directory"
like "$T/err" "Opening log file “$W/delta.log”: it belongs to uid 0, not to the worker's uid $NOBODY; not trusted" \
  "saying whose it is"
is "$(stat -c %s "$W/delta.log")" 0 "nothing was written to it"
ok_if "no pidfile was written" test ! -e "$W/delta.pid"
# A file of the attacker's own at the log's path of root's worker: it
# would read what the worker writes.
as_nobody sh -c "umask 0; : >'$W/theta.log'"
bounded "$MULTI" start theta --pidfile="$W/%n.pid" --logfile="$W/%n.log" \
  --settle=0 --command "$T/bin/stem-test-worker" --command sleep-forever
rc_is 1 "start refuses another user's log for a worker of root's"
like "$T/err" "Opening log file “$W/theta.log”: it belongs to uid $NOBODY, not to the worker's uid 0; not trusted" \
  "saying whose it is"
ok_if "and starts nothing" test ! -e "$W/theta.pid"
bounded "$MULTI" stop theta --pidfile="$W/%n.pid" --logfile="$W/%n.log"
chown "$NOBODY" "$W/delta.log"
bounded "$MULTI" start delta --pidfile="$W/%n.pid" --logfile="$W/%n.log" --uid="$NOBODY" \
  --settle=0 --command "$T/bin/stem-test-worker" --command sleep-forever
rc_is 0 "a log of the worker's user's is used"
bounded "$MULTI" stop delta --pidfile="$W/%n.pid" --logfile="$W/%n.log"
rc_is 0 "and the node stops"

# 8. A file the directory's owner puts at the log's path after the writer
# opened the log, as a rotation would: the writer reopens only what start
# would have accepted.  Root's hard link (kept) keeps the rotated log
# readable, where the writer says why it goes on writing there.
R=$(attacker_dir rotated)
# a) The worker runs as daemon: the attacker's own file would show it the
#    worker's output.
bounded "$MULTI" start zeta --pidfile="$T/run/%n.pid" --logfile="$R/%n.log" --uid=daemon \
  --settle=0 --command "$T/bin/stem-test-worker" --command count --command 20
rc_is 0 "a worker of daemon's logs into a directory of nobody's"
wait_until 10 grep -q '^line 2$' "$R/zeta.log"
ln "$R/zeta.log" "$T/zeta.kept"
as_nobody sh -c "umask 0; : >'$R/planted' && mv -f '$R/planted' '$R/zeta.log'"
wait_until 10 grep -q 'cannot reopen' "$T/zeta.kept"
like "$T/zeta.kept" "^stem-logwriter: cannot reopen $R/zeta.log: it belongs to uid $NOBODY, not to uid 1, not trusted; still writing to the file it was rotated to$" \
  "the writer does not reopen a file of another user at the log's path, and says so"
lines=$(grep -c '^line' "$T/zeta.kept")
wait_until 10 eval '[ "$(grep -c "^line" "$T/zeta.kept")" -gt "$lines" ]'
is "$(stat -c %s "$R/zeta.log")" 0 "the attacker's file gets none of the output, which goes on in the rotated log"
bounded "$MULTI" stop zeta --pidfile="$T/run/%n.pid" --logfile="$R/%n.log"
rc_is 0 "and the node stops"
# b) The worker (and so its writer) runs as root: a hard link to a file of
#    the attacker's would be written as root; where hard links to others'
#    files may be made (fs.protected_hardlinks=0), to any file at all.
mkdir -p "$T/other"
chown "$NOBODY:$NOBODY" "$T/other"
bounded "$MULTI" start eta --pidfile="$T/run/%n.pid" --logfile="$R/%n.log" \
  --settle=0 --command "$T/bin/stem-test-worker" --command count --command 20
rc_is 0 "a worker of root's logs into a directory of nobody's"
wait_until 10 grep -q '^line 2$' "$R/eta.log"
ln "$R/eta.log" "$T/eta.kept"
as_nobody sh -c ": >'$T/other/target' && ln '$T/other/target' '$R/planted' && mv -f '$R/planted' '$R/eta.log'"
wait_until 10 grep -q 'cannot reopen' "$T/eta.kept"
like "$T/eta.kept" "^stem-logwriter: cannot reopen $R/eta.log: it has other hard links, not trusted; still writing to the file it was rotated to$" \
  "root's writer does not reopen a hard link at the log's path, and says so"
lines=$(grep -c '^line' "$T/eta.kept")
wait_until 10 eval '[ "$(grep -c "^line" "$T/eta.kept")" -gt "$lines" ]'
is "$(stat -c %s "$T/other/target")" 0 "the linked file gets none of the output"
bounded "$MULTI" stop eta --pidfile="$T/run/%n.pid" --logfile="$R/%n.log"
rc_is 0 "and the node stops"
# c) A worker of root's: a file of the attacker's own at the log's path
#    would show it the worker's output.
bounded "$MULTI" start iota --pidfile="$T/run/%n.pid" --logfile="$R/%n.log" \
  --settle=0 --command "$T/bin/stem-test-worker" --command count --command 20
rc_is 0 "another worker of root's logs into a directory of nobody's"
wait_until 10 grep -q '^line 2$' "$R/iota.log"
ln "$R/iota.log" "$T/iota.kept"
as_nobody sh -c "umask 0; : >'$R/planted' && mv -f '$R/planted' '$R/iota.log'"
wait_until 10 grep -q 'cannot reopen' "$T/iota.kept"
like "$T/iota.kept" "^stem-logwriter: cannot reopen $R/iota.log: it belongs to uid $NOBODY, not to uid 0, not trusted; still writing to the file it was rotated to$" \
  "root's writer does not reopen another user's file at the log's path, and says so"
lines=$(grep -c '^line' "$T/iota.kept")
wait_until 10 eval '[ "$(grep -c "^line" "$T/iota.kept")" -gt "$lines" ]'
is "$(stat -c %s "$R/iota.log")" 0 "the attacker's file gets none of the output"
bounded "$MULTI" stop iota --pidfile="$T/run/%n.pid" --logfile="$R/%n.log"
rc_is 0 "and the node stops"

# 9. The worker's program, in a directory of the worker user's, swapped for
# a link to the user's FIFO after root checked it, before root reads its #!
# line (strace holds root at the check): root opens neither the link nor
# what it names (a device could act on being opened; the FIFO tells).
if command -v strace >/dev/null; then
  P=$(attacker_dir prog)
  printf '#!/bin/sh\nexec sleep 300\n' >"$P/prog"
  chown "$NOBODY" "$P/prog"
  chmod 755 "$P/prog"
  as_nobody mkfifo "$P/fifo"
  strace -qq -o "$T/prog.trace" -P "$P/prog" -e trace=access \
    -e inject=access:delay_exit=3000000 "$MULTI" show iota --pidfile="$T/run/%n.pid" \
    --logfile="$T/log/%n.log" --command "$P/prog" >/dev/null 2>&1 &
  shower=$!
  wait_until 30 grep -qs '^access' "$T/prog.trace"
  as_nobody sh -c "ln -s fifo '$P/link' && mv -T '$P/link' '$P/prog'"
  # The FIFO's writer waits in its open until someone opens it to read.
  setpriv --reuid=65534 --regid=65534 --clear-groups --reset-env -- \
    sh -c "exec 3>'$P/fifo' && echo opened" >"$T/fifo.out" 2>&1 &
  writer=$!
  wait "$shower"
  ok_if "(the swap came while root was held)" test -L "$P/prog"
  # (Had root opened it, the writer would have said so at once.)
  if wait_until 3 grep -qs opened "$T/fifo.out"; then
    fail "root did not open what the user's link names"
  else
    pass "root did not open what the user's link names"
  fi
  kill "$writer" 2>/dev/null
  wait "$writer" 2>/dev/null
else
  skip "needs strace to hold root between checking the program and reading it"
fi

# 7. A routing file the worker's user links to a file only root may read:
# root's stem-multi neither follows the link nor quotes the file's keys.
K=$(attacker_dir routing)
printf 'secret_key_name: 1\n' >"$T/root-only.yaml"
chmod 600 "$T/root-only.yaml"
as_nobody ln -s "$T/root-only.yaml" "$K/routing.yaml"
bounded "$MULTI" show epsilon --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  --routing-config="$K/routing.yaml" --command "$T/bin/stem-test-worker"
rc_is 2 "a routing file behind the user's link is a configuration error"
like "$T/err" "Cannot read routing file “$K/routing.yaml”: a symbolic link on the way" "saying why"
unlike "$T/err" "secret_key_name" "nothing of the root-only file is shown"

done_testing
