#!/bin/bash
# Pidfiles are never trusted blindly: reused PIDs, hostile contents and
# symlinks signal nothing.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

# A PID reused by an unrelated process: the pidfile is older than the process.
"$WORKER" sleep-forever &
canary=$!
echo "$canary" >"$T/run/reused.pid"
touch -d '-1 hour' "$T/run/reused.pid"
multi status reused --no-clean
rc_is 1 "a reused PID is stale (LSB 1)"
like "$T/out" "^reused: stale pidfile: pid $canary now belongs to another process$" "and says why"
ok_if "--no-clean keeps the stale pidfile" test -e "$T/run/reused.pid"
multi stop reused
rc_is 0 "stopping a node whose PID was reused"
like "$T/out" "^reused: not running \(removed stale pidfile: pid $canary now belongs to another process\)$" \
  "stop treats it as not running"
ok_if "the unrelated process was not signalled" alive "$canary"
ok_if "the stale pidfile is removed" test ! -e "$T/run/reused.pid"
echo "$canary" >"$T/run/reused.pid"
touch -d '-1 hour' "$T/run/reused.pid"
multi kill reused
ok_if "kill does not signal a reused PID either" alive "$canary"
kill "$canary"

# A kernel thread is older than any pidfile, so the time check alone would
# call it the worker: it is never one.
kthread=$(kernel_thread)
if [ -n "$kthread" ]; then
  echo "$kthread" >"$T/run/kthread.pid"
  multi status kthread --no-clean
  rc_is 1 "a pidfile naming a kernel thread is stale (LSB 1)"
  like "$T/out" "^kthread: stale pidfile: pid $kthread now belongs to another process$" "and says why"
  multi stop kthread --verbose
  like "$T/out" "^kthread: not running \(removed stale pidfile: pid $kthread now belongs to another process\)$" \
    "stop signals nothing and removes the pidfile"
else
  skip "a pidfile naming a kernel thread: none is visible here (a PID namespace)"
  skip "a pidfile naming a kernel thread: none is visible here (a PID namespace)"
  skip "a pidfile naming a kernel thread: none is visible here (a PID namespace)"
fi

# The wall clock stepped forward after a worker started (an NTP step after
# a boot without a clock, a resumed virtual machine) moves its start time
# past its pidfile's mtime, as an older mtime does here: the worker's
# environment, which names its pidfile, says it is still the one.
multi start stepped --command "$WORKER" --command run
rc_is 0 "start a node"
stepped=$(cat "$T/run/stepped.pid")
touch -d '-1 hour' "$T/run/stepped.pid"
multi status stepped
rc_is 0 "after a clock step, status still finds the worker running"
like "$T/out" "^stepped: running \(pid $stepped, up $AGE_RE\)$" "with its uptime"
ok_if "and keeps its pidfile" test -e "$T/run/stepped.pid"
run "$top_builddir/src/stem-health" stepped --pidfile="$T/run/%n.pid" --logfile=- --json
is "$(json "$T/out" '.status')" ok "stem-health says ok too"
multi start stepped --command "$WORKER" --command run
like "$T/out" "^stepped: already running \(pid $stepped\)$" "start starts no second worker"
multi stop stepped
rc_is 0 "stop"
like "$T/out" "^stepped: stopped \(pid $stepped\)$" "stops the worker itself"
ok_if "which has exited" wait_until 10 eval '! alive "$stepped"'
ok_if "and its pidfile is gone" test ! -e "$T/run/stepped.pid"
# A worker whose first thread has exited while another runs on is found
# through that other thread.
multi start leader --command "$WORKER" --command leader-exit
wait_until 10 grep -qs "^thread tid=" "$T/log/leader.log"
leader=$(cat "$T/run/leader.pid")
wait_until 10 grep -qs '^State:.*Z' "/proc/$leader/status"
touch -d '-1 hour' "$T/run/leader.pid"
multi status leader
like "$T/out" "^leader: running \(pid $leader, up $AGE_RE\)$" \
  "after a clock step, a worker whose first thread has exited is still running"
