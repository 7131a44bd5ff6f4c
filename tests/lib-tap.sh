# TAP output for every shell test: tests/libtest.sh, the system tests and
# the packaging tests source it (bash).  pass, fail, skip, note, is, ok_if
# and done_testing, which prints the plan at the end.
#
# The files in the array TAP_SHOW_ON_FAIL are shown under a failure when
# they are not empty: what the command under test printed.
# A script that defines tap_summary has it print its comment lines just
# before the plan.
# shellcheck shell=bash

test_count=0
test_failed=0
TAP_SHOW_ON_FAIL=()

pass () { test_count=$((test_count + 1)); echo "ok $test_count - $1"; }
fail () { # NAME [DIAGNOSTIC…]
  test_count=$((test_count + 1))
  test_failed=$((test_failed + 1))
  echo "not ok $test_count - $1"
  shift
  local line file
  for line in "$@"; do printf '%s\n' "$line" | sed 's/^/# /'; done
  for file in "${TAP_SHOW_ON_FAIL[@]}"; do
    [ -s "$file" ] && sed "s|^|# ${file##*/}: |" "$file"
  done
  return 0
}
skip () { test_count=$((test_count + 1)); echo "ok $test_count # SKIP $1"; }
note () { printf '# %s\n' "$*"; }
is () { # ACTUAL EXPECTED NAME [DIAGNOSTIC…]
  local actual=$1 expected=$2 name=$3
  shift 3
  if [ "$actual" = "$expected" ]; then pass "$name"; else fail "$name" "got:      $actual" "expected: $expected" "$@"; fi
}
ok_if () { # NAME CMD…
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name" "false: $*"; fi
}
done_testing () {
  if declare -F tap_summary >/dev/null; then tap_summary; fi
  echo "1..$test_count"
  [ "$test_failed" -eq 0 ]
  exit $?
}
