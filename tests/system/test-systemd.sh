#!/bin/bash
# The systemd units under a real systemd: the build tree is installed into a
# container booted with systemd-nspawn, set up the way a package's postinst
# would, and driven with systemctl the way an operator does.  Root only.
# shellcheck disable=SC2016,SC2317 # scripts run inside; functions called through nspawn_wait
set -u
: "${top_srcdir:?run through make check-system}" "${top_builddir:?run through make check-system}"
# shellcheck source-path=SCRIPTDIR source=lib-nspawn.sh
. "$top_srcdir/tests/system/lib-nspawn.sh" || exit 99

t_start=$(nspawn_now_ms)
# shellcheck source=../lib-tap.sh
. "$top_srcdir/tests/lib-tap.sh" || exit 99
tap_summary () { echo "# elapsed: $((($(nspawn_now_ms) - t_start) / 1000)) s"; }

# In the container ------------------------------------------------------------

c () { nspawn_run "$@"; }
# c_out CMD…: CMD's stdout and stderr, for diagnostics and comparisons.
c_out () { nspawn_run "$@" 2>&1; }
show () { c systemctl show -p "$2" --value "$1"; }
state () { c systemctl is-active "$1"; }
journal () { c journalctl --no-pager -o cat -u "$1"; }
journal_tail () { c journalctl --no-pager -o short-monotonic -n "${2:-20}" -u "$1"; }
# Comments with the unit's status and journal, for a failed test.
unit_report () {
  local u
  for u in "$@"; do
    c_out systemctl status --no-pager -n 0 "$u" | sed 's/^/status: /'
    journal_tail "$u" 25 2>&1 | sed 's/^/journal: /'
  done
}
# write_file PATH MODE CONTENT: as root:root, inside the container.
write_file () {
  c sh -c 'umask 077 && printf "%s" "$3" >"$1.tmp" && chown root:root "$1.tmp" &&
           chmod "$2" "$1.tmp" && mv -f "$1.tmp" "$1"' sh "$1" "$2" "$3"
}
env_file () { # LINE…: the environment file holds exactly these lines.
  # As stem.env(5) says: root's, readable by the service group only (the
  # units run stem-multi as the service user, which reads it).
  write_file "$ENVFILE" 0640 "$(printf '%s\n' "$@")"
  c chgrp "$SGROUP" "$ENVFILE"
}
pidfile () { c cat "$RUNDIR/$1.pid" 2>/dev/null | tr -d '[:space:]'; }
# proc_state PID: a live process's state letter; empty when it is gone.
proc_state () { c awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null; }
running () { local s; s=$(proc_state "$1"); [ -n "$s" ] && [ "$s" != Z ]; }
gone () { ! running "$1"; }
proc_user () { c ps -o user= -p "$1" | tr -d ' '; }
proc_exe () { c readlink "/proc/$1/exe"; }
mainpid_is_pidfile () { # UNIT NODE
  local m
  m=$(show "$1" MainPID)
  [ "$m" != 0 ] && [ "$m" = "$(pidfile "$2")" ]
}
mainpid_is_example () { [ "$(proc_exe "$(show "$1" MainPID)")" = "$EXAMPLE" ]; }
journal_has () { journal "$1" | grep -Eq -- "$2"; }
status_field () { c awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mainpid_changed () { # UNIT OLD
  local m
  m=$(show "$1" MainPID)
  [ -n "$m" ] && [ "$m" != 0 ] && [ "$m" != "$2" ]
}
pidfile_changed () { # NODE OLD: the pidfile names another, live process.
  local p
  p=$(pidfile "$1")
  [ -n "$p" ] && [ "$p" != "$2" ] && running "$p"
}

# Install and boot ----------------------------------------------------------

nspawn_require
stage=$(mktemp -d "${TMPDIR:-/var/tmp}/stem-stage.XXXXXX") || nspawn_bail "mktemp failed"
nspawn_atexit "rm -rf --one-file-system '$stage'"
if ! make -s -C "$top_builddir" install DESTDIR="$stage" >"$stage.log" 2>&1; then
  sed 's/^/# /' "$stage.log"
  rm -f "$stage.log"
  nspawn_bail "make install DESTDIR=… failed"
fi
rm -f "$stage.log"
unit=$(find "$stage" -name 'stem-worker@.service' -print -quit)
[ -n "$unit" ] || nspawn_skip "no systemd units installed (configured --with-systemdsystemunitdir=no?)"
# The configured names and paths, as the installed unit has them.
unit_key () { sed -n "s/^$1=//p" "$unit" | head -n 1; }
SUSER=$(unit_key User)
SGROUP=$(unit_key Group)
ENVFILE=$(unit_key EnvironmentFile)
ENVFILE=${ENVFILE#-}
BINDIR=$(unit_key ExecStart)
BINDIR=${BINDIR%%/stem-multi *}
RUNDIR=$(sed -n 's|.*--pidfile=\([^ ]*\)/%i\.pid.*|\1|p' "$unit" | head -n 1)
EXAMPLE=$BINDIR/stem-example-worker
echo "# units in ${unit#"$stage"}; user $SUSER:$SGROUP; $ENVFILE; pidfiles in $RUNDIR; $EXAMPLE"
if [ -z "$SUSER" ] || [ -z "$SGROUP" ] || [ -z "$ENVFILE" ] || [ -z "$RUNDIR" ] || [ ! -x "$stage$EXAMPLE" ]; then
  nspawn_bail "cannot read User=, Group=, EnvironmentFile=, ExecStart= of ${unit#"$stage"}"
fi

nspawn_boot stem-systemd "$stage"

# What a distribution package's postinst does.
sysusers=$(cd "$stage" && find . -path '*/sysusers.d/*.conf' -printf '%f\n' | sort -u)
tmpfiles=$(cd "$stage" && find . -path '*/tmpfiles.d/*.conf' -printf '%f\n' | sort -u)
# shellcheck disable=SC2086 # file names without spaces, one word each
out=$(c_out systemd-sysusers $sysusers) || fail "systemd-sysusers $sysusers" "$out"
# shellcheck disable=SC2086
out=$(c_out systemd-tmpfiles --create $tmpfiles) || fail "systemd-tmpfiles --create $tmpfiles" "$out"
out=$(c_out systemctl daemon-reload) || fail "systemctl daemon-reload" "$out"
env_file "STEM_WORKER_COMMAND=$EXAMPLE" STEM_EXAMPLE_HEARTBEAT=1 STEM_EXAMPLE_WORK=0.2
stem_uid=$(c id -u "$SUSER")
stem_gid=$(c getent group "$SGROUP" | cut -d: -f3)
ok_if "systemd-sysusers created $SUSER:$SGROUP ($stem_uid:$stem_gid)" test -n "$stem_uid" -a -n "$stem_gid"
is "$(c stat -c '%U:%G %a' "$RUNDIR" | tr '\n' ' ')" "$SUSER:$SGROUP 755 " \
  "systemd-tmpfiles created $RUNDIR"
# Only that: a package runs systemd-tmpfiles --create on every install, and
# it would undo a dpkg-statoverride of the others.
is "$(c sh -c 'for d in /var/lib/stem /var/log/stem; do [ -e "$d" ] && echo "$d"; done')" "" \
  "systemd-tmpfiles leaves /var/lib/stem and /var/log/stem alone (the package and the units make them)"

# stem-worker@.service ------------------------------------------------------

out=$(c_out systemctl start stem-worker@alpha stem-worker@beta)
is "$?" 0 "systemctl start stem-worker@alpha stem-worker@beta" "$out"
for n in alpha beta; do
  is "$(state "stem-worker@$n")" active "stem-worker@$n is active" "$(unit_report "stem-worker@$n")"
done
is "$(c stat -c '%U:%G %a' /var/lib/stem /var/log/stem | tr '\n' ' ')" \
  "$SUSER:$SGROUP 750 $SUSER:$SGROUP 750 " \
  "the units made /var/lib/stem and /var/log/stem (StateDirectory=, LogsDirectory=)"
# Type=exec: start returns once stem-multi has been executed; it then writes
# the pidfile and becomes the worker.
if nspawn_wait 10 mainpid_is_example stem-worker@alpha; then
  pass "MainPID of stem-worker@alpha is the worker itself"
else
  fail "MainPID of stem-worker@alpha is the worker itself" \
    "MainPID $(show stem-worker@alpha MainPID) runs $(proc_exe "$(show stem-worker@alpha MainPID)")"
fi
alpha=$(show stem-worker@alpha MainPID)
beta=$(show stem-worker@beta MainPID)
is "$(proc_user "$alpha")" "$SUSER" "the worker runs as user $SUSER"
is "$(c stat -c %U:%G /proc/"$alpha")" "$SUSER:$SGROUP" "… and group $SGROUP"
nspawn_wait 10 mainpid_is_pidfile stem-worker@alpha alpha
is "$(pidfile alpha)" "$alpha" "MainPID equals $RUNDIR/alpha.pid"
nspawn_wait 10 mainpid_is_pidfile stem-worker@beta beta
is "$(pidfile beta)" "$beta" "MainPID equals $RUNDIR/beta.pid"
if nspawn_wait 15 journal_has stem-worker@alpha "node=alpha pid=$alpha .*started"; then
  pass "the worker's output is in the journal (journalctl -u stem-worker@alpha)"
else
  fail "the worker's output is in the journal (journalctl -u stem-worker@alpha)" "$(journal_tail stem-worker@alpha)"
fi

# Hardening, seen from inside beta's worker.
bpid=$beta
for d in /usr /etc; do
  if ! out=$(c_out nsenter -t "$bpid" -m touch "$d/stem-probe") && [[ $out == *"Read-only file system"* ]]; then
    pass "$d is read-only for the worker, even as root in its mount namespace"
  else
    fail "$d is read-only for the worker, even as root in its mount namespace" "$out"
    c rm -f "$d/stem-probe"
  fi
done
out=$(c_out touch /usr/stem-probe)
is "$?" 0 "… while /usr is writable outside the unit (the test is not vacuous)" "$out"
c rm -f /usr/stem-probe
for d in /var/lib/stem /var/log/stem "$RUNDIR"; do
  out=$(c_out nsenter -t "$bpid" -m -S "$stem_uid" -G "$stem_gid" sh -c "echo x >$d/probe && rm $d/probe")
  is "$?" 0 "the worker ($SUSER in its mount namespace) can write $d" "$out"
done
c touch /root/stem-probe
is "$(c_out sh -c 'ls -A /root | grep -c stem-probe') $(c_out nsenter -t "$bpid" -m sh -c 'ls -A /root | grep -c stem-probe')" \
  "1 0" "ProtectHome: the worker does not see /root's files (seen outside / inside)"
c rm -f /root/stem-probe
is "$(status_field "$bpid" CapEff)" 0000000000000000 "the worker has no effective capabilities (CapEff)"
is "$(status_field "$bpid" CapBnd)" 0000000000000000 "… and an empty bounding set (CapBnd)"
is "$(status_field "$bpid" NoNewPrivs)" 1 "NoNewPrivs is set"
is "$(status_field "$bpid" Seccomp)" 2 "a seccomp filter is in place (SystemCallFilter)"
is "$(c readlink /proc/"$bpid"/ns/net)" "$(c readlink /proc/1/ns/net)" \
  "the worker shares the system's network namespace (it can reach its broker)"

# A crashed worker is restarted after RestartSec=5.
t_kill=$(nspawn_now_ms)
c kill -9 "$alpha"
if nspawn_wait 20 mainpid_changed stem-worker@alpha "$alpha"; then
  waited=$((($(nspawn_now_ms) - t_kill) / 1000))
  new_alpha=$(show stem-worker@alpha MainPID)
  pass "after kill -9, stem-worker@alpha has a new MainPID ($alpha -> $new_alpha, ${waited} s)"
  ok_if "… not before RestartSec=5 (${waited} s)" test "$waited" -ge 4
  nspawn_wait 10 mainpid_is_pidfile stem-worker@alpha alpha
  is "$(pidfile alpha)" "$new_alpha" "the new pidfile matches the new MainPID"
  is "$(show stem-worker@alpha NRestarts)" 1 "NRestarts is 1"
else
  fail "after kill -9, stem-worker@alpha has a new MainPID" "$(unit_report stem-worker@alpha)"
  new_alpha=
fi

# Stop is TERM, Stem's warm shutdown; beta is not touched.
nspawn_wait 10 mainpid_is_example stem-worker@alpha
out=$(c_out systemctl stop stem-worker@alpha)
is "$?" 0 "systemctl stop stem-worker@alpha" "$out"
if nspawn_wait 10 journal_has stem-worker@alpha 'warm shutdown'; then
  pass "the worker got TERM (warm shutdown in the journal)"
else
  fail "the worker got TERM (warm shutdown in the journal)" "$(journal_tail stem-worker@alpha)"
fi
if nspawn_wait 10 journal_has stem-worker@alpha 'stopped \(warm\)'; then
  pass "… and finished it (stopped (warm))"
else
  fail "… and finished it (stopped (warm))" "$(journal_tail stem-worker@alpha)"
fi
is "$(state stem-worker@alpha)" inactive "stem-worker@alpha is inactive, not failed"
is "$(show stem-worker@alpha Result) $(show stem-worker@alpha ExecMainStatus)" "success 0" \
  "the worker exited with status 0 (Result=success)"
[ -n "$new_alpha" ] && ok_if "the worker process is gone" gone "$new_alpha"
is "$(c sh -c 'ls "$1"/alpha.pid 2>/dev/null' sh "$RUNDIR")" "" "alpha's pidfile is removed"
is "$(pidfile beta)" "$beta" "$RUNDIR/beta.pid still names beta's worker"
ok_if "beta's worker still runs" running "$beta"
is "$(state stem-worker@beta)" active "stem-worker@beta is still active" "$(unit_report stem-worker@beta)"
is "$(show stem-worker@beta MainPID)" "$beta" "… with the same MainPID"

# A node that logs to a file (--logfile in STEM_WORKER_OPTS, from a drop-in):
# its log writer works inside the hardened unit and follows a rotation.
c mkdir -p /etc/systemd/system/stem-worker@logged.service.d
c sh -c 'printf "[Service]\nEnvironment=STEM_WORKER_OPTS=--logfile=/var/log/stem/%%i.log\n" \
  >/etc/systemd/system/stem-worker@logged.service.d/log.conf'
c systemctl daemon-reload
out=$(c_out systemctl start stem-worker@logged)
is "$?" 0 "systemctl start stem-worker@logged (--logfile in a drop-in)" "$out"
logged=$(show stem-worker@logged MainPID)
log_has () { c grep -Eq -- "$2" "$1"; }
LOGGED=/var/log/stem/logged.log
if nspawn_wait 15 log_has $LOGGED "node=logged pid=$logged .*started"; then
  pass "the worker's output is in $LOGGED"
else
  fail "the worker's output is in $LOGGED" "$(c_out tail -n 5 $LOGGED)" "$(unit_report stem-worker@logged)"
fi
writer=$(c pgrep -x stem-logwriter)
is "$(proc_user "${writer:-0}")" "$SUSER" "its stem-logwriter runs as $SUSER"
ok_if "… in the unit's cgroup" c grep -q '/stem-worker@logged\.service$' "/proc/${writer:-0}/cgroup"
c mv $LOGGED $LOGGED.1
if nspawn_wait 15 log_has $LOGGED heartbeat; then
  pass "after a rename, the worker's output goes on in a new $LOGGED"
else
  fail "after a rename, the worker's output goes on in a new $LOGGED" "$(c_out ls -l /var/log/stem)"
fi
is "$(c stat -c '%U %a' $LOGGED)" "$SUSER 640" "the new log belongs to $SUSER, mode 0640"
out=$(c_out systemctl stop stem-worker@logged)
is "$?" 0 "systemctl stop stem-worker@logged" "$out"
is "$(show stem-worker@logged Result)" success "… Result=success"
tail_line=$(c tail -n 1 $LOGGED)
ok_if "the worker's last line, stopped (warm), is the log's last ($tail_line)" \
  eval '[[ $tail_line == *"stopped (warm)"* ]]'
ok_if "the writer is gone" gone "${writer:-0}"
c rm -rf /etc/systemd/system/stem-worker@logged.service.d $LOGGED $LOGGED.1
c systemctl daemon-reload

# An operator's quick restarts never hit a start limit -------------------------

out=$(c_out systemctl start stem-worker@gamma)
is "$?" 0 "systemctl start stem-worker@gamma" "$out"
for i in 1 2 3 4 5 6; do
  c systemctl restart stem-worker@gamma || break
done
is "$(state stem-worker@gamma)" active "six quick restarts in a row leave stem-worker@gamma active" \
  "$(unit_report stem-worker@gamma)"
nspawn_wait 10 mainpid_is_example stem-worker@gamma
gamma=$(show stem-worker@gamma MainPID)
if nspawn_wait 15 journal_has stem-worker@gamma "node=gamma pid=$gamma .*started"; then
  pass "the worker of the last restart runs and logs"
else
  fail "the worker of the last restart runs and logs" "$(journal_tail stem-worker@gamma)"
fi
tagged () { c journalctl --no-pager -o cat -t "$1" | grep -Eq -- "$2"; }
if nspawn_wait 10 tagged stem-worker@gamma "node=gamma pid=$gamma .*started"; then
  pass "the journal tags the worker's lines stem-worker@gamma (SyslogIdentifier)"
else
  fail "the journal tags the worker's lines stem-worker@gamma (SyslogIdentifier)" \
    "$(c_out journalctl --no-pager -o verbose -n 3 -u stem-worker@gamma | grep -E 'SYSLOG_IDENTIFIER|MESSAGE=')"
fi

# Readiness of a node that logs to the journal (the template's default).
out=$(c_out "$BINDIR/stem-health" gamma --pidfile="$RUNDIR/%n.pid" --max-log-age=1m)
is "$?" 0 "stem-health --max-log-age=1m: gamma, logging to the journal, is ready" "$out"
ok_if "… by its journal's age" eval '[[ $out == *"journal "*" old)"* ]]'
out=$(c_out "$BINDIR/stem-diagnose" gamma --pidfile="$RUNDIR/%n.pid")
ok_if "stem-diagnose says gamma logs to the journal, not that its log file is missing" \
  eval '[[ $out == *"gamma: logs to the journal of stem-worker@gamma.service"* ]]'
out=$(c_out systemctl stop stem-worker@gamma)
is "$?" 0 "systemctl stop stem-worker@gamma" "$out"

# A configuration error fails the start of stem-worker@delta for good (no
# retry), and its journal says why: fails_for_good WHY JOURNAL-REGEX WHAT.
failed_state () { [ "$(state "$1")" = failed ]; }
fails_for_good () {
  c systemctl start stem-worker@delta
  if nspawn_wait 15 failed_state stem-worker@delta; then
    pass "with $1, stem-worker@delta fails (and is not restarting)"
  else
    fail "with $1, stem-worker@delta fails (and is not restarting)" "$(unit_report stem-worker@delta)"
  fi
  if journal_has stem-worker@delta "$2"; then
    pass "… and the journal $3"
  else
    fail "… and the journal $3" "$(journal_tail stem-worker@delta)"
  fi
  is "$(show stem-worker@delta NRestarts)" 0 "… exit 2 is not retried (RestartPreventExitStatus=2)"
  c systemctl reset-failed stem-worker@delta
}
env_file "STEM_WORKER_COMMAND=$EXAMPLE" 'BROKEN=a b'
fails_for_good "a syntax error in stem.env" "$ENVFILE:2: " "names $ENVFILE and the line"
# The units run stem-multi as the service user, which reads the file.
write_file "$ENVFILE" 0600 "STEM_WORKER_COMMAND=$EXAMPLE"
fails_for_good "stem.env 0600 root:root" "$ENVFILE: cannot open env file: Permission denied" \
  "says that $SUSER may not read it"

# stem-worker.service: all of STEMD_NODES under stem-multi supervise --------

# p1 is a master that ends its pool itself, as Celery's prefork pool does:
# on TERM it tells the pool (USR1) and waits for it.  Its pool must never
# get TERM, which would kill the tasks it runs.
PREFORK=/usr/local/bin/stem-prefork-test
write_file "$PREFORK" 0755 '#!/bin/sh
sh -c '"'"'trap "echo pool got TERM; exit 1" TERM
trap "echo pool ended by its master; exit 0" USR1
while :; do sleep 0.1; done'"'"' &
pool=$!
trap '"'"'echo "master got TERM"; kill -USR1 $pool; wait $pool; echo "stopped (warm)"; exit 0'"'"' TERM
echo "started pool=$pool"
wait $pool
'
env_file "STEM_WORKER_COMMAND=$EXAMPLE" STEM_EXAMPLE_HEARTBEAT=1 STEM_EXAMPLE_WORK=0.2 \
  'STEMD_NODES="n1 n2 p1"' "STEMD_OPTS=--command-line:p1=$PREFORK"
out=$(c_out systemctl start stem-worker)
is "$?" 0 "systemctl start stem-worker (STEMD_NODES=\"n1 n2 p1\")" "$out"
is "$(state stem-worker)" active "stem-worker is active" "$(unit_report stem-worker)"
# Type=notify: start returned after READY=1, so every node is up by now.
declare -A node_pid
for n in n1 n2; do
  p=$(pidfile "$n")
  node_pid[$n]=$p
  if [ -n "$p" ] && running "$p"; then
    pass "when start returns, $RUNDIR/$n.pid names a live process ($p)"
    is "$(proc_user "$p")" "$SUSER" "… running as $SUSER"
    is "$(proc_exe "$p")" "$EXAMPLE" "… the worker itself"
  else
    fail "when start returns, $RUNDIR/$n.pid names a live process" "pidfile: '$p'" "$(unit_report stem-worker)"
  fi
done
sup=$(show stem-worker MainPID)
is "$(proc_user "$sup")" "$SUSER" "the supervisor (MainPID) runs as $SUSER"
if [ -n "${node_pid[n1]}" ]; then
  c kill -9 "${node_pid[n1]}"
  if nspawn_wait 10 pidfile_changed n1 "${node_pid[n1]}"; then
    pass "after kill -9 of n1's worker, supervise restarts it ($(pidfile n1))"
  else
    fail "after kill -9 of n1's worker, supervise restarts it" "pidfile: $(pidfile n1)" "$(unit_report stem-worker)"
  fi
  is "$(state stem-worker)" active "stem-worker stays active"
  is "$(show stem-worker MainPID)" "$sup" "… with the same supervisor"
fi
log_has () { c grep -Eq -- "$2" "$1"; }
P1LOG=/var/log/stem/p1.log
nspawn_wait 10 log_has $P1LOG '^started pool='
pool=$(c sed -n 's/^started pool=//p' $P1LOG | tail -n 1)
ok_if "p1's pool runs ($pool)" running "${pool:-0}"
nodes_now="$(pidfile n1) $(pidfile n2) $(pidfile p1) $pool $sup"
out=$(c_out systemctl stop stem-worker)
is "$?" 0 "systemctl stop stem-worker" "$out"
is "$(state stem-worker)" inactive "stem-worker is inactive"
is "$(show stem-worker Result)" success "… Result=success"
left=
for p in $nodes_now; do running "$p" && left="$left $p"; done
is "$left" "" "no node, no pool and no supervisor left running"
is "$(c sh -c 'ls "$1"/n1.pid "$1"/n2.pid "$1"/p1.pid 2>/dev/null' sh "$RUNDIR")" "" \
  "the nodes' pidfiles are removed"
is "$(c grep -E '^(master got TERM|pool|stopped)' $P1LOG | tr '\n' ' ')" \
  "master got TERM pool ended by its master stopped (warm) " \
  "p1's pool was ended by its master, warm: it never got TERM (ExecStop= waits for the supervisor)"
for n in n1 n2; do
  if c grep -q 'stopped (warm)' "/var/log/stem/$n.log"; then
    pass "$n got TERM and finished its work (stopped (warm) in /var/log/stem/$n.log)"
  else
    fail "$n got TERM and finished its work (stopped (warm) in /var/log/stem/$n.log)" \
      "$(c tail -n 5 "/var/log/stem/$n.log" 2>&1)"
  fi
done
is "$(state stem-worker@beta)" active "stem-worker@beta is still active"

# The supervisor dies: systemd skips ExecStop= and sends TERM to every
# process of the unit, so every worker still gets TERM (warm) before any
# KILL.  (p1's pool gets TERM as well then: not asserted either way.)
warm_count () { c grep -c 'stopped (warm)' "/var/log/stem/$1.log" 2>/dev/null; }
declare -A warm_before
for n in n1 n2; do warm_before[$n]=$(warm_count "$n"); done
out=$(c_out systemctl start stem-worker)
is "$?" 0 "systemctl start stem-worker again" "$out"
sup=$(show stem-worker MainPID)
c kill -9 "$sup"
for n in n1 n2; do
  warmer () { [ "$(warm_count "$1")" -gt "${warm_before[$1]:-0}" ]; }
  if nspawn_wait 30 warmer "$n"; then
    pass "after kill -9 of the supervisor, $n got TERM and finished its work"
  else
    fail "after kill -9 of the supervisor, $n got TERM and finished its work" \
      "$(c tail -n 5 "/var/log/stem/$n.log" 2>&1)" "$(unit_report stem-worker)"
  fi
done
c systemctl stop stem-worker
c systemctl reset-failed stem-worker 2>/dev/null

# stem-health-textfile: the metrics for node_exporter, as the timer writes them.
c mkdir -p /var/lib/prometheus/node-exporter
out=$(c_out systemctl start stem-worker)
is "$?" 0 "systemctl start stem-worker for the metrics" "$out"
out=$(c_out systemctl start stem-health-textfile.timer)
is "$?" 0 "systemctl start stem-health-textfile.timer" "$out"
prom=/var/lib/prometheus/node-exporter/stem.prom
prom_up () { c grep -qx "stem_worker_up{node=\"$1\"} $2" "$prom"; }
if nspawn_wait 15 prom_up n1 1; then
  pass "the timer's service writes stem_worker_up{node=\"n1\"} 1 into $prom"
else
  fail "the timer's service writes stem_worker_up{node=\"n1\"} 1 into $prom" \
    "$(c_out cat "$prom")" "$(unit_report stem-health-textfile.service)"
fi
is "$(show stem-health-textfile.service Result)" success "stem-health-textfile.service succeeds"
c systemctl stop stem-worker
out=$(c_out systemctl start stem-health-textfile.service)
ok_if "after stop, stem_worker_up{node=\"n1\"} is 0" prom_up n1 0
c systemctl stop stem-health-textfile.timer

# stem-scheduler.service is skipped until configured ----------------------------

out=$(c_out systemctl start stem-scheduler)
is "$?" 0 "systemctl start stem-scheduler without STEM_SCHEDULER_COMMAND: skipped, not an error" "$out"
if nspawn_wait 10 journal_has stem-scheduler "STEM_SCHEDULER_COMMAND.*$ENVFILE"; then
  pass "the journal says where to set STEM_SCHEDULER_COMMAND"
else
  fail "the journal says where to set STEM_SCHEDULER_COMMAND" "$(journal_tail stem-scheduler)"
fi
is "$(state stem-scheduler) $(show stem-scheduler NRestarts)" "inactive 0" \
  "… it is inactive, not failed, and not restarting (ExecCondition=)" "$(unit_report stem-scheduler)"
sleep 6 # RestartSec=5: a retry would have come by now
is "$(show stem-scheduler NRestarts)" 0 "… nor 6 s later"

env_file "STEM_WORKER_COMMAND=$EXAMPLE" STEM_EXAMPLE_HEARTBEAT=1 STEM_EXAMPLE_WORK=0.2 \
  'STEMD_NODES="n1 n2"' "STEM_SCHEDULER_COMMAND=$EXAMPLE"
c systemctl reset-failed stem-scheduler 2>/dev/null
out=$(c_out systemctl start stem-scheduler)
is "$?" 0 "with STEM_SCHEDULER_COMMAND set, systemctl start stem-scheduler" "$out"
is "$(state stem-scheduler)" active "stem-scheduler is active" "$(unit_report stem-scheduler)"
if nspawn_wait 10 mainpid_is_example stem-scheduler; then
  sched=$(show stem-scheduler MainPID)
  pass "its MainPID is the scheduler command itself"
  is "$(proc_user "$sched")" "$SUSER" "… running as $SUSER"
  nspawn_wait 10 mainpid_is_pidfile stem-scheduler scheduler
  is "$(pidfile scheduler)" "$sched" "… and equal to $RUNDIR/scheduler.pid"
else
  fail "its MainPID is the scheduler command itself" "$(unit_report stem-scheduler)"
fi
out=$(c_out systemctl stop stem-scheduler)
is "$?" 0 "systemctl stop stem-scheduler" "$out"
is "$(state stem-scheduler)" inactive "stem-scheduler is inactive"

# A node started and stopped by root by hand, then by its unit --------------
# Root's lock file is 0644 and locked read-only: the unit's User= can use it.

by_hand () { # VERB: stem-multi VERB s1 as root, as an operator would type it
  c_out "$BINDIR/stem-multi" "$1" s1 --pidfile="$RUNDIR/%n.pid" --logfile=/var/log/stem/%n.log \
    --uid="$SUSER" --command "$EXAMPLE" --settle=0
}
out=$(by_hand start)
is "$?" 0 "as root: stem-multi start s1 --uid=$SUSER" "$out"
is "$(c stat -c '%U %a' "$RUNDIR/s1.pid.lock")" "root 644" "root's lock file for s1 is mode 0644"
out=$(by_hand stop)
is "$?" 0 "as root: stem-multi stop s1" "$out"
out=$(c_out systemctl start stem-worker@s1)
is "$?" 0 "then systemctl start stem-worker@s1 (User=$SUSER) starts" "$out" "$(unit_report stem-worker@s1)"
is "$(state stem-worker@s1)" active "stem-worker@s1 is active" "$(unit_report stem-worker@s1)"
nspawn_wait 10 mainpid_is_pidfile stem-worker@s1 s1
ok_if "… and its MainPID is in $RUNDIR/s1.pid" mainpid_is_pidfile stem-worker@s1 s1
out=$(c_out systemctl stop stem-worker@s1)
is "$?" 0 "systemctl stop stem-worker@s1" "$out"
c rm -f /var/log/stem/s1.log

out=$(c_out systemctl stop stem-worker@beta)
is "$?" 0 "systemctl stop stem-worker@beta" "$out"
is "$(c_out systemctl list-units --failed --no-legend --plain 'stem-*')" "" "no stem unit is left failed"
# Every unit has been loaded by now.
warnings=$(c journalctl --no-pager -o cat -b _PID=1 | grep -E '/stem-[^ ]*\.service:[0-9]+:')
is "$warnings" "" "systemd loaded the units without a warning"

t_off=$(nspawn_now_ms)
nspawn_poweroff
is "$?" 0 "the container powers off cleanly ($(($(nspawn_now_ms) - t_off)) ms)"
done_testing