multi stop leader
like "$T/out" "^leader: stopped \(pid $leader\)$" "and stop stops it"
# Another node's worker, or any process whose environment names another
# pidfile, is no proof.
env STEM_WORKER_PIDFILE="$T/run/other.pid" "$WORKER" sleep-forever &
other=$!
wait_until 10 grep -qs "STEM_WORKER_PIDFILE=$T/run/other.pid" "/proc/$other/environ"
echo "$other" >"$T/run/named.pid"
touch -d '-1 hour' "$T/run/named.pid"
multi status named --no-clean
rc_is 1 "a later process whose environment names another pidfile is stale"
like "$T/out" "^named: stale pidfile: pid $other now belongs to another process$" "and says why"
multi stop named
ok_if "and is not signalled" alive "$other"
kill "$other"
# Anyone may put that name in a process's environment: only a process of
# the worker's user counts (root's here, as no --uid was given), so no
# other user's process can pass for a root worker that died.
# forge PROGRAM [ARG…]: runs PROGRAM as nobody, naming forged.pid in its
# environment, in the background; its PID in $forged, and in forged.pid,
# written an hour ago.
forge () {
  setpriv --reuid=65534 --regid=65534 --clear-groups -- \
    env STEM_WORKER_PIDFILE="$T/run/forged.pid" "$@" &
  forged=$!
  wait_until 10 grep -qs "STEM_WORKER_PIDFILE=$T/run/forged.pid" "/proc/$forged/environ"
  echo "$forged" >"$T/run/forged.pid"
  touch -d '-1 hour' "$T/run/forged.pid"
}
if [ "$(id -u)" -eq 0 ]; then
  private_bin
  forge "$T/bin/stem-test-worker" sleep-forever
  multi status forged --no-clean
  rc_is 1 "another user's later process naming root's pidfile is stale"
  like "$T/out" "^forged: stale pidfile: pid $forged now belongs to another process$" "and says why"
  multi stop forged
  ok_if "and stop signals nothing" alive "$forged"
  kill "$forged"
  # Nor by making itself a process that may not be looked into, whose
  # /proc entries then belong to root.
  forge "$T/bin/stem-test-worker" no-dump
  wait_until 10 eval '[ "$(stat -c %u "/proc/$forged/environ")" = 0 ]'
  multi status forged --no-clean
  like "$T/out" "^forged: stale pidfile: pid $forged now belongs to another process$" \
    "another user's process that may not be looked into does not pass for root's either"
  kill "$forged"
  # Nor a program that gained privileges at exec (set-user-ID or
  # set-group-ID), which keeps its caller's environment: here a program
  # of nobody's with root's group, naming a pidfile of nobody's.
  cp "$T/bin/stem-test-worker" "$T/bin/sgid-worker"
  chown root:root "$T/bin/sgid-worker"
  chmod 2755 "$T/bin/sgid-worker"
  forge "$T/bin/sgid-worker" sleep-forever
  secure=$(od -An -tu8 -w16 "/proc/$forged/auxv" | awk '$1 == 23 { print $2 }')
  if [ "$secure" = 1 ]; then
    chown 65534 "$T/run/forged.pid"
    multi status forged --no-clean
    like "$T/out" "^forged: stale pidfile: pid $forged now belongs to another process$" \
      "a program that gained privileges at exec does not pass for the worker"
  else
    skip "a set-group-ID program: $T is on a nosuid file system"
  fi
  kill "$forged"
  # A worker of --uid's user, whose pidfile is root's: that user's.
  mkdir -m 755 "$T/nlog"
  chown 65534 "$T/nlog"
  nobody=(--uid=65534 --logfile="$T/nlog/%n.log" --command "$T/bin/stem-test-worker" --command run)
  multi start steppeduid "${nobody[@]}"
  rc_is 0 "start a worker with --uid"
  stepped=$(cat "$T/run/steppeduid.pid")
  touch -d '-1 hour' "$T/run/steppeduid.pid"
  multi status steppeduid "${nobody[@]}"
  like "$T/out" "^steppeduid: running \(pid $stepped, up $AGE_RE\)$" \
    "after a clock step, status still finds the --uid worker running"
  health_uid () { run "$top_builddir/src/stem-health" steppeduid --pidfile="$T/run/%n.pid" --logfile=- "$@"; }
  health_uid --uid=65534 --json
  is "$(json "$T/out" '.status')" ok "so does stem-health, given the --uid"
  health_uid --json
  is "$(json "$T/out" '.error')" pid-reused "without it, stem-health cannot tell (the pidfile is root's)"
  multi stop steppeduid "${nobody[@]}"
  like "$T/out" "^steppeduid: stopped \(pid $stepped\)$" "and stop stops it"
