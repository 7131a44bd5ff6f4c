#!/bin/bash
# System test of the SysV init scripts, on the host itself: installs the build
# tree into the real root, registers the scripts with update-rc.d, drives
# /etc/init.d/stem-worker and /etc/init.d/stem-scheduler through service(8)
# the way an operator does, and removes everything again.  TAP output.
#
#   top_srcdir=… top_builddir=… bash tests/system/test-sysv.sh   (as root)
#
# It changes the system, so it is careful about it:
# - it skips (1..0 # SKIP) unless run as root on a host where service(8) runs
#   init scripts directly, and when anything it would install or create is
#   already there (someone's real installation is never overwritten);
# - everything it adds (files, directories, the stem user, rc.d links,
#   packages) is recorded and removed by the EXIT trap, also after a failure,
#   and the last check verifies that nothing of it is left.
# Waits poll for an observable condition; the timeouts only bound failures
# (PID 1 may reap orphans lazily, so a killed worker can stay a zombie for a
# while).

# Functions run through traps, wait_for and ok_if; eval takes single quotes.
# shellcheck disable=SC2317,SC2016
set -u
: "${top_builddir:?run through make check-system}" "${top_srcdir:?run through make check-system}"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH LC_ALL=C

skip_all () {
  echo "1..0 # SKIP $*"
  exit 0
}

[ "$(id -u)" -eq 0 ] || skip_all "not root (this test installs into the system)"
[ -d /run/systemd/system ] && skip_all "systemd is PID 1: service(8) would not run the init scripts directly"
for tool in service update-rc.d useradd userdel getent timeout make; do
  command -v "$tool" >/dev/null 2>&1 || skip_all "$tool is missing"
done

# The paths the test expects the build to install to and the scripts to use.
STEM_USER=stem
WORKER=/usr/bin/stem-example-worker
RUN_DIR=/run/stem
LOG_DIR=/var/log/stem
STATE_DIR=/var/lib/stem
ALT_RUN_DIR=/run/stem-alt
ALT_LOG_DIR=/var/log/stem-alt
OUR_DIRS="$RUN_DIR $LOG_DIR $STATE_DIR $ALT_RUN_DIR $ALT_LOG_DIR"

if ! T=$(mktemp -d "${TMPDIR:-/tmp}/stem-sysv.XXXXXX") || [ ! -d "$T" ]; then
  echo "Bail out! cannot create a temporary directory"
  exit 99
fi
# The stem user runs the test worker from here.
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT

# What `make install` would add: install into a staging tree first.
if ! make -C "$top_builddir" install DESTDIR="$T/stage" >"$T/stage.log" 2>&1; then
  sed 's/^/# /' "$T/stage.log" | tail -n 30
  echo "Bail out! make install DESTDIR=… failed"
  exit 99
fi
if [ ! -x "$T/stage/usr/bin/stem-multi" ] || [ ! -x "$T/stage$WORKER" ] \
  || [ ! -x "$T/stage/etc/init.d/stem-worker" ] || [ ! -x "$T/stage/etc/init.d/stem-scheduler" ] \
  || [ ! -f "$T/stage/etc/default/stem" ] || [ ! -f "$T/stage/etc/stem/stem.env" ] \
  || [ ! -f "$T/stage/etc/logrotate.d/stem" ] \
  || ! grep -qF "$RUN_DIR" "$T/stage/etc/init.d/stem-worker" \
  || ! grep -qF "$LOG_DIR" "$T/stage/etc/init.d/stem-worker"; then
  prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
  skip_all "the build is configured for other paths (prefix=$prefix);" \
    "this test needs --prefix=/usr --sysconfdir=/etc --localstatedir=/var --runstatedir=/run" \
    "with the SysV scripts and the logrotate snippet enabled"
fi
(cd "$T/stage" && find . -mindepth 1 ! -type d | sed 's|^\.||' | LC_ALL=C sort) >"$T/files"
(cd "$T/stage" && find . -mindepth 1 -type d | sed 's|^\.||' | LC_ALL=C sort -r) >"$T/dirs"

# Never overwrite or mix with an existing installation.
while IFS= read -r f; do
  if [ -e "$f" ] || [ -L "$f" ]; then skip_all "$f already exists (an installation is there; not touching it)"; fi
done <"$T/files"
for d in $OUR_DIRS; do
  [ -e "$d" ] && skip_all "$d already exists (not mixing with its contents)"
done
for l in /etc/rc[0-6S].d/[SK][0-9][0-9]stem-worker /etc/rc[0-6S].d/[SK][0-9][0-9]stem-scheduler; do
  [ -e "$l" ] || [ -L "$l" ] && skip_all "$l already exists"
done

# The test worker (check program) numbers its output lines: the logrotate
# check needs that.  The stem user runs a copy under $T.
if [ ! -x "$top_builddir/tests/stem-test-worker" ]; then
  make -C "$top_builddir" tests/stem-test-worker >"$T/make-worker.log" 2>&1
fi
if [ ! -x "$top_builddir/tests/stem-test-worker" ]; then
  echo "Bail out! cannot build tests/stem-test-worker"
  exit 99
fi
mkdir "$T/bin"
cp "$top_builddir/tests/stem-test-worker" "$T/bin/"
chmod 755 "$T/bin" "$T/bin/stem-test-worker"

# Directories that exist now: those that make install adds are removed later.
: >"$T/new-dirs"
while IFS= read -r d; do
  [ -e "$d" ] || echo "$d" >>"$T/new-dirs"
