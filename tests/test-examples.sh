#!/bin/bash
# The container and supervisord examples: the entrypoint script becomes
# `stem-multi supervise` (no shell left as PID 1), workers' output reaches
# its stdout or the log files, TERM is a warm shutdown of every node, other
# arguments are run instead; the Dockerfile's health check; the supervisord
# snippet runs each node with the worker as supervisord's own child.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

EXAMPLES=$top_srcdir/data/examples
EP=$EXAMPLES/docker-entrypoint.sh

# "${ENTRY[@]}" VAR=VALUE… sh "$EP" [ARG…]: the entrypoint in an environment
# that holds none of the caller's Stem settings, with STEM_MULTI pointing at
# the build tree.  Run directly (not from a function), a background job's PID
# is the script's own, which exec turns into stem-multi.
ENTRY=(env -u STEM_WORKER_COMMAND -u STEMD_COMMAND -u STEM_WORKER_NODES -u STEMD_NODES
  -u STEM_LOG_TO_STDOUT -u STEM_LOG_DIR -u STEM_PID_DIR -u STEMD_TIMEOUT -u STEMD_OPTS
  -u STEM_ROUTING_CONFIG -u NOTIFY_SOCKET STEM_MULTI="$MULTI" STEM_EXAMPLE_HEARTBEAT=0.2
  STEM_EXAMPLE_WORK=0.2)
