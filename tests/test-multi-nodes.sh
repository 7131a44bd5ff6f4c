#!/bin/bash
# Node syntax (counts, prefixes, selectors), names/expand/get/show, routing
# files, and running workers as another user.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

cmd=(--command "$WORKER" --command run)

multi names 3
rc_is 0 "names with a count"
is "$(cat "$T/out" | tr '\n' ' ')" "stem1 stem2 stem3 " "a count N makes stem1…stemN"
multi names 2 --prefix=w extra
is "$(cat "$T/out" | tr '\n' ' ')" "w1 w2 extra " "--prefix, and counts mixed with names"
STEMD_NODES="a b" run "$MULTI" names
is "$(cat "$T/out" | tr '\n' ' ')" "a b " "STEMD_NODES when no node is given"
printf 'STEMD_NODES="x y z"\n' >"$T/nodes.env"
chmod 644 "$T/nodes.env"
multi names --env-file="$T/nodes.env"
is "$(cat "$T/out" | tr '\n' ' ')" "x y z " "STEMD_NODES from an env file"
env -u STEMD_NODES -u STEM_WORKER_NODES "$MULTI" names >"$T/out" 2>"$T/err"
rc=$?
rc_is 2 "no nodes anywhere"
like "$T/err" "No nodes given" "says so"
multi names 0
rc_is 2 "a count of 0"
multi names 10001
rc_is 2 "a count over 10000"
multi names 2 stem2
rc_is 2 "a count that duplicates a name"

multi expand "/run/%n-%I/%N.%h.%%" a b
rc_is 0 "expand"
is "$(cat "$T/out" | tr '\n' ' ')" "/run/a-1/A.$(hostname).% /run/b-2/B.$(hostname).% " "expand applies every placeholder"
multi expand "/x/%q" a
rc_is 2 "expand with an unknown placeholder"
like "$T/err" "Unknown placeholder “%q”" "names it"
multi expand "%d" a --json
is "$(json "$T/out" '.nodes[0].value')" "$(json "$T/out" '.nodes[0].value' | grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}Z$')" "%d is a timestamp without colons"

multi get b a b c "${cmd[@]}" --command '%I'
rc_is 0 "get"
is "$(cat "$T/out")" "$WORKER run 2" "get prints one node's command, with its position"
STEMD_NODES="a b c" run "$MULTI" get c "${cmd[@]}" --command '%I'
is "$(cat "$T/out")" "$WORKER run 3" "get NODE takes its position from STEMD_NODES"
STEMD_NODES="a a" run "$MULTI" get a "${cmd[@]}" --command '%I'
rc_is 2 "get NODE with STEMD_NODES that start would refuse"
like "$T/err" "^stem-multi: STEMD_NODES: Duplicate node “a”$" "says why, as start would"
STEMD_NODES="b c" run "$MULTI" get c "${cmd[@]}" --pidfile="$T/run/fixed.pid"
rc_is 2 "… or pidfiles that start would refuse"
unlike "$T/out" . "and prints no command start would not run"
run env -u STEMD_NODES -u STEM_WORKER_NODES "$MULTI" get z "${cmd[@]}" --command '%I'
is "$rc:$(cat "$T/out")" "0:$WORKER run 1" "get NODE without STEMD_NODES plans NODE alone"
STEMD_NODES="b c" run "$MULTI" get z "${cmd[@]}" --command '%I' --pidfile="$T/run/fixed.pid" \
  --logfile:z="$T/log/zz.log"
is "$rc:$(cat "$T/out")" "0:$WORKER run 1" \
  "… and so does get NODE of a node not in STEMD_NODES, as start NODE would (its options too)"
multi get z a b "${cmd[@]}"
rc_is 2 "get of a node not in the call"
multi get a "${cmd[@]}" --command '{x,y}' --command 'a!b' --command '^c' --command 'plain'
is "$(cat "$T/out")" "$WORKER run '{x,y}' 'a!b' '^c' plain" \
  "get quotes what bash would expand (braces, history), not only what sh would"
is "$(bash -c "printf '%s|' $(cat "$T/out")")" "$WORKER|run|{x,y}|a!b|^c|plain|" "… so bash reads the words back"

# Selectors: names, positions, ranges, lists; node-scoped values replace.
multi show 4 "${cmd[@]}" -q all -q:stem2,4=special -q:1-2=low --logfile:3=/var/tmp/three.log \
  --workdir:stem1=/srv --json
