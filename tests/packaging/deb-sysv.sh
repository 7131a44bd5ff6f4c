# Part of test-deb.sh (sourced): the package's life on a SysV host (a
# container that is not booted: no systemd running, no systemd-sysusers),
# installed with apt-get from a local apt repository.
# shellcheck shell=bash disable=SC2016,SC2317,SC2154,SC2034 # NSPAWN_INCLUDE is lib-nspawn.sh's; eval strings

phase "6b. SysV host: apt-get install from a local repository"
NSPAWN_INCLUDE=$SYSV_INCLUDE
nspawn_start stem-deb-sysv "$W/repotree"
# A SysV host is in a runlevel: the utmp record sysvinit writes on entering
# runlevel 2 (struct utmp, RUN_LVL), which runlevel(8) and so invoke-rc.d
# read.  Without it invoke-rc.d takes the container for a chroot and
# starts nothing, as it should there.
c sh -c 'perl -e '"'"'print pack("s x2 i a32 a4 a32 a256 s s i i i i4 x20", 1, ord("2") + 256 * ord("N"),
  "~", "~~", "runlevel", "", 0, 0, 0, time, 0, 0, 0, 0, 0)'"'"' >/run/utmp'
is "$(c runlevel)" "N 2" "sysv: the host is in runlevel 2 (sysvinit installed, not booted)"
ok_if "sysv: no systemd runs and systemd-sysusers is not installed" \
  eval '! c test -d /run/systemd/system && ! c sh -c "command -v systemd-sysusers" >/dev/null'
apt_setup || fail "apt-get update with only the local repository"
fs_listing >"$W/sv-before.list"

out=$(apt_get install stem-daemon 2>&1)
is "$?" 0 "sysv: apt-get install stem-daemon" "$out"
is "$(c getent passwd stem | cut -d: -f6,7)" "/var/lib/stem:/usr/sbin/nologin" \
  "sysv: the stem user exists (adduser), home /var/lib/stem, no login"
is "$(c getent group stem | cut -d: -f1)" stem "sysv: the stem group exists"
is "$(c stat -c '%n %U:%G %a' /var/lib/stem /var/log/stem /etc/stem/stem.env | tr '\n' ' ')" \
  "/var/lib/stem stem:stem 750 /var/log/stem stem:stem 750 /etc/stem/stem.env root:stem 640 " \
  "sysv: directories owned by stem; stem.env readable by root and group stem only"
is "$(our_processes)" "" "sysv: installing started nothing"

# What the boot does, script by script, with nothing configured.
scripts=$(c sh -c 'ls /etc/rc2.d/S*stem-*')
is "$(printf '%s\n' "$scripts" | sed 's|.*/S[0-9]*||' | sort | tr '\n' ' ')" "stem-scheduler stem-worker " \
  "sysv: both scripts start in runlevel 2"
for s in $scripts; do
  out=$(c_out "$s" start)
  rc=$?
  is "$rc:$(printf '%s\n' "$out" | grep -c .)" "0:1" "sysv: boot with nothing configured: $s start prints one line and exits 0" "$out"
done
is "$(our_processes)" "" "sysv: and starts nothing"

phase "sysv: a fleet"
c_sh 'printf "%s\n" STEM_WORKER_COMMAND=stem-example-worker STEM_EXAMPLE_WORK=0.2 STEM_EXAMPLE_HEARTBEAT=1 \
  >>/etc/stem/stem.env && echo "STEMD_NODES=\"alpha beta\"" >>/etc/default/stem'