else
  for _ in 1 2 3 4 5; do skip "another user's process naming root's pidfile: needs root"; done
  for _ in 1 2 3 4 5; do skip "a --uid worker after a clock step: needs root"; done
fi

# A thread's ID, which kill () and /proc accept as a PID, written after the
# thread started: a pidfile names a process (its first thread), never
# another process's thread.  Every verb says the same: stale.
"$WORKER" thread >"$T/threaded.out" 2>&1 &
threaded=$!
wait_until 10 grep -qs '^thread tid=' "$T/threaded.out"
tid=$(sed -n 's/^thread tid=//p' "$T/threaded.out")
echo "$tid" >"$T/run/thread.pid"
multi status thread --no-clean
rc_is 1 "a pidfile naming another process's thread is stale (LSB 1)"
like "$T/out" "^thread: stale pidfile: pid $tid now belongs to another process$" "and says why"
health_out=$("$top_builddir/src/stem-health" thread --pidfile="$T/run/%n.pid" --logfile=- 2>&1)
ok_if "stem-health says it is a thread, not the worker" \
  eval '[[ $health_out == *"pid-reused: pid $tid is a thread"* ]]'
multi stop thread
like "$T/out" "^thread: not running \(removed stale pidfile: pid $tid now belongs to another process\)$" \
  "stop says so too, and removes the pidfile"
ok_if "… without signalling the process" eval 'alive "$threaded" && ! grep -q "^got" "$T/threaded.out"'
kill "$threaded"

# A stale pidfile the caller may not remove: the report says it is still there.
if [ "$(id -u)" -eq 0 ]; then
  private_bin
  mkdir -m 755 "$T/rootdir"
  sh -c "echo \$\$ >'$T/rootdir/gone.pid'"
  as_nobody "$T/bin/stem-multi" status gone --pidfile="$T/rootdir/%n.pid" >"$T/out" 2>"$T/err"
  like "$T/out" "^gone: stale pidfile: pid [0-9]+ is not running \(it could not be removed\)$" \
    "status does not say removed what it could not remove"
  like "$T/err" "Cannot remove pidfile .$T/rootdir/gone.pid.: Permission denied" "and says why"
  as_nobody "$T/bin/stem-multi" stop gone --pidfile="$T/rootdir/%n.pid" >"$T/out" 2>"$T/err"
  like "$T/out" "^gone: not running \(stale pidfile: pid [0-9]+ is not running; it could not be removed\)$" \
    "nor does stop"
  ok_if "the pidfile is still there" test -e "$T/rootdir/gone.pid"
else
  skip "a pidfile the caller may not remove needs root to make"
fi