rc_is 0 "show with per-node options"
queues () { json "$T/out" ".nodes[$1].env.STEM_WORKER_QUEUES"; }
is "$(queues 0)" "low" "a range selects stem1"
is "$(queues 1)" "special,low" "names and ranges combine; scoped values replace the global ones"
is "$(queues 2)" "all" "an unselected node keeps the global value"
is "$(queues 3)" "special" "a position selects stem4"
is "$(json "$T/out" '.nodes[2].logfile')" "/var/tmp/three.log" "--logfile:3 applies to the third node"
is "$(json "$T/out" '.nodes[1].logfile')" "$T/log/stem2.log" "and only to it"
is "$(json "$T/out" '.nodes[0].workdir')" "/srv" "--workdir:stem1 by name"
multi show 2 "${cmd[@]}" -q:stem9=x
rc_is 2 "a selector that matches no node"
like "$T/err" "Selector “stem9” of option “--queue” matches no node of this call" "is an error"
multi show 2 "${cmd[@]}" -q:5-6=x
rc_is 2 "a range beyond the nodes"
multi show 2 "${cmd[@]}" --json:1
rc_is 2 "a selector on an option that is not per node"
multi show a b --command:a="$WORKER" --command:a=run --command-line:b="$WORKER print-args %n" --json
rc_is 0 "per-node commands"
is "$(json "$T/out" '.nodes[0].argv | join(" ")')" "$WORKER run" "--command:a"
is "$(json "$T/out" '.nodes[1].argv | join(" ")')" "$WORKER print-args b" "--command-line:b"
multi show a b --command="$WORKER" --command=run --command-line:b="$WORKER print-args %n" --json
is "$(json "$T/out" '.nodes[0].argv | join(" ")')" "$WORKER run" "--command for every node"
is "$(json "$T/out" '.nodes[1].argv | join(" ")')" "$WORKER print-args b" \
  "a node's own --command-line beats --command given for every node"
multi show a b --command:b="$WORKER" --command:b=run --command-line:b="$WORKER print-args %n" \
  --command-line="$WORKER print-args all" --json
is "$(json "$T/out" '.nodes[0].argv | join(" ")')" "$WORKER print-args all" \
  "--command-line for every node"
is "$(json "$T/out" '.nodes[1].argv | join(" ")')" "$WORKER run" \
  "and a node's own --command beats its own --command-line"

# Routing files: aliases resolve, unknown names are errors listing the defined ones.
cat >"$T/routing.yaml" <<'YAML'
default_queue:
  alias: default
  queue: primary
queues:
  primary: {}
  images: {}
broadcasts:
  control: {}
YAML
multi show a "${cmd[@]}" --routing-config="$T/routing.yaml" -q default -q images -b control --json
rc_is 0 "queues resolved through a routing file"
is "$(json "$T/out" '.nodes[0].env.STEM_WORKER_QUEUES')" "primary,images" "the alias resolves to the real queue"
is "$(json "$T/out" '.nodes[0].env.STEM_ROUTING_CONFIG')" "$T/routing.yaml" "the worker is told the routing file"
STEM_ROUTING_CONFIG=$T/routing.yaml run "$MULTI" show a --pidfile="$T/run/%n.pid" "${cmd[@]}" -q nope
rc_is 2 "an unknown queue (file from STEM_ROUTING_CONFIG)"
like "$T/err" "Unknown queue “nope” in $T/routing.yaml \(defined: images, primary; alias default → primary\)" \
  "lists the defined queues"
