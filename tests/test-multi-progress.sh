#!/bin/bash
# Live progress: on a terminal, a stop that takes a while shows the nodes
# still pending on one line of standard error, redrawn in place, and the
# output ends with the usual summary; off a terminal, or with --quiet or
# --json, nothing changes.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99
command -v script >/dev/null || { echo "1..0 # SKIP script(1) is not installed (bsdutils)"; exit 0; }

start_slow () { # each node takes 3 s to stop after TERM
  multi start "$@" --settle=0 --command "$WORKER" --command slow-term --command 3000
  for n in "$@"; do wait_until 10 grep -qs '^ready' "$T/log/$n.log"; done
}
# on_tty CMD…: CMD's output as a terminal shows it (script(1) gives it one).
on_tty () {
  local cmd
  printf -v cmd '%q ' "$@"
  script -qec "$cmd" /dev/null >"$T/tty" 2>&1
  rc=$?
}
m () { echo "$MULTI" "$1" --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log"; }

start_slow slow1 slow2
# shellcheck disable=SC2046 # the words of the command
on_tty $(m stop) slow1 slow2
is "$rc" 0 "stop on a terminal (exit 0)"
if grep -q $'\r\e\\[Kstopping: slow1, slow2 ([0-9]s)' "$T/tty"; then
  pass "the pending nodes and the time so far, on one line redrawn in place"
else
  fail "the pending nodes and the time so far, on one line redrawn in place" "$(cat -v "$T/tty")"
fi
last=$(tr '\r' '\n' <"$T/tty" | sed 's/\x1b\[K//g' | grep -v '^$' | tail -n 2 | tr '\n' ' ')
ok_if "the output ends with the usual summary ($last)" \
  eval '[[ $last =~ ^slow1:\ stopped\ \(pid\ [0-9]+\)\ slow2:\ stopped\ \(pid\ [0-9]+\)\ $ ]]'

start_slow slow3
multi stop slow3
is "$rc:$(cat "$T/out")" "0:slow3: stopped (pid $(sed -n 's/^ready pid=\([0-9]*\).*/\1/p' "$T/log/slow3.log" | tail -n 1))" \
  "off a terminal, the output is only the summary"
is "$(cat "$T/err")" "" "… and nothing on standard error"

start_slow slow4
# shellcheck disable=SC2046
on_tty $(m stop) slow4 --quiet
is "$rc:$(cat "$T/tty")" "0:" "--quiet on a terminal: nothing at all"
start_slow slow5
# shellcheck disable=SC2046
on_tty $(m stop) slow5 --json
unlike "$T/tty" 'stopping:' "--json on a terminal: no progress line"

done_testing
