#!/bin/bash
# The RPM (TAP, root only), built here with Debian's rpm tools:
#
#  1. rpm/stem-daemon.spec's Version is configure.ac's, NEWS's and
#     debian/changelog's; its sysusers source is the installed file's line
#  2. tools/build-rpm.sh builds the SRPM and the RPM from `make dist`
#  3. rpmlint on the spec, the SRPM and the RPM: 0 errors, 0 warnings
#  4. the RPM's files are `make install`'s, configured as the spec
#     configures, without the SysV scripts and /etc/default/stem; modes
#     and owners as the spec says
#  5. the scriptlets, run as rpm runs them with stand-ins for the tools
#     they call, create the user, and stop and restart the template's
#     instances
#  6. the payload works: unpacked into a scratch root, its stem-multi
#     starts, finds and stops its example worker
#
#   top_srcdir=… top_builddir=… bash tests/packaging/test-rpm.sh
#
# The build skips %check (--nocheck): this test suite has run make check
# already; `make rpm` runs it.  What cannot be verified here (an install
# on Fedora) is said in the README.
set -u
: "${top_srcdir:?run through make check-packaging}" "${top_builddir:?run through make check-packaging}"
export LC_ALL=C.UTF-8

# shellcheck source=../lib-tap.sh
. "$top_srcdir/tests/lib-tap.sh" || exit 99

[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
for tool in rpmbuild rpmlint rpm2cpio cpio unshare; do
  command -v "$tool" >/dev/null || { echo "Bail out! $tool is not installed (tools/deps.sh installs it)"; exit 99; }
done
W=$(mktemp -d "${TMPDIR:-/var/tmp}/stem-rpm.XXXXXX") || { echo "Bail out! mktemp failed"; exit 99; }
trap 'rm -rf --one-file-system "$W"' EXIT
SPEC=$top_srcdir/rpm/stem-daemon.spec

# 1. versions --------------------------------------------------------------
v_spec=$(sed -n 's/^Version:[[:space:]]*//p' "$SPEC")
v_configure=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
v_news=$(awk 'NF { print $2; exit }' "$top_srcdir/NEWS")
v_changelog=$(sed -n '1s/^stem-daemon (\([^)]*\)).*/\1/p' "$top_srcdir/debian/changelog")
is "$v_spec" "$v_configure" "the spec's Version is configure.ac's ($v_configure)"
is "$v_news" "$v_spec" "… and the top NEWS entry's"
is "$v_changelog" "$v_spec" "… and debian/changelog's"
is "$(grep '^u ' "$top_srcdir/rpm/stem-daemon.sysusers")" \
  "$(grep '^u ' "$top_builddir/data/sysusers.d/stem.conf")" \
  "rpm/stem-daemon.sysusers has the installed sysusers.d line (for %sysusers_create_compat)"

# 2. build -----------------------------------------------------------------
if "$top_srcdir/tools/build-rpm.sh" "$top_builddir" "$W/out" --nocheck >"$W/build.log" 2>&1; then
  pass "tools/build-rpm.sh builds the packages from make dist's tarball"
else
  fail "tools/build-rpm.sh builds the packages from make dist's tarball" "$(tail -n 30 "$W/build.log")"
fi
RPM=$W/out/stem-daemon-$v_spec-1.$(rpm --eval '%{_arch}').rpm
SRPM=$W/out/stem-daemon-$v_spec-1.src.rpm
if [ ! -f "$RPM" ] || [ ! -f "$SRPM" ]; then
  echo "Bail out! no $RPM or $SRPM"
  exit 99
fi
pass "an SRPM and an RPM"
out=$(grep -i 'warning:' "$W/build.log")
is "$out" "" "rpmbuild warns of nothing (no file listed twice)"

# %check runs make check: it needs what Debian's control lists as
# <!nocheck> (by Fedora's names), or parts of it skip.
fedora_name () {
  case $1 in
    groff-base) echo groff ;;
    procps) echo procps-ng ;;
    shellcheck) echo ShellCheck ;;
    *) echo "$1" ;;
  esac
}
missing=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$top_srcdir/debian/control" |
  sed -n 's/^ *\([a-z0-9.+-]*\) .*<!nocheck>.*/\1/p' | while read -r dep; do
    grep -qx "BuildRequires: *$(fedora_name "$dep")" "$SPEC" || printf ' %s' "$(fedora_name "$dep")"
  done)