done <"$T/dirs"

# ---------------------------------------------------------------------------
# TAP output.

# shellcheck source=../lib-tap.sh
. "$top_srcdir/tests/lib-tap.sh" || exit 99
TAP_SHOW_ON_FAIL=("$T/out" "$T/err")
rc_is () { is "$rc" "$1" "$2 (exit $1)"; }
like () { # FILE REGEX NAME
  if grep -Eq -- "$2" "$1" 2>/dev/null; then pass "$3"; else
    fail "$3" "no line of $1 matches: $2"
    [ -f "$1" ] && tail -n 5 "$1" | sed 's/^/#   tail: /'
  fi
}

unlike () { # FILE REGEX NAME
  if grep -Eq -- "$2" "$1" 2>/dev/null; then
    fail "$3" "a line of $1 matches: $2"
    grep -E -- "$2" "$1" | head -n 5 | sed 's/^/#   line: /'
  else pass "$3"; fi
}

# svc NAME ACTION: service(8), output in $T/out and $T/err, exit code in $rc.
svc () {
  timeout 120 service "$1" "$2" >"$T/out" 2>"$T/err"
  rc=$?
}
# start_workers NAME: service stem-worker start (asserted as NAME), and
# the workers' PIDs in $alpha and $beta.
start_workers () {
  svc stem-worker start
  rc_is 0 "$1"
  alpha=$(pid_in $RUN_DIR/alpha.pid)
  beta=$(pid_in $RUN_DIR/beta.pid)
}

now_ms () {
  local t=${EPOCHREALTIME/[.,]/}
  echo $((t / 1000))
}
# wait_for SECONDS CMD…: polls CMD until it succeeds, at most SECONDS.
wait_for () {
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# alive PID: the process exists and is not a zombie.
alive () {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  case ${stat%% *} in Z | X | x | '') return 1 ;; esac
}
dead () { ! alive "$1"; }
# pid_in PIDFILE: prints the PID the file holds.
pid_in () {
  local p
  p=$(cat "$1" 2>/dev/null) || return 1
  case $p in '' | *[!0-9]*) return 1 ;; esac
  echo "$p"
}
user_of () { ps -o user= -p "$1" 2>/dev/null | tr -d ' '; }
exe_of () { readlink "/proc/$1/exe" 2>/dev/null; }

