#!/bin/sh
# The whole test suite: installs what is missing, builds, runs `make check`
# in a normal and in a sanitizer (ASan + UBSan) build, `make distcheck` as an
# unprivileged user, and the formatting check.  Ends with one line
# "N passed, N failed, N skipped" summed over every test, and fails if any
# test failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
results=$(mktemp)
status=0

started=$(date +%s)
# step TEXT: a heading, with the minutes and seconds since the start.
step () {
  t=$(($(date +%s) - started))
  printf '\n==> %s (at %d:%02d)\n' "$*" $((t / 60)) $((t % 60))
}

# count LOG: adds automake's "# PASS: N" … summary lines of LOG to $results.
count () {
  sed -n 's/^# \(PASS\|FAIL\|SKIP\|ERROR\|XPASS\|XFAIL\): *\([0-9]*\)$/\1 \2/p' "$1" >>"$results"
}

step "dependencies"
sh tools/deps.sh || exit 1

step "bootstrap"
./autogen.sh >/dev/null 2>&1 || { ./autogen.sh; exit 1; }

build () { # DIR CONFIGURE-ARGS…
  dir=$1
  shift
  mkdir -p "$dir"
  (cd "$dir" && "$top/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
    --runstatedir=/run "$@" >configure.log 2>&1) || { cat "$dir/configure.log"; return 1; }
  make -C "$dir" -j"$jobs" >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; return 1; }
}

check () { # DIR
  make -C "$1" -j"$jobs" check >"$1/check.log" 2>&1
  rc=$?
  grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):|^# [A-Z]+:' "$1/check.log"
  count "$1/check.log"
  if [ $rc -ne 0 ]; then
    for log in "$1"/tests/*.log; do
      grep -q '^not ok\|^Bail out' "$log" 2>/dev/null && { echo "--- $log"; cat "$log"; }
    done
    echo "ERROR 1" >>"$results"
    status=1
  fi
}

step "build and make check"
if build _build; then check _build; else echo "ERROR 1" >>"$results"; status=1; fi

step "sanitizer build (ASan + UBSan) and make check"
if build _build-asan --enable-sanitizers; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 check _build-asan
else
  echo "ERROR 1" >>"$results"
  status=1
fi

step "make distcheck (unprivileged)"
if [ "$(id -u)" -eq 0 ]; then
  user=stem-distcheck
  id "$user" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/sh "$user"
  work=$(mktemp -d)
  chmod 755 "$work"
  git ls-files -z | tar --null -T - -cf - | tar -C "$work" -xf -
  chown -R "$user" "$work"
  runuser -u "$user" -- sh -c "cd '$work' && ./autogen.sh && ./configure && make -j$jobs distcheck" \
    >"$top/_build/distcheck.log" 2>&1
  rc=$?
  rm -rf "$work"
else
  make -C _build -j"$jobs" distcheck >_build/distcheck.log 2>&1
  rc=$?
fi
count _build/distcheck.log
if [ $rc -eq 0 ]; then
  echo "PASS: make distcheck"
  echo "PASS 1" >>"$results"
else
  tail -60 _build/distcheck.log
  echo "FAIL: make distcheck"
  echo "FAIL 1" >>"$results"
  status=1
fi

step "system tests (SysV on this host, systemd in a container)"
if [ "$(id -u)" -eq 0 ]; then
  make -C _build check-system >_build/check-system.log 2>&1
  rc=$?
  grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):|^== ' _build/check-system.log
  for kind in PASS FAIL ERROR XPASS SKIP; do
    echo "$kind $(grep -c "^$kind:" _build/check-system.log)" >>"$results"
  done
  if [ $rc -ne 0 ]; then
    grep -B2 -A20 '^not ok\|^Bail out' _build/tests/system/*.log 2>/dev/null | head -150
    status=1
  fi
else
  echo "SKIP: system tests need root"
  echo "SKIP 1" >>"$results"
fi

step "packaging (the .deb: build, lint, reproducibility, autopkgtest, installs in containers)"
if [ "$(id -u)" -eq 0 ]; then
  make -C _build check-packaging >_build/check-packaging.log 2>&1
  rc=$?
  grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):|^== ' _build/check-packaging.log
  for kind in PASS FAIL ERROR XPASS SKIP; do
    echo "$kind $(grep -c "^$kind:" _build/check-packaging.log)" >>"$results"
  done
  if [ $rc -ne 0 ]; then
    grep -B2 -A20 '^not ok\|^Bail out' _build/tests/packaging/*.log 2>/dev/null | head -150
    status=1
  fi
else
  echo "SKIP: packaging tests need root"
  echo "SKIP 1" >>"$results"
fi

step "fuzzing (a short run of every libFuzzer harness)"
make -C _build fuzz FUZZ_SECONDS=10 >_build/fuzz.log 2>&1
rc=$?
grep -E '^(PASS|FAIL): fuzz-' _build/fuzz.log
for kind in PASS FAIL; do
  echo "$kind $(grep -c "^$kind: fuzz-" _build/fuzz.log)" >>"$results"
done
if [ $rc -ne 0 ]; then
  tail -60 _build/fuzz.log
  grep -q '^FAIL: fuzz-' _build/fuzz.log || echo "ERROR 1" >>"$results"
  status=1
fi

step "formatting (clang-format)"
if make -C _build check-format >_build/format.log 2>&1; then
  echo "PASS: clang-format"
  echo "PASS 1" >>"$results"
else
  head -40 _build/format.log
  echo "FAIL: clang-format"
  echo "FAIL 1" >>"$results"
  status=1
fi

step "summary"
awk '$1 == "PASS" || $1 == "XFAIL" { p += $2 }
     $1 == "FAIL" || $1 == "ERROR" || $1 == "XPASS" { f += $2 }
     $1 == "SKIP" { s += $2 }
     END { printf "\n%d passed, %d failed, %d skipped\n", p, f, s }' "$results"
failed=$(awk '$1 == "FAIL" || $1 == "ERROR" || $1 == "XPASS" { f += $2 } END { print f + 0 }' "$results")
rm -f "$results"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
