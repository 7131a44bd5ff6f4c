#!/bin/bash
# stem-diagnose: for each check a fixture that fails it and one that passes
# it, the JSON of a controlled fixture against a golden file, redaction of
# credentials, exit codes.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99
DIAGNOSE=$top_builddir/src/stem-diagnose
EXPECTED=$top_srcdir/tests/expected/diagnose
ME=$(id -un)

# A host where everything is in order, under $T: env file, worker, routing
# file, pid and log directories, units and init scripts.
mkdir -p "$T/bin" "$T/units" "$T/init" "$T/empty"
printf '#!/bin/sh\nexit 0\n' >"$T/bin/worker"
printf '#!/bin/sh\nexit 0\n' >"$T/bin/stem-multi"
chmod 755 "$T/bin/worker" "$T/bin/stem-multi"
printf 'queues:\n  default: {}\n  images: {}\n' >"$T/routing.yaml"
for unit in stem-worker@.service stem-worker.service stem-scheduler.service; do
  printf '[Service]\nExecStart=%s start %%i --foreground\n' "$T/bin/stem-multi" >"$T/units/$unit"
done
for script in stem-worker stem-scheduler; do
  printf '#!/bin/sh\nMULTI=%s\nexit 0\n' "$T/bin/stem-multi" >"$T/init/$script"
  chmod 755 "$T/init/$script"
done
cat >"$T/good.env" <<EOF
# a complete configuration
STEMD_NODES=alpha
STEM_WORKER_COMMAND='$T/bin/worker --concurrency=2'
STEMD_OPTS='--queue=default --queue:alpha=images'
STEM_ROUTING_CONFIG=$T/routing.yaml
STEM_BROKER_URL=redis://user:secret@host:6379/0
EOF
chmod 0600 "$T/good.env"

# diagnose ARGS…: stem-diagnose on the fixture host, whatever the caller's
# environment says.
diagnose () {
  run env -u STEM_WORKER_COMMAND -u STEMD_COMMAND -u STEMD_NODES -u STEM_WORKER_NODES \
    -u STEMD_OPTS -u STEM_ROUTING_CONFIG -u STEM_BROKER_URL \
    "$DIAGNOSE" --unitdir="$T/units" --initdir="$T/init" \
    --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" "$@"
}
# level ID: the levels of every result of check ID in $T/out, comma-joined.
level () { jq -r --arg id "$1" '[.checks[] | select(.check == $id) | .level] | join(",")' "$T/out"; }
# message ID: the messages of check ID, one per line.
message () { jq -r --arg id "$1" '.checks[] | select(.check == $id) | .message' "$T/out"; }
# hint ID: the hints of check ID, one per line.
hint () { jq -r --arg id "$1" '.checks[] | select(.check == $id) | .hint // empty' "$T/out"; }
# env_file NAME MODE LINE…: an env file in $T.
env_file () {
  local name=$1 mode=$2
  shift 2
  printf '%s\n' "$@" >"$T/$name"
  chmod "$mode" "$T/$name"
}

# run-tmpfs looks at the configured run directory (not /run when the tree
# was configured with another prefix, as under make distcheck): expect
# whatever that directory is.
rundir=${STEM_TEST_RUNSTATEDIR:?run through make check}
if [ ! -d "$rundir" ]; then
  run_level=error
else
  case $(stat -f -c %T "$rundir") in
    tmpfs | ramfs) run_level=ok ;;
    *) run_level=warn ;;
  esac
fi
# A host in order still has one error when we are not root: its env file
# cannot belong to root, and env-file-safety says so.
if [ "$(id -u)" -eq 0 ]; then
  safety_level=ok
else
  safety_level=error
fi
worst=$(printf '%s\n' "$run_level" "$safety_level" | grep -m1 -x error || printf '%s\n' "$run_level" "$safety_level" | grep -m1 -x warn || echo ok)

# --- the whole fixture
diagnose --env-file="$T/good.env" --user="$ME" --json
if [ "$worst" = error ]; then
  rc_is 1 "a host in order, but for what this run cannot give it ($run_level, $safety_level)"
else
  rc_is 0 "a host in order"
fi
is "$(level env-file-safety)" "$safety_level" "env-file-safety is $safety_level (the env file is owned by uid $(id -u))"
for id in env-file-exists env-file-syntax env-file-secrets shell-systemd-agreement \
  worker-command service-user service-group pid-dir log-dir pidfile log-file inotify-instances \
  routing-file units-installed init-scripts broker-url; do
  is "$(level "$id" | tr , '\n' | sort -u)" ok "$id passes on a host in order"
done
is "$(level run-tmpfs)" "$run_level" "run-tmpfs is $run_level for the configured run directory $rundir"
is "$(json "$T/out" .status)" "$worst" "status is the worst level"
is "$(json "$T/out" '[.checks[] | select(.ok != (.level == "ok"))] | length')" 0 "ok is true exactly when level is ok"
is "$(json "$T/out" '[.checks[] | select(.level == "ok" and .hint != null)] | length')" 0 "no hint when ok"

if [ "$(id -u)" -eq 0 ] && [ "$ME" = root ]; then
  jq -S 'del(.status) | del(.checks[] | select(.check | IN("run-tmpfs", "inotify-instances")))' "$T/out" |
    sed "s|$T|@T@|g" >"$T/normalised.json"
  if diff -u "$EXPECTED/good.json" "$T/normalised.json" >"$T/diff"; then
    pass "JSON of the controlled fixture matches the golden file"
  else
    fail "JSON of the controlled fixture matches the golden file" "$(cat "$T/diff")"
  fi
else
  skip "golden JSON: the fixture's env file must be owned by root, and the user root"
fi

# --- a broken host, whole, against a golden file: every output of a
# failing check (message, hint, level) is part of the interface.
mkdir -p "$T/broken/run" "$T/broken/bin"
printf '#!/bin/sh\nexit 0\n' >"$T/broken/bin/worker"
chmod 644 "$T/broken/bin/worker"
echo garbage >"$T/broken/run/alpha.pid"
env_file broken.env 0644 '# everything wrong at once' 'STEMD_NODES=alpha' \
  "STEM_WORKER_COMMAND=$T/broken/bin/worker" "STEM_ROUTING_CONFIG=$T/routing.yaml" \
  "STEMD_OPTS='--queue=nosuch'" 'STEM_BROKER_URL=amqp://guest:guest@mq:5672/'