# same_host_ns PID: the process shares our PID and mount namespaces.  Workers
# in containers (other tests may be running systemd-nspawn right now) have
# the same environment variables, and are none of our business.
MY_PIDNS=$(readlink /proc/self/ns/pid)
MY_MNTNS=$(readlink /proc/self/ns/mnt)
same_host_ns () {
  [ "$(readlink "/proc/$1/ns/pid" 2>/dev/null)" = "$MY_PIDNS" ] \
    && [ "$(readlink "/proc/$1/ns/mnt" 2>/dev/null)" = "$MY_MNTNS" ]
}
# our_workers: live processes started by the scripts under test (they all get
# STEM_WORKER_PIDFILE in one of our pid directories), one PID per line.
our_workers () {
  local e pid
  grep -lsz -E "^STEM_WORKER_PIDFILE=($RUN_DIR|$ALT_RUN_DIR)/" /proc/[0-9]*/environ \
    | while IFS= read -r e; do
      pid=${e#/proc/}
      pid=${pid%/environ}
      same_host_ns "$pid" && alive "$pid" && echo "$pid"
    done | sort -n
}
# stem_user_procs: processes of the stem user on this host (not in containers).
stem_user_procs () {
  local pid
  for pid in $(ps -u "$STEM_USER" -o pid= 2>/dev/null); do
    same_host_ns "$pid" && echo "$pid"
  done
}
no_workers () { [ -z "$(our_workers)" ]; }
no_pidfiles () { ! ls "$RUN_DIR"/*.pid "$ALT_RUN_DIR"/*.pid >/dev/null 2>&1; }

# The configuration files, as installed plus the lines given.
write_default () {
  { cat "$T/stage/etc/default/stem"; printf '%s\n' "$@"; } >/etc/default/stem
  chown root:root /etc/default/stem
  chmod 0644 /etc/default/stem
}
write_env () {
  { cat "$T/stage/etc/stem/stem.env"; printf '%s\n' "$@"; } >/etc/stem/stem.env
  # As shipped: the scripts run stem-multi as the service user, who reads it.
  chown "root:$STEM_USER" /etc/stem/stem.env
  chmod 0640 /etc/stem/stem.env
}

# ---------------------------------------------------------------------------
# Everything added from here on is undone by cleanup.

installed=false
created_user=false
group_gid=
new_packages=
cleanup () {
  local status=$? l d f p left=()
  trap - EXIT
  set +e
  note "cleaning up"
  if $installed; then
    timeout 120 service stem-scheduler stop >/dev/null 2>&1
    timeout 120 service stem-worker stop >/dev/null 2>&1
  fi
  # Whatever a failure left running (another configuration, a half-done phase).
  for p in $(our_workers); do kill -9 "$p" 2>/dev/null; done
  wait_for 15 no_workers
  update-rc.d -f stem-worker remove >/dev/null 2>&1
  update-rc.d -f stem-scheduler remove >/dev/null 2>&1
  if $installed; then
    make -C "$top_builddir" uninstall >"$T/uninstall.log" 2>&1 \
      || sed 's/^/# uninstall: /' "$T/uninstall.log"
  fi
  for d in $OUR_DIRS; do rm -rf "$d"; done
  while IFS= read -r d; do rmdir "$d" 2>/dev/null; done <"$T/new-dirs"
  if $created_user; then
    # userdel refuses while the user owns a process (a zombie not reaped yet).
    wait_for 15 eval '[ -z "$(stem_user_procs)" ]'
    userdel "$STEM_USER" >/dev/null 2>&1 || note "userdel $STEM_USER failed"
    if [ -n "$group_gid" ] && ! getent group "$STEM_USER" >/dev/null; then
      groupadd --system --gid "$group_gid" "$STEM_USER"
    fi
  fi
  if [ -n "$new_packages" ]; then
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $new_packages >"$T/purge.log" 2>&1 \
      || note "apt-get purge $new_packages failed"
  fi

  # Nothing of it may be left.
  while IFS= read -r f; do
    if [ -e "$f" ] || [ -L "$f" ]; then left+=("$f"); fi
  done <"$T/files"
  while IFS= read -r d; do [ -e "$d" ] && left+=("$d/"); done <"$T/new-dirs"
  for d in $OUR_DIRS; do [ -e "$d" ] && left+=("$d/"); done
  for l in /etc/rc[0-6S].d/*stem-worker /etc/rc[0-6S].d/*stem-scheduler; do
    if [ -e "$l" ] || [ -L "$l" ]; then left+=("$l"); fi
  done
  if $created_user && getent passwd "$STEM_USER" >/dev/null; then left+=("user $STEM_USER"); fi
  for p in $(our_workers); do left+=("process $p"); done
  for p in $new_packages; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' && left+=("package $p")
  done
  : >"$T/out"
  : >"$T/err"
  if [ ${#left[@]} -eq 0 ]; then pass "everything the test added is removed again"; else
    fail "everything the test added is removed again" "left behind: ${left[*]}"
  fi
  echo "1..$test_count"
  rm -rf "$T"
  if [ "$test_failed" -ne 0 ]; then exit 1; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# logrotate, for the rotation check (the package is removed again afterwards).
if ! command -v logrotate >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  dpkg-query -W -f='${Package} ${Status}\n' 2>/dev/null | awk '/ installed$/ {print $1}' | sort >"$T/pkgs-before"
  note "installing logrotate"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends logrotate >"$T/apt.log" 2>&1 \
    || sed 's/^/# apt-get: /' "$T/apt.log" | tail -n 10
  dpkg-query -W -f='${Package} ${Status}\n' 2>/dev/null | awk '/ installed$/ {print $1}' | sort >"$T/pkgs-after"
  new_packages=$(comm -13 "$T/pkgs-before" "$T/pkgs-after" | tr '\n' ' ')
fi

if ! getent passwd "$STEM_USER" >/dev/null; then
  # No systemd-sysusers on a SysV host: what the package's postinst would do.
  group_opt=()
  if getent group "$STEM_USER" >/dev/null; then
    group_gid=$(getent group "$STEM_USER" | cut -d: -f3)
    group_opt=(--gid "$STEM_USER")
  fi
  useradd --system --home-dir "$STATE_DIR" --shell /usr/sbin/nologin "${group_opt[@]}" "$STEM_USER" \
    || { echo "Bail out! useradd $STEM_USER failed"; exit 99; }
  created_user=true
fi

installed=true
if ! make -C "$top_builddir" install >"$T/install.log" 2>&1; then
  sed 's/^/# /' "$T/install.log" | tail -n 30
  echo "Bail out! make install failed"
  exit 99
fi
for s in stem-worker stem-scheduler; do
  update-rc.d "$s" defaults >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 0 "update-rc.d $s defaults"
done

# ---------------------------------------------------------------------------
# The LSB header, and update-rc.d's links from it.

for s in stem-worker stem-scheduler; do
  f=/etc/init.d/$s
  : >"$T/out"
  : >"$T/err"
  like "$f" '^### BEGIN INIT INFO$' "$s: LSB header begins"
  like "$f" "^# Provides:[[:space:]]+$s\$" "$s: Provides: $s"
  like "$f" '^# Required-Start:.*[$]network' "$s: Required-Start names \$network"
  like "$f" '^# Default-Start:[[:space:]]+2 3 4 5$' "$s: Default-Start: 2 3 4 5"
  like "$f" '^# Default-Stop:[[:space:]]+0 1 6$' "$s: Default-Stop: 0 1 6"
  like "$f" '^### END INIT INFO$' "$s: LSB header ends"
  links_ok=true
  for lvl in 2 3 4 5; do ls /etc/rc$lvl.d/S[0-9][0-9]"$s" >/dev/null 2>&1 || links_ok=false; done
  for lvl in 0 1 6; do ls /etc/rc$lvl.d/K[0-9][0-9]"$s" >/dev/null 2>&1 || links_ok=false; done
  ok_if "$s: start links in rc2-5.d and stop links in rc0,1,6.d" $links_ok
  ok_if "$s: the rc2.d link points to the script" \
    test "$(readlink -f /etc/rc2.d/S[0-9][0-9]"$s" 2>/dev/null)" = "$f"
done

# ---------------------------------------------------------------------------
# stem-worker: start, status, stop.

# Nodes set in stem.env only (as for stem-worker.service): start runs them,
# as status and stop see them.
write_default
write_env STEM_WORKER_COMMAND=$WORKER 'STEMD_NODES="alpha"'
svc stem-worker start
rc_is 0 "STEMD_NODES in stem.env only: service stem-worker start"
ok_if "… starts the node it names" alive "$(pid_in $RUN_DIR/alpha.pid)"
svc stem-worker status
rc_is 0 "… whose status is running"
svc stem-worker stop
rc_is 0 "… and stop stops it"
ok_if "… and no worker is left" wait_for 15 no_workers
write_env STEM_WORKER_COMMAND=$WORKER
svc stem-worker start
rc_is 0 "no nodes anywhere: start is no failure"
like "$T/err" "no nodes: set STEMD_NODES in /etc/default/stem or /etc/stem/stem.env" \
  "… and says where to set them"

write_default 'STEMD_NODES="alpha beta"'

# A broken stem.env: the status line ends, then stem-multi's FILE:LINE.
write_env STEM_WORKER_COMMAND=$WORKER 'BROKEN=a b'
timeout 120 service stem-worker start >"$T/both" 2>&1
rc=$?
rc_is 6 "with a syntax error in stem.env, service stem-worker start fails as LSB's \"not configured\""
like "$T/both" '^Starting Stem workers: stem-worker.* failed!$' "the status line ends with its verdict"
like "$T/both" "^stem-multi: /etc/stem/stem.env:[0-9]+: " "then stem-multi's error, on a line of its own"
if grep -q 'stem-worker.*stem-multi:' "$T/both"; then
  fail "nothing is glued to the status line" "$(cat "$T/both")"
else
  pass "nothing is glued to the status line"
fi
ok_if "and no worker was started" no_workers

write_env STEM_WORKER_COMMAND=$WORKER STEM_EXAMPLE_HEARTBEAT=0.2 STEM_EXAMPLE_WORK=0.2

# stem-diagnose reads the two files as the scripts do: stem.env, which
# stem-multi gets with --env-file, wins over what the defaults file says.
write_default 'STEMD_NODES="alpha beta"' 'STEM_WORKER_COMMAND=/usr/bin/not-the-worker'
/usr/bin/stem-diagnose --json --user="$STEM_USER" >"$T/out" 2>"$T/err"
is "$(jq -r '.checks[] | select(.check == "worker-command") | .message' "$T/out")" \
  "STEM_WORKER_COMMAND: $WORKER (runs $WORKER)" "stem-diagnose checks the worker command of stem.env"
write_default 'STEMD_NODES="alpha beta"'

start_workers "service stem-worker start"
ok_if "pidfiles $RUN_DIR/alpha.pid and beta.pid hold PIDs" test -n "$alpha" -a -n "$beta"
for node in alpha beta; do
  pid=$(pid_in $RUN_DIR/$node.pid)
  : >"$T/out"
  : >"$T/err"
  ok_if "$node: the pidfile names a live $WORKER" test -n "$pid" -a "$(exe_of "${pid:-0}")" = "$WORKER"
  ok_if "$node: the pidfile's process is alive" alive "${pid:-0}"
  is "$(user_of "${pid:-0}")" "$STEM_USER" "$node: the worker runs as user $STEM_USER"
  # setpriv keeps the caller's environment: stem-multi sets these.
  home=$(getent passwd "$STEM_USER" | cut -d: -f6)
  ok_if "$node: the worker has $STEM_USER's USER and HOME ($home), as under systemd's User=" \
    eval 'grep -qz "^USER=$STEM_USER\$" /proc/${pid:-0}/environ && grep -qz "^HOME=$home\$" /proc/${pid:-0}/environ'
  wait_for 10 grep -q "node=$node .*started" $LOG_DIR/$node.log
  like $LOG_DIR/$node.log "node=$node pid=$pid .*started" "$node: $LOG_DIR/$node.log has the started line"
  wait_for 10 grep -q "heartbeat node=$node" $LOG_DIR/$node.log
  like $LOG_DIR/$node.log "heartbeat node=$node" "$node: $LOG_DIR/$node.log has heartbeat lines"
  is "$(stat -c %U:%G $LOG_DIR/$node.log 2>/dev/null)" "$STEM_USER:$STEM_USER" "$node: the log belongs to $STEM_USER"
done
is "$(our_workers | tr '\n' ' ')" "$(printf '%s\n' "$alpha" "$beta" | sort -n | tr '\n' ' ')" \
  "exactly the two workers of the pidfiles run"

# Root only made the directories (SECURITY in stem-multi(1)): everything in
# them was made by stem-multi running as the service user.
: >"$T/out"
: >"$T/err"
for d in $RUN_DIR $LOG_DIR; do
  is "$(stat -c %U:%G $d 2>/dev/null)" "$STEM_USER:$STEM_USER" "$d was made for $STEM_USER"
done
is "$(find $RUN_DIR $LOG_DIR -mindepth 1 ! -user "$STEM_USER" 2>&1)" "" \
  "nothing in $RUN_DIR or $LOG_DIR belongs to anyone but $STEM_USER: root never worked there"
is "$(stat -c '%U %a' $RUN_DIR/alpha.pid.lock 2>/dev/null)" "$STEM_USER 644" \
  "the lock file is the service user's, mode 0644"

svc stem-worker status
rc_is 0 "service stem-worker status while both run"
like "$T/out" '^alpha: running' "status reports alpha running"
like "$T/out" '^beta: running' "status reports beta running"

svc stem-worker stop
rc_is 0 "service stem-worker stop"
ok_if "stop waited for both workers" eval 'dead "${alpha:-0}" && dead "${beta:-0}"'
ok_if "stop removed the pidfiles" no_pidfiles
like $LOG_DIR/alpha.log 'warm shutdown' "alpha got TERM (warm shutdown)"

svc stem-worker status
rc_is 3 "service stem-worker status when stopped"

# ---------------------------------------------------------------------------
# A worker killed behind the script's back: status 1 (stale) once it is gone.

start_workers "service stem-worker start again"
ok_if "both workers run again" eval 'alive "${alpha:-0}" && alive "${beta:-0}"'
[ -n "$alpha" ] && kill -9 "$alpha"
t0=$(now_ms)
stale_status () {
  svc stem-worker status
  [ "$rc" -eq 1 ]
}
if wait_for 10 stale_status; then
  pass "service stem-worker status exits 1 after kill -9 of alpha's worker"
  note "status said stale after $(($(now_ms) - t0)) ms"
else
  fail "service stem-worker status exits 1 after kill -9 of alpha's worker" "last exit code: $rc"
fi
like "$T/out" '^alpha: stale' "status names alpha as stale"
like "$T/out" '^beta: running' "status still reports beta running"

svc stem-worker restart
rc_is 0 "service stem-worker restart"
alpha2=$(pid_in $RUN_DIR/alpha.pid)
beta2=$(pid_in $RUN_DIR/beta.pid)
ok_if "restart: alpha has a new worker" eval '[ -n "$alpha2" ] && [ "$alpha2" != "$alpha" ] && alive "$alpha2"'
ok_if "restart: beta has a new worker" eval '[ -n "$beta2" ] && [ "$beta2" != "$beta" ] && alive "$beta2"'
ok_if "restart: the old beta worker is gone" dead "${beta:-0}"
is "$(our_workers | tr '\n' ' ')" "$(printf '%s\n' "$alpha2" "$beta2" | sort -n | tr '\n' ' ')" \
  "restart: still exactly two workers"
is "$(user_of "${alpha2:-0}"):$(user_of "${beta2:-0}")" "$STEM_USER:$STEM_USER" "restart: both run as $STEM_USER"
svc stem-worker status
rc_is 0 "service stem-worker status after restart"

# ---------------------------------------------------------------------------
# stem-scheduler: refuses until configured, then runs one process.

svc stem-scheduler start
rc_is 0 "service stem-scheduler start without STEM_SCHEDULER_COMMAND: nothing to start, no failure"
cat "$T/out" "$T/err" >"$T/all"
like "$T/all" 'STEM_SCHEDULER_COMMAND' "the refusal names STEM_SCHEDULER_COMMAND"
like "$T/all" '/etc/default/stem' "the refusal names /etc/default/stem"
ok_if "nothing was started" test ! -e $RUN_DIR/scheduler.pid
svc stem-scheduler restart
rc_is 6 "service stem-scheduler restart without STEM_SCHEDULER_COMMAND (LSB: not configured)"

write_default 'STEMD_NODES="alpha beta"' "STEM_SCHEDULER_COMMAND=$WORKER"
svc stem-scheduler start
rc_is 0 "service stem-scheduler start with STEM_SCHEDULER_COMMAND"
sched=$(pid_in $RUN_DIR/scheduler.pid)
: >"$T/out"
: >"$T/err"
ok_if "$RUN_DIR/scheduler.pid names a live $WORKER" \
  eval '[ -n "$sched" ] && [ "$(exe_of "$sched")" = "$WORKER" ] && alive "$sched"'
is "$(user_of "${sched:-0}")" "$STEM_USER" "the scheduler runs as $STEM_USER"
wait_for 10 grep -q 'node=scheduler .*started' $LOG_DIR/scheduler.log
like $LOG_DIR/scheduler.log 'node=scheduler .*started' "the scheduler logs to $LOG_DIR/scheduler.log"
svc stem-scheduler status
rc_is 0 "service stem-scheduler status"
svc stem-scheduler stop
rc_is 0 "service stem-scheduler stop"
ok_if "the scheduler is gone, its pidfile too" eval 'dead "${sched:-0}" && [ ! -e $RUN_DIR/scheduler.pid ]'
ok_if "the workers were left alone" eval 'alive "${alpha2:-0}" && alive "${beta2:-0}"'
svc stem-scheduler status
rc_is 3 "service stem-scheduler status when stopped"

# ---------------------------------------------------------------------------
# stop: everything gone.

svc stem-worker stop
rc_is 0 "service stem-worker stop"
ok_if "no worker is left" no_workers
ok_if "no pidfile is left" no_pidfiles

# ---------------------------------------------------------------------------
# STEMD_OPTS is split into words, never matched against file names: a "*"
# in it reaches stem-multi (and here the worker) as it is, as under
# systemd; sh would have put the names of the files in / there.

write_default 'STEMD_NODES="delta"' \
  "STEMD_OPTS=\"--command:delta=$T/bin/stem-test-worker --command:delta=print-args --command:delta *\""
svc stem-worker start
rc_is 0 "a \"*\" in STEMD_OPTS: service stem-worker start"
wait_for 10 grep -q '^arg\[2\]=' $LOG_DIR/delta.log
is "$(sed -n 's/^arg\[[1-9][0-9]*\]=//p' $LOG_DIR/delta.log | tr '\n' ' ')" "print-args * " \
  "a \"*\" in STEMD_OPTS reaches the worker as it is"
svc stem-worker stop
rc_is 0 "a \"*\" in STEMD_OPTS: service stem-worker stop"
ok_if "a \"*\" in STEMD_OPTS: no worker and no pidfile left" eval 'no_workers && no_pidfiles'

# ---------------------------------------------------------------------------
# Upstream's variable names are accepted as aliases.

write_default 'STEMD_NODES="alpha beta"' "STEM_SCHEDULER_COMMAND=$WORKER" \
  "STEM_PID_DIR=$ALT_RUN_DIR" "STEM_LOG_DIR=$ALT_LOG_DIR"
svc stem-worker start
rc_is 0 "STEM_PID_DIR, STEM_LOG_DIR: service stem-worker start"
svc stem-scheduler start
rc_is 0 "STEM_PID_DIR, STEM_LOG_DIR: service stem-scheduler start"
for node in alpha beta scheduler; do
  pid=$(pid_in $ALT_RUN_DIR/$node.pid)
  : >"$T/out"
  : >"$T/err"
  ok_if "STEM_PID_DIR: $ALT_RUN_DIR/$node.pid names a live worker" eval '[ -n "$pid" ] && alive "$pid"'
  wait_for 10 grep -q "node=$node .*started" $ALT_LOG_DIR/$node.log
  like $ALT_LOG_DIR/$node.log "node=$node .*started" "STEM_LOG_DIR: $node logs to $ALT_LOG_DIR/$node.log"
done
ok_if "STEM_PID_DIR: nothing in $RUN_DIR" eval '! ls $RUN_DIR/*.pid >/dev/null 2>&1'
svc stem-worker status
rc_is 0 "STEM_PID_DIR: service stem-worker status"
svc stem-worker stop
rc_is 0 "STEM_PID_DIR: service stem-worker stop"
svc stem-scheduler stop
rc_is 0 "STEM_PID_DIR: service stem-scheduler stop"
ok_if "STEM_PID_DIR: no worker and no pidfile left" eval 'no_workers && no_pidfiles'

# ---------------------------------------------------------------------------
# stop ends every node that runs: the configured ones and every other node
# with a pidfile in the pid directory (a node removed from STEMD_NODES, a
# configuration that cannot be read); status never says "not running" (3)
# while one runs.  Nothing that is not a node's pidfile is touched.

write_env STEM_WORKER_COMMAND=$WORKER STEM_EXAMPLE_HEARTBEAT=0.2 STEM_EXAMPLE_WORK=0.2
write_default 'STEMD_NODES="alpha beta gamma"' "STEM_SCHEDULER_COMMAND=$WORKER"
svc stem-worker start
rc_is 0 "removed node: service stem-worker start with alpha, beta and gamma"
svc stem-scheduler start
rc_is 0 "removed node: service stem-scheduler start"
alpha=$(pid_in $RUN_DIR/alpha.pid)
gamma=$(pid_in $RUN_DIR/gamma.pid)
sched=$(pid_in $RUN_DIR/scheduler.pid)
ok_if "removed node: alpha, gamma and the scheduler run" \
  eval 'alive "${alpha:-0}" && alive "${gamma:-0}" && alive "${sched:-0}"'

write_default 'STEMD_NODES="alpha beta"' "STEM_SCHEDULER_COMMAND=$WORKER"
svc stem-worker status
rc_is 0 "removed node: status with gamma gone from STEMD_NODES: alpha and beta run"
like "$T/out" '^gamma: running' "removed node: status still shows gamma running"
like "$T/out" '^stem-worker: not configured, but with a pidfile in /run/stem .*: gamma$' \
  "removed node: status says gamma is not configured and that stop ends it"
unlike "$T/out" '^scheduler:' "removed node: the scheduler's pidfile is not a worker's"

# Things that are not a node's pidfile, planted where the service user can.
planted_target=$T/planted-target
echo 'do not touch' >"$planted_target"
for f in -x.pid 3.pid '.hidden.pid' 'a b.pid' gamma.pid.lock.pid~; do
  runuser -u "$STEM_USER" -- sh -c 'echo 1 >"$1"' sh "$RUN_DIR/$f"
done
runuser -u "$STEM_USER" -- ln -s "$planted_target" "$RUN_DIR/link.pid"
# A node's name with a pidfile that names no process: stem-multi signals
# nothing for it, and it must not fail the stop (the prerm would fail).
runuser -u "$STEM_USER" -- sh -c 'echo garbage >"$1"' sh "$RUN_DIR/ghost.pid"

write_default "STEM_SCHEDULER_COMMAND=$WORKER"
svc stem-worker status
rc_is 4 "no nodes configured while alpha, beta and gamma run: status is 4 (unknown), not 3"
like "$T/out" '^alpha: running' "no nodes configured: status shows alpha running"
like "$T/out" '^gamma: running' "no nodes configured: status shows gamma running"

write_default 'STEMD_NODES="alpha beta"' "STEM_SCHEDULER_COMMAND=$WORKER"
svc stem-worker stop
rc_is 0 "removed node: service stem-worker stop, beside a made-up pidfile"
like "$T/err" "ghost: .*Invalid pidfile .*$RUN_DIR/ghost.pid" "which it names on stderr"
ok_if "removed node: stop ended gamma too" dead "${gamma:-0}"
# The scheduler runs as a node too: it is the only process of ours left.
only_scheduler () { [ "$(our_workers | tr '\n' ' ')" = "${sched:-0} " ]; }
ok_if "removed node: no worker is left" only_scheduler
ok_if "removed node: the scheduler was left alone" alive "${sched:-0}"
ok_if "removed node: gamma's pidfile is gone" test ! -e $RUN_DIR/gamma.pid
ok_if "planted: the files that are no node's pidfile are still there" \
  eval 'test -e "$RUN_DIR/-x.pid" -a -e "$RUN_DIR/3.pid" -a -e "$RUN_DIR/.hidden.pid" -a -e "$RUN_DIR/a b.pid" -a -L "$RUN_DIR/link.pid"'
is "$(cat "$planted_target")" "do not touch" "planted: the link's target is untouched"
rm -f "$RUN_DIR/-x.pid" "$RUN_DIR/3.pid" "$RUN_DIR/.hidden.pid" "$RUN_DIR/a b.pid" \
  "$RUN_DIR/gamma.pid.lock.pid~" "$RUN_DIR/link.pid" "$RUN_DIR/ghost.pid"
svc stem-worker status
rc_is 3 "removed node: status after stop: not running"

# A broken stem.env: status says so (4), stop still stops everything.
start_workers "broken stem.env: service stem-worker start (before the typo)"
write_env STEM_WORKER_COMMAND=$WORKER 'BROKEN LINE'
svc stem-worker status
rc_is 4 "broken stem.env: service stem-worker status is 4 (unknown), not stem-multi's 2"
like "$T/out" '^alpha: running' "broken stem.env: status still shows the nodes of the pid directory"
like "$T/err" 'stem-worker: the configuration cannot be read' "broken stem.env: status says the configuration is broken"
like "$T/err" '/etc/stem/stem.env:[0-9]+: ' "broken stem.env: status names FILE:LINE"
svc stem-scheduler status
rc_is 4 "broken stem.env: service stem-scheduler status is 4 (unknown)"
like "$T/out" '^scheduler: running' "broken stem.env: status still shows the scheduler"
svc stem-worker stop
rc_is 0 "broken stem.env: service stem-worker stop stops the workers all the same"
ok_if "broken stem.env: alpha and beta are gone" eval 'dead "${alpha:-0}" && dead "${beta:-0}" && only_scheduler'
like "$T/err" 'stem-worker: the configuration cannot be read; every node with a pidfile in /run/stem is stopped' \
  "broken stem.env: stop says the configuration is broken, and what it did"
like "$T/err" '/etc/stem/stem.env:[0-9]+: ' "broken stem.env: stop names FILE:LINE"
unlike "$T/out" 'failed' "broken stem.env: the status line does not say failed"
ok_if "broken stem.env: the scheduler was left alone by stem-worker" alive "${sched:-0}"
svc stem-scheduler stop
rc_is 0 "broken stem.env: service stem-scheduler stop stops the scheduler all the same"
ok_if "broken stem.env: the scheduler is gone" eval 'dead "${sched:-0}" && test ! -e $RUN_DIR/scheduler.pid'
svc stem-worker start
rc_is 6 "broken stem.env: start is still refused (not configured)"
ok_if "broken stem.env: and starts nothing" no_workers

# A shell syntax error in /etc/default/stem: stop still stops, start refuses.
write_env STEM_WORKER_COMMAND=$WORKER STEM_EXAMPLE_HEARTBEAT=0.2 STEM_EXAMPLE_WORK=0.2
svc stem-worker start
rc_is 0 "broken /etc/default/stem: service stem-worker start (before the typo)"
alpha=$(pid_in $RUN_DIR/alpha.pid)
write_default 'STEMD_NODES="alpha beta'
svc stem-worker stop
rc_is 0 "broken /etc/default/stem: service stem-worker stop"
ok_if "broken /etc/default/stem: every worker is gone" eval 'dead "${alpha:-0}" && no_workers'
like "$T/err" '/etc/default/stem' "broken /etc/default/stem: stop names the file"
svc stem-worker start
rc_is 6 "broken /etc/default/stem: start is refused (not configured)"
like "$T/err" '/etc/default/stem' "broken /etc/default/stem: start names the file"

# ---------------------------------------------------------------------------
# LSB exit codes: 2 for a bad action, 3 for one not implemented, 4 for
# insufficient privilege and for a status that cannot be known; the same
# with and without nodes configured.

for conf in with without; do
  if [ $conf = with ]; then
    write_default 'STEMD_NODES="alpha beta"' "STEM_SCHEDULER_COMMAND=$WORKER"
  else
    write_default
  fi
  for s in stem-worker stem-scheduler; do
    svc $s bogus
    rc_is 2 "$s bogus, $conf nodes configured: invalid argument"
    like "$T/err" '^Usage: ' "$s bogus, $conf nodes configured: prints the usage"
    for a in reload try-restart; do
      svc $s $a
      rc_is 3 "$s $a, $conf nodes configured: not implemented"
    done
    timeout 60 /etc/init.d/$s >"$T/out" 2>"$T/err"
    rc=$?
    rc_is 2 "/etc/init.d/$s without an action, $conf nodes configured"
  done
done
write_default 'STEMD_NODES="alpha beta"' "STEM_SCHEDULER_COMMAND=$WORKER"
for s in stem-worker stem-scheduler; do
  timeout 60 runuser -u nobody -- /etc/init.d/$s status >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 4 "$s status as nobody (the env file is unreadable): unknown"
  for a in start stop; do
    timeout 60 runuser -u nobody -- /etc/init.d/$s $a >"$T/out" 2>"$T/err"
    rc=$?
    rc_is 4 "$s $a as nobody: insufficient privilege"
  done
done
ok_if "LSB exit codes: nothing was started" no_workers

# ---------------------------------------------------------------------------
# logrotate while a worker writes fast: no line lost, no hole.

# max_line FILE…: the highest "line N" in the files (0 when none).
max_line () {
  cat "$@" 2>/dev/null | sed -n 's/^line \([0-9][0-9]*\)$/\1/p' | sort -n | tail -n 1 | grep . || echo 0
}
log_reaches () { [ "$(max_line "$1")" -ge "$2" ]; }
# span FILE: "FIRST LAST COUNT DISTINCT" of the "line N" numbers in FILE.
span () {
  sed -n 's/^line \([0-9][0-9]*\)$/\1/p' "$1" | sort -n \
    | awk 'NR == 1 { first = $1 } NR == 1 || $1 != prev { distinct++ } { prev = $1; n++ }
           END { print first + 0, prev + 0, n + 0, distinct + 0 }'
}

if ! command -v logrotate >/dev/null 2>&1; then
  skip "logrotate is not installed and could not be installed"
else
  gamma_log=$LOG_DIR/gamma.log
  write_default 'STEMD_NODES="gamma"' \
    "STEMD_OPTS=\"--command:gamma=$T/bin/stem-test-worker --command:gamma=count --command:gamma=5\""
  svc stem-worker start
  rc_is 0 "logrotate: service stem-worker start (a worker writing a line every 5 ms)"
  gamma=$(pid_in $RUN_DIR/gamma.pid)
  ok_if "logrotate: the test worker runs as $STEM_USER" \
    eval '[ -n "$gamma" ] && [ "$(exe_of "$gamma")" = "$T/bin/stem-test-worker" ] && [ "$(user_of "$gamma")" = "$STEM_USER" ]'
  wait_for 10 log_reaches $gamma_log 40
  lr_start=$(now_ms)
  logrotate --force --state "$T/logrotate.state" /etc/logrotate.d/stem >"$T/out" 2>"$T/err"
  rc=$?
  lr_ms=$(($(now_ms) - lr_start))
  rc_is 0 "logrotate --force /etc/logrotate.d/stem"
  ok_if "logrotate: nothing on stderr (a config logrotate ignores is only reported there)" test ! -s "$T/err"
  ok_if "logrotate: $gamma_log.1 exists, uncompressed (delaycompress)" test -f $gamma_log.1
  is "$(stat -c %U:%G $gamma_log.1 2>/dev/null)" "$STEM_USER:$STEM_USER" "logrotate: the rotated log belongs to $STEM_USER"
  rotated=$(max_line $gamma_log.1)
  note "logrotate took $lr_ms ms; rotated at line $rotated"
  wait_for 10 log_reaches $gamma_log $((rotated + 40))
  ok_if "logrotate: the worker writes on into a new log" log_reaches $gamma_log $((rotated + 40))
  # A second rotation compresses the first (delaycompress): by then the
  # writer has long left it.
  logrotate --force --state "$T/logrotate.state" /etc/logrotate.d/stem >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 0 "logrotate --force again"
  ok_if "logrotate: the first rotated log is now $gamma_log.2.gz" test -f $gamma_log.2.gz
  rotated=$(max_line $gamma_log.1)
  wait_for 10 log_reaches $gamma_log $((rotated + 40))
  ok_if "logrotate: the worker writes on into the next new log" log_reaches $gamma_log $((rotated + 40))
  svc stem-worker stop
  rc_is 0 "logrotate: service stem-worker stop"
  ok_if "logrotate: the worker is gone" dead "${gamma:-0}"

  # Every line is in the rotated file(s) or in the current log, once, in
  # order: the log writer moved to the new file while the renamed one (left
  # uncompressed by delaycompress) took what was written meanwhile.
  for f in "$gamma_log".[0-9]*; do
    case $f in
      *.gz) zcat "$f" ;;
      *) cat "$f" ;;
    esac
  done >"$T/rotated.log" 2>/dev/null
  read -r r_first r_last r_count r_distinct < <(span "$T/rotated.log")
  read -r c_first c_last c_count c_distinct < <(span $gamma_log)
  : >"$T/out"
  : >"$T/err"
  note "rotated: lines $r_first..$r_last ($r_count, $r_distinct distinct);" \
    "current: lines $c_first..$c_last ($c_count, $c_distinct distinct)"
  ok_if "logrotate: the rotated log holds every line from 1 to $r_last exactly once" \
    test "$r_first" -eq 1 -a "$r_count" -eq "$r_last" -a "$r_distinct" -eq "$r_last"
  ok_if "logrotate: the current log holds every line from $c_first to $c_last exactly once" \
    test "$c_count" -gt 0 -a "$c_count" -eq $((c_last - c_first + 1)) -a "$c_distinct" -eq "$c_count"
  ok_if "logrotate: no line lost: the current log starts right after the rotated one ($r_last, $c_first)" \
    test "$c_first" -eq $((r_last + 1))
  ok_if "logrotate: the new log belongs to $STEM_USER, mode 0640" \
    test "$(stat -c '%U %a' $gamma_log)" = "$STEM_USER 640"
  size=$(stat -c %s $gamma_log)
  ok_if "logrotate: the current log has no NUL bytes (no hole)" \
    test "$(tr -d '\000' <$gamma_log | wc -c)" -eq "$size"
fi

svc stem-worker stop
rc_is 0 "service stem-worker stop when nothing runs"
ok_if "at the end: no worker, no pidfile" eval 'no_workers && no_pidfiles'
exit 0