is "${missing# }" "" "the spec's BuildRequires have what %check needs (debian/control's <!nocheck> ones)"

# 3. rpmlint ---------------------------------------------------------------
out=$(rpmlint -r "$top_srcdir/rpm/rpmlintrc" "$SPEC" "$SRPM" "$RPM" 2>&1)
summary=$(printf '%s\n' "$out" | grep 'packages and 1 specfiles checked')
if [[ $summary == *" 0 errors, 0 warnings"* ]]; then
  pass "rpmlint on the spec, the SRPM and the RPM: 0 errors, 0 warnings"
else
  fail "rpmlint on the spec, the SRPM and the RPM: 0 errors, 0 warnings" "$out"
fi
# A filter (or a run of them) comes right after the comment saying why.
ok=true prev=
while IFS= read -r line; do
  case $line in addFilter*) [[ $prev == "#"* || $prev == addFilter* ]] || ok=false ;; esac
  prev=$line
done <"$top_srcdir/rpm/rpmlintrc"
if $ok; then pass "every rpmlint filter follows a comment"; else fail "every rpmlint filter follows a comment"; fi

# 4. files -----------------------------------------------------------------
# make install, configured as the spec's %configure does.
mkdir -p "$W/b" "$W/stage"
(cd "$W/b" && "$top_srcdir/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
  --runstatedir=/run --libexecdir=/usr/libexec \
  --with-systemdsystemunitdir=/usr/lib/systemd/system --with-sysusersdir=/usr/lib/sysusers.d \
  --with-tmpfilesdir=/usr/lib/tmpfiles.d \
  --with-bashcompletiondir=/usr/share/bash-completion/completions \
  --with-zshcompletiondir=/usr/share/zsh/site-functions \
  --with-fishcompletiondir=/usr/share/fish/vendor_completions.d \
  --with-logrotatedir=/etc/logrotate.d --with-sysvinitdir=no >configure.log 2>&1 \
  && make -j2 >make.log 2>&1 && make install DESTDIR="$W/stage" >install.log 2>&1)
is "$?" 0 "make install with the spec's directories and --with-sysvinitdir=no" "$(tail -n 20 "$W/b/"*.log)"
# Not directories: files and links, with the spec's renaming of the
# logrotate file, and what the spec adds (COPYING, README, NEWS).
(cd "$W/stage" && find . ! -type d | sed 's|^\.||') \
  | sed 's|^/etc/logrotate.d/stem$|/etc/logrotate.d/stem-daemon|' >"$W/expected.unsorted"
printf '%s\n' /usr/share/licenses/stem-daemon/COPYING /usr/share/doc/stem-daemon/README \
  /usr/share/doc/stem-daemon/NEWS >>"$W/expected.unsorted"
LC_ALL=C sort "$W/expected.unsorted" >"$W/expected"
rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$RPM" >"$W/modes"
# rpm itself links every binary from /usr/lib/.build-id/ (for its
# debuginfo): that is rpm's, not the package's.
grep -v '^d' "$W/modes" | cut -d' ' -f2- | grep -v '^/usr/lib/\.build-id/' | LC_ALL=C sort >"$W/actual"
if diff -u "$W/expected" "$W/actual" >"$W/files.diff"; then
  pass "the RPM holds exactly make install's files ($(wc -l <"$W/actual")): nothing lost, nothing added"
else
  fail "the RPM holds exactly make install's files: nothing lost, nothing added" "$(cat "$W/files.diff")"
fi
for gone in /etc/init.d/stem-worker /etc/init.d/stem-scheduler /etc/default/stem; do
  if grep -qx "$gone" "$W/actual"; then fail "no $gone in the RPM"; else pass "no $gone in the RPM"; fi
