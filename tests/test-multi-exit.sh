#!/bin/bash
# stem-multi(1) EXIT STATUS, row by row: every case the table names is
# triggered here and its exit code asserted.  A row added to the table
# gets a line here.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

cmd=(--command "$WORKER" --command run)
row () { # EXPECTED NAME VERB ARGS…: runs stem-multi with this test's directories
  local expected=$1 name=$2
  shift 2
  multi "$@"
  rc_is "$expected" "$name"
}

# The table says nothing was done for a 2: no pidfile may appear.
nothing_done () { ok_if "$1: nothing was started" test -z "$(find "$T/run" -name '*.pid' -print -quit)"; }

cat >"$T/routing.yaml" <<'YAML'
queues:
  primary: {}
broadcasts:
  control: {}
YAML
printf 'queues: [\n' >"$T/bad.yaml"
printf 'STEMD_COMMAND=$(oops)\n' >"$T/bad.env"
mkdir -m 700 "$T/private"
cp "$WORKER" "$T/private/worker"

# --- 2: usage or configuration error, nothing done -------------------------
row 2 "unknown verb" frobnicate a
row 2 "unknown option" start a "${cmd[@]}" --frobnicate
row 2 "bad node name" start 'a/b' "${cmd[@]}"
row 2 "a count whose names would be digits only (--prefix=)" start 3 "${cmd[@]}" --prefix=
nothing_done "a count with an empty --prefix"
row 2 "selector that matches no node" start a "${cmd[@]}" --queue:zz=q
row 2 "an empty --queue" show a "${cmd[@]}" --queue=
like "$T/err" "Empty name in --queue" "… is an empty name, as --queue=, is"
row 2 "an empty -b for one node" show a b "${cmd[@]}" -b news -b:a=
row 2 "bad template" start a "${cmd[@]}" --logfile="$T/log/%q.log"
row 2 "bad duration" start a "${cmd[@]}" --settle=fast
row 2 "bad schedule" stop a --retry=TERM/x
# A value is checked by every verb, not only by those that use it.
row 2 "bad --restart, for status too" status a --restart=bogus
like "$T/err" "^stem-multi: Invalid --restart “bogus” \(on-failure, always or never\)$" "… naming it"
row 2 "bad --max-restarts, for stop too" stop a --max-restarts=x
row 2 "bad --lines, for status too" status a --lines=x
row 2 "an option taken for the value of --lines" status a --lines --json
like "$T/err" "^stem-multi: Invalid --lines “--json”" "… says which value"
row 2 "bad --umask, for stop too" stop a --umask=999
row 2 "bad per-node --umask, for status too" status a b --umask:b=8
row 2 "a queue name with a blank, for status too" status a -q 'a b'
like "$T/err" "^stem-multi: Invalid name “a b” in --queue" "… naming it"
row 2 "an empty per-node -b, for stop too" stop a b -b:b=
row 2 "an empty name in a list of queues, for names too" names a -q x,,y
row 2 "a --command-line a shell would expand, for status too" status a --command-line='worker $(id)'
like "$T/err" "^stem-multi: --command-line: an unquoted “\\\$”" "… saying what"
row 3 "the form of queue names only: no routing file is read for status" status a -q nowhere \
  --routing-config="$T/routing.yaml"
row 2 "env file error" start a --env-file="$T/bad.env"
nothing_done "env file error"
row 2 "missing env file" start a "${cmd[@]}" --env-file="$T/missing.env"
nothing_done "missing env file"
printf 'STEM_WORKER_COMMAND="%s --rate 50%%"\n' "$WORKER" >"$T/percent.env"
row 2 "a bad template in STEM_WORKER_COMMAND" show a --env-file="$T/percent.env"
like "$T/err" "^stem-multi: STEM_WORKER_COMMAND: Template “50%” ends with a lone “%”$" \
  "names the variable"
row 2 "a bad template after --" show a --command "$WORKER" -- --fmt=%Y
like "$T/err" "^stem-multi: the words after “--”: Unknown placeholder “%Y”" "names where it came from"
printf 'STEMD_PID_FILE=%s/%%i.pid\n' "$T/run" >"$T/pidvar.env"
run "$MULTI" status a --env-file="$T/pidvar.env"
rc_is 2 "a pidfile template in STEMD_PID_FILE with %i"
like "$T/err" "^stem-multi: STEMD_PID_FILE: Pidfile template .* must not use “%i”" "names the variable"
for verb in status stop kill names logs; do
  row 2 "a node's env file with an error, for $verb too" "$verb" a b --env-file:b="$T/bad.env"
  like "$T/err" "bad.env:1: " "$verb names the file and line"