if [ "$(id -u)" -eq 0 ]; then
  diagnose --env-file="$T/broken.env" --user=no-such-stem-user --unitdir="$T/empty" \
    --initdir="$T/empty" --pidfile="$T/broken/run/%n.pid" --logfile="$T/broken/log/%n.log" --json
  rc_is 1 "a broken host: exit 1"
  is "$(json "$T/out" .status)" error "… status error"
  jq -S 'del(.checks[] | select(.check | IN("run-tmpfs", "inotify-instances")))' "$T/out" | sed "s|$T|@T@|g" \
    >"$T/normalised.json"
  if diff -u "$EXPECTED/broken.json" "$T/normalised.json" >"$T/diff"; then
    pass "JSON of the broken fixture matches the golden file"
  else
    fail "JSON of the broken fixture matches the golden file" "$(cat "$T/diff")"
  fi
  diagnose --env-file="$T/broken.env" --user=no-such-stem-user --unitdir="$T/empty" \
    --initdir="$T/empty" --pidfile="$T/broken/run/%n.pid" --logfile="$T/broken/log/%n.log"
  awk '/^\[/ { skip = / (run-tmpfs|inotify-instances): / } !skip' "$T/out" | sed "s|$T|@T@|g" >"$T/normalised.txt"
  if diff -u "$EXPECTED/broken.txt" "$T/normalised.txt" >"$T/diff"; then
    pass "text output of the broken fixture matches the golden file"
  else
    fail "text output of the broken fixture matches the golden file" "$(cat "$T/diff")"
  fi
else
  skip "golden JSON of a broken host: the env file's safety check differs when not root"
  skip "golden text of a broken host: the env file's safety check differs when not root"
fi

# --- redaction
for mode in text json; do
  args=()
  [ "$mode" = json ] && args=(--json)
  diagnose --env-file="$T/good.env" --user="$ME" "${args[@]}"
  unlike "$T/out" '\bsecret\b' "$mode: the broker password never appears"
  like "$T/out" 'redis://user:\*\*\*@host:6379/0' "$mode: the broker URL is shown redacted"
done
env_file secrets.env 0600 'API_TOKEN=tok-12345' 'DB_PASSWORD="pa ss word"' \
  "STEM_WORKER_COMMAND='$T/bin/missing --url=amqp://u:hunter2@mq/'"