no_pidfiles () { ! ls "$T"/run/*.pid >/dev/null 2>&1; }
cmdline () { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }
ppid_of () { awk '{ print $4 }' "/proc/$1/stat" 2>/dev/null; }
# worker_pid FILE NODE: the PID that NODE's "started" line in FILE gives.
worker_pid () { sed -n "s/.* node=$2 pid=\([0-9]*\) .*started\$/\1/p" "$1" | head -1; }
count () { grep -c -- "$2" "$1" 2>/dev/null; }
# finish PID SECONDS: waits, bounded, for our background job PID to end; its
# exit code in $rc (KILLED if it had to be killed).
finish () {
  if wait_until "$2" dead "$1"; then
    wait "$1"
    rc=$?
  else
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    rc=KILLED
  fi
}

# (a) No worker command: a clear error, exit 2, nothing started.
run "${ENTRY[@]}" sh "$EP"
rc_is 2 "without STEM_WORKER_COMMAND the entrypoint fails"
like "$T/err" '^stem-entrypoint: STEM_WORKER_COMMAND is not set' "and says what is missing"
is "$(cat "$T/out")" "" "nothing on stdout"
run "${ENTRY[@]}" STEM_WORKER_COMMAND= STEM_PID_DIR="$T/run" sh "$EP"
rc_is 2 "an empty STEM_WORKER_COMMAND is missing too"
ok_if "no node was started" no_pidfiles

# The command line it builds, seen by a stand-in for stem-multi.
printf '#!/bin/sh\nprintf "%%s\\n" "$@"\n' >"$T/argv"
chmod 755 "$T/argv"
run "${ENTRY[@]}" STEM_MULTI="$T/argv" STEM_WORKER_COMMAND=w sh "$EP"
rc_is 0 "the defaults"
is "$(tr '\n' ' ' <"$T/out")" \
  "supervise worker1 --pidfile=/run/stem/%n.pid --logfile=/var/log/stem/%n.log --timeout=30s " \
  "default node worker1, /run/stem, /var/log/stem, --timeout=30s"
run "${ENTRY[@]}" STEM_MULTI="$T/argv" STEMD_COMMAND=w STEMD_NODES="n1 n2" sh "$EP"
is "$(tr '\n' ' ' <"$T/out")" \
  "supervise n1 n2 --pidfile=/run/stem/%n.pid --logfile=/var/log/stem/%n.log --timeout=30s " \
  "STEMD_NODES and STEMD_COMMAND are accepted"
touch "$T/glob-bait"
(cd "$T" && "${ENTRY[@]}" STEM_MULTI="$T/argv" STEM_WORKER_COMMAND=w STEM_WORKER_NODES=" a  b " \
  STEMD_NODES=ignored STEM_LOG_TO_STDOUT=TRUE STEM_PID_DIR=/p STEMD_TIMEOUT=1m \
  STEMD_OPTS=" --mode=soft  -q * " sh "$EP" --verbose --restart=always >"$T/out" 2>"$T/err")
is "$(tr '\n' ' ' <"$T/out")" \
  "supervise a b --pidfile=/p/%n.pid --logfile=- --timeout=1m --mode=soft -q * --verbose --restart=always " \
  "settings from the environment; STEMD_OPTS split but not globbed; options as arguments appended"
run "${ENTRY[@]}" STEM_MULTI="$T/argv" sh "$EP" --command-line=w
is "$rc:$(tail -1 "$T/out")" "0:--command-line=w" "no STEM_WORKER_COMMAND needed with --command-line"
run "${ENTRY[@]}" STEM_MULTI="$T/argv" STEMD_OPTS=--env-file=/e sh "$EP"
is "$rc:$(tail -1 "$T/out")" "0:--env-file=/e" "nor with --env-file in STEMD_OPTS"
for value in 1 yes Yes true; do
  run "${ENTRY[@]}" STEM_MULTI="$T/argv" STEM_WORKER_COMMAND=w STEM_LOG_TO_STDOUT=$value sh "$EP"
  like "$T/out" '^--logfile=-$' "STEM_LOG_TO_STDOUT=$value: workers write to stdout"
done
for value in 0 no false; do
  run "${ENTRY[@]}" STEM_MULTI="$T/argv" STEM_WORKER_COMMAND=w STEM_LOG_TO_STDOUT=$value \
    STEM_LOG_DIR=/l sh "$EP"
  like "$T/out" '^--logfile=/l/%n\.log$' "STEM_LOG_TO_STDOUT=$value: log files in STEM_LOG_DIR"
done

# (b) Two nodes, output on the container's stdout: the script becomes
# stem-multi supervise, the parent of both workers.
"${ENTRY[@]}" STEM_WORKER_NODES="a b" STEM_WORKER_COMMAND="$EXAMPLE" STEM_LOG_TO_STDOUT=1 \
  STEM_PID_DIR="$T/run" STEMD_TIMEOUT=20s sh "$EP" >"$T/b.out" 2>&1 &
ep=$!
wait_until 10 grep -qs 'node=a pid=[0-9]* .*started$' "$T/b.out"
wait_until 10 grep -qs 'node=b pid=[0-9]* .*started$' "$T/b.out"
like "$T/b.out" '^[0-9TZ:-]+ stem-example-worker: node=a pid=[0-9]+ queues=default started$' \
  "worker a writes to the entrypoint's output"
like "$T/b.out" '^[0-9TZ:-]+ stem-example-worker: node=b pid=[0-9]+ queues=default started$' \
  "and so does worker b"
wait_until 10 grep -qs 'heartbeat node=b' "$T/b.out"
like "$T/b.out" 'heartbeat node=b processed=' "so do their later lines"
pa=$(worker_pid "$T/b.out" a) pb=$(worker_pid "$T/b.out" b)
ok_if "the pidfiles exist" test -s "$T/run/a.pid" -a -s "$T/run/b.pid"
is "$(cat "$T/run/a.pid" 2>/dev/null):$(cat "$T/run/b.pid" 2>/dev/null)" "$pa:$pb" \
  "and name the running workers"
# stem-multi supervise plans the nodes, then becomes the small resident
# supervisor (stem-supervise): same PID, so still PID 1 in a container.
like_cmd=$(cmdline "$ep")
ok_if "the shell was replaced by stem-multi supervise, now its supervisor ($like_cmd)" \
  test "${like_cmd%% *}" = "$top_builddir/src/stem-supervise"
is "$(ppid_of "$pa"):$(ppid_of "$pb")" "$ep:$ep" "stem-multi supervise is the workers' parent"

# The image's health check, as the Dockerfile spells it, on this container.
hc=$(sed -n '/^HEALTHCHECK/,/[^\\]$/p' "$EXAMPLES/Dockerfile" | sed 's/\\$//' | tr '\n' ' ' |
  sed -n 's/.* CMD //p')
mkdir -p "$T/hcbin"
ln -s "$MULTI" "$T/hcbin/stem-multi"
health () { env PATH="$T/hcbin:$PATH" STEM_PID_DIR="$T/run" STEM_WORKER_NODES="a b" sh -c "$hc"; }
ok_if "the Dockerfile has a HEALTHCHECK command" test -n "$hc"
run health
rc_is 0 "the HEALTHCHECK command: healthy while both nodes run"

kill -TERM "$ep"
finish "$ep" 30
rc_is 0 "TERM (docker stop): supervise exits 0"
is "$(count "$T/b.out" ' stopped (warm) node=')" 2 "both workers made a warm shutdown"
like "$T/b.out" 'stem-multi: got SIGTERM: stopping all nodes' "supervise forwarded TERM"
ok_if "no worker is left (a)" dead "$pa"
ok_if "no worker is left (b)" dead "$pb"
ok_if "the pidfiles are gone" no_pidfiles
run health
ok_if "the HEALTHCHECK command: unhealthy once stopped (exit $rc)" test "$rc" -ne 0

# (c) Log files: each node's output in STEM_LOG_DIR/NODE.log, created as
# needed; STEMD_NODES; STEMD_OPTS reach stem-multi.
"${ENTRY[@]}" STEMD_NODES=c STEM_WORKER_COMMAND="$EXAMPLE" STEM_PID_DIR="$T/run" \
  STEM_LOG_DIR="$T/files" STEMD_OPTS="-q images" sh "$EP" >"$T/c.out" 2>&1 &
ep=$!
wait_until 10 grep -qs 'node=c pid=[0-9]* .*started$' "$T/files/c.log"
like "$T/files/c.log" '^[0-9TZ:-]+ stem-example-worker: node=c pid=[0-9]+ queues=images started$' \
  "the worker logs to STEM_LOG_DIR/c.log, with the queue from STEMD_OPTS"
like "$T/c.out" '^stem-multi: c: started \(pid [0-9]+\)$' "supervise's own lines stay on its output"
unlike "$T/c.out" 'stem-example-worker' "the worker's lines do not"
pc=$(worker_pid "$T/files/c.log" c)
kill -TERM "$ep"
finish "$ep" 30
rc_is 0 "TERM: supervise exits 0"
like "$T/files/c.log" ' stopped \(warm\) node=' "the warm shutdown is in the log file"
ok_if "no worker is left" dead "$pc"
ok_if "no pidfile is left" no_pidfiles

# (d) Arguments are run instead, without needing a worker command.
run "${ENTRY[@]}" sh "$EP" "$MULTI" names x y
rc_is 0 "arguments: they are run instead"
is "$(tr '\n' ' ' <"$T/out")" "x y " "stem-multi names x y ran"
"${ENTRY[@]}" sh "$EP" sh -c 'printf "%s|" "$$" "$0" "$@"' zero "one  two" '*' \
  >"$T/out" 2>"$T/err" &
p=$!
finish "$p" 10
is "$(cat "$T/out")" "$p|zero|one  two|*|" "exec'd in place of the script, with its arguments intact"

# (e) POSIX sh, shellcheck-clean.
if command -v shellcheck >/dev/null; then
  run shellcheck -s sh "$EP"
  is "$rc:$(cat "$T/out" "$T/err")" "0:" "shellcheck -s sh docker-entrypoint.sh"
else
  skip "shellcheck is not installed (apt-get install shellcheck)"
fi

# The Dockerfile installs the script where its ENTRYPOINT looks, runs as
# user stem, stops with TERM.
like "$EXAMPLES/Dockerfile" '^COPY .* /usr/local/bin/stem-entrypoint$' \
  "the Dockerfile installs the entrypoint"
like "$EXAMPLES/Dockerfile" '^ENTRYPOINT \["/usr/local/bin/stem-entrypoint"\]$' "and runs it"
like "$EXAMPLES/Dockerfile" '^USER stem$' "as user stem"
like "$EXAMPLES/Dockerfile" '^STOPSIGNAL SIGTERM$' "stopping with TERM"

# (f) The supervisord snippet, with its paths moved under $T: supervisord
# starts the worker itself, named after the program, and TERM stops it warm.
if ! command -v supervisord >/dev/null || ! command -v supervisorctl >/dev/null; then
  skip "supervisord is not installed (apt-get install supervisor)"
else
  mkdir -p "$T/sup"
  sed -e "s|/usr/bin/stem-multi|$MULTI|g" -e "s|/etc/stem/stem.env|$T/sup/stem.env|g" \
    -e "s|/run/stem/|$T/run/|g" -e "s|/var/log/supervisor/|$T/sup/|g" \
    -e "s|^user=stem\$|user=$(id -un)|" "$EXAMPLES/supervisord.conf" >"$T/sup/stem.conf"
  grep -v '^;' "$T/sup/stem.conf" >"$T/sup/settings"
  unlike "$T/sup/settings" '(=|[[:space:]])/(usr|etc|run|var)/|^user=stem$' \
    "the test's copy of the snippet has no system path left"
  printf 'STEM_WORKER_COMMAND=%s\nSTEM_EXAMPLE_HEARTBEAT=0.2\nSTEM_EXAMPLE_WORK=0.2\n' \
    "$EXAMPLE" >"$T/sup/stem.env"
  chmod 600 "$T/sup/stem.env"
  cat >"$T/sup/supervisord.conf" <<EOF
[unix_http_server]
file=$T/sup/supervisor.sock

[supervisord]
nodaemon=true
logfile=$T/sup/supervisord.log
pidfile=$T/sup/supervisord.pid
childlogdir=$T/sup
loglevel=info

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$T/sup/supervisor.sock

[include]
files = $T/sup/stem.conf
EOF
  ctl () { timeout 60 supervisorctl -c "$T/sup/supervisord.conf" "$@"; }
  env -u STEM_WORKER_COMMAND -u STEMD_COMMAND -u STEMD_NODES -u STEM_WORKER_NODES \
    supervisord -c "$T/sup/supervisord.conf" >"$T/sup/out" 2>&1 &
  supd=$!
  wait_until 15 grep -qs 'node=stem-alpha pid=[0-9]* .*started$' "$T/sup/stem-alpha.log"
  wait_until 15 grep -qs 'node=stem-beta pid=[0-9]* .*started$' "$T/sup/stem-beta.log"
  like "$T/sup/stem-alpha.log" \
    '^[0-9TZ:-]+ stem-example-worker: node=stem-alpha pid=[0-9]+ queues=default started$' \
    "supervisord runs stem-alpha with the command from the env file; its output in stdout_logfile"
  like "$T/sup/stem-beta.log" 'node=stem-beta pid=[0-9]+ ' "and stem-beta"
  sa=$(worker_pid "$T/sup/stem-alpha.log" stem-alpha)
  is "$(cat "$T/run/stem-alpha.pid" 2>/dev/null)" "$sa" "the pidfile names the worker"
  is "$(ctl pid stem:stem-alpha)" "$sa" "which is the process supervisord started (--foreground)"
  is "$(ppid_of "$sa")" "$supd" "a child of supervisord"
  run "$MULTI" status stem-alpha stem-beta --pidfile="$T/run/%n.pid"
  rc_is 0 "stem-multi status sees both nodes running"
  run ctl stop stem:stem-alpha
  wait_until 5 grep -qs ' stopped (warm) node=' "$T/sup/stem-alpha.log"
  like "$T/sup/stem-alpha.log" ' stopped \(warm\) node=' "supervisorctl stop: a warm shutdown (TERM)"
  like "$T/out" 'stem-alpha: stopped' "supervisorctl reports it stopped"
  ok_if "the worker is gone" dead "$sa"
  # Nobody is left to remove the pidfile of a worker that exec'd: status
  # finds it stale (and cleans it), as the next start would.
  run "$MULTI" status stem-alpha --pidfile="$T/run/%n.pid"
  ok_if "stem-multi status: stem-alpha is not running (exit $rc)" test "$rc" -eq 1 -o "$rc" -eq 3
  run ctl status stem:stem-beta
  like "$T/out" '^stem:stem-beta +(STARTING|RUNNING) ' "stem-beta still runs"
  kill -TERM "$supd"
  finish "$supd" 60
  wait_until 5 grep -qs ' stopped (warm) node=' "$T/sup/stem-beta.log"
  like "$T/sup/stem-beta.log" ' stopped \(warm\) node=' "stopping supervisord stops stem-beta warm"
  unlike "$T/sup/supervisord.log" 'SIGKILL|exit status [1-9]|FATAL|BACKOFF' \
    "no node was killed, failed or restarted"
  is "$rc" 0 "supervisord has exited (exit 0)"
fi

done_testing