svc () { c_out service stem-worker "$@"; }
out=$(svc start)
is "$?" 0 "sysv: service stem-worker start" "$out"
node_runs () { runs_current "$(pidfile "$1")" /usr/bin/stem-example-worker; }
ok_if "sysv: alpha and beta run the example worker" nspawn_wait 20 eval 'node_runs alpha && node_runs beta'
alpha=$(pidfile alpha)
beta=$(pidfile beta)
is "$(proc_user "$alpha") $(proc_user "$beta")" "stem stem" "sysv: the workers run as stem"
logs () { c grep -q . /var/log/stem/alpha.log && c grep -q . /var/log/stem/beta.log; }
ok_if "sysv: they log to /var/log/stem/alpha.log and beta.log" nspawn_wait 20 logs
out=$(svc status)
is "$?" 0 "sysv: service stem-worker status: running" "$out"
out=$(svc restart)
is "$?" 0 "sysv: service stem-worker restart" "$out"
new_node () { local p; p=$(pidfile "$1"); [ -n "$p" ] && [ "$p" != "$2" ] && runs_current "$p" /usr/bin/stem-example-worker; }
ok_if "sysv: restart: both nodes run in new processes" nspawn_wait 20 eval 'new_node alpha "$alpha" && new_node beta "$beta"'
ok_if "sysv: restart: the old ones are gone" eval 'gone "$alpha" && gone "$beta"'
alpha=$(pidfile alpha)
beta=$(pidfile beta)

phase "sysv: upgrade to $UPVERSION while they run, with a dpkg-statoverride"
c dpkg-statoverride --add stem adm 2750 /var/log/stem
publish_upgrade || fail "apt-get update with $UPVERSION published"
out=$(apt_get install stem-daemon 2>&1)
is "$?" 0 "sysv: apt-get install stem-daemon upgrades to $UPVERSION" "$out"
ok_if "sysv: alpha and beta run the new binary (/proc/PID/exe)" \
  nspawn_wait 40 eval 'new_node alpha "$alpha" && new_node beta "$beta"'
ok_if "sysv: the old workers are gone, after a warm stop" \
  eval 'gone "$alpha" && gone "$beta" && c grep -q "warm shutdown" /var/log/stem/alpha.log'
is "$(c stat -c '%U:%G %a' /var/log/stem)" "stem:adm 2750" "sysv: the upgrade honours dpkg-statoverride on /var/log/stem"
ok_if "sysv: the edited stem.env and /etc/default/stem are kept" \
  eval 'c grep -qx STEM_WORKER_COMMAND=stem-example-worker /etc/stem/stem.env &&
        c grep -q "^STEMD_NODES=" /etc/default/stem'
c dpkg-statoverride --remove /var/log/stem

out=$(svc stop)
is "$?" 0 "sysv: service stem-worker stop" "$out"
is "$(our_processes)" "" "sysv: stop leaves no process of ours"
svc status >/dev/null
is "$?" 3 "sysv: service stem-worker status: not running (3)"

phase "sysv: remove and purge"
out=$(svc start)
is "$?" 0 "sysv: service stem-worker start, again" "$out"
out=$(apt_get remove stem-daemon 2>&1)
is "$?" 0 "sysv: apt-get remove stem-daemon" "$out"
nothing_ours () { [ -z "$(our_processes)" ]; }
ok_if "sysv: removing stops the fleet: no process of ours" nspawn_wait 40 nothing_ours
out=$(apt_get purge stem-daemon 2>&1)
is "$?" 0 "sysv: apt-get purge stem-daemon" "$out"
fs_listing >"$W/sv-after.list"
out=$(diff "$W/sv-before.list" "$W/sv-after.list" | purge_leftovers)
is "$out" "" "sysv: after purge only the documented files differ from before the install (listing of /)"
is "$(c sh -c 'for p in /etc/stem /etc/default/stem /var/log/stem /run/stem /var/lib/stem; do [ -e "$p" ] && echo "$p"; done')" "" \
  "sysv: /etc/stem, /etc/default/stem, /var/log/stem, /run/stem, /var/lib/stem (empty) are gone"
is "$(c getent passwd stem | cut -d: -f1)" stem "sysv: the stem user stays (README.Debian)"
nspawn_poweroff
