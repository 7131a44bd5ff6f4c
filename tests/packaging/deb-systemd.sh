# Part of test-deb.sh (sourced): the package's life on a booted systemd
# host, installed with apt-get from a local apt repository.
# shellcheck shell=bash disable=SC2016,SC2317,SC2154,SC2034 # NSPAWN_INCLUDE is lib-nspawn.sh's; eval strings

phase "6a. systemd host: apt-get install from a local repository"
NSPAWN_INCLUDE=$SYSTEMD_INCLUDE
nspawn_boot stem-deb-systemd "$W/repotree"
apt_setup || fail "apt-get update with only the local repository"
fs_listing >"$W/sd-before.list"

out=$(apt_get install stem-daemon 2>&1)
is "$?" 0 "systemd: apt-get install stem-daemon" "$out"
is "$(c dpkg-query -W -f='${Version}' stem-daemon)" "$VERSION" "systemd: version $VERSION is installed"
is "$(c systemctl list-units --failed --plain --no-legend)" "" "systemd: installing leaves no unit failed"
is "$(c systemctl is-system-running)" running "systemd: the system is still running, not degraded"
is "$(our_processes)" "" "systemd: installing started nothing"
is "$(c systemctl is-enabled stem-worker.service stem-scheduler.service 2>&1 | tr '\n' ' ')" \
  "disabled disabled " "systemd: no unit is enabled before it is configured"
is "$(c getent passwd stem | cut -d: -f6,7)" "/var/lib/stem:/usr/sbin/nologin" \
  "systemd: the stem user exists (systemd-sysusers), home /var/lib/stem, no login"
is "$(c getent group stem | cut -d: -f1)" stem "systemd: the stem group exists"
is "$(c stat -c '%n %U:%G %a' /var/lib/stem /var/log/stem /run/stem /etc/stem/stem.env | tr '\n' ' ')" \
  "/var/lib/stem stem:stem 750 /var/log/stem stem:stem 750 /run/stem stem:stem 755 /etc/stem/stem.env root:stem 640 " \
  "systemd: directories owned by stem; stem.env readable by root and group stem only"
ok_if "systemd: /etc/stem/stem.env is a conffile" \
  eval 'c dpkg-query -W -f="\${Conffiles}\n" stem-daemon | grep -q "^ /etc/stem/stem.env "'
out=$(c env MANPAGER=cat MANWIDTH=80 man stem-multi 2>&1)
ok_if "systemd: man stem-multi renders" eval 'printf "%s\n" "$out" | grep -q "^SYNOPSIS" && printf "%s\n" "$out" | grep -q "stem-multi start"'

phase "systemd: a reinstall with a dpkg-statoverride on /var/log/stem"
# Policy 10.9.1: the maintainer scripts honour it.  (Debhelper's tmpfiles
# snippet runs systemd-tmpfiles --create on the package's file after the
# postinst's own setup: the file must not name /var/log/stem.)
c dpkg-statoverride --add stem adm 2750 /var/log/stem
out=$(apt_get install --reinstall stem-daemon 2>&1)
is "$?" 0 "systemd: apt-get install --reinstall stem-daemon" "$out"
is "$(c stat -c '%U:%G %a' /var/log/stem)" "stem:adm 2750" \
  "systemd: the reinstall honours dpkg-statoverride on /var/log/stem"
c dpkg-statoverride --remove /var/log/stem
c sh -c 'chown stem:stem /var/log/stem && chmod 0750 /var/log/stem && chmod g-s /var/log/stem'

phase "systemd: workers"
c_sh 'printf "%s\n" STEM_WORKER_COMMAND=stem-example-worker STEM_EXAMPLE_WORK=0.2 \
  STEM_EXAMPLE_HEARTBEAT=1 "STEMD_NODES=\"beta gamma\"" >>/etc/stem/stem.env'
out=$(c_out systemctl enable --now stem-worker@alpha)
is "$?" 0 "systemd: systemctl enable --now stem-worker@alpha" "$out"
main_pid () { c systemctl show -p MainPID --value "$1"; }
worker_main () { runs_current "$(main_pid "$1")" /usr/bin/stem-example-worker; }
ok_if "systemd: stem-worker@alpha is active, its MainPID the example worker" \
  nspawn_wait 20 worker_main stem-worker@alpha
alpha=$(main_pid stem-worker@alpha)
is "$(proc_user "$alpha")" stem "systemd: the alpha worker runs as stem"

out=$(c_out service stem-worker start)
is "$?" 0 "systemd: service stem-worker start (STEMD_NODES=\"beta gamma\" in stem.env)" "$out"
node_runs () { runs_current "$(pidfile "$1")" /usr/bin/stem-example-worker; }
ok_if "systemd: the fleet runs: beta and gamma" nspawn_wait 20 eval 'node_runs beta && node_runs gamma'
beta=$(pidfile beta)
gamma=$(pidfile gamma)
is "$(proc_user "$beta") $(proc_user "$gamma")" "stem stem" "systemd: beta and gamma run as stem"
sup=$(main_pid stem-worker.service)

# The health timer, with a run of its oneshot service in progress (held
# up by a drop-in) while the upgrade comes.
c sh -c 'mkdir -p /etc/systemd/system/stem-health-textfile.service.d &&
  printf "[Service]\nExecStartPre=/bin/sleep 600\n" >/etc/systemd/system/stem-health-textfile.service.d/slow.conf &&
  systemctl daemon-reload'
