# Helpers for the TAP shell tests.  Each test file sources this file, then
# calls the check functions; done_testing prints the plan.
set -u

: "${top_builddir:?run through make check}" "${top_srcdir:?run through make check}"
MULTI=$top_builddir/src/stem-multi
WORKER=$top_builddir/tests/stem-test-worker
EXAMPLE=$top_builddir/examples/stem-example-worker
LOGWRITER=$top_builddir/src/stem-logwriter
# An uptime or age as the tools print one under an hour ("4s", "1m 4s"):
# how long a test takes to get there depends on the machine's load.
AGE_RE='([0-9]+m )?[0-9]+s'

# Every path a test touches is under $T: without it, stop here.
T=$(mktemp -d "${TMPDIR:-/tmp}/stem-test.XXXXXX") && [ -d "$T" ] || {
  echo "Bail out! cannot create a temporary directory"
  exit 99
}
chmod 755 "$T"
mkdir -p "$T/run" "$T/log"
# shellcheck source=lib-tap.sh
. "$top_srcdir/tests/lib-tap.sh" || exit 99
TAP_SHOW_ON_FAIL=("$T/out" "$T/err")

cleanup () {
  # Never leave a worker behind: every pidfile and environ under $T names ours.
  for f in "$T"/run/*.pid "$T"/*/run/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null) || continue
    case $pid in '' | *[!0-9]*) continue ;; esac
    if grep -qsz "^STEM_WORKER_PIDFILE=$T" "/proc/$pid/environ"; then kill -9 "$pid" 2>/dev/null; fi
  done
  for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

# run CMD…: runs CMD with output in $T/out and $T/err, exit code in $rc.
run () {
  "$@" >"$T/out" 2>"$T/err"
  rc=$?
}

# multi VERB ARGS…: stem-multi with this test's private pid and log directories.
multi () {
  local verb=$1
  shift
  run "$MULTI" "$verb" --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" "$@"
}

# kernel_thread: the PID of a kernel thread (PF_KTHREAD in the flags, field
# 9 of /proc/PID/stat), or nothing where none is visible (a PID namespace).
kernel_thread () {
  local stat pid
  for stat in /proc/[0-9]*/stat; do
    pid=${stat#/proc/}
    pid=${pid%/stat}
    # Fields from the state on (field 3) follow the last ") ".
    set -- $(sed 's/.*) //' "$stat" 2>/dev/null)
    if [ $# -ge 7 ] && [ $(($7 & 0x00200000)) -ne 0 ]; then
      echo "$pid"
      return
    fi
  done
}

rc_is () { is "$rc" "$1" "$2 (exit $1)"; }
like () { # FILE REGEX NAME
  if grep -Eq -- "$2" "$1"; then pass "$3"; else fail "$3" "no line of $(basename "$1") matches: $2"; fi
}
unlike () {
  if grep -Eq -- "$2" "$1"; then fail "$3" "a line of $(basename "$1") matches: $2"; else pass "$3"; fi
}
# wait_until TIMEOUT_S CMD…: polls CMD until it succeeds; a test waits for an
# event it can observe (a line, a file), and the timeout only bounds a failure.
wait_until () {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.02
  done
}

# links_no_parsers PROGRAM: PROGRAM links neither json-glib, GObject, GIO
# nor libyaml (they are loaded for a routing file only).
links_no_parsers () {
  local needed
  needed=$(LC_ALL=C readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  case $needed in *json-glib* | *gobject* | *gio* | *yaml*) echo "$1 links: $needed" >&2; return 1 ;; esac
}
# fake_library DIR SONAME: puts in DIR a library SONAME with nothing in it
# (a parser library that lacks its parser); fails without a C compiler.
fake_library () {
  mkdir -p "$1" && printf 'int stem_fake;\n' | cc -shared -fPIC -x c -o "$1/$2" -Wl,-soname,"$2" - 2>/dev/null
}

pid_of () { cat "$T/run/$1.pid" 2>/dev/null; }
# before_boot FILE: dates FILE a minute before this boot began (what a
# pidfile left by a power cut looks like).
before_boot () { touch -d "@$(($(awk '/^btime / { print $2 }' /proc/stat) - 60))" "$1"; }

# log_writer_of PID: the stem-logwriter process reading PID's output.
log_writer_of () {
  local pipe p fd
  pipe=$(readlink "/proc/$1/fd/1") || return 1
  case $pipe in pipe:*) ;; *) return 1 ;; esac
  for p in $(pgrep -x stem-logwriter); do
    for fd in /proc/"$p"/fd/*; do
      if [ "$(readlink "$fd" 2>/dev/null)" = "$pipe" ]; then
        echo "$p"
        return 0
      fi
    done
  done
  return 1
}

# has_fd_to PID FILE: one of PID's descriptors is FILE; lacks_fd_to PID
# FILE: PID exists, and none is.
has_fd_to () {
  local f
  for f in /proc/"$1"/fd/*; do [ "$(readlink "$f")" = "$2" ] && return 0; done
  return 1
}
lacks_fd_to () { [ -d "/proc/$1/fd" ] && ! has_fd_to "$@"; }

# alive PID: exists and is not dead, as the tools judge it: a zombie is dead
# once no thread of it is left; every other state (including "t", the
# tracing stop a sanitizer's exit-time scan puts a process in) is alive.
alive () {
  local state threads
  state=$(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
  threads=$(sed -n 's/^Threads:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null)
  case $state in
    '' | X | x) return 1 ;;
    Z) [ "${threads:-0}" -gt 1 ] ;;
    *) return 0 ;;
  esac
}
dead () { ! alive "$1"; }

# json FILE FILTER: jq, with a clear failure when the document does not parse.
json () { jq -r "$2" "$1"; }

# as_nobody CMD…: runs CMD as an unprivileged user (65534) when we are root.
as_nobody () {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=65534 --regid=65534 --clear-groups --reset-env -- "$@"
  else
    "$@"
  fi
}

# A private copy of the binaries that an unprivileged user can run.
private_bin () {
  mkdir -p "$T/bin"
  cp "$MULTI" "$WORKER" "$LOGWRITER" "$T/bin/"
  chmod 755 "$T/bin" "$T/bin"/*
}