# What a power cut can leave of a pidfile, which is not flushed to disk: an
# empty file, or one holding no PID, dated before this boot.  No worker can
# run under it: each verb takes it as stale, and start replaces it.  The same
# dated in this boot is not a leftover, and is refused as invalid.
# leftover NODE [CONTENT]: NODE's pidfile holding CONTENT (nothing), dated a
# minute before this boot.
leftover () {
  printf '%b' "${2:-}" >"$T/run/$1.pid"
  before_boot "$T/run/$1.pid"
}
why_leftover='it holds no PID and dates from before this boot'
leftover lo1
multi status lo1 --no-clean
rc_is 1 "a leftover pidfile is stale (LSB 1)"
like "$T/out" "^lo1: stale pidfile: $why_leftover$" "and says why"
multi status lo1
like "$T/out" "^lo1: stale pidfile: $why_leftover \(removed\)$" "status removes it"
ok_if "… and it is gone" test ! -e "$T/run/lo1.pid"
leftover lo2 '\0\0\0\0\0\0'
multi stop lo2
rc_is 0 "stop of a node whose pidfile holds only zeros from before this boot"
like "$T/out" "^lo2: not running \(removed stale pidfile: $why_leftover\)$" "is a stop of a node not running"
ok_if "… and the pidfile is gone" test ! -e "$T/run/lo2.pid"
leftover lo3
multi start lo3 --settle=0 --command "$WORKER" --command sleep-forever
rc_is 0 "start replaces a leftover pidfile"
ok_if "… with its new worker's" alive "$(pid_of lo3)"
multi stop lo3
rc_is 0 "which stops"
run "$top_builddir/src/stem-health" lo4 --pidfile="$T/run/%n.pid" --json
is "$(json "$T/out" '.error')" pidfile-missing "stem-health (a control: no pidfile)"
leftover lo4
run "$top_builddir/src/stem-health" lo4 --pidfile="$T/run/%n.pid" --json
rc_is 1 "stem-health: a leftover pidfile is unhealthy"
is "$(json "$T/out" '.error')" process-not-running "… a worker not running"
like "$T/out" "holds no PID and dates from before this boot" "… and says why"
ok_if "… and leaves the file (stem-health never removes)" test -e "$T/run/lo4.pid"
: >"$T/run/lo5.pid"
multi start lo5 --settle=0 --command "$WORKER" --command sleep-forever
rc_is 1 "an empty pidfile written in this boot is not started over"
like "$T/err" "lo5: Invalid pidfile .$T/run/lo5.pid.: it is empty; not starting over it" "… and says so"
ok_if "… and it is left for the operator" test -e "$T/run/lo5.pid"

# Hostile pidfile contents, run as an unprivileged user (whose kill(-1) would
# reach every process it owns) beside a canary in the caller's process group.
private_bin
cat >"$T/hostile.sh" <<'SCRIPT'
#!/bin/bash
bin=$1 dir=$2
"$bin/stem-test-worker" sleep-forever &
canary=$!
trap 'kill "$canary" 2>/dev/null' EXIT
pgid=$(ps -o pgid= -p $$ | tr -d ' ')
i=0
for content in -1 0 1 "-$pgid" "$$" abc '' 99999999999999999999 '12 13' '+5' "$canary junk" \
  "$(printf '%070d' 7)"; do
  i=$((i + 1))
  mkdir -p "$dir/h$i"
  printf '%s\n' "$content" >"$dir/h$i/node.pid"
  for verb in stop kill; do
    "$bin/stem-multi" "$verb" node --pidfile="$dir/h$i/node.pid" --timeout=1s >"$dir/h$i/$verb.out" 2>&1
    echo "$?" >"$dir/h$i/$verb.rc"
  done
done
ln -s "$dir/target.pid" "$dir/link.pid"
echo "$canary" >"$dir/target.pid"
"$bin/stem-multi" stop link --pidfile="$dir/%n.pid" >"$dir/link.out" 2>&1
echo "$?" >"$dir/link.rc"
if kill -0 "$canary" 2>/dev/null; then echo alive >"$dir/canary"; fi
SCRIPT
mkdir -p "$T/hostile"
chmod 777 "$T/hostile"
as_nobody bash "$T/hostile.sh" "$T/bin" "$T/hostile"
is "$(cat "$T/hostile/canary" 2>/dev/null)" alive "the canary in the caller's process group survived every hostile pidfile"
for i in $(seq 1 12); do
  content=$(head -c 40 "$T/hostile/h$i/node.pid" | head -n 1)
  for verb in stop kill; do
    is "$(cat "$T/hostile/h$i/$verb.rc")" 1 "$verb with pidfile content '$content' fails (exit 1)"
  done
  ok_if "… and the pidfile '$content' is left for the operator" test -e "$T/hostile/h$i/node.pid"