done
owner () { rpm -qp --qf '[%{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEMODES:perms} %{FILENAMES}\n]' "$RPM" | awk -v f="$1" '$3 == f { print $1, $2 }'; }
is "$(owner /etc/stem/stem.env)" "root:stem -rw-r-----" "stem.env is root:stem 0640, a %config(noreplace)"
ok_config=$(rpm -qp --configfiles "$RPM" | LC_ALL=C sort | tr '\n' ' ')
is "$ok_config" "/etc/logrotate.d/stem-daemon /etc/stem/stem.env " "the config files are stem.env and the logrotate snippet"
is "$(owner /var/log/stem)" "stem:stem drwxr-x---" "/var/log/stem is stem's, 0750"
is "$(owner /var/lib/stem)" "stem:stem drwxr-x---" "/var/lib/stem is stem's, 0750"
is "$(owner /run/stem)" "stem:stem drwxr-xr-x" "/run/stem is the package's, stem's, 0755, as the tmpfiles.d file makes it"
is "$(owner /usr/share/doc/stem-daemon)" "root:root drwxr-xr-x" \
  "the documents' directory is the package's (it is left behind otherwise)"
# Built for /run, whatever the rpm's %configure passes on its own (Debian's
# passes no --runstatedir): systemd-tmpfiles warns of a file below
# /var/run, and the units and the built-in default would name it.
mkdir -p "$W/payload"
(cd "$W/payload" && rpm2cpio "$RPM" | cpio -idm --quiet 2>/dev/null)
legacy=$(grep -rl '/var/run' "$W/payload/usr/lib/tmpfiles.d" "$W/payload/usr/lib/systemd/system" \
  "$W/payload/usr/bin/stem-multi" 2>/dev/null)
is "$legacy" "" "no file of the RPM names /var/run"
is "$(grep -c '^d /run/stem ' "$W/payload/usr/lib/tmpfiles.d/stem.conf" 2>&1)" 1 \
  "the tmpfiles.d file makes /run/stem"