done
row 2 "missing env file (stop)" stop a --env-file="$T/missing.env"
row 2 "no worker command" start a
row 2 "unusable worker command" start a --command "$T/routing.yaml"
row 2 "--foreground with several nodes" start a b --foreground "${cmd[@]}"
run "$MULTI" start a --pidfile="$T/run/%n.pid" --logfile=- "${cmd[@]}"
rc_is 2 "--logfile=- without --foreground or supervise"
row 2 "a --uid that cannot be used" start a "${cmd[@]}" --uid=no-such-stem-user
row 2 "show checks --uid too" show a "${cmd[@]}" --uid=no-such-stem-user
row 3 "status runs no worker: --uid is not looked at" status a --uid=no-such-stem-user
row 0 "nor by stop" stop a --uid=no-such-stem-user --gid=no-such-stem-group
row 2 "a --gid that cannot be used" start a "${cmd[@]}" --gid=no-such-stem-group
if [ "$(id -u)" -eq 0 ]; then
  row 2 "a program the --uid user cannot execute" start a --command "$T/private/worker" \
    --command run --uid=nobody
else
  skip "a program the --uid user cannot execute: needs root"
fi
row 2 "error in the routing file" start a "${cmd[@]}" --routing-config="$T/bad.yaml"
row 2 "missing routing file" start a "${cmd[@]}" --routing-config="$T/missing.yaml"
nothing_done "missing routing file"
row 2 "a queue the routing file does not define" start a "${cmd[@]}" \
  --routing-config="$T/routing.yaml" -q nope
row 2 "a broadcast channel the routing file does not define" start a "${cmd[@]}" \
  --routing-config="$T/routing.yaml" -b nope
nothing_done "the rows above"

# --- 0 and 1 ---------------------------------------------------------------
row 0 "success: started" start a "${cmd[@]}"
row 0 "success: already-running" start a "${cmd[@]}"
row 0 "success: signalled" stop a --no-wait
wait_until 10 dead "$(pid_of a)"
row 0 "success: not-running" stop a
echo 'junk' >"$T/run/bad.pid"
row 1 "at least one node failed, the others were handled" stop a bad
rm "$T/run/bad.pid"

# --- status: LSB codes -----------------------------------------------------
row 3 "status: not running" status a
multi start a "${cmd[@]}"
row 0 "status: all running" status a
# A pidfile older than the process it names: a reused PID.
"$WORKER" sleep-forever &
canary=$!
echo "$canary" >"$T/run/stale.pid"
touch -d '-1 hour' "$T/run/stale.pid"
row 1 "status: stale pidfile" status stale --no-clean
echo 'junk' >"$T/run/bad.pid"
row 4 "status: unknown (invalid pidfile)" status bad
row 4 "status: the most serious code, 4 before 1, 3 and 0" status a stale none bad --no-clean
row 1 "status: 1 before 3 and 0" status a stale none --no-clean
row 3 "status: 3 before 0" status a none
row 2 "status: usage errors still exit 2" status a --frobnicate
kill "$canary"
rm -f "$T/run/bad.pid" "$T/run/stale.pid"

# --- start --foreground ------------------------------------------------------
row 1 "start --foreground: already running" start a --foreground "${cmd[@]}"
multi stop a
row 7 "start --foreground: the worker's status" start f --foreground --command "$WORKER" \
  --command exit --command 7
row 2 "start --foreground: a usage error" start f --foreground --settle=fast "${cmd[@]}"

# --- supervise ---------------------------------------------------------------
row 0 "supervise: every node's last exit was clean" supervise s0 --command "$WORKER" \
  --command exit --command 0
row 1 "supervise: a node's last exit was a failure" supervise s1 --restart=never \
  --command "$WORKER" --command exit --command 3
multi start a "${cmd[@]}"
row 1 "supervise: a node was already running" supervise a "${cmd[@]}"
multi stop a
row 2 "supervise: a usage or configuration error" supervise a --env-file="$T/missing.env" "${cmd[@]}"

done_testing
