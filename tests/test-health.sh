#!/bin/bash
# stem-health: a healthy node and its JSON, one real fixture per error kind,
# several nodes at once, --quiet, usage errors, upstream's --node form.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99
HEALTH=$top_builddir/src/stem-health

# health ARGS…: stem-health with this test's private pid and log directories.
health () { run "$HEALTH" --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" "$@"; }

# start_epoch PID: the process's start in seconds since the epoch, from
# /proc/PID/stat (field 22, clock ticks after boot) and the boot time.
start_epoch () {
  local ticks
  ticks=$(sed 's/.*) //' "/proc/$1/stat" | awk '{ print $20 }')
  echo $(($(awk '/^btime/ { print $2 }' /proc/stat) + ticks / $(getconf CLK_TCK)))
}
near () { # A B SLACK NAME: |A - B| <= SLACK
  local d=$(($1 - $2))
  if [ "${d#-}" -le "$3" ]; then pass "$4"; else fail "$4" "got $1, expected $2 (± $3)"; fi
}
# age_of PID: whole seconds the process has run, from its start tick and
# /proc/uptime (the same clock; btime and `date +%s` would each round).
age_of () {
  local ticks
  ticks=$(sed 's/.*) //' "/proc/$1/stat" | awk '{ print $20 }')
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", $1 - t / hz }' /proc/uptime
}
older_than () { [ "$(age_of "$1")" -ge "$2" ]; }

# A process that is old by the time its pidfile is written: started now,
# checked at the end (the uptime must come from it, not from the pidfile).
"$WORKER" sleep-forever &
aged=$!

# A healthy node, started as stem-multi starts it.
multi start alpha --command "$WORKER" --command run -q default -q images
rc_is 0 "start a worker with two queues"
alpha=$(pid_of alpha)
wait_until 10 grep -qs "^ready pid=$alpha" "$T/log/alpha.log"

health alpha
rc_is 0 "a running node is healthy"
like "$T/out" "^alpha: ok \(pid $alpha, up $AGE_RE, log $AGE_RE old\)$" "one human line with pid, uptime and log age"
is "$(cat "$T/err")" "" "nothing on stderr"

age_before=$(age_of "$alpha")
health alpha --json
age_after=$(age_of "$alpha")
rc_is 0 "--json of a healthy node"
is "$(json "$T/out" '.status')" ok "status is ok"
is "$(json "$T/out" '.node')" alpha "node is named"
is "$(json "$T/out" '.pid')" "$(cat "$T/run/alpha.pid")" "pid equals the pidfile's"
is "$(json "$T/out" '.pidfile')" "$T/run/alpha.pid" "pidfile is the expanded template"
is "$(json "$T/out" '.logfile')" "$T/log/alpha.log" "logfile is the expanded template"
is "$(json "$T/out" '.queues | join(",")')" "default,images" "queues come from the worker's STEM_WORKER_QUEUES"
is "$(json "$T/out" 'has("error") or has("message")')" false "no error or message when healthy"
is "$(json "$T/out" '.logAgeSeconds | type')" number "logAgeSeconds is reported"
uptime=$(json "$T/out" '.uptimeSeconds')
ok_if "uptimeSeconds is a number ≥ 0" test "$uptime" -ge 0
# A bracket, not a clock read after the fact: the age before and after the
# call (±1 s for two clocks rounding to whole seconds).
ok_if "uptimeSeconds agrees with /proc/PID/stat ($age_before ≤ $uptime ≤ $age_after, ±1)" \
  test $((age_before - 1)) -le "$uptime" -a "$uptime" -le $((age_after + 1))
since=$(json "$T/out" '.since')
like "$T/out" '"since" : "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"' "since is ISO 8601 UTC"
near "$(date -u -d "$since" +%s)" "$(start_epoch "$alpha")" 2 "since is the process start"

health --json alpha --max-log-age=1h
rc_is 0 "a fresh log passes --max-log-age"

# Upstream's form: --node with a literal pidfile.
run "$HEALTH" --node alpha --pidfile="$T/run/alpha.pid"
rc_is 0 "--node NAME --pidfile=FILE (upstream's form)"
like "$T/out" "^alpha: ok \(pid $alpha, up $AGE_RE" "checks that node"

# pidfile-missing
health ghost --json
rc_is 1 "a node without a pidfile is unhealthy"
is "$(json "$T/out" '.status + " " + .error')" "error pidfile-missing" "error pidfile-missing"
health ghost
like "$T/err" "^stem-health: ghost: error: pidfile-missing: no pidfile “$T/run/ghost.pid”" "said on stderr"
is "$(cat "$T/out")" "" "nothing on stdout"

# JSON is UTF-8 whatever the locale: in the C locale (a probe run by
# Kubernetes exec, or under env -i) an "é" in a path stays "é", not "?".
run env LC_ALL=C "$HEALTH" ghost --pidfile="$T/run/café/%n.pid" --logfile="$T/log/%n.log" --json
is "$(json "$T/out" '.pidfile')" "$T/run/café/ghost.pid" "--json in the C locale keeps an é of a path"
run env LC_ALL=C "$MULTI" status ghost --pidfile="$T/run/café/%n.pid" --logfile="$T/log/%n.log" --json
is "$(json "$T/out" '.nodes[0].pidfile')" "$T/run/café/ghost.pid" "… and so does stem-multi status --json"

# invalid-pid
printf 'not a pid\n' >"$T/run/garbage.pid"
health garbage --json
rc_is 1 "a garbage pidfile is unhealthy"
is "$(json "$T/out" '.error')" invalid-pid "error invalid-pid"
like "$T/out" "Invalid pidfile" "the message says why"
ln -s "$T/run/alpha.pid" "$T/run/link.pid"
health link --json
is "$(json "$T/out" '.error')" invalid-pid "a symlinked pidfile is invalid-pid too"

# process-not-running: a worker that exited, its pidfile left behind.
multi start gone --command "$WORKER" --command exit --command 0 --settle=0
rc_is 0 "start a worker that exits at once"
gone=$(pid_of gone)
wait_until 10 dead "$gone"
health gone --json
rc_is 1 "a dead worker is unhealthy"
is "$(json "$T/out" '.error')" process-not-running "error process-not-running"
is "$(json "$T/out" '.pid')" "$gone" "the pid from the pidfile is reported"
is "$(json "$T/out" 'has("uptimeSeconds") or has("since") or has("queues")')" false \
  "no uptime, since or queues for a dead process"
health gone
like "$T/err" "^stem-health: gone: error: process-not-running: pid $gone is not running$" "the human message"
ok_if "the stale pidfile is left alone (stem-health never removes)" test -f "$T/run/gone.pid"

# pid-reused: the pidfile is older than the live, unrelated process it names.
sleep 300 &
stranger=$!
echo "$stranger" >"$T/run/reused.pid"
touch -d '-1 hour' "$T/run/reused.pid"
health reused --json
rc_is 1 "a reused PID is unhealthy"
is "$(json "$T/out" '.error')" pid-reused "error pid-reused"
is "$(json "$T/out" 'has("queues") or has("uptimeSeconds")')" false "nothing is read from the stranger"
ok_if "the stranger was not touched" alive "$stranger"
kill "$stranger"
kthread=$(kernel_thread)
if [ -n "$kthread" ]; then
  echo "$kthread" >"$T/run/kthread.pid"
  health kthread
  rc_is 1 "a pidfile naming a kernel thread is unhealthy"
  like "$T/err" "^stem-health: kthread: error: pid-reused: pid $kthread is a thread \(of the kernel or of another process\), not the worker$" \
    "… and says what it names"
else
  skip "a pidfile naming a kernel thread: none is visible here (a PID namespace)"
  skip "a pidfile naming a kernel thread: none is visible here (a PID namespace)"
fi

# log-stale
touch -d '-1 hour' "$T/log/alpha.log"
health alpha --json --max-log-age=1m
rc_is 1 "a log older than --max-log-age is unhealthy"
is "$(json "$T/out" '.error')" log-stale "error log-stale"
ok_if "logAgeSeconds shows the age" test "$(json "$T/out" '.logAgeSeconds')" -ge 3600
is "$(json "$T/out" '.pid')" "$alpha" "liveness is still reported"
health alpha --max-log-age=2h
rc_is 0 "the same log is fresh enough for --max-log-age=2h"
health alpha
rc_is 0 "without --max-log-age the log's age is information only"
like "$T/out" "log 1h 0m old" "and shown"
# (alpha's log writer recreates a removed log at once: ask about another.)
health alpha --max-log-age=1m --logfile="$T/log/none-%n.log"
rc_is 1 "a missing log with --max-log-age is stale"
like "$T/err" "^stem-health: alpha: error: log-stale: log file “$T/log/none-alpha.log” does not exist$" \
  "and the message says it does not exist"
health alpha --json --logfile="$T/log/none-%n.log"
rc_is 0 "a missing log without --max-log-age does not matter"
is "$(json "$T/out" 'has("logAgeSeconds")')" false "logAgeSeconds is left out"
# A link in the log's place: its target's age is never taken for the log's.
touch -d '2001-01-01' "$T/old-target"
ln -s "$T/old-target" "$T/log/link.tmp"
health alpha --json --logfile="$T/log/link.tmp"
is "$(json "$T/out" 'has("logAgeSeconds")')" false "a log that is a symbolic link has no age"
health alpha --max-log-age=1h --logfile="$T/log/link.tmp"
rc_is 1 "with --max-log-age it fails the node"
like "$T/err" "^stem-health: alpha: error: log-stale: log file “$T/log/link.tmp” is not a regular file$" \
  "saying what it is"
rm -f "$T/log/link.tmp"
# A log dated in the future (a wall clock set back since it was written):
# how long ago it was written cannot be known, and it is not taken as fresh.
touch -d '+1 hour' "$T/log/future-alpha.log"
health alpha --json --logfile="$T/log/future-%n.log"
rc_is 0 "a log dated in the future without --max-log-age does not matter"
is "$(json "$T/out" 'has("logAgeSeconds")')" false "… and has no age (not 0 s)"
health alpha --max-log-age=2h --logfile="$T/log/future-%n.log"
rc_is 1 "with --max-log-age it fails the node"
like "$T/err" "^stem-health: alpha: error: log-stale: log file “$T/log/future-alpha.log” is dated [0-9hms ]+ in the future \(was the clock set back\?\): its age cannot be known$" \
  "saying why"

# An unprivileged user checking a root-owned worker: healthy through /proc;
# permission-denied only for what it cannot read.
if [ "$(id -u)" -eq 0 ]; then
  mkdir -p "$T/bin"
  cp "$HEALTH" "$T/bin/"
  chmod 755 "$T/bin" "$T/bin/stem-health"
  as_nobody "$T/bin/stem-health" alpha --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --json \
    >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 0 "a user who may not signal root's worker still sees it healthy, through /proc"
  is "$(json "$T/out" '.status')" ok "status ok (a monitoring user needs no right to signal)"
  is "$(json "$T/out" '.pid')" "$alpha" "the pid is reported"
  is "$(json "$T/out" '.uptimeSeconds | type')" number "and its uptime"
  is "$(json "$T/out" 'has("queues")')" false "queues are left out: the environment is unreadable"
  chmod 600 "$T/run/alpha.pid"
  as_nobody "$T/bin/stem-health" alpha --pidfile="$T/run/%n.pid" >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 1 "an unreadable pidfile"
  like "$T/err" "^stem-health: alpha: error: permission-denied: .*Permission denied" "is permission-denied"
  chmod 644 "$T/run/alpha.pid"
  # A log in a directory the user cannot search: unhealthy, still up.
  mkdir -m 700 "$T/private"
  as_nobody "$T/bin/stem-health" alpha --pidfile="$T/run/%n.pid" --logfile="$T/private/%n.log" \
    --max-log-age=1h --format=openmetrics >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 0 "openmetrics, with a log the user cannot reach"
  like "$T/out" '^stem_worker_up\{node="alpha"\} 1$' "the worker is still up: liveness alone"
  like "$T/out" '^stem_worker_healthy\{node="alpha"\} 0$' "but the node is not healthy"
  as_nobody "$T/bin/stem-health" alpha --pidfile="$T/run/%n.pid" --logfile="$T/private/%n.log" \
    --format=nagios --critical=1h >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 3 "nagios: a log that cannot be checked is UNKNOWN"
  like "$T/out" '^STEM-HEALTH UNKNOWN - alpha permission-denied \(.*\) \| alpha_up=1;;;0;1$' \
    "and the perfdata says the worker is up"
  ok_if "the worker was not touched" alive "$alpha"
else
  skip "permission-denied needs root to run a worker as another user"
fi

# A pidfile reached through a link that another user made in a directory
# anyone can write: not followed, and the pidfile is one that cannot be
# trusted (invalid-pid), not one that cannot be read.
if [ "$(id -u)" -eq 0 ]; then
  mkdir -m 1777 "$T/shared"
  as_nobody ln -s "$T/run" "$T/shared/lnk"
  health alpha --pidfile="$T/shared/lnk/%n.pid" --logfile=- --json
  rc_is 1 "a pidfile behind another user's link"
  is "$(json "$T/out" .error)" invalid-pid "is invalid-pid"
  is "$(json "$T/out" .message)" "Opening “$T/shared/lnk/alpha.pid”: “$T/shared/lnk” is a symbolic link that a user other than root could have made or changed: not followed (see SECURITY in stem-multi(1))" \
    "… and the message names the link"
  health alpha --pidfile="$T/shared/lnk/%n.pid" --logfile=- --format=nagios
  rc_is 2 "nagios: CRITICAL, as for any pidfile that cannot be trusted"
else
  skip "a link made by another user needs root"
  skip "a link made by another user needs root"
  skip "a link made by another user needs root"
  skip "a link made by another user needs root"
fi

# Several nodes, one unhealthy.
multi start beta --command "$WORKER" --command run
beta=$(pid_of beta)
health alpha beta ghost
rc_is 1 "one unhealthy node of three fails the call"
like "$T/out" "^alpha: ok \(pid $alpha," "alpha is reported ok"
like "$T/out" "^beta: ok \(pid $beta," "beta is reported ok"
like "$T/err" "^stem-health: ghost: error: pidfile-missing: " "ghost is reported on stderr"
health alpha beta ghost --json
rc_is 1 "--json with several nodes"
is "$(json "$T/out" '.status')" error "the document's status is error"
is "$(json "$T/out" '[.nodes[] | .node + "=" + .status + (if .error then ":" + .error else "" end)] | join(" ")')" \
  "alpha=ok beta=ok ghost=error:pidfile-missing" "one result per node, in order"
health alpha beta --json
rc_is 0 "two healthy nodes"
is "$(json "$T/out" '.status + " " + (.nodes | length | tostring)')" "ok 2" "status ok and two results"

# Nodes from an env file, as stem-multi finds them; counts with --prefix.
printf 'STEMD_NODES="alpha beta"\n' >"$T/nodes.env"
chmod 644 "$T/nodes.env"
env -u STEMD_NODES -u STEM_WORKER_NODES "$HEALTH" --env-file="$T/nodes.env" \
  --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" >"$T/out" 2>"$T/err"
rc=$?
rc_is 0 "STEMD_NODES from --env-file"
is "$(cut -d: -f1 "$T/out" | tr '\n' ' ')" "alpha beta " "names both nodes"
STEM_WORKER_NODES=beta health
rc_is 0 "STEM_WORKER_NODES from the environment"
is "$(cut -d: -f1 "$T/out")" beta "names that node"
cp "$T/run/alpha.pid" "$T/run/w1.pid"
cp "$T/run/beta.pid" "$T/run/w2.pid"
health 2 --prefix=w
rc_is 0 "a count of nodes with --prefix"
is "$(cut -d: -f1 "$T/out" | tr '\n' ' ')" "w1 w2 " "names w1 and w2"

# --quiet: the exit status only.
health alpha --quiet
rc_is 0 "--quiet, healthy"
is "$(cat "$T/out" "$T/err")" "" "prints nothing"
health alpha ghost --quiet --json
rc_is 1 "--quiet, unhealthy"
is "$(cat "$T/out" "$T/err")" "" "prints nothing, even with --json"

# Usage and configuration errors: exit 2, nothing checked.
health --no-such-option
rc_is 2 "an unknown option"
like "$T/err" "^stem-health: Unknown option “--no-such-option”" "is named"
health 'a/b'
rc_is 2 "a bad node name"
health alpha alpha
rc_is 2 "a duplicate node"
health alpha --max-log-age=soon
rc_is 2 "a bad duration"
like "$T/err" "^stem-health: --max-log-age: Invalid duration “soon”" "names the option"
health alpha --uid=no-such-user-here
rc_is 2 "an unknown --uid user"
like "$T/err" "^stem-health: --uid: no such user “no-such-user-here”$" "is named"
run env -u STEMD_NODES -u STEM_WORKER_NODES "$HEALTH"
rc_is 2 "no nodes at all"
like "$T/err" "No nodes given" "says so"
run "$HEALTH" alpha beta --pidfile="$T/run/one.pid"
rc_is 2 "one pidfile for two nodes"
health alpha --env-file="$T/missing.env"
rc_is 2 "a missing env file"
# An env file that is a FIFO nobody writes: refused by its name, never
# waited on (root refuses it as unsafe; any other user must not hang).
mkfifo -m 644 "$T/fifo.env"
mkdir -p "$T/bin"
cp "$HEALTH" "$T/bin/"
chmod 755 "$T/bin" "$T/bin/stem-health"
run as_nobody timeout 10 "$T/bin/stem-health" alpha --env-file="$T/fifo.env" --pidfile="$T/run/%n.pid"
rc_is 2 "an env file that is a FIFO, as a user other than root"
like "$T/err" "^stem-health: $T/fifo.env: not a regular file but a FIFO" "… names it and says what it is"
multi start outonly --command "$WORKER" --command run
health outonly --logfile=- --max-log-age=1m
rc_is 1 "--max-log-age of a node that logs to its starter's output, outside any unit"
like "$T/err" "outonly: error: log-stale: it logs to the output of whatever started it \(--logfile=-\), not to a unit's journal" \
  "says its age cannot be known"
health outonly --logfile=-
rc_is 0 "without --max-log-age it is healthy"
multi stop outonly
health alpha -- extra
rc_is 2 "words after --"
health --help
rc_is 0 "--help"
like "$T/out" "^Usage: stem-health " "prints the usage"
health --version
rc_is 0 "--version"
like "$T/out" "^stem-health [0-9]" "prints the version"

# The uptime is the process's, not the pidfile's.
wait_until 10 older_than "$aged" 2
echo "$aged" >"$T/run/aged.pid"
health aged --json
rc_is 0 "a process older than its pidfile is healthy"
ok_if "uptimeSeconds counts from the process start, not the pidfile" \
  test "$(json "$T/out" '.uptimeSeconds')" -ge 2
near "$(json "$T/out" '.uptimeSeconds')" $(($(date +%s) - $(start_epoch "$aged"))) 2 \
  "uptimeSeconds agrees with /proc/PID/stat"
kill "$aged"

# Paths from an env file (STEMD_PID_FILE, as the SysV scripts read it), as
# stem-multi takes them.
printf 'STEMD_NODES=alpha\nSTEMD_PID_FILE=%s/run/%%n.pid\nSTEMD_LOG_FILE=%s/log/%%n.log\n' "$T" "$T" \
  >"$T/paths.env"
chmod 644 "$T/paths.env"
run env -u STEMD_NODES "$HEALTH" --env-file="$T/paths.env" --json
is "$rc:$(json "$T/out" '.node + " " + .status + " " + .pidfile + " " + .logfile')" \
  "0:alpha ok $T/run/alpha.pid $T/log/alpha.log" "STEMD_NODES, STEMD_PID_FILE and STEMD_LOG_FILE from --env-file"
STEM_PID_DIR="$T/run" run "$HEALTH" alpha --quiet
rc_is 0 "STEM_PID_DIR (upstream's) from the environment"

# GLib alone is linked, and --json needs no library either.
ok_if "stem-health links neither json-glib, GObject, GIO nor libyaml" links_no_parsers "$HEALTH"
if fake_library "$T/fakelib" libjson-glib-1.0.so.0; then
  LD_LIBRARY_PATH=$T/fakelib health alpha --json
  rc_is 0 "--json with a json-glib that lacks everything: json-glib is not loaded"
  is "$(json "$T/out" .node)" alpha "… and the document is printed"
else
  skip "no C compiler to build a stand-in json-glib"
  skip "no C compiler to build a stand-in json-glib"
fi

ok_if "stem-health signalled no worker" alive "$alpha"
multi stop alpha beta
done_testing
