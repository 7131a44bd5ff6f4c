#!/bin/bash
# The generated units, init scripts and data files, checked statically:
# systemd-analyze verify and security, shellcheck, logrotate -d, and the env
# files against the project's own parser.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

stage=$T/stage
make -s -C "$top_builddir" install DESTDIR="$stage" >"$T/install.log" 2>&1
rc=$?
rc_is 0 "make install DESTDIR=…"
generated=$(cd "$top_builddir" && ls init/stem-worker@.service init/stem-worker.service \
  init/stem-scheduler.service init/stem-health-textfile.service init/stem-health-textfile.timer \
  init/stem-worker init/stem-scheduler data/stem.env \
  data/default/stem data/logrotate.d/stem data/sysusers.d/stem.conf data/tmpfiles.d/stem.conf)
for f in $generated; do
  unlike "$top_builddir/$f" '@[A-Za-z_]+@' "$f: every @placeholder@ is filled"
  unlike "$top_builddir/$f" '\$\{(prefix|exec_prefix|datarootdir|datadir|libdir|localstatedir|runstatedir|sysconfdir|bindir)\}' \
    "$f: every path is fully expanded"
done

# systemd-analyze creates /run/systemd when it is missing, which only root
# may (a build chroot, as Debian's buildds build, has an empty /run).
if command -v systemd-analyze >/dev/null && { [ -d /run/systemd ] || [ -w /run ]; }; then
  # The units where systemd looks for them, in the installed tree, with the
  # programs they start (/bin/sh for the scheduler's check).
  mkdir -p "$stage/etc/systemd/system" "$stage/bin"
  cp "$top_builddir"/init/*.service "$top_builddir"/init/*.timer "$stage/etc/systemd/system/"
  cp /bin/sh "$stage/bin/sh"
  for unit in stem-worker@alpha.service stem-worker.service stem-scheduler.service \
    stem-health-textfile.service; do
    run systemd-analyze verify --man=no --recursive-errors=no --root="$stage" "$unit"
    is "$rc:$(grep -c . "$T/err")" "0:0" "$unit passes systemd-analyze verify"
    systemd-analyze security --offline=true --root="$stage" "$unit" >"$T/sec" 2>&1
    score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$T/sec")
    echo "# $unit: exposure $score"
    ok_if "$unit: exposure level $score is at most 2.0" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
  done
  run systemd-analyze verify --man=no --recursive-errors=no --root="$stage" stem-health-textfile.timer
  is "$rc:$(grep -c . "$T/err")" "0:0" "stem-health-textfile.timer passes systemd-analyze verify"
else
  skip "systemd-analyze is not installed, or cannot create /run/systemd"
fi

if command -v shellcheck >/dev/null; then
  for script in init/stem-worker init/stem-scheduler; do
    run shellcheck -s sh "$top_builddir/$script"
    is "$rc" 0 "$script is shellcheck-clean"
    like "$top_builddir/$script" '^# Required-Start:.*\$network' "$script: its LSB header requires \$network"
  done
else
  skip "shellcheck is not installed"
fi

# The sysusers.d file, as systemd-sysusers applies it to an empty root:
# the units' User= exists, and its primary group is their Group=.
if command -v systemd-sysusers >/dev/null; then
  user=$(sed -n 's/^User=//p' "$top_builddir/init/stem-worker@.service")
  group=$(sed -n 's/^Group=//p' "$top_builddir/init/stem-worker@.service")
  mkdir -p "$T/sysroot/etc"
  run systemd-sysusers --root="$T/sysroot" "$top_builddir/data/sysusers.d/stem.conf"
  rc_is 0 "systemd-sysusers applies data/sysusers.d/stem.conf"
  gid=$(awk -F: -v g="$group" '$1 == g { print $3 }' "$T/sysroot/etc/group")
  is "$(awk -F: -v u="$user" '$1 == u { print $4 }' "$T/sysroot/etc/passwd")" "${gid:-no group $group}" \
    "sysusers.d makes the units' user $user, and their group $group its primary group"
else
  skip "systemd-sysusers is not installed"
fi

if command -v logrotate >/dev/null; then
  conf=$T/logrotate.conf
  cp "$top_builddir/data/logrotate.d/stem" "$conf"
  chmod 644 "$conf"
  # The snippet rotates as the service user; where that user does not exist
  # (a build machine), or we may not become it (not root), check the rest
  # as ourselves.
  if [ "$(id -u)" -ne 0 ] || ! getent passwd stem >/dev/null; then
    sed -i "s/^\tsu .*/\tsu $(id -un) $(id -gn)/" "$conf"
  fi
  run logrotate -d --state "$T/logrotate.state" "$conf"
  is "$rc:$(grep -ci 'error' "$T/err" "$T/out" | awk -F: '{ s += $NF } END { print s }')" "0:0" \
    "logrotate -d accepts the snippet without error"
  unlike "$conf" '^\s*copytruncate$' "logrotate renames, never copytruncate (which loses lines)"
  like "$conf" '^\s*nocreate$' "nocreate: the log writers create the new log (as the worker's user)"
  like "$conf" '^\s*delaycompress$' "delaycompress: the renamed log stays writable until the writer has moved on"
else
  skip "logrotate is not installed"
fi

# The env files: as shipped, and with every example assignment switched on,
# they parse with stem-multi's own parser and source cleanly in /bin/sh.
for f in data/stem.env data/default/stem; do
  cp "$top_builddir/$f" "$T/as-shipped"
  sed 's/^#\([A-Z_][A-Z_0-9]*=\)/\1/' "$top_builddir/$f" >"$T/all-set"
  chmod 644 "$T/as-shipped" "$T/all-set"
  ok_if "$f: examples are present" test "$(grep -c '^[A-Z_]*=' "$T/all-set")" -gt 3
  for variant in as-shipped all-set; do
    run "$MULTI" names x --env-file="$T/$variant"
    is "$rc" 0 "$f ($variant) parses with stem-multi's env-file parser"
    run sh -ec ". '$T/$variant'"
    is "$rc:$(cat "$T/err")" "0:" "$f ($variant) sources cleanly in /bin/sh"
  done
done

done_testing