diagnose --env-file="$T/secrets.env" --user="$ME"
unlike "$T/out" 'tok-12345|pa ss word|hunter2' "secret values and URL passwords are hidden in every message"
like "$T/out" 'amqp://u:\*\*\*@mq/' "the worker command's URL is shown redacted"
# The user information ends at the last "@" of the authority, as Python's
# urlsplit (and so kombu) reads it; ";" separates failover URLs.
for case in 'redis://user:pa@Qssword@host:6379/0|redis://user:***@host:6379/0|Qssword' \
  'redis://:pass:Qword9@host:6379|redis://:***@host:6379|Qword9' \
  'redis://user@host:6379/0|redis://user@host:6379/0|' \
  'redis://user:pw@Qd8@[::1]:6379/0|redis://user:***@[::1]:6379/0|Qd8' \
  'redis://a:p@Qs1x9@h1:1/0;redis://b:q@Qs2x9@h2:2/0|redis://a:***@h1:1/0;redis://b:***@h2:2/0|Qs1x9|Qs2x9'; do
  url=${case%%|*} rest=${case#*|}
  shown=${rest%%|*} hidden=${rest#*|}
  env_file url.env 0600 "STEM_BROKER_URL='$url'"
  diagnose --env-file="$T/url.env" --user="$ME" --json
  is "$(message broker-url)" "STEM_BROKER_URL=$shown" "broker-url shows $url as $shown"
  if [ -n "$hidden" ]; then
    unlike "$T/out" "$hidden" "… and no part of its password anywhere"
  fi
done
env_file secret-syntax.env 0600 'SECRET_KEY="abc$def"'
diagnose --env-file="$T/secret-syntax.env" --user="$ME"
unlike "$T/out" 'abc.def' "a secret on a line that does not parse is hidden too"

# --- a value left empty (an unset variable) is a usage error
for opt in --user= --env-file= --unitdir= --initdir= --pidfile= --routing-config=; do
  run "$DIAGNOSE" "$opt"
  rc_is 2 "$opt is a usage error"
  like "$T/err" "^stem-diagnose: ${opt%=}: the value is empty$" "… naming the option"
done

# --- an env file that does not parse: one error, env-file-syntax's; what
# needs the file's values is not checked
env_file broken-line.env 0600 "STEM_WORKER_COMMAND=$T/bin/worker" 'STEMD_NODES=alpha' 'BROKEN=a b'
diagnose --env-file="$T/broken-line.env" --user="$ME" --json
is "$(level env-file-syntax):$(level worker-command):$(level pidfile):$(level log-file)" \
  error:warn:warn:warn "a line that does not parse is one error, the others say not checked"
is "$(jq '[.checks[] | select(.level == "error" and (.message | contains("broken-line.env:3:")))] | length' "$T/out")" \
  1 "… one error gives the line in all"

# --- no worker command: the message names what the services read
env_file no-command.env 0600 'STEMD_NODES=alpha'
diagnose --env-file="$T/no-command.env" --user="$ME" --json
is "$(message worker-command)" \
  "no worker command: STEM_WORKER_COMMAND (or STEMD_COMMAND) is set in no env file and not in the environment" \
  "no worker command: no --command offered, which stem-diagnose does not take"

# --- text output
diagnose --env-file="$T/missing.env" --user="$ME" --unitdir="$T/no-units"
rc_is 1 "an error makes the exit status 1"
like "$T/out" "^\[ERR \] env-file-exists: $T/missing.env: does not exist$" "text: [ERR ] id: message"
like "$T/out" '^       hint: .*stem\.env\(5\)' "text: a hint line naming a man page"
like "$T/out" '^\[OK \] service-user: user ' "text: [OK ] id: message"
like "$T/out" '^\[WARN\] ' "text: [WARN] id: message"

# --- env-file-exists / env-file-syntax
diagnose --env-file="$T/missing.env" --user="$ME" --json
is "$(level env-file-exists)" error "env-file-exists fails for a missing --env-file"
env_file bad.env 0600 'A=1' 'B=two words'
diagnose --env-file="$T/bad.env" --user="$ME" --json
rc_is 1 "an unparsable env file is an error"
is "$(level env-file-syntax)" error "env-file-syntax fails"
like "$T/out" "\"$T/bad.env:2: unquoted value contains a space" "the message names FILE:LINE"

# --- the service user reads the env file: the units and scripts run
# stem-multi as that user (a 0600 file of root's stops every unit)
if [ "$(id -u)" -eq 0 ] && getent passwd nobody >/dev/null; then
  env_file secret.env 0600 "STEM_WORKER_COMMAND=$T/bin/worker"
  diagnose --env-file="$T/secret.env" --user=nobody --json
  is "$(level env-file-exists)" error "env-file-exists fails for a file the service user cannot read"
  is "$(hint env-file-exists)" \
    "chown root:$(id -gn nobody) $T/secret.env && chmod 0640 $T/secret.env (see stem.env(5))" \
    "… and the hint gives it to the service user's group"
  chgrp "$(id -gn nobody)" "$T/secret.env"
  chmod 0640 "$T/secret.env"
  diagnose --env-file="$T/secret.env" --user=nobody --json
  is "$(level env-file-exists)" ok "… which is then fine"
else
  for i in 1 2 3; do skip "an env file the service user cannot read: needs root and the user nobody"; done
fi

# --- the scripts split the options without pathname expansion, as systemd does
env_file sched-glob.env 0600 "STEM_WORKER_COMMAND=$T/bin/worker" "STEM_SCHEDULER_OPTS='-q img*'"
diagnose --env-file="$T/sched-glob.env" --user="$ME" --json
is "$(level shell-systemd-agreement)" ok "a glob in STEM_SCHEDULER_OPTS reads the same in sh and systemd"
env_file empty.env 0600
diagnose --env-file="$T/empty.env" --user="$ME" --json
is "$(message shell-systemd-agreement)" "no values to compare: the env files set none" \
  "no values: says so, not that 0 values agree"

# --- env-file-safety
env_file unsafe.env 0666 'A=1'
diagnose --env-file="$T/unsafe.env" --user="$ME" --json
is "$(level env-file-safety)" error "env-file-safety fails for a file writable by others"
like "$T/out" 'chmod go-w' "the hint says how to fix it"
# chown and chmod cannot make a link acceptable: its hint says what can.
ln -s good.env "$T/link.env"
diagnose --env-file="$T/link.env" --user="$ME" --json
is "$(level env-file-safety)" error "env-file-safety fails for a symbolic link"
is "$(message env-file-safety)" "$T/link.env: is a symbolic link: stem-multi run as root reads only a regular file" \
  "… saying what it is, with no hint in the message"
is "$(hint env-file-safety)" \
  "name the file it points to instead, owned by root and not writable by group or others (see stem.env(5))" \
  "… and a hint that fixes it, not chown"

# --- files that are no regular files: reported, never waited on (a FIFO
# nobody writes would block a plain open() for ever)
mkfifo -m 644 "$T/fifo.env"
run timeout 10 env -u STEM_WORKER_COMMAND -u STEMD_COMMAND -u STEMD_NODES -u STEM_WORKER_NODES \
  "$DIAGNOSE" --unitdir="$T/units" --initdir="$T/init" --pidfile="$T/run/%n.pid" \
  --logfile="$T/log/%n.log" --env-file="$T/fifo.env" --user="$ME" --json
rc_is 1 "an env file that is a FIFO: no hang, an error"
is "$(level env-file-exists):$(level env-file-syntax):$(level env-file-safety):$(level worker-command)" \
  error:warn:error:warn "… env-file-exists and env-file-safety fail, what needs its contents is not checked"
is "$(message env-file-exists)" \
  "$T/fifo.env: not a regular file but a FIFO; an env file is read whole (hint: name the file itself)" \
  "… env-file-exists says what it is"
is "$(message env-file-safety)" "$T/fifo.env: not a regular file: stem-multi run as root refuses it" \
  "… env-file-safety reports it as not a regular file"
is "$(hint env-file-safety)" \
  "name a regular file instead, owned by root and not writable by group or others (see stem.env(5))" \
  "… with a hint that neither replaces nor chowns it (it could be /dev/null)"
mkdir -p "$T/units-fifo" "$T/init-fifo"
cp "$T/units"/* "$T/units-fifo/"
cp -p "$T/init"/* "$T/init-fifo/"
rm "$T/units-fifo/stem-worker.service" "$T/units-fifo/stem-scheduler.service" "$T/init-fifo/stem-worker"
mkfifo "$T/units-fifo/stem-worker.service" "$T/init-fifo/stem-worker"
ln -s /dev/zero "$T/units-fifo/stem-scheduler.service"
run timeout 10 env -u STEM_WORKER_COMMAND -u STEMD_COMMAND -u STEMD_NODES -u STEM_WORKER_NODES \
  -u STEMD_OPTS -u STEM_ROUTING_CONFIG -u STEM_BROKER_URL "$DIAGNOSE" --unitdir="$T/units-fifo" \
  --initdir="$T/init-fifo" --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" \
  --env-file="$T/good.env" --user="$ME" --json
is "$rc:$(level units-installed):$(level init-scripts)" 1:ok,warn,warn:error,ok \
  "a unit and an init script that are FIFOs, a unit linked to a device: no hang, reported"
like "$T/out" "Cannot read “$T/units-fifo/stem-worker.service”: not a regular file" "… naming the unit"
like "$T/out" "Cannot read “$T/init-fifo/stem-worker”: not a regular file" "… and the script"

# --- an env file the user running stem-diagnose may not read: every
# verdict says so, none calls it a syntax error
if [ "$(id -u)" -eq 0 ]; then
  cp "$DIAGNOSE" "$T/bin/stem-diagnose"
  chmod 755 "$T/bin/stem-diagnose"
  env_file private.env 0600 "STEM_WORKER_COMMAND=$T/bin/worker"
  run as_nobody "$T/bin/stem-diagnose" --unitdir="$T/units" --initdir="$T/init" \
    --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --env-file="$T/private.env" --json
  is "$(level env-file-exists):$(level env-file-syntax):$(level worker-command)" error:warn:warn \
    "an unreadable env file: env-file-exists fails, what needs its contents is not checked"
  for id in env-file-exists env-file-syntax env-file-safety env-file-secrets worker-command; do
    is "$(message "$id")" "$([ $id = env-file-exists ] || printf 'not checked: ')$T/private.env: cannot open env file: Permission denied" \
      "… $id says it cannot be read"
  done
else
  skip "an unreadable env file: needs root to make one"
fi

# --- env-file-secrets
env_file open.env 0644 'API_TOKEN=abcd1234'
diagnose --env-file="$T/open.env" --user="$ME" --json
is "$(level env-file-secrets)" warn "env-file-secrets warns when everyone can read a token"
env_file open-url.env 0644 'STEM_BROKER_URL=redis://user:secret@host'
diagnose --env-file="$T/open-url.env" --user="$ME" --json
is "$(level env-file-secrets)" warn "… and a credentialed URL"
unlike "$T/out" '\bsecret\b' "… without showing it"
chmod 0640 "$T/open.env"
diagnose --env-file="$T/open.env" --user="$ME" --json
is "$(level env-file-secrets)" ok "env-file-secrets passes when others cannot read it"

# --- shell-systemd-agreement
env_file glob.env 0600 "STEMD_OPTS='-q a* -q b?'"
diagnose --env-file="$T/glob.env" --user="$ME" --json
is "$(level shell-systemd-agreement)" ok "glob characters in STEMD_OPTS read the same in sh and systemd"
env_file control.env 0600 "$(printf 'A="x\033y"')"
diagnose --env-file="$T/control.env" --user="$ME" --json
is "$(level shell-systemd-agreement)" warn "a control character: systemd ignores the assignment"
env_file percent.env 0600 "B='50%'" "C='a*'"
diagnose --env-file="$T/percent.env" --user="$ME" --json
is "$(level shell-systemd-agreement)" ok "“%”, and glob characters outside STEMD_OPTS, read the same"

# --- worker-command
env_file nocmd.env 0600 'A=1'
diagnose --env-file="$T/nocmd.env" --user="$ME" --json
is "$(level worker-command)" error "worker-command fails when no command is set"
like "$T/out" "set STEM_WORKER_COMMAND in [^ ]*/stem/stem.env, which the units" \
  "… and the hint names stem.env, which the units read"
unlike "$T/out" "default/stem" "… not /etc/default/stem, which they do not"
env_file broken-cmd.env 0600 "STEM_WORKER_COMMAND=$T/bin/worker" 'B=a b'
diagnose --env-file="$T/broken-cmd.env" --user="$ME" --json
is "$(level env-file-syntax),$(level worker-command)" error,warn \
  "an env file that does not parse is one error: worker-command is not checked, not failed"
like "$T/out" "not checked: $T/broken-cmd.env does not parse" "… and says why"
printf '#!/bin/sh\n' >"$T/bin/notexec"
chmod 644 "$T/bin/notexec"
env_file notexec.env 0600 "STEMD_COMMAND=$T/bin/notexec"
diagnose --env-file="$T/notexec.env" --user="$ME" --json
is "$(level worker-command)" error "worker-command fails when the program is not executable"
# A script whose interpreter is gone (a virtualenv deleted under it): the
# script itself is executable, but exec fails.
printf '#!%s/venv/bin/python3\nprint(1)\n' "$T" >"$T/bin/orphan-script"
chmod 755 "$T/bin/orphan-script"
env_file orphan.env 0600 "STEM_WORKER_COMMAND=$T/bin/orphan-script"
diagnose --env-file="$T/orphan.env" --user="$ME" --json
is "$(level worker-command)" error "worker-command fails for a script whose interpreter is missing"
like "$T/out" "$T/bin/orphan-script is a script for $T/venv/bin/python3, which the service user [^ ]+ cannot execute: No such file or directory" \
  "… and names the interpreter"
printf '#! /bin/sh -e\nexit 0\n' >"$T/bin/sh-script"
chmod 755 "$T/bin/sh-script"
env_file sh-script.env 0600 "STEM_WORKER_COMMAND=$T/bin/sh-script"
diagnose --env-file="$T/sh-script.env" --user="$ME" --json
is "$(level worker-command)" ok "… but a script for an interpreter that is there is fine"
env_file notfound.env 0600 "STEMD_COMMAND=no-such-stem-worker-program"
diagnose --env-file="$T/notfound.env" --user="$ME" --json
is "$(level worker-command)" error "worker-command fails when the program is not on PATH"
like "$T/out" "STEMD_COMMAND" "… and says where the command came from"
env_file detach.env 0600 "STEM_WORKER_COMMAND='$T/bin/worker -A proj worker --detach'"
diagnose --env-file="$T/detach.env" --user="$ME" --json
is "$(level worker-command)" error "worker-command fails for a worker told to --detach"
is "$(message worker-command)" \
  "STEM_WORKER_COMMAND ($T/bin/worker -A proj worker --detach): --detach puts the worker in the background, where nothing can follow it" \
  "… and says why"
like "$T/out" "remove --detach from STEM_WORKER_COMMAND" "… and the hint says what to do"
# command_level NAME COMMAND: the level of worker-command for
# STEM_WORKER_COMMAND=COMMAND (the report stays in $T/out).
command_level () {
  env_file "$1.env" 0600 "STEM_WORKER_COMMAND='$2'"
  diagnose --env-file="$T/$1.env" --user="$ME" --json
  level worker-command
}
is "$(command_level detach-short "$T/bin/worker -A proj worker -l INFO -D")" error \
  "worker-command fails for Celery's -D (its --detach) after worker"
is "$(command_level d-elsewhere "$T/bin/worker -D")" ok \
  "… but not for -D before any worker or beat command"
is "$(command_level detach-combined "$T/bin/worker -A proj worker -ED")" error \
  "worker-command fails for -D among combined short flags (-ED)"
like "$T/out" "-ED puts the worker in the background" "… and names that argument"
is "$(command_level d-value "$T/bin/worker -A proj worker -lD")" ok \
  "… but not for a D that is an option's value (-lD)"
cp "$T/bin/worker" "$T/bin/celery"
is "$(command_level multi "$T/bin/celery -A proj multi start w1")" error \
  "worker-command fails for celery multi, which detaches its workers"
like "$T/out" "in place of celery multi" "… and the hint says to run one worker instead"
is "$(command_level multi-m "$T/bin/worker -m celery -A proj multi start w1")" error \
  "… run as python -m celery too"
is "$(command_level multi-script "$T/bin/worker $T/bin/celery -A proj multi start w1")" error \
  "… and as python /usr/bin/celery"
is "$(command_level multi-other "$T/bin/worker multi")" ok \
  "… but a multi argument to another program is its own business"
is "$(command_level multi-app "$T/bin/celery -A multi worker")" ok \
  "… and -A multi names an application, not the command"
env_file own-pidfile.env 0600 "STEM_WORKER_COMMAND='$T/bin/celery -A proj worker --pidfile=$T/run/%n.pid'"
diagnose --env-file="$T/own-pidfile.env" --user="$ME" --json alpha beta
is "$(level worker-command)" error \
  "worker-command fails for Celery's --pidfile naming the node's own pidfile (Celery would exit)"
like "$T/out" "is the pidfile of alpha, beta" "… and names the nodes"
like "$T/out" "remove --pidfile from STEM_WORKER_COMMAND" "… and the hint says what to do"
is "$(command_level other-pidfile "$T/bin/celery -A proj worker --pidfile $T/run/celery-%n.pid")" \
  warn "… a pidfile of Celery's own beside the node's is a warning (and no ok beside it)"
is "$(command_level not-celery-pidfile "$T/bin/worker worker --pidfile=$T/run/%n.pid")" ok \
  "… and another program's --pidfile is its own business"
is "$(command_level celery-log "$T/bin/celery -A proj worker --logfile=$T/log/celery.log")" warn \
  "worker-command warns for Celery's own --logfile, which leaves the node's log its banner only"
like "$T/out" "with --logfile=$T/log/celery.log Celery writes its log itself" "… and says why"
is "$(command_level celery-log-short "$T/bin/celery -A proj worker -Ef $T/log/celery.log")" warn \
  "… and for -f among combined short flags"
is "$(command_level celery-log-value "$T/bin/celery -A proj worker -lf")" ok \
  "… but not for an f that is an option's value (-lf)"
is "$(command_level other-log "$T/bin/worker worker -f $T/log/w.log")" ok \
  "… nor for another program's -f"

# --- service-user / service-group
diagnose --env-file="$T/good.env" --user=no-such-stem-user --json
is "$(level service-user)" error "service-user fails for a missing user"
is "$(level service-group)" error "service-group fails for a missing group"
rc_is 1 "a missing user is an error"

# --- pid-dir / log-dir
diagnose --env-file="$T/good.env" --user="$ME" --pidfile="$T/nope/%n.pid" --logfile="$T/nolog/%n.log" --json
is "$(level pid-dir)" error "pid-dir fails when the directory is missing"
is "$(level log-dir)" error "log-dir fails when the directory is missing"
# The group is the user's primary group, by name: "install -g USER" fails
# where no group has the user's name (nobody's is nogroup on Debian).
my_group=$(id -gn)
is "$(hint log-dir)" "install -d -o $ME -g $my_group -m 0750 $T/nolog (the package and the units make it); see stem-multi(1)" \
  "the hint says how to create it, with the user's own group"
is "$(hint pid-dir)" "install -d -o $ME -g $my_group -m 0755 $T/nope; see stem-multi(1)" \
  "… and systemd-tmpfiles only for the packaged directory, which tmpfiles.d makes"
mkdir -p "$T/ww" "$T/open"
chmod 1777 "$T/ww"
chmod 0777 "$T/open"
diagnose --env-file="$T/good.env" --user="$ME" --pidfile="$T/ww/%n.pid" --logfile="$T/open/%n.log" --json
is "$(level pid-dir)" error "pid-dir fails when the directory is world-writable"
is "$(level log-dir)" error "log-dir fails when the directory is world-writable"
# A sticky directory is shared by design (/tmp): never "chmod o-w" it.
like "$T/out" "\"give the nodes a directory of their own, such as --pidfile=$rundir/stem/%n.pid" \
  "… the hint for a sticky one is a directory of the nodes' own"
is "$(hint log-dir)" "chmod o-w $T/open" "… for one that is not, chmod o-w"
# The system's own directories are never handed to the service user.
if getent passwd nobody >/dev/null && [ "$ME" != nobody ]; then
  diagnose --env-file="$T/good.env" --user=nobody --pidfile=/run/%n.pid --logfile=/var/log/%n.log --json
  is "$(level pid-dir):$(level log-dir)" error:error "/run and /var/log are not the service user's"
  ok_if "… and no hint says to chown them" eval '! { hint pid-dir; hint log-dir; } | grep -q chown'
  like "$T/out" '"hint" : "give the nodes a directory of their own, such as --logfile=' \
    "… each says to give the nodes a directory of their own"
else
  skip "system directories: no user nobody"
  skip "system directories: no user nobody"
  skip "system directories: no user nobody"
fi
mkdir -p "$T/ro"
chmod 755 "$T/ro"
if getent passwd nobody >/dev/null && [ "$ME" != nobody ]; then
  diagnose --env-file="$T/good.env" --user=nobody --pidfile="$T/ro/%n.pid" --logfile="$T/ro/%n.log" --json
  is "$(level pid-dir)" error "pid-dir fails when the service user cannot write it"
  is "$(level log-dir)" error "log-dir fails when the service user cannot write it"
else
  skip "pid-dir/log-dir not writable: no user nobody"
  skip "pid-dir/log-dir not writable: no user nobody"
fi

# --- the service user's access, decided as that user: a worker, pid and
# log directories and a log file, all fine by their own modes, inside a
# directory only root may search
if [ "$(id -u)" -eq 0 ] && getent passwd nobody >/dev/null && getent passwd daemon >/dev/null; then
  mkdir -m 700 "$T/closed"
  mkdir -m 755 "$T/closed/bin" "$T/closed/run" "$T/closed/log"
  chown nobody "$T/closed/run" "$T/closed/log"
  printf '#!/bin/sh\nexit 0\n' >"$T/closed/bin/worker"
  chmod 755 "$T/closed/bin/worker"
  : >"$T/closed/log/alpha.log"
  chown nobody "$T/closed/log/alpha.log"
  env_file closed.env 0600 STEMD_NODES=alpha "STEM_WORKER_COMMAND=$T/closed/bin/worker"
  run env -u STEM_WORKER_COMMAND -u STEMD_NODES "$DIAGNOSE" --unitdir="$T/units" --initdir="$T/init" \
    --pidfile="$T/closed/run/%n.pid" --logfile="$T/closed/log/%n.log" --env-file="$T/closed.env" \
    --user=nobody --json
  is "$(level worker-command):$(level pid-dir):$(level log-dir):$(level log-file)" error:error:error:error \
    "in a 0700 root directory: nothing is reachable by the service user"
  is "$(message worker-command)" \
    "STEM_WORKER_COMMAND: $T/closed/bin/worker is not executable by the service user nobody: Permission denied" \
    "… worker-command says why"
  is "$(message pid-dir)" "$T/closed/run: not writable by the service user nobody: Permission denied" \
    "… and pid-dir"
  chmod 711 "$T/closed"
  run env -u STEM_WORKER_COMMAND -u STEMD_NODES "$DIAGNOSE" --unitdir="$T/units" --initdir="$T/init" \
    --pidfile="$T/closed/run/%n.pid" --logfile="$T/closed/log/%n.log" --env-file="$T/closed.env" \
    --user=nobody --json
  is "$(level worker-command):$(level pid-dir):$(level log-dir):$(level log-file)" ok:ok:ok:ok \
    "once the directory may be searched, all of them are"
  # Not root, not the service user: only the mode bits can be read, and the
  # verdict says so.
  chmod 750 "$T/closed"
  chgrp daemon "$T/closed"
  cp "$DIAGNOSE" "$T/bin/stem-diagnose-copy"
  chmod 755 "$T/bin/stem-diagnose-copy"
  chmod 644 "$T/closed.env"
  run setpriv --reuid=daemon --regid=daemon --clear-groups -- "$T/bin/stem-diagnose-copy" \
    --unitdir="$T/units" --initdir="$T/init" --pidfile="$T/closed/run/%n.pid" \
    --logfile="$T/closed/log/%n.log" --env-file="$T/closed.env" --user=nobody --json
  is "$(level worker-command):$(level pid-dir)" error:error "as another user, by the mode bits of every directory above"
  chmod 755 "$T/closed"
  run setpriv --reuid=daemon --regid=daemon --clear-groups -- "$T/bin/stem-diagnose-copy" \
    --unitdir="$T/units" --initdir="$T/init" --pidfile="$T/closed/run/%n.pid" \
    --logfile="$T/closed/log/%n.log" --env-file="$T/closed.env" --user=nobody --json
  like "$T/out" "\"$T/closed/run: exists, writable by nobody by the mode bits \(ACLs unseen" \
    "… and an ok says that it is by the mode bits"
else
  for i in 1 2 3 4 5 6; do skip "the service user's access: needs root and the users nobody and daemon"; done
fi

# --- pidfile
diagnose --env-file="$T/good.env" --user="$ME" --json
is "$(level pidfile)" ok "no pidfile: ok, not running"
like "$T/out" 'alpha: not running' "… and says so"
sleep 300 &
running=$!
echo "$running" >"$T/run/alpha.pid"
diagnose --env-file="$T/good.env" --user="$ME" --json
is "$(level pidfile)" ok "a pidfile of a running process: ok"
is "$(message pidfile)" "alpha: running (pid $running)" "… with its pid"
touch -d '-1 hour' "$T/run/alpha.pid"
diagnose --env-file="$T/good.env" --user="$ME" --json
is "$(level pidfile)" warn "a process that started after its pidfile was written: warn (reused)"
like "$T/out" 'another process' "… and says the pid was reused"
ok_if "… and leaves the pidfile alone" test -f "$T/run/alpha.pid"
kill "$running"
wait "$running" 2>/dev/null
# After a clock step, a worker root started as the service user (whose
# environment names its pidfile) is still the worker.
if [ "$(id -u)" -eq 0 ]; then
  setpriv --reuid=65534 --regid=65534 --clear-groups -- \
    env STEM_WORKER_PIDFILE="$T/run/alpha.pid" sleep 300 &
  stepped=$!
  wait_until 10 grep -qs "STEM_WORKER_PIDFILE=$T/run/alpha.pid" "/proc/$stepped/environ"
  echo "$stepped" >"$T/run/alpha.pid"
  touch -d '-1 hour' "$T/run/alpha.pid"
  diagnose --env-file="$T/good.env" --user=nobody --json
  is "$(level pidfile)" warn "a process of the service user naming root's pidfile: warn"
  like "$T/out" "alpha: pid $stepped started after $T/run/alpha\.pid was written, but it runs as nobody and names that pidfile: it is the worker if the clock was stepped forward since" \
    "… saying it may be the worker (root may have started it with --uid)"
  like "$T/out" "give stem-multi status alpha the --uid the node was started with" \
    "… and the hint does not say that status removes it"
  diagnose --env-file="$T/good.env" --user="$ME" --json
  is "$(level pidfile)" warn "… and a plain stale pidfile when the service user is another"
  like "$T/out" "alpha: stale pidfile $T/run/alpha\.pid: pid $stepped now belongs to another process" \
    "… saying so"
  # A pidfile of another user: the service user's process is no candidate.
  chown 65533 "$T/run/alpha.pid"
  touch -d '-1 hour' "$T/run/alpha.pid"
  diagnose --env-file="$T/good.env" --user=nobody --json
  like "$T/out" "alpha: stale pidfile $T/run/alpha\.pid: pid $stepped now belongs to another process" \
    "a pidfile of another user naming the service user's process: stale"
  kill "$stepped"
  wait "$stepped" 2>/dev/null
else
  for _ in 1 2 3 4 5 6; do skip "a process of the service user after a clock step: needs root"; done
fi
echo "$running" >"$T/run/alpha.pid"
diagnose --env-file="$T/good.env" --user="$ME" --json
is "$(level pidfile)" warn "a pidfile of a dead process: warn (stale)"
like "$T/out" 'stem-multi status alpha' "… the hint says what cleans it"
ok_if "… and stem-diagnose does not remove it" test -f "$T/run/alpha.pid"
: >"$T/run/alpha.pid"
before_boot "$T/run/alpha.pid"
diagnose --env-file="$T/good.env" --user="$ME" --json
is "$(level pidfile)" warn "an empty pidfile from before this boot (a power cut): warn"
like "$T/out" "holds no PID and dates from before this boot" "… saying so"
is "$(hint pidfile)" "stem-multi status alpha removes it (see stem-multi(1))" "… and what removes it"
echo garbage >"$T/run/alpha.pid"
diagnose --env-file="$T/good.env" --user="$ME" --json
is "$(level pidfile)" error "an invalid pidfile: error"
rc_is 1 "… which fails the run"
# Planted: another user's pidfile naming an older process of root's.  The
# hint must not make it trusted ("chown root" would).
if [ "$(id -u)" -eq 0 ] && getent passwd nobody >/dev/null; then
  sleep 300 &
  planted=$!
  echo "$planted" >"$T/run/alpha.pid"
  chown nobody "$T/run/alpha.pid"
  diagnose --env-file="$T/good.env" --user="$ME" --json
  is "$(level pidfile)" error "a pidfile of another user naming root's process: error"
  is "$(hint pidfile)" "stop the node if it runs, then remove $T/run/alpha.pid (see stem-multi(1))" \
    "… and the hint is to remove it, not to trust it"
  kill "$planted"
  wait "$planted" 2>/dev/null
else
  skip "a planted pidfile: needs root and the user nobody"
  skip "a planted pidfile: needs root and the user nobody"
fi
# A kernel thread is older than any pidfile, and never a worker.
kthread=$(kernel_thread)
if [ -n "$kthread" ]; then
  echo "$kthread" >"$T/run/alpha.pid"
  diagnose --env-file="$T/good.env" --user="$ME" --json
  is "$(level pidfile):$(message pidfile)" \
    "warn:alpha: stale pidfile $T/run/alpha.pid: pid $kthread now belongs to another process" \
    "a pidfile naming a kernel thread: stale, not running"
else
  skip "a pidfile naming a kernel thread: none is visible here (a PID namespace)"
fi
rm -f "$T/run/alpha.pid"

# --- log-file
echo old >"$T/log/alpha.log"
chmod 0644 "$T/log/alpha.log"
diagnose --env-file="$T/good.env" --user="$ME" --json
is "$(level log-file)" ok "log-file passes when the service user can write it"
if getent passwd nobody >/dev/null && [ "$ME" != nobody ]; then
  chmod 0777 "$T/log"
  diagnose --env-file="$T/good.env" --user=nobody --json
  is "$(level log-file)" error "log-file fails when the service user cannot write it"
  chmod 0755 "$T/log"
else
  skip "log-file not writable: no user nobody"
fi
rm -f "$T/log/alpha.log"
mkdir "$T/log/alpha.log"
diagnose --env-file="$T/good.env" --user="$ME" --json
is "$(level log-file)" error "log-file fails when the log is a directory"
rmdir "$T/log/alpha.log"

# --- inotify-instances: each process of log writers (64 nodes at most)
# holds one of the service user's; a user namespace that allows no more
# than they take shows the warning without starving anything else on the
# machine.
diagnose --env-file="$T/good.env" --user="$ME" --json
limit=$(cat /proc/sys/fs/inotify/max_user_instances)
is "$(message inotify-instances)" "the log writer of 1 node takes 1 of the $limit inotify instances the kernel allows $ME" \
  "inotify-instances passes with one node"
# 65 nodes: one instance for every 64 nodes a server launches, the
# servers being one more for every 16 nodes, as far as there are CPUs
# (at most 4).
diagnose --env-file="$T/good.env" --user="$ME" 65 --json
servers=$((1 + 65 / 16)) cpus=$(nproc)
[ "$servers" -le "$cpus" ] || servers=$cpus
[ "$servers" -le 4 ] || servers=4
per_server=$(((65 + servers - 1) / servers))
is "$(message inotify-instances)" \
  "the log writers of 65 nodes take $((servers * ((per_server + 63) / 64))) of the $limit inotify instances the kernel allows $ME" \
  "inotify-instances counts the writer processes of 65 nodes started by one call"
if unshare -U -r sh -c 'echo 1 >/proc/sys/user/max_inotify_instances' 2>/dev/null; then
  run unshare -U -r sh -c 'echo 1 >/proc/sys/user/max_inotify_instances && exec "$@"' sh \
    env -u STEMD_OPTS "$DIAGNOSE" --unitdir="$T/units" --initdir="$T/init" --pidfile="$T/run/%n.pid" \
    --logfile="$T/log/%n.log" --env-file="$T/good.env" --user="$ME" a b c --json
  is "$(level inotify-instances)" warn "inotify-instances warns when the nodes leave none free"
  is "$(message inotify-instances)" "the log writers of 3 nodes leave none of the 1 inotify instances the kernel allows $ME (they take 1): past them, a rotation is noticed only when the worker next writes" \
    "saying what it costs"
  is "$(jq -r '.checks[] | select(.check == "inotify-instances") | .hint' "$T/out")" \
    "raise fs.inotify.max_user_instances above 1 (a file in /etc/sysctl.d/; see stem-multi(1) LOG FILES)" \
    "and what to raise"
else
  why="cannot make a user namespace with a limit of its own here (unshare -U; /proc/sys read-only?)"
  skip "inotify-instances warning: $why"
  skip "inotify-instances message: $why"
  skip "inotify-instances hint: $why"
fi
if unshare -U -r -m sh -c 'mount --bind /dev/null /proc/sys/fs/inotify/max_user_instances' 2>/dev/null; then
  run unshare -U -r -m sh -c 'mount --bind /dev/null /proc/sys/fs/inotify/max_user_instances && exec "$@"' \
    sh env -u STEMD_OPTS "$DIAGNOSE" --unitdir="$T/units" --initdir="$T/init" --pidfile="$T/run/%n.pid" \
    --logfile="$T/log/%n.log" --env-file="$T/good.env" --user="$ME" --json
  is "$(level inotify-instances):$(message inotify-instances)" \
    "warn:cannot read the inotify limit: Empty string is not a number" \
    "inotify-instances warns when the limit cannot be read (here: an empty file over it)"
else
  skip "inotify-instances unreadable: cannot make a user and mount namespace here (unshare -U -m)"
fi
env_file nowriter.env 0600 STEMD_NODES=alpha "STEM_WORKER_COMMAND=$T/bin/worker" "STEMD_OPTS='--no-log-writer'"
diagnose --env-file="$T/nowriter.env" --user="$ME" --json
is "$(message inotify-instances)" "no log writers (--no-log-writer in STEMD_OPTS)" \
  "inotify-instances: none needed with --no-log-writer"

# --- routing-file
printf 'queues: [\n' >"$T/broken.yaml"
diagnose --env-file="$T/good.env" --user="$ME" --routing-config="$T/broken.yaml" --json
is "$(level routing-file)" error "routing-file fails when the file does not parse"
like "$T/out" "$T/broken.yaml" "… naming the file"
env_file unknown-queue.env 0600 "STEM_ROUTING_CONFIG=$T/routing.yaml" "STEMD_OPTS='-q nope'"
diagnose --env-file="$T/good.env" --env-file="$T/unknown-queue.env" --user="$ME" --json
is "$(level routing-file)" error "routing-file fails when STEMD_OPTS names an unknown queue"
like "$T/out" 'nope' "… naming the queue"
printf 'queues:\n  default: {}\n  images: {}\nbroadcasts:\n  control: {}\n' >"$T/routing-b.yaml"
for case in "STEMD_OPTS='-q images --broadcast=nosuchb'|STEMD_OPTS: Unknown broadcast channel “nosuchb”" \
  "STEMD_OPTS='-b control -bnosuchb'|STEMD_OPTS: Unknown broadcast channel “nosuchb”" \
  "STEM_WORKER_OPTS='--queue:alpha nosuchq'|STEM_WORKER_OPTS: Unknown queue “nosuchq”" \
  "STEM_WORKER_OPTS='-qimages,nosuchq'|STEM_WORKER_OPTS: Unknown queue “nosuchq”" \
  "STEM_WORKER_OPTS='-b:alpha=nosuchb'|STEM_WORKER_OPTS: Unknown broadcast channel “nosuchb”"; do
  env_file routing-names.env 0600 "STEM_ROUTING_CONFIG=$T/routing-b.yaml" "${case%%|*}"
  run env -u STEMD_OPTS -u STEM_WORKER_OPTS "$DIAGNOSE" --unitdir="$T/units" --initdir="$T/init" \
    --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --env-file="$T/good.env" \
    --env-file="$T/routing-names.env" --user="$ME" --json
  is "$(level routing-file)" error "routing-file fails for ${case%%|*}"
  like "$T/out" "\"$T/routing-b.yaml: ${case#*|} in " "… naming the variable and the name"
done
env_file routing-names.env 0600 "STEM_ROUTING_CONFIG=$T/routing-b.yaml" \
  "STEMD_OPTS='-q images -b control'" "STEM_WORKER_OPTS='--queue=default --broadcast:alpha control'"
run env -u STEMD_OPTS -u STEM_WORKER_OPTS "$DIAGNOSE" --unitdir="$T/units" --initdir="$T/init" \
  --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --env-file="$T/good.env" \
  --env-file="$T/routing-names.env" --user="$ME" --json
is "$(level routing-file)" ok "routing-file passes when every queue and channel named is defined"
# A --routing-config in the options is the file stem-multi reads with
# them, not STEM_ROUTING_CONFIG: "images" is defined there only.
printf 'queues:\n  primary: {}\ndefault_queue: {queue: primary}\n' >"$T/routing-p.yaml"
env_file routing-own.env 0600 "STEM_ROUTING_CONFIG=$T/routing-p.yaml" \
  "STEMD_OPTS='--routing-config=$T/routing-b.yaml -q images'" "STEM_WORKER_OPTS='-q images'"
run env -u STEMD_OPTS -u STEM_WORKER_OPTS "$DIAGNOSE" --unitdir="$T/units" --initdir="$T/init" \
  --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" --env-file="$T/good.env" \
  --env-file="$T/routing-own.env" --user="$ME" --json
is "$(level routing-file)" ok,error \
  "routing-file checks STEMD_OPTS' queues against its own --routing-config, STEM_WORKER_OPTS' against STEM_ROUTING_CONFIG"
like "$T/out" "\"$T/routing-p.yaml: STEM_WORKER_OPTS: Unknown queue “images” in " "… naming each file"

# --- units-installed
diagnose --env-file="$T/good.env" --user="$ME" --unitdir="$T/empty" --json
is "$(level units-installed)" warn,warn,warn "units-installed warns for each missing unit"
mkdir -p "$T/units-bad"
cp "$T/units"/* "$T/units-bad/"
printf '[Service]\nExecStart=%s start %%i\n' "$T/bin/no-stem-multi" >"$T/units-bad/stem-worker@.service"
diagnose --env-file="$T/good.env" --user="$ME" --unitdir="$T/units-bad" --json
is "$(level units-installed)" error,ok,ok "units-installed fails when ExecStart= names a missing program"
printf '[Service]\nExecStart=%s start %%i\n' "$T/bin" >"$T/units-bad/stem-worker@.service"
diagnose --env-file="$T/good.env" --user="$ME" --unitdir="$T/units-bad" --json
is "$(level units-installed)" error,ok,ok "… or a directory"
# What systemctl edit writes: a drop-in that empties ExecStart= and sets
# its own, read in the order of the drop-ins' names.
mkdir -p "$T/units-bad/stem-worker@.service.d"
printf '[Service]\nExecStart=\nExecStart=%s/bin/gone start %%i\n' "$T" \
  >"$T/units-bad/stem-worker@.service.d/10-first.conf"
printf '[Service]\nExecStart=\nExecStart=%s start %%i\n' "$T/bin/stem-multi" \
  >"$T/units-bad/stem-worker@.service.d/override.conf"
diagnose --env-file="$T/good.env" --user="$ME" --unitdir="$T/units-bad" --json
is "$(level units-installed)" ok,ok,ok "a drop-in that sets ExecStart= anew is what counts"
is "$(message units-installed | head -n 1)" "$T/units-bad/stem-worker@.service: installed, runs $T/bin/stem-multi" \
  "… the last one, by name"

# --- init-scripts
diagnose --env-file="$T/good.env" --user="$ME" --initdir="$T/empty" --json
is "$(level init-scripts)" warn,warn "init-scripts warns for each missing script"
mkdir -p "$T/init-bad"
cp -p "$T/init"/* "$T/init-bad/"
chmod 644 "$T/init-bad/stem-worker"
diagnose --env-file="$T/good.env" --user="$ME" --initdir="$T/init-bad" --json
is "$(level init-scripts)" error,ok "init-scripts fails for a script that is not executable"
chmod 755 "$T/init-bad/stem-worker"
sed -i "s|^MULTI=.*|MULTI=$T/bin/gone/stem-multi|" "$T/init-bad/stem-worker"
diagnose --env-file="$T/good.env" --user="$ME" --initdir="$T/init-bad" --json
is "$(level init-scripts)" error,ok "init-scripts fails for a script whose stem-multi is not there"
is "$(message init-scripts | head -n 1)" \
  "$T/init-bad/stem-worker: runs $T/bin/gone/stem-multi, which is not an executable file" \
  "… and names the path it runs"
sed -i "s|^MULTI=.*|MULTI=\"$T/bin/stem-multi\"|" "$T/init-bad/stem-worker"
diagnose --env-file="$T/good.env" --user="$ME" --initdir="$T/init-bad" --json
is "$(level init-scripts)" ok,ok "a quoted MULTI= is read as sh reads it"
sed -i "s|^MULTI=.*|MULTI=$T/bin|" "$T/init-bad/stem-worker"
diagnose --env-file="$T/good.env" --user="$ME" --initdir="$T/init-bad" --json
is "$(level init-scripts)" error,ok "init-scripts fails for a MULTI= that is a directory"
sed -i '/^MULTI=/d' "$T/init-bad/stem-worker"
diagnose --env-file="$T/good.env" --user="$ME" --initdir="$T/init-bad" --json
is "$(level init-scripts)" error,ok "init-scripts fails for a script that is not stem-daemon's"

# --- paths from the env file, as the SysV scripts and stem-multi read them
mkdir -p "$T/elsewhere"
echo garbage >"$T/elsewhere/alpha.pid"
env_file paths.env 0600 STEMD_NODES=alpha "STEMD_PID_FILE=$T/elsewhere/%n.pid" \
  "STEM_WORKER_COMMAND=$T/bin/worker"
run env -u STEM_WORKER_COMMAND -u STEMD_NODES -u STEMD_PID_FILE "$DIAGNOSE" --unitdir="$T/units" \
  --initdir="$T/init" --env-file="$T/paths.env" --user="$ME" --json
is "$(level pidfile):$(level pid-dir)" error:ok "STEMD_PID_FILE of the env file names the pidfile checked"
like "$T/out" "Invalid pidfile “$T/elsewhere/alpha.pid”" "… by its path"

# --- broker-url is information only
diagnose --env-file="$T/nocmd.env" --user="$ME" --json
is "$(level broker-url)" ok "broker-url is ok when unset"

# --- nodes and exit codes
diagnose --env-file="$T/nocmd.env" --user="$ME" --json
is "$(message pidfile)" "no nodes configured (name them, or set STEMD_NODES)" "no nodes: node checks say so"
diagnose --env-file="$T/good.env" --user="$ME" beta gamma --json
is "$(json "$T/out" '[.checks[] | select(.check == "pidfile") | .message | split(":")[0]] | join(",")')" \
  beta,gamma "nodes on the command line replace STEMD_NODES"
env_file count.env 0600 STEM_WORKER_NODES=2 "STEM_WORKER_COMMAND=$T/bin/worker"
run env -u STEMD_NODES -u STEM_WORKER_NODES "$DIAGNOSE" --unitdir="$T/units" --initdir="$T/init" \
  --env-file="$T/count.env" --user="$ME" --json
is "$(json "$T/out" '[.checks[] | select(.check == "pidfile") | .message | split(":")[0]] | join(",")')" \
  stem1,stem2 "a node count in STEM_WORKER_NODES is planned as stem-multi plans it"
diagnose --bogus
rc_is 2 "an unknown option is a usage error"
like "$T/err" '^stem-diagnose: ' "… said on stderr"
diagnose ../x
rc_is 2 "an invalid node name is a usage error"
diagnose --env-file="$T/good.env" --user="$ME" -- extra
rc_is 2 "an argument after -- is a usage error"
run "$DIAGNOSE" --help
rc_is 0 "--help"
like "$T/out" '^Usage: stem-diagnose' "--help prints the usage"
run "$DIAGNOSE" --version
rc_is 0 "--version"
like "$T/out" '^stem-diagnose [0-9]' "--version prints the version"
ok_if "stem-diagnose links neither json-glib, GObject, GIO nor libyaml (loaded for a routing file)" \
  links_no_parsers "$DIAGNOSE"

done_testing