others=$(rpm -qp --qf '[%{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$RPM" \
  | grep -v '^root:root ' | grep -v ' /etc/stem/stem.env$\| /var/log/stem$\| /var/lib/stem$\| /run/stem$')
is "$others" "" "every other file is root's"
ok_lang=$(grep -c '/usr/share/locale/\(de\|fr\)/LC_MESSAGES/stem-daemon.mo' "$W/actual")
is "$ok_lang" 2 "the translations are in (%find_lang)"

# json-glib and libyaml are loaded at run time (dlopen): the automatic
# dependencies cannot find them.
requires=$(rpm -qp --requires "$RPM" | tr '\n' ' ')
isa=$(rpm --eval '%{?_isa}')
bits=$([ "$(rpm --eval '%{__isa_bits}')" = 64 ] && echo '()(64bit)')
if [[ " $requires" == *" json-glib$isa >= 1.4 "* && " $requires" == *" libyaml-0.so.2$bits "* ]]; then
  pass "the RPM requires json-glib and libyaml, loaded at run time"
else
  fail "the RPM requires json-glib and libyaml, loaded at run time" "Requires: $requires"
fi

# 5. scriptlets ------------------------------------------------------------
# Each scriptlet run as rpm runs it: by sh, with the instance count as $1,
# in a mount namespace of this test's own where stand-ins for
# systemd-update-helper, systemctl and the shadow tools log their
# arguments and /run/systemd/system exists (a booted systemd).  The
# working directory holds a file that an unquoted stem-worker@*.service
# would expand to.
mkdir -p "$W/scripts" "$W/fake/bin" "$W/fake/systemd" "$W/cwd"
for tag in PREIN POSTIN PREUN POSTUN; do
  rpm -qp --qf "%{$tag}" "$RPM" >"$W/scripts/$tag"
done
for tool in systemctl groupadd useradd; do
  printf '#!/bin/sh\necho "%s $*" >>"$FAKELOG"\n' "$tool" >"$W/fake/bin/$tool"
done
printf '#!/bin/sh\nexit 2\n' >"$W/fake/bin/getent" # nobody exists yet
printf '#!/bin/sh\necho "helper $*" >>"$FAKELOG"\n' >"$W/fake/systemd/systemd-update-helper"
chmod +x "$W"/fake/bin/* "$W/fake/systemd/systemd-update-helper"
touch "$W/cwd/stem-worker@x.service"
scriptlet () { # TAG ARG: the commands it ran, one a line
  : >"$W/fake.log"
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare --mount --propagation private sh -c '
    mkdir -p /usr/lib/systemd && mount --bind "$1/fake/systemd" /usr/lib/systemd &&
      mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system || exit 97
    cd "$1/cwd" && FAKELOG=$1/fake.log PATH=$1/fake/bin:$PATH sh "$1/scripts/$2" "$3"
  ' sh "$W" "$1" "$2" >"$W/scriptlet.err" 2>&1 || echo "(exit $?: $(cat "$W/scriptlet.err"))"
  cat "$W/fake.log"
}
is "$(scriptlet PREIN 1)" "groupadd -r stem
useradd -r -g stem -d /var/lib/stem -s /sbin/nologin -c Stem task queue worker stem" \
  "%pre creates the stem group and user of the sysusers.d file (%sysusers_create_compat)"
is "$(scriptlet POSTIN 1)" \
  "helper install-system-units stem-worker.service stem-scheduler.service stem-health-textfile.timer" \
  "%post, install: the services' presets, enabling nothing by itself"
is "$(scriptlet POSTIN 2)" "" "%post, upgrade: nothing"
is "$(scriptlet PREUN 1)" "" "%preun, upgrade: nothing is stopped"
is "$(scriptlet PREUN 0)" "helper remove-system-units stem-worker.service stem-scheduler.service stem-health-textfile.timer stem-health-textfile.service
helper remove-system-units stem-worker@.service
systemctl stop stem-worker@*.service" \
  "%preun, erase: the units are disabled and stopped, every running stem-worker@ instance too"
is "$(scriptlet POSTUN 1)" \
  "helper mark-restart-system-units stem-worker@*.service stem-worker.service stem-scheduler.service" \
  "%postun, upgrade: what runs is restarted, every stem-worker@ instance too"
is "$(scriptlet POSTUN 0)" "" "%postun, erase: nothing more"

# 6. the payload -----------------------------------------------------------
S=$W/root
mkdir -p "$S"
(cd "$S" && rpm2cpio "$RPM" | cpio -idm --quiet)
is "$?" 0 "rpm2cpio | cpio unpacks the payload"
# Its stem-multi looks for its helpers in /usr/libexec/stem-daemon: the
# payload's, bound there in a mount namespace of this test's own.
mkdir -p "$W/run" "$W/log"
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --mount --propagation private sh -c '
  S=$1 W=$2
  mount -t tmpfs tmpfs /usr/libexec && mkdir /usr/libexec/stem-daemon &&
  mount --bind "$S/usr/libexec/stem-daemon" /usr/libexec/stem-daemon || exit 99
  m () { "$S/usr/bin/stem-multi" "$@" --pidfile="$W/run/%n.pid" --logfile="$W/log/%n.log"; }
  m start alpha --command "$S/usr/bin/stem-example-worker" >"$W/start.out" 2>&1; echo "$?" >"$W/start.rc"
  m status alpha >"$W/status.out" 2>&1; echo "$?" >"$W/status.rc"
  m stop alpha >"$W/stop.out" 2>&1; echo "$?" >"$W/stop.rc"
  m status alpha >"$W/status2.out" 2>&1; echo "$?" >"$W/status2.rc"
' sh "$S" "$W"
is "$(cat "$W/start.rc" 2>/dev/null)" 0 "the payload's stem-multi starts its stem-example-worker" "$(cat "$W/start.out" 2>&1)"
is "$(cat "$W/status.rc" 2>/dev/null)" 0 "status: running" "$(cat "$W/status.out" 2>&1)"
if grep -q '^alpha: running (pid [0-9]*' "$W/status.out" 2>/dev/null; then pass "… as it says"; else fail "… as it says" "$(cat "$W/status.out" 2>&1)"; fi
is "$(cat "$W/stop.rc" 2>/dev/null)" 0 "stop" "$(cat "$W/stop.out" 2>&1)"
is "$(cat "$W/status2.rc" 2>/dev/null)" 3 "then status: not running (LSB 3)" "$(cat "$W/status2.out" 2>&1)"
if grep -q 'started' "$W/log/alpha.log" 2>/dev/null; then
  pass "the worker's output went through the payload's log writer to its log"
else
  fail "the worker's output went through the payload's log writer to its log" "$(cat "$W/log/alpha.log" 2>&1)"
fi

done_testing