multi show a "${cmd[@]}" --routing-config="$T/routing.yaml" -b news
rc_is 2 "an unknown broadcast"
like "$T/err" "“news”.*control" "lists the defined channels"
printf 'queues:\n  primary: {}\n bad: indent\n' >"$T/bad.yaml"
multi show a "${cmd[@]}" --routing-config="$T/bad.yaml"
rc_is 2 "a malformed YAML routing file"
like "$T/err" "$T/bad.yaml:3: " "with its line"
printf '{\n  "queues": {\n    "primary": {},\n  }\n}\n' >"$T/bad.json"
multi show a "${cmd[@]}" --routing-config="$T/bad.json"
rc_is 2 "a malformed JSON routing file"
like "$T/err" "$T/bad.json:[34]: " "with its line"
multi status a --routing-config="$T/bad.json"
rc_is 3 "status does not need the routing file"
printf '{ "default_queue": { "queue": "primary" }, "queues": { "primary": {} } }\n' >"$T/good.json"
multi show a "${cmd[@]}" --routing-config="$T/good.json" -q primary --json
rc_is 0 "a JSON routing file (json-glib, loaded for it)"
is "$(json "$T/out" '.nodes[0].env.STEM_WORKER_QUEUES')" "primary" "… is read"
# Linked: GLib alone.  json-glib (with GObject and GIO) is loaded for a
# JSON routing file only, libyaml for a YAML one.
ok_if "stem-multi links neither json-glib, GObject, GIO nor libyaml" links_no_parsers "$MULTI"
if fake_library "$T/fakelib" libjson-glib-1.0.so.0; then
  LD_LIBRARY_PATH=$T/fakelib multi show a "${cmd[@]}" --routing-config="$T/good.json"
  rc_is 2 "a JSON routing file with a json-glib that lacks its parser"
  like "$T/err" "^stem-multi: $T/good.json: reading a JSON file needs libjson-glib-1\.0\.so\.0: json_parser_new is missing$" \
    "… says what is missing"
  LD_LIBRARY_PATH=$T/fakelib multi show a "${cmd[@]}" --routing-config="$T/routing.yaml" --json
  rc_is 0 "a YAML routing file, and --json, never load it"
else
  skip "no C compiler to build a stand-in json-glib"
  skip "no C compiler to build a stand-in json-glib"
  skip "no C compiler to build a stand-in json-glib"
fi
if fake_library "$T/fakeyaml" libyaml-0.so.2; then
  LD_LIBRARY_PATH=$T/fakeyaml multi show a "${cmd[@]}" --routing-config="$T/routing.yaml"
  rc_is 2 "a YAML routing file with a libyaml that lacks its parser"
  like "$T/err" "^stem-multi: $T/routing.yaml: reading a YAML file needs libyaml-0\.so\.2: yaml_parser_initialize is missing$" \
    "… says what is missing"
  LD_LIBRARY_PATH=$T/fakeyaml multi show a "${cmd[@]}" --routing-config="$T/good.json" --json
  rc_is 0 "a JSON routing file never loads libyaml"
  LD_LIBRARY_PATH=$T/fakeyaml multi status a
  rc_is 3 "nor does a verb that reads no routing file"
else
  for _ in 1 2 3 4 5; do skip "no C compiler to build a stand-in libyaml"; done
fi

# Privileges.
if [ "$(id -u)" -eq 0 ]; then
  multi start priv "${cmd[@]}" --uid=nobody --pidfile="$T/prun/%n.pid" --logfile="$T/plog/%n.log" \
    --workdir="$T/pwork/%n"
  rc_is 0 "start --uid=nobody"
  pid=$(cat "$T/prun/priv.pid")
  is "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")" "$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)" \
    "the worker runs as nobody (real, effective, saved, fs)"
  is "$(awk '/^Gid:/ { print $2 }' "/proc/$pid/status")" "$(id -g nobody)" "in nobody's group"
  is "$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$pid/status" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" \
    "$(id -G nobody | tr ' ' '\n' | sort -n | tr '\n' ' ')" "with nobody's supplementary groups"
  is "$(stat -c %U "$T/plog")" nobody "the log directory it created belongs to nobody"
  is "$(stat -c %U "$T/plog/priv.log")" nobody "so does the log file"
  is "$(stat -c %U "$T/pwork/priv")" nobody "and the working directory"
  is "$(stat -c %U "$T/prun")" root "but the pidfile's directory stays root's (the user must not replace pidfiles)"
  ok_if "the worker's HOME and USER are nobody's" grep -qz "^USER=nobody$" "/proc/$pid/environ"
  multi stop priv --pidfile="$T/prun/%n.pid"
  rc_is 0 "root stops it"
  private_bin
  as_nobody "$T/bin/stem-multi" start x --uid=root --pidfile="$T/%n.pid" --command /bin/true >"$T/out" 2>"$T/err"
  rc=$?
  rc_is 2 "as a non-root user, --uid=root is refused"
  like "$T/err" "--uid=root: only root can run workers as another user" "clearly"
  printf '#!/bin/sh\nexit 0\n' >"$T/rootonly"
  chmod 700 "$T/rootonly"
  multi start ro --command "$T/rootonly" --uid=nobody
  rc_is 2 "a program the user may not execute"
  like "$T/err" "is not executable by uid $(id -u nobody)" "is a configuration error"