done
like "$T/hostile/h1/stop.out" "node: Invalid pidfile .*nothing was signalled" "stop says nothing was signalled"
like "$T/hostile/h5/stop.out" "node: Refusing to signal PID [0-9]+: it is the parent" "our own shell's PID is refused"
is "$(cat "$T/hostile/link.rc")" 1 "a symlinked pidfile is refused"
like "$T/hostile/link.out" "symbolic link" "and the message says so"

# Another user's live process (ours by identity, but not ours to signal).
if [ "$(id -u)" -eq 0 ]; then
  "$WORKER" sleep-forever &
  owned=$!
  mkdir -m 777 "$T/foreign"
  echo "$owned" >"$T/foreign/node.pid"
  as_nobody "$T/bin/stem-multi" stop node --pidfile="$T/foreign/%n.pid" >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 1 "stopping another user's worker fails"
  like "$T/err" "node: pid $owned belongs to another user: permission denied" "with permission denied"
  ok_if "that process is untouched" alive "$owned"
  ok_if "its pidfile is kept" test -e "$T/foreign/node.pid"
  kill "$owned"
else
  skip "needs root to run a process as another user"
fi

# A pidfile planted by another user, naming an older process of root's: it
# passes the start-time check, so its owner is what must stop root.
if [ "$(id -u)" -eq 0 ]; then
  "$WORKER" sleep-forever &
  victim=$!
  mkdir -m 777 "$T/planted"
  as_nobody sh -c "echo $victim >'$T/planted/node.pid'"
  multi stop node --pidfile="$T/planted/%n.pid"
  rc_is 1 "root does not act on another user's pidfile naming root's process"
  like "$T/err" "node: Pidfile “$T/planted/node.pid” belongs to uid $(id -u nobody) but names pid $victim of uid 0: not trusted" \
    "and says why"
  ok_if "the process it named was not signalled" alive "$victim"
  multi status node --pidfile="$T/planted/%n.pid"
  rc_is 4 "status calls it unknown (LSB 4)"
  kill "$victim"
else
  skip "needs root to plant a pidfile as another user"
fi

# Writing a pidfile never follows a symlink planted at its path.
echo precious >"$T/target"
ln -s "$T/target" "$T/run/planted.pid"
multi start planted --command "$WORKER" --command run
rc_is 1 "a symlink at the pidfile path is refused as invalid"
is "$(cat "$T/target")" precious "the symlink's target is untouched"
rm "$T/run/planted.pid"

# A lock file or log is opened in one lookup where its path holds no link;
# where it holds one, the walk decides.  A link planted as the lock file is
# refused; a path through a link nobody else could have made (as /var/run
# to /run) works as before.
ln -s "$T/target" "$T/run/locked.pid.lock"
multi start locked --command "$WORKER" --command run
rc_is 1 "a symlink at the lock file's path is refused"
like "$T/err" "Cannot use lock file “$T/run/locked\.pid\.lock”: it is a symbolic link" "and the message says so"
ok_if "nothing was started" test ! -e "$T/run/locked.pid"
is "$(cat "$T/target")" precious "the link's target is untouched"
rm "$T/run/locked.pid.lock"
mkdir "$T/real"
ln -s "$T/real" "$T/via"
via=(--pidfile="$T/via/%n.pid" --logfile="$T/via/%n.log")
multi start vl "${via[@]}" --command "$WORKER" --command run
rc_is 0 "start through a link only we could have made"
ok_if "its lock file is in the directory the link names" test -f "$T/real/vl.pid.lock"
ok_if "and so is its log" wait_until 10 grep -qs "node=vl" "$T/real/vl.log"
multi stop vl "${via[@]}"
rc_is 0 "stop through it too"
like "$T/out" "^vl: stopped \(pid [0-9]+\)$" "which says it stopped"
like "$T/real/vl.log" "^got SIGTERM$" "once the worker's last words were in its log"

done_testing