out=$(c_out systemctl start stem-health-textfile.timer)
is "$?" 0 "systemd: systemctl start stem-health-textfile.timer" "$out"
health_running () { [ "$(c systemctl show -p ActiveState --value stem-health-textfile.service)" = activating ]; }
ok_if "systemd: the timer started a run of stem-health-textfile.service" nspawn_wait 10 health_running
invocation () { c systemctl show -p InvocationID --value "$1"; }
timer_inv=$(invocation stem-health-textfile.timer)
health_inv=$(invocation stem-health-textfile.service)

phase "systemd: upgrade to $UPVERSION while they run"
publish_upgrade || fail "apt-get update with $UPVERSION published"
out=$(apt_get install stem-daemon 2>&1)
is "$?" 0 "systemd: apt-get install stem-daemon upgrades to $UPVERSION" "$out"
is "$(c dpkg-query -W -f='${Version}' stem-daemon)" "$UPVERSION" "systemd: $UPVERSION is installed"
new_main () { local m; m=$(main_pid "$1"); [ "$m" != 0 ] && [ "$m" != "$2" ] && runs_current "$m" /usr/bin/stem-example-worker; }
ok_if "systemd: stem-worker@alpha runs the new binary (/proc/PID/exe)" nspawn_wait 40 new_main stem-worker@alpha "$alpha"
ok_if "systemd: the old alpha worker is gone" gone "$alpha"
new_node () { local p; p=$(pidfile "$1"); [ -n "$p" ] && [ "$p" != "$2" ] && runs_current "$p" /usr/bin/stem-example-worker; }
ok_if "systemd: beta and gamma of stem-worker.service run the new binary" \
  nspawn_wait 40 eval 'new_node beta "$beta" && new_node gamma "$gamma"'
sup2=$(main_pid stem-worker.service)
ok_if "systemd: stem-worker.service was restarted onto the new binaries" \
  eval '[ "$sup2" != "$sup" ] && [ "$sup2" != 0 ] && ! proc_exe "$sup2" | grep -q deleted'
ok_if "systemd: the old workers had a warm stop (their last words)" \
  eval 'c journalctl --no-pager -o cat -u stem-worker@alpha | grep -q "warm shutdown" &&
        c grep -q "warm shutdown" /var/log/stem/beta.log'
ok_if "systemd: the edited stem.env is kept" c grep -qx STEM_WORKER_COMMAND=stem-example-worker /etc/stem/stem.env
is "$(c stat -c '%U:%G %a' /etc/stem/stem.env)" "root:stem 640" "systemd: and still root:stem 640"
is "$(c systemctl list-units --failed --plain --no-legend)" "" "systemd: no unit failed after the upgrade"
timer_inv2=$(invocation stem-health-textfile.timer)
ok_if "systemd: the upgrade restarted stem-health-textfile.timer" \
  eval '[ -n "$timer_inv2" ] && [ "$timer_inv2" != "$timer_inv" ] && [ "$(c systemctl is-active stem-health-textfile.timer)" = active ]'
is "$(invocation stem-health-textfile.service) $(c systemctl show -p ActiveState --value stem-health-textfile.service)" \
  "$health_inv activating" "systemd: but left the run of stem-health-textfile.service in progress alone"

phase "systemd: remove"
out=$(apt_get remove stem-daemon 2>&1)
is "$?" 0 "systemd: apt-get remove stem-daemon" "$out"
nothing_ours () { [ -z "$(our_processes)" ] && [ -z "$(c ps -u stem -o pid= --no-headers 2>/dev/null)" ]; }
ok_if "systemd: removing leaves no process of ours" nspawn_wait 40 nothing_ours
[ -n "$(our_processes)" ] && our_processes | sed 's/^/# left: /'
is "$(c systemctl list-units --failed --plain --no-legend)" "" "systemd: removing leaves no unit failed"
is "$(c systemctl list-units --all --plain --no-legend 'stem-*' | awk '$3 == "active" || $3 == "activating"')" "" \
  "systemd: no unit of ours is active"
ok_if "systemd: conffiles stay after remove" c test -f /etc/stem/stem.env
is "$(c systemctl is-active stem-health-textfile.timer stem-health-textfile.service | tr '\n' ' ')" "inactive inactive " \
  "systemd: removing stopped stem-health-textfile.timer and its service"
c sh -c 'rm -rf /etc/systemd/system/stem-health-textfile.service.d && systemctl daemon-reload'
is "$(c systemctl list-units --all --failed --plain --no-legend)" "" \
  "systemd: and no unit of ours fails once its files are gone (no timer left to trigger a vanished unit)"

phase "systemd: purge"
out=$(apt_get purge stem-daemon 2>&1)
is "$?" 0 "systemd: apt-get purge stem-daemon" "$out"
fs_listing >"$W/sd-after.list"
out=$(diff "$W/sd-before.list" "$W/sd-after.list" | purge_leftovers)
is "$out" "" "systemd: after purge only the documented files differ from before the install (listing of /)"
is "$(c sh -c 'for p in /etc/stem /var/log/stem /run/stem /var/lib/stem; do [ -e "$p" ] && echo "$p"; done')" "" \
  "systemd: /etc/stem, /var/log/stem, /run/stem, /var/lib/stem (empty) are gone"
is "$(c getent passwd stem | cut -d: -f1)" stem "systemd: the stem user stays (README.Debian)"
nspawn_poweroff
