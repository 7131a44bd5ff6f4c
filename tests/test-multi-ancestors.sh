#!/bin/bash
# stem-multi never signals its ancestors nor the leader of its session: a
# pidfile naming the calling script does not kill it when stem-multi runs
# under timeout, in $(…), under sudo (or runuser), or orphaned in the
# script's session.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

# The victim writes its own PID to the pidfile (so the pidfile is younger
# than the process and names it), runs stem-multi stop the way CALL says,
# and, if it is still alive afterwards, says so in $T/survived.
cat >"$T/victim.sh" <<'SCRIPT'
multi=$1 dir=$2 call=$3
echo $$ >"$dir/run/victim.pid"
stop () { "$multi" stop victim --pidfile="$dir/run/%n.pid" --retry=TERM/10/KILL/5 "$@"; }
case $call in
  timeout) timeout 60 "$multi" stop victim --pidfile="$dir/run/%n.pid" --retry=TERM/10/KILL/5 \
             >"$dir/out" 2>"$dir/err"; echo $? >"$dir/rc" ;;
  subshell) out=$(stop 2>"$dir/err"; echo "rc=$?"); echo "${out##*rc=}" >"$dir/rc" ;;
  runuser) runuser -u root -- "$multi" stop victim --pidfile="$dir/run/%n.pid" \
             --retry=TERM/10/KILL/5 >"$dir/out" 2>"$dir/err"; echo $? >"$dir/rc" ;;
  sudo) sudo -n -- "$multi" stop victim --pidfile="$dir/run/%n.pid" \
          --retry=TERM/10/KILL/5 >"$dir/out" 2>"$dir/err"; echo $? >"$dir/rc" ;;
  orphan)
    # The victim leads its session (setsid); stem-multi runs in a child
    # whose parent has exited, so the victim is not among its ancestors.
    ( (stop >"$dir/out" 2>"$dir/err"; echo $? >"$dir/rc.tmp"; mv "$dir/rc.tmp" "$dir/rc") &)
    while [ ! -e "$dir/rc" ]; do sleep 0.05; done ;;
esac
echo yes >"$dir/survived"
SCRIPT

try () { # CALL WHY-REGEX
  local call=$1 why=$2
  rm -f "$T/rc" "$T/survived" "$T/err" "$T/out"
  if [ "$call" = orphan ]; then
    timeout 120 setsid -w bash "$T/victim.sh" "$MULTI" "$T" "$call"
  else
    timeout 120 bash "$T/victim.sh" "$MULTI" "$T" "$call"
  fi
  local status=$?
  is "$status" 0 "$call: the calling script was not killed"
  ok_if "$call: and went on after stem-multi" test -e "$T/survived"
  is "$(cat "$T/rc" 2>/dev/null)" 1 "$call: stop fails the node (exit 1)"
  like "$T/err" "victim: Refusing to signal PID [0-9]+: $why" "$call: and says why"
  ok_if "$call: the pidfile is kept" test -e "$T/run/victim.pid"
  rm -f "$T/run/victim.pid"
}

try timeout "it is an ancestor of this process"
try subshell "it is an ancestor of this process"
if [ "$(id -u)" -eq 0 ]; then
  try runuser "it is an ancestor of this process"
else
  skip "under runuser: only root may run it (timeout above stands between the same way)"
fi
if [ "$(id -u)" -ne 0 ]; then
  skip "under sudo: only root may run it without a password here"
elif command -v sudo >/dev/null; then
  try sudo "it is an ancestor of this process"
else
  skip "under sudo: sudo is not installed (tools/deps.sh installs it)"
fi
try orphan "it leads the session this process runs in"

# The direct parent was refused before; it still is.
echo $$ >"$T/run/parent.pid"
multi stop parent
rc_is 1 "the parent (this test) is refused"
like "$T/err" "it is the parent of this process" "as the parent"
multi stop parent --json
is "$(jq -r '.nodes[0] | "\(.state) \(.pid)"' "$T/out")" "failed $$" "--json names the pid it refused"

done_testing
