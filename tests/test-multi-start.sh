#!/bin/bash
# Starting: configuration errors change nothing, exec failures leave no
# pidfile, --settle, --foreground, the worker's environment, concurrency.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

no_pidfiles () { ! ls "$T"/run/*.pid >/dev/null 2>&1; }

multi start alpha --command "$T/missing-program"
rc_is 2 "a missing program is a configuration error"
like "$T/err" "^stem-multi: Program “$T/missing-program” does not exist$" "naming the program"
printf '#!%s/venv/bin/python3\nprint(1)\n' "$T" >"$T/orphan-script"
chmod 755 "$T/orphan-script"
multi start alpha --command "$T/orphan-script"
rc_is 2 "a script whose interpreter is missing is a configuration error"
like "$T/err" "^stem-multi: Program “$T/orphan-script” is a script for “$T/venv/bin/python3”, which does not exist$" \
  "naming the interpreter"
ok_if "nothing was started" no_pidfiles
multi start alpha --command-line "no-such-worker-program --flag"
rc_is 2 "a program not on PATH"
like "$T/err" "Program “no-such-worker-program” not found on PATH" "says it looked on PATH"
printf '#!/bin/sh\n' >"$T/not-executable"
chmod 644 "$T/not-executable"
multi start alpha beta --command "$T/not-executable"
rc_is 2 "a program that is not executable"
like "$T/err" "^stem-multi: alpha: Program “$T/not-executable” is not executable$" "reported for alpha"
like "$T/err" "^stem-multi: beta: Program “$T/not-executable” is not executable$" "and for beta"
ok_if "nothing was started, no pidfile" no_pidfiles

env -u STEM_WORKER_COMMAND -u STEMD_COMMAND "$MULTI" start alpha --pidfile="$T/run/%n.pid" >"$T/out" 2>"$T/err"
rc=$?
rc_is 2 "no command at all"
like "$T/err" "No worker command: give --command or --command-line, or set STEM_WORKER_COMMAND" \
  "says where it looked"

printf 'STEM_WORKER_COMMAND=%s\nGOOD=1\nBAD=two words\n' "$WORKER" >"$T/bad.env"
chmod 600 "$T/bad.env"
multi start alpha beta --env-file="$T/bad.env"
rc_is 2 "a bad env file is a configuration error"
like "$T/err" "^stem-multi: $T/bad.env:3: " "with FILE:LINE"
ok_if "nothing was started" no_pidfiles

if [ "$(id -u)" -eq 0 ]; then
  printf 'STEM_WORKER_COMMAND=%s\n' "$WORKER" >"$T/loose.env"
  chmod 664 "$T/loose.env"
  multi start alpha --env-file="$T/loose.env" --command-line "$WORKER run"
  rc_is 2 "root refuses a group-writable env file"
  like "$T/err" "chmod go-w" "and says how to fix it"
  ok_if "nothing was started" no_pidfiles
else
  skip "the env-file ownership rule applies to root only; not running as root"
fi

multi start alpha --pidfile="$T/run/%d.pid" --command "$WORKER"
rc_is 2 "a pidfile template with %d is refused"
run "$MULTI" start alpha beta --pidfile="$T/run/worker.pid" --command "$WORKER"
rc_is 2 "one pidfile template without %n for two nodes is refused"
run "$MULTI" start alpha beta --pidfile="$T/run/%n.pid" --logfile:beta="$T/run/alpha.pid" \
  --command "$WORKER"
rc_is 2 "a log file that is another node's pidfile is refused"
like "$T/err" "Log file “$T/run/alpha.pid” of node “beta” is the pidfile of node “alpha”" \
  "naming both nodes"
ok_if "nothing was started" no_pidfiles
# The same files under other paths: a link to a directory (as /var/run is
# to /run), compared by what they name.
mkdir -p "$T/run"
ln -s run "$T/run2"
run "$MULTI" start alpha beta --pidfile="$T/run/%n.pid" --pidfile:beta="$T/run2/alpha.pid" \
  --logfile="$T/log/%n.log" --command "$WORKER" --command run
rc_is 2 "two nodes whose pidfiles are one file through a link are refused"
like "$T/err" "^stem-multi: “$T/run2/alpha.pid”, the pidfile of node “beta”, and “$T/run/alpha.pid”, the pidfile of node “alpha”, are the same file$" \
  "naming both paths and both nodes"
is "$(grep -c . "$T/err")" 1 "(their lock files, one with them, go unsaid)"
ok_if "nothing was started" no_pidfiles
run "$MULTI" start alpha beta --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  --logfile:beta="$T/run2/alpha.pid" --command "$WORKER" --command run
rc_is 2 "a log file that is another node's pidfile through a link is refused"
like "$T/err" "“$T/run2/alpha.pid”, the log file of node “beta”, and “$T/run/alpha.pid”, the pidfile of node “alpha”, are the same file" \
  "saying so"
ok_if "nothing was started" no_pidfiles
printf 'STEM_DEFAULT_QUEUE=q\n' >"$T/own.env"
run "$MULTI" start alpha beta --env-file="$T/own.env" --pidfile="$T/run/%n.pid" \
  --logfile="$T/log/%n.log" --logfile:beta="$T/own.env" --command "$WORKER" --command run
rc_is 2 "a log file that is an env file of the call is refused"
like "$T/err" "“$T/own.env”, an env file, and “$T/own.env”, the log file of node “beta”, are the same file" \
  "(the worker's output would be read as settings next time)"
ok_if "nothing was started" no_pidfiles
is "$(cat "$T/own.env")" "STEM_DEFAULT_QUEUE=q" "and the env file is as it was"
printf 'queues: {default: {}}\n' >"$T/routing.yaml"
ln "$T/routing.yaml" "$T/routing-link.yaml"
run "$MULTI" start alpha --routing-config="$T/routing.yaml" --pidfile="$T/run/%n.pid" \
  --logfile="$T/routing-link.yaml" --command "$WORKER" --command run
rc_is 2 "a log file that is the routing file through a hard link is refused"
like "$T/err" "“$T/routing.yaml”, the routing file, and “$T/routing-link.yaml”, the log file of node “alpha”, are the same file" \
  "saying so"
ok_if "nothing was started" no_pidfiles
run "$MULTI" start alpha beta --pidfile="$T/run/%n.pid" --logfile="$T/log/shared.log" \
  --command "$WORKER" --command run
rc_is 0 "two nodes may share a log file"
multi stop alpha beta
# A pidfile's name that leaves no room for ".lock" (a file name has at most
# 255 bytes): refused before anything is made.
long=$(printf 'p%.0s' $(seq 1 246))
run "$MULTI" start alpha --pidfile="$T/new/${long}%n.pid" --logfile="$T/log/%n.log" \
  --command "$WORKER" --command run
rc_is 2 "a pidfile name too long for its lock file is refused"
like "$T/err" "^stem-multi: --pidfile: the pidfile's name “${long}alpha.pid” is too long: its lock file's name, with “.lock” added, would have more than 255 bytes$" \
  "naming the option and the name"
ok_if "and nothing is made" test ! -e "$T/new"
# The longest name that leaves room: the pidfile is written through a
# temporary file whose name is cut to fit.
long=$(printf 'p%.0s' $(seq 1 241))
run "$MULTI" start alpha --pidfile="$T/run/${long}%n.pid" --logfile="$T/log/%n.log" \
  --settle=0 --command "$WORKER" --command run
rc_is 0 "a pidfile name of 250 bytes works"
ok_if "its pidfile is written" test -s "$T/run/${long}alpha.pid"
run "$MULTI" stop alpha --pidfile="$T/run/${long}%n.pid" --logfile="$T/log/%n.log"
rc_is 0 "and the node stops"
multi start alpha/../x --command "$WORKER"
rc_is 2 "a bad node name"
like "$T/err" "alpha/../x" "is named in the error"
multi start alpha alpha --command "$WORKER"
rc_is 2 "a duplicate node"
multi stop alpha --timeout=soon
rc_is 2 "a bad duration"
like "$T/err" "^stem-multi: --timeout: Invalid duration “soon”" "names the option"
# Every bad value names the option it was given to.
for bad in --settle=soon --lock-timeout=soon --mode=gently --retry=TERM/soon --pidfile= \
  --logfile= --workdir= --env-file=; do
  multi start alpha "$bad" --command "$WORKER" --command run
  rc_is 2 "$bad is refused"
  like "$T/err" "^stem-multi: (alpha: )?${bad%%=*}: " "naming ${bad%%=*}"
done
multi start alpha --no-such-option
rc_is 2 "an unknown option"
like "$T/err" "no-such-option" "is named"
multi frobnicate alpha
rc_is 2 "an unknown verb"
ok_if "after all these errors nothing runs" no_pidfiles

multi start alpha --logfile=- --command "$WORKER"
rc_is 2 "a detached start refuses --logfile=-"
like "$T/err" "needs --foreground or supervise" "and says where it works"

# Exec failures come back through the close-on-exec pipe.
# (An executable file in no format the kernel runs: no #! line, no ELF.)
printf 'not a program\n' >"$T/not-a-program"
chmod 755 "$T/not-a-program"
multi start alpha --command "$T/not-a-program"
rc_is 1 "an exec failure fails the node"
like "$T/err" "^stem-multi: alpha: Executing “$T/not-a-program”: Exec format error$" \
  "with the exec error"
ok_if "and leaves no pidfile" no_pidfiles
multi start alpha --command "$WORKER" --workdir="$T/not-executable/sub"
rc_is 1 "a working directory that cannot be created fails the node"
like "$T/err" "^stem-multi: alpha: Creating directory “$T/not-executable”: Not a directory$" \
  "with a clear message"
ok_if "and leaves no pidfile" no_pidfiles
multi start wd --command "$WORKER" --command run --workdir="$T/work/%n"
rc_is 0 "a missing working directory is created"
ok_if "the worker runs in it" test "$(readlink "/proc/$(pid_of wd)/cwd")" = "$T/work/wd"
multi stop wd

# --settle reports a worker that dies at once, with its last log lines.
multi start early --command "$WORKER" --command exit --command 3
rc_is 1 "a worker that exits at once fails the start"
like "$T/err" "^stem-multi: early: exited with status 3 within 500ms of starting \(pid [0-9]+\); see “$T/log/early.log”$" \
  "the settle check reports it, and how it exited"
like "$T/err" "^  ready pid=" "with the last lines of its log"
ok_if "its pidfile is removed" test ! -e "$T/run/early.pid"
multi start segv --command-line="sh -c 'kill -SEGV \$\$'"
rc_is 1 "a worker killed by a signal at once fails the start"
like "$T/err" "^stem-multi: segv: killed by SIGSEGV within 500ms of starting \(pid [0-9]+\); see “$T/log/segv.log”$" \
  "the settle check names the signal"
multi start daemon --command-line="sh -c 'sleep 3602 & exit 0'"
rc_is 1 "a worker that puts itself in the background fails the start"
like "$T/err" "^stem-multi: daemon: exited with status 0 within 500ms of starting \(pid [0-9]+\); see “$T/log/daemon.log” \(if it put itself in the background, as celery --detach does, nothing can follow it: a worker must run in the foreground\)$" \
  "the settle check says a worker must run in the foreground"
multi start loud --command-line="printf 'title \\033]0;owned\\007 clear \\033[2J c1 \\302\\233 end\\n'"
rc_is 1 "a worker that prints escape sequences and exits"
like "$T/err" "^  title \?\]0;owned\? clear \?\[2J c1 \? end$" \
  "its last lines reach the terminal without them"
multi start early --command "$WORKER" --command exit --command 3 --settle=0
rc_is 0 "--settle=0 does not wait"

# What a worker that dies within --settle left in its process group is
# ended, whether it died before the wait began or during it.
left_of () { sed -n 's/^left=\([0-9]*\)$/\1/p' "$T/log/$1.log"; }
multi start quitter --verbose --command-line="sh -c 'sleep 3601 & echo left=\$!; exit 1'"
rc_is 1 "a worker that forks and dies at once fails the start"
left=$(left_of quitter)
ok_if "the process it left is known from its log" test -n "$left"
ok_if "and ended before start returns" eval '! alive "${left:-0}"'
like "$T/err" "^stem-multi: quitter: ended 1 process the worker left in its process group [0-9]+$" \
  "--verbose says so"
ok_if "the pidfile is removed" test ! -e "$T/run/quitter.pid"
multi start later --settle=10s \
  --command-line="sh -c 'sleep 3602 & echo left=\$!; sleep 0.3; exit 1'"
rc_is 1 "a worker that forks and dies during the wait fails the start"
left=$(left_of later)
ok_if "what it left is ended too" eval '[ -n "$left" ] && ! alive "$left"'
multi start keeper --no-kill-group --command-line="sh -c 'sleep 3603 & echo left=\$!; exit 1'"
rc_is 1 "with --no-kill-group"
left=$(left_of keeper)
ok_if "what the worker left is left alone" eval '[ -n "$left" ] && alive "$left"'
[ -n "$left" ] && kill "$left"

# The environment a worker gets (SPEC 3.7).
printf 'FROM_FILE=file\nSTEM_DEFAULT_QUEUE=mine\n' >"$T/worker.env"
chmod 644 "$T/worker.env"
multi start envy --command "$WORKER" --command print-env --env-file="$T/worker.env" \
  -q default -q images -b news
rc_is 0 "start with an env file and queues"
wait_until 10 grep -qs '^env STEM_WORKER_NODE=' "$T/log/envy.log"
for line in STEM_WORKER_NODE=envy STEM_WORKER_INDEX=1 "STEM_WORKER_HOST=$(hostname)" \
  "STEM_WORKER_PIDFILE=$T/run/envy.pid" "STEM_WORKER_LOGFILE=$T/log/envy.log" \
  STEM_WORKER_QUEUES=default,images STEM_WORKER_BROADCASTS=news FROM_FILE=file \
  STEM_DEFAULT_QUEUE=mine "PATH=$PATH"; do
  like "$T/log/envy.log" "^env $line\$" "the worker sees $line"
done
multi stop envy
# --routing-config= is no routing file, for the worker too: it does not
# get the one in the environment, which would not have been checked.
printf 'queues:\n  primary: {}\ndefault_queue: {queue: primary}\n' >"$T/routing.yaml"
run env STEM_ROUTING_CONFIG="$T/routing.yaml" "$MULTI" start nort --routing-config= -q other \
  --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --command "$WORKER" --command print-env
rc_is 0 "start with --routing-config= and a queue no routing file defines"
wait_until 10 grep -qs '^env STEM_WORKER_NODE=' "$T/log/nort.log"
unlike "$T/log/nort.log" '^env STEM_ROUTING_CONFIG=' "… gives the worker no STEM_ROUTING_CONFIG"
like "$T/log/nort.log" '^env STEM_WORKER_QUEUES=other$' "… and the queue as given"
multi stop nort
# An empty STEM_DEFAULT_QUEUE counts as unset: the first queue given is it.
printf 'STEM_DEFAULT_QUEUE=\n' >"$T/emptyq.env"
multi start emptyq --command "$WORKER" --command print-env --env-file="$T/emptyq.env" -q images
wait_until 10 grep -qs '^env STEM_WORKER_NODE=' "$T/log/emptyq.log"
like "$T/log/emptyq.log" '^env STEM_DEFAULT_QUEUE=images$' \
  "an empty STEM_DEFAULT_QUEUE in an env file is set to the first queue"
multi stop emptyq

# --uid naming the caller itself, as the SysV scripts give it once they
# run as the service user: the worker gets that user's USER, LOGNAME and
# HOME (as under systemd's User=), not the caller's.
# As root, as nobody (setpriv, as the scripts do): root's own --uid
# already switched.
as_caller=()
me=$(id -un)
if [ "$(id -u)" -eq 0 ] && getent passwd nobody >/dev/null; then
  me=nobody
  as_caller=(setpriv --reuid=nobody --regid="$(id -g nobody)" --init-groups --)
  mkdir -p "$T/self"
  chown nobody "$T/self"
fi
home=$(getent passwd "$me" | cut -d: -f6)
run env HOME=/elsewhere USER=someone LOGNAME=someone "${as_caller[@]}" "$MULTI" start self \
  --uid="$me" --pidfile="$T/self/%n.pid" --logfile="$T/self/%n.log" --command "$WORKER" \
  --command print-env
rc_is 0 "start with --uid naming the caller ($me)"
wait_until 10 grep -qs '^env HOME=' "$T/self/self.log"
for line in "USER=$me" "LOGNAME=$me" "HOME=$home"; do
  like "$T/self/self.log" "^env $line\$" "… the worker sees $line"
done
run "${as_caller[@]}" "$MULTI" stop self --pidfile="$T/self/%n.pid"
rc_is 0 "… and stops"

# Missing directories are made with mode 0755 whatever the umask (root's
# 077 would hide the pidfiles from the service user and from monitoring).
(umask 077 && exec "$MULTI" start masked --pidfile="$T/made/run/%n.pid" --logfile="$T/made/log/%n.log" \
  --workdir="$T/made/work/x" --command "$WORKER" --command run >"$T/out" 2>"$T/err")
rc=$?
rc_is 0 "start under umask 077, making its directories"
is "$(stat -c %a "$T/made" "$T/made/run" "$T/made/log" "$T/made/work" "$T/made/work/x" | tr '\n' ' ')" \
  "755 755 755 755 755 " "… each made with mode 0755, not 0700"
multi stop masked --pidfile="$T/made/run/%n.pid"

# Relative templates become absolute, placeholders expand in the argv.
(cd "$T" && "$MULTI" start rel --pidfile=run/%n.pid --logfile=log/%n-%I.log \
  --command "$WORKER" --command print-args --command '%n/%N/%I/%%' >"$T/out" 2>"$T/err")
rc=$?
rc_is 0 "start with relative templates"
ok_if "the pidfile is where the template says" test -f "$T/run/rel.pid"
wait_until 10 grep -qs '^arg\[2\]' "$T/log/rel-1.log"
like "$T/log/rel-1.log" '^arg\[2\]=rel/REL/1/%$' "placeholders expand in worker arguments"
pid=$(pid_of rel)
ok_if "STEM_WORKER_PIDFILE is absolute" grep -qz "^STEM_WORKER_PIDFILE=$T/run/rel.pid\$" "/proc/$pid/environ"
multi stop rel

# --foreground writes the pidfile, then becomes the worker.
"$MULTI" start solo --foreground --pidfile="$T/run/%n.pid" --command "$WORKER" --command run \
  >"$T/fg.log" 2>&1 &
fg=$!
wait_until 10 grep -qs '^ready' "$T/fg.log"
is "$(pid_of solo)" "$fg" "--foreground: the pidfile holds the worker's own PID"
ok_if "--foreground: the process is the worker itself" grep -q stem-test-worker "/proc/$fg/cmdline"
like "$T/fg.log" "^ready pid=$fg node=solo$" "--foreground keeps stdout (for the journal)"
multi start solo --foreground --command "$WORKER" --command run
rc_is 1 "a second --foreground start of a running node fails"
like "$T/err" "solo: already running \(pid $fg\)" "saying it is already running"
multi stop solo
rc_is 0 "stop the foreground node"
wait "$fg"
is "$?" 0 "the foreground worker exited cleanly on TERM"
multi start a b --foreground --command "$WORKER"
rc_is 2 "--foreground with two nodes is a usage error"

# --foreground with a worker that cannot be run: said where stem-multi's
# errors go (not only in the log it was about to write), pidfile removed.
printf 'not a program\n' >"$T/not-a-program-fg"
chmod 755 "$T/not-a-program-fg"
multi start fgbad --foreground --command "$T/not-a-program-fg"
rc_is 1 "--foreground with a program the kernel cannot run"
like "$T/err" "^stem-multi: fgbad: Executing “$T/not-a-program-fg”: Exec format error$" \
  "is said on stem-multi's standard error, not in the log"
ok_if "its pidfile is removed" test ! -e "$T/run/fgbad.pid"
if [ "$(id -u)" -eq 0 ]; then
  mkdir -m 700 "$T/rootonly"
  multi start fguid --foreground --uid=65534 --workdir="$T/rootonly" --command "$WORKER"
  rc_is 1 "--foreground --uid with a working directory the user cannot enter"
  like "$T/err" "^stem-multi: fguid: Entering working directory “$T/rootonly”: Permission denied$" \
    "says so"
  ok_if "root's pidfile is removed, though the user could not have" test ! -e "$T/run/fguid.pid"
else
  skip "--foreground --uid needs root"
fi

# Twenty concurrent starts of one node give exactly one worker.
for i in $(seq 1 20); do
  "$MULTI" start once --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --settle=0 \
    --command "$WORKER" --command run >"$T/c$i.out" 2>&1 &
done
wait
is "$(cat "$T"/c*.out | grep -c '^once: started')" 1 "exactly one start wins"
is "$(cat "$T"/c*.out | grep -c '^once: already running')" 19 "the others report already running"
count=0
for env in /proc/[0-9]*/environ; do
  if grep -qsz "^STEM_WORKER_PIDFILE=$T/run/once.pid\$" "$env"; then count=$((count + 1)); fi
done
is "$count" 1 "exactly one worker process exists"
multi stop once

# A start holds the node's lock until its worker has settled: a stop
# meanwhile waits for the start's verdict, then stops the worker, instead
# of stopping it under the start, which then reported it exited.  So does
# a restart, node by node.
"$MULTI" start held --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --settle=2s \
  --command "$WORKER" --command run >"$T/held.out" 2>&1 &
starter=$!
wait_until 10 test -s "$T/run/held.pid"
multi stop held
rc_is 0 "a stop during a start's --settle waits for the start, then stops the node"
wait "$starter"
rc=$?
rc_is 0 "and the start reports the node started"
like "$T/held.out" '^held: started \(pid [0-9]+\)$' "… as started"
multi start held --settle=0 --command "$WORKER" --command run
"$MULTI" restart held --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --settle=2s \
  --command "$WORKER" --command run >"$T/held.out" 2>&1 &
restarter=$!
first=$(pid_of held)
wait_until 10 eval '[ -n "$(pid_of held)" ] && [ "$(pid_of held)" != "$first" ]'
multi stop held
rc_is 0 "a stop during a restart's --settle waits for the restart, then stops the node"
wait "$restarter"
rc=$?
rc_is 0 "and the restart reports the node restarted"

# A node whose lock another process holds (a stop still waiting for its
# worker) holds up none of the others: they start at once, and it starts
# once the lock is free, with a word on why it waits.
touch "$T/run/busy2.pid.lock"
mkfifo "$T/release"
# The holder keeps the lock until the test writes to the FIFO.
(exec 9<"$T/run/busy2.pid.lock" && flock 9 && exec head -c 1 "$T/release") >/dev/null 2>&1 &
holder=$!
wait_until 10 eval '! flock -n "$T/run/busy2.pid.lock" true'
"$MULTI" start busy1 busy2 busy3 --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --settle=0 \
  --command "$WORKER" --command run >"$T/busy.out" 2>"$T/busy.err" &
starter=$!
ok_if "the free nodes start while another node's lock is held" \
  wait_until 20 eval 'test -s "$T/run/busy1.pid" && test -s "$T/run/busy3.pid"'
ok_if "the busy one is waited for, not started" eval '[ ! -e "$T/run/busy2.pid" ] && alive "$starter"'
ok_if "and the call says why it waits" wait_until 10 grep -qx \
  "stem-multi: busy2: its lock file “$T/run/busy2\.pid\.lock” is held by another process: waiting for it, 1m at most" \
  "$T/busy.err"
multi start busy2 --lock-timeout=0 --settle=0 --command "$WORKER" --command run
rc_is 1 "with --lock-timeout=0, the busy node fails at once"
like "$T/err" "^stem-multi: busy2: Gave up waiting 0\.0 s for lock file “$T/run/busy2\.pid\.lock”" \
  "… naming its lock file"
ok_if "… without saying it waits" eval '! grep -q "waiting for it" "$T/err"'
echo >"$T/release"
wait "$holder"
wait "$starter"
rc=$?
rc_is 0 "once the lock is free, the start ends"
like "$T/busy.out" '^busy2: started \(pid [0-9]+\)$' "with the busy node started too"
is "$(sed 's/: .*//' "$T/busy.out" | tr '\n' ' ')" "busy1 busy2 busy3 " "reported in the order given"
multi stop busy1 busy2 busy3

# Many nodes at once are launched by more than one server where there are
# CPUs to run them side by side (one more for every 16 nodes), and a node
# that fails there fails alone.  A worker's session is its server's.
session_of () { ps -o sid= -p "$1" | tr -d ' '; }
many=$(seq -f 'many%g' 1 20)
# shellcheck disable=SC2086 # one word per node
multi start $many --settle=0 --command-line="$WORKER run" \
  --command-line:many7="$T/not-a-program"
rc_is 1 "start 20 nodes at once, one of which cannot be executed"
like "$T/err" "^stem-multi: many7: Executing “$T/not-a-program”: Exec format error$" \
  "the one that failed is named"
ok_if "and has no pidfile" test ! -e "$T/run/many7.pid"
started=0 sessions=
for n in $many; do
  [ "$n" = many7 ] && continue
  p=$(pid_of "$n")
  if [ -n "$p" ] && grep -qsz "^STEM_WORKER_PIDFILE=$T/run/$n.pid\$" "/proc/$p/environ" \
    && wait_until 10 grep -qs "^ready pid=$p node=$n\$" "$T/log/$n.log"; then
    started=$((started + 1))
  fi
  sessions="$sessions $(session_of "${p:-0}")"
done
is "$started" 19 "the other 19 run, each recorded in its own pidfile and writing its own log"
if [ "$(nproc)" -ge 2 ]; then
  is "$(echo $sessions | tr ' ' '\n' | sort -u | wc -l)" 2 "launched by two servers"
else
  skip "one CPU: one server launches them all"
fi
# shellcheck disable=SC2086
multi stop $many
rc_is 0 "stop them all"
multi start few1 few2 few3 --settle=0 --command "$WORKER" --command run
rc_is 0 "start three nodes"
is "$(for n in few1 few2 few3; do session_of "$(pid_of $n)"; done | sort -u | wc -l)" 1 \
  "three nodes come from one server"
multi stop few1 few2 few3

# A worker whose pidfile cannot be written does not run on unrecorded: here
# the pidfile's file system has no inode left for it (its lock file was
# made beforehand), so the worker, already running, is killed.
no_live_worker_of () { # PIDFILE: no living process has it in its environment
  local p
  for p in /proc/[0-9]*; do
    grep -qsz "^STEM_WORKER_PIDFILE=$1\$" "$p/environ" && alive "${p#/proc/}" && return 1
  done
  return 0
}
if [ "$(id -u)" -ne 0 ]; then
  skip "needs root to mount a small tmpfs"
  skip "needs root to mount a small tmpfs"
  skip "needs root to mount a small tmpfs"
elif mkdir "$T/tiny" && mount -t tmpfs -o size=1m,nr_inodes=8 stem-test "$T/tiny" 2>/dev/null; then
  multi start tiny --pidfile="$T/tiny/%n.pid" --command "$WORKER" --command run
  multi stop tiny --pidfile="$T/tiny/%n.pid"
  i=0
  while touch "$T/tiny/filler$i" 2>/dev/null; do i=$((i + 1)); done
  multi start tiny --pidfile="$T/tiny/%n.pid" --command "$WORKER" --command run
  rc_is 1 "a pidfile that cannot be written fails the node"
  like "$T/err" "^stem-multi: tiny: Cannot write pidfile “$T/tiny/tiny\.pid”: No space left on device$" \
    "naming the pidfile and why"
  ok_if "and the worker, which had started, is killed" wait_until 10 no_live_worker_of "$T/tiny/tiny.pid"
  umount "$T/tiny"
else
  skip "cannot mount a tmpfs here"
  skip "cannot mount a tmpfs here"
  skip "cannot mount a tmpfs here"
fi

done_testing