else
  skip "needs root to run a worker as another user"
  multi start x --uid=root --command /bin/true
  rc_is 2 "as a non-root user, --uid=root is refused"
fi

# Without --pidfile/--logfile: STEMD_PID_FILE and STEMD_LOG_FILE (what the
# SysV scripts read), then upstream's STEM_PID_DIR and STEM_LOG_DIR, from
# the environment or an env file; the options still win.
paths () { jq -r '.nodes[] | .pidfile + " " + .logfile' "$T/out"; }
STEMD_PID_FILE="$T/p/%n.pid" STEMD_LOG_FILE="$T/l/%N.log" run "$MULTI" show alpha "${cmd[@]}" --json
is "$rc:$(paths)" "0:$T/p/alpha.pid $T/l/ALPHA.log" "STEMD_PID_FILE and STEMD_LOG_FILE name the files"
STEM_PID_DIR="$T/pd" STEM_LOG_DIR="$T/ld" run "$MULTI" show alpha "${cmd[@]}" --json
is "$rc:$(paths)" "0:$T/pd/alpha.pid $T/ld/alpha.log" "STEM_PID_DIR and STEM_LOG_DIR (upstream's) name the directories"
STEMD_PID_FILE="$T/p/%n.pid" STEM_PID_DIR="$T/pd" run "$MULTI" show alpha "${cmd[@]}" --json
is "$(jq -r '.nodes[0].pidfile' "$T/out")" "$T/p/alpha.pid" "STEMD_PID_FILE wins over STEM_PID_DIR"
STEMD_PID_FILE="$T/p/%n.pid" run "$MULTI" show alpha "${cmd[@]}" --json --pidfile="$T/o/%n.pid"
is "$(jq -r '.nodes[0].pidfile' "$T/out")" "$T/o/alpha.pid" "--pidfile wins over STEMD_PID_FILE"
printf 'STEMD_PID_FILE=%s/e/%%n.pid\nSTEMD_LOG_FILE=%s/e/%%n.log\n' "$T" "$T" >"$T/paths.env"
chmod 644 "$T/paths.env"
run "$MULTI" show alpha "${cmd[@]}" --json --env-file="$T/paths.env"
is "$rc:$(paths)" "0:$T/e/alpha.pid $T/e/alpha.log" "… also from an env file"
STEMD_PID_FILE="$T/p/%q.pid" run "$MULTI" show alpha "${cmd[@]}"
rc_is 2 "a bad template in STEMD_PID_FILE is a usage error"
like "$T/err" "^stem-multi: STEMD_PID_FILE: .*%q" "… naming the variable and the placeholder"
STEMD_PID_FILE="$T/p/one.pid" run "$MULTI" show alpha beta "${cmd[@]}"
rc_is 2 "STEMD_PID_FILE without %n for two nodes is refused, as --pidfile is"
STEMD_PID_FILE="$T/p/%n.pid" STEMD_LOG_FILE="$T/l/%n.log" run "$MULTI" start envpaths "${cmd[@]}"
rc_is 0 "start with the paths from the environment"
ok_if "the pidfile is where STEMD_PID_FILE says" test -s "$T/p/envpaths.pid"
ok_if "the worker's output goes where STEMD_LOG_FILE says" \
  wait_until 10 grep -qs "^ready pid=$(cat "$T/p/envpaths.pid" 2>/dev/null) node=envpaths" "$T/l/envpaths.log"
STEMD_PID_FILE="$T/p/%n.pid" run "$MULTI" status envpaths
rc_is 0 "status finds it through STEMD_PID_FILE"
STEMD_PID_FILE="$T/p/%n.pid" run "$MULTI" stop envpaths
rc_is 0 "and stop stops it"
ok_if "… removing the pidfile" test ! -e "$T/p/envpaths.pid"
STEMD_PID_FILE="$T/p/%n.pid" STEMD_LOG_FILE="$T/l/%n.log" "$MULTI" start fgenv --foreground \
  "${cmd[@]}" >"$T/fg.out" 2>&1 &
fgenv=$!
ok_if "--foreground: a log file named by STEMD_LOG_FILE counts as given" \
  wait_until 10 grep -qs "^ready pid=$fgenv node=fgenv" "$T/l/fgenv.log"
STEMD_PID_FILE="$T/p/%n.pid" run "$MULTI" stop fgenv
wait "$fgenv"
ok_if "… and nothing went to stem-multi's own output" test ! -s "$T/fg.out"

done_testing
