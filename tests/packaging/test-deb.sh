#!/bin/bash
# The Debian package, every step of its life, for real (TAP, root only):
#
#  1. versions: configure.ac, debian/changelog, NEWS (and the RPM spec)
#  2. dpkg-buildpackage -us -uc in a fresh Debian 12 container holding only
#     the Build-Depends, make check included
#  3. lintian --pedantic on the .changes (as a user), blhc on the build log,
#     the .deb against `make install`'s tree, owners
#  4. a second build elsewhere (other directory, umask, TZ, locale) gives
#     bit-identical .debs
#  5. debian/tests run by autopkgtest in a booted systemd container
#  6. apt-get install / upgrade / remove / purge from a local apt repository
#     in a booted systemd container and in an unbooted (SysV) one
#
#   top_srcdir=… bash tests/packaging/test-deb.sh     (make check-packaging)
#
# STEM_PKGTEST_KEEP=DIR keeps the built packages in DIR; STEM_PKGTEST_REUSE=DIR
# takes them from there instead of building (for working on the later steps).
# shellcheck disable=SC2016,SC2317 # scripts run inside; functions called through nspawn_wait
set -u
: "${top_srcdir:?run through make check-packaging}"
# shellcheck source-path=SCRIPTDIR source=../system/lib-nspawn.sh
. "$top_srcdir/tests/system/lib-nspawn.sh" || exit 99
# shellcheck source-path=SCRIPTDIR source=lib-deb.sh
. "$top_srcdir/tests/packaging/lib-deb.sh" || exit 99
export LC_ALL=C.UTF-8

nspawn_require
deb_require_tools dpkg-dev debhelper devscripts lintian blhc diffoscope-minimal autopkgtest
W=$(mktemp -d "${TMPDIR:-/var/tmp}/stem-deb.XXXXXX") || nspawn_bail "mktemp failed"
chmod 755 "$W"
nspawn_atexit "rm -rf --one-file-system '$W'"

# What the containers are made of (debootstrap --include, on top of minbase):
# the run-time dependencies come from Debian's archive when the root file
# system is built, so apt-get resolves them offline later.
RUNTIME_DEPS=adduser,logrotate,libglib2.0-0,libjson-glib-1.0-0,libyaml-0-2
SYSTEMD_INCLUDE=systemd,systemd-sysv,dbus,procps,man-db,autopkgtest,$RUNTIME_DEPS
SYSV_INCLUDE=sysvinit-core,procps,$RUNTIME_DEPS
BUILD_INCLUDE=build-essential,$(deb_build_depends "$top_srcdir/debian/control" | paste -sd,)

# ---------------------------------------------------------------------------
phase "1. versions"
v_configure=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
v_changelog=$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Version)
v_news=$(awk 'NF { print $2; exit }' "$top_srcdir/NEWS")
is "$v_changelog" "$v_configure" "debian/changelog's version is configure.ac's ($v_configure)"
is "$v_news" "$v_configure" "the top NEWS entry is configure.ac's version"
if [ -f "$top_srcdir/rpm/stem-daemon.spec" ]; then
  v_spec=$(sed -n 's/^Version:[[:space:]]*//p' "$top_srcdir/rpm/stem-daemon.spec" | head -n 1)
  is "$v_spec" "$v_configure" "rpm/stem-daemon.spec's Version is configure.ac's"
fi
VERSION=$v_changelog
UPVERSION=$VERSION+pkgtest1
ARCH=$(dpkg --print-architecture)
DEB=stem-daemon_${VERSION}_$ARCH.deb
DEB2=stem-daemon_${UPVERSION}_$ARCH.deb

# ---------------------------------------------------------------------------
# export_tree DIR: the source as build-deb.sh exports it.
export_tree () {
  mkdir -p "$1"
  if git -C "$top_srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$top_srcdir" && git ls-files -z --cached |
      xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
      tar --null -T - -cf -) | tar -C "$1" -xf -
  else
    (cd "$top_srcdir" && tar --exclude='./_build*' --exclude=./deb --exclude=./debian/build -cf - .) |
      tar -C "$1" -xf -
  fi
}

A=$W/a
B=$W/b
if [ -n "${STEM_PKGTEST_REUSE:-}" ]; then
  phase "2-4. reusing the packages in $STEM_PKGTEST_REUSE"
  mkdir -p "$A" "$B"
  cp -a "$STEM_PKGTEST_REUSE/a/." "$A/"
  cp -a "$STEM_PKGTEST_REUSE/b/." "$B/"
else
  phase "2. build in a Debian 12 container with only the Build-Depends"
  build=$W/buildtree
  mkdir -p "$build/build/home" "$build/build/a" "$build/build/b/elsewhere" "$build/build/c"
  export_tree "$build/build/a/stem-daemon-$VERSION"
  export_tree "$build/build/b/elsewhere/stem-daemon-$VERSION"
  export_tree "$build/build/c/stem-daemon-$VERSION"
  # The upgrade: the same tree with a newer version.
  { printf 'stem-daemon (%s) unstable; urgency=medium\n\n  * Upgrade test build.\n\n' "$UPVERSION"
    printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Maintainer)" \
      "$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Date)"
    cat "$top_srcdir/debian/changelog"; } >"$build/build/c/stem-daemon-$VERSION/debian/changelog"
  chown -R 65534:65534 "$build/build"
  NSPAWN_INCLUDE=$BUILD_INCLUDE
  nspawn_start stem-debbuild "$build"
  R=$NSPAWN_DIR/root
  as_builder () { # DIR UMASK TZ LC_ALL DEB_BUILD_OPTIONS CMD: as nobody
    NSPAWN_TIMEOUT=1200 c runuser -u nobody -- env HOME=/build/home TZ="$3" LC_ALL="$4" \
      LANGUAGE="${4%%.*}" DEB_BUILD_OPTIONS="$5" sh -c "umask $2 && cd $1 && $6"
  }
  out=$(c_out sh -c "cd /build/a/stem-daemon-$VERSION && dpkg-checkbuilddeps")
  is "$?:$out" "0:" "the container has the Build-Depends (only them, on minbase + build-essential)"
  as_builder "/build/a/stem-daemon-$VERSION" 022 UTC C.UTF-8 "" "dpkg-buildpackage -us -uc" \
    >"$W/a.log" 2>&1
  rc=$?
  mkdir -p "$A"
  cp "$W/a.log" "$A/build.log"
  cp "$R"/build/a/*.deb "$R"/build/a/*.dsc "$R"/build/a/*.tar.* "$R"/build/a/*.changes \
    "$R"/build/a/*.buildinfo "$A/" 2>/dev/null
  if [ "$rc" -eq 0 ] && [ -f "$A/$DEB" ] && [ -f "$A/stem-daemon_$VERSION.dsc" ]; then
    pass "dpkg-buildpackage -us -uc builds the source and binary packages"
  else
    fail "dpkg-buildpackage -us -uc builds the source and binary packages" \
      "$(grep -E '^(FAIL|ERROR): ' "$W/a.log" | head -n 20)" "$(tail -n 40 "$W/a.log")"
  fi
  checks=$(grep -c '^PASS: ' "$W/a.log")
  ok_if "dh_auto_test ran make check ($checks tests passed, none failed)" \
    eval '[ "$checks" -gt 0 ] && ! grep -q "^FAIL: \|^ERROR: " "$W/a.log" && grep -q "^# FAIL: *0$" "$W/a.log"'

  # make install's tree, from the very build the package was made of.
  if ! out=$(c_out runuser -u nobody -- make -s -C "/build/a/stem-daemon-$VERSION/debian/build" install DESTDIR=/build/a/installed); then
    fail "make install DESTDIR= of the package's build" "$out"
  fi
  cp -a "$R/build/a/installed" "$A/installed"

  phase "4. a second build: another directory, umask, TZ and locale"
  as_builder "/build/b/elsewhere/stem-daemon-$VERSION" 002 JST-9 C nocheck "dpkg-buildpackage -us -uc -b" \
    >"$W/b.log" 2>&1 || fail "the second build" "$(tail -n 30 "$W/b.log")"
  mkdir -p "$B"
  cp "$R"/build/b/elsewhere/*.deb "$B/" 2>/dev/null
  phase "the upgrade's build ($UPVERSION)"
  as_builder "/build/c/stem-daemon-$VERSION" 022 UTC C.UTF-8 nocheck "dpkg-buildpackage -us -uc -b" \
    >"$W/c.log" 2>&1 || fail "the build of $UPVERSION" "$(tail -n 30 "$W/c.log")"
  cp "$R/build/c/$DEB2" "$A/" 2>/dev/null
  nspawn_poweroff
  if [ -n "${STEM_PKGTEST_KEEP:-}" ]; then
    mkdir -p "$STEM_PKGTEST_KEEP"
    rm -rf "$STEM_PKGTEST_KEEP/a" "$STEM_PKGTEST_KEEP/b"
    cp -a "$A" "$B" "$STEM_PKGTEST_KEEP/"
  fi
fi
[ -f "$A/$DEB" ] || nspawn_bail "no $DEB was built"

# ---------------------------------------------------------------------------
phase "3. lintian, blhc, contents"
# lintian runs as nobody; the make install tree keeps its modes.
chmod a+rx "$A"
find "$A" -maxdepth 1 -type f -exec chmod a+r {} +
mkdir -p "$W/lintian-home"
chown 65534:65534 "$W/lintian-home"
out=$(runuser -u nobody -- env HOME="$W/lintian-home" lintian --pedantic -I -E --fail-on error,warning \
  "$A/stem-daemon_${VERSION}_$ARCH.changes" 2>&1)
rc=$?
is "$rc" 0 "lintian --pedantic -I -E --fail-on error,warning on the .changes (source and binary)" "$out"
ok_if "lintian checked the source and the binary packages" \
  eval 'runuser -u nobody -- env HOME="$W/lintian-home" lintian --print-version >/dev/null &&
        grep -q "^ stem-daemon_${VERSION}.dsc\$\|stem-daemon_${VERSION}.dsc" "$A/stem-daemon_${VERSION}_$ARCH.changes" &&
        grep -q " $DEB\$" "$A/stem-daemon_${VERSION}_$ARCH.changes"'
[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# lintian: /'
is "$out" "" "lintian --pedantic -I -E: not even an info or pedantic tag is left unanswered"

# Every override is right for a reason written above it.
uncommented=$(for f in "$top_srcdir"/debian/*lintian-overrides "$top_srcdir"/debian/source/lintian-overrides; do
  [ -f "$f" ] || continue
  awk -v f="${f#"$top_srcdir"/}" '/^#/ { c = 1; next } /^[[:space:]]*$/ { c = 0; next } !c { print f ": " $0 } { c = c }' "$f"
done)
is "$uncommented" "" "every lintian override has a comment saying why"

out=$(blhc --debian --all "$A/build.log" 2>&1)
is "$?:$out" "0:" "blhc --all: no hardening flag missing in the build log"
ok_if "the build log shows the compiler's command lines (blhc saw them)" grep -q -- '-fstack-protector-strong' "$A/build.log"

# The parsers are loaded at run time (dlopen), so dpkg-shlibdeps cannot
# find them: the package must depend on them itself.
depends=$(dpkg-deb -f "$A/$DEB" Depends)
if [[ ", $depends," == *", libjson-glib-1.0-0 "* && ", $depends," == *", libyaml-0-2"[,\ ]* ]]; then
  pass "the .deb depends on json-glib and libyaml, loaded at run time"
else
  fail "the .deb depends on json-glib and libyaml, loaded at run time" "Depends: $depends"
fi

# The .deb against make install's tree: paths, types, modes, link targets.
# Only what Debian requires is added (copyright, changelog, README.Debian,
# the lintian overrides), man pages are compressed, and dh_installman turns
# an alias page (".so man8/PAGE") into a symbolic link: man pages are
# compared by name alone.
deb_listing () {
  dpkg-deb --fsys-tarfile "$1" | tar -tvf - |
    awk '{ mode = $1; path = $6; for (i = 7; i <= NF; i++) path = path " " $i; print substr(mode, 1, 1), substr(mode, 2), path }' |
    sed 's| \./| /|; s|/$||' | grep -v -E ' /?$' |
    sed -E 's|^(- [^ ]+ /usr/share/man/.*)\.gz$|\1|; s|^(l [^ ]+ /usr/share/man/[^ ]*)\.gz -> (.*)\.gz$|\1 -> \2|' |
    grep -v -E ' /usr/share/doc/stem-daemon/(copyright|changelog\.gz|README\.Debian(\.gz)?|README(\.gz)?|NEWS(\.gz)?)$| /usr/share/lintian(/overrides(/stem-daemon)?)?$' |
    man_by_name | LC_ALL=C sort
}
man_by_name () {
  sed -E 's|^[-l] [^ ]+ (/usr/share/man/[^ ]*)( -> .*)?$|m \1|'
}
tree_listing () {
  (cd "$1" && find . -mindepth 1 \( -type l -printf 'l %M %p -> %l\n' \) -o -printf '%y %M %p\n') |
    awk '{ t = ($1 == "f") ? "-" : $1; print t, substr($2, 2), substr($0, index($0, $3)) }' |
    sed 's| \./| /|' | man_by_name | LC_ALL=C sort
}
if [ -d "$A/installed" ]; then
  deb_listing "$A/$DEB" | grep -v '^d ' >"$W/deb.list"
  tree_listing "$A/installed" | grep -v '^d ' >"$W/tree.list"
  out=$(diff -u "$W/tree.list" "$W/deb.list")
  is "$?" 0 "the .deb holds exactly make install's files and links, with their modes" "$out"
  deb_listing "$A/$DEB" | grep '^d ' | awk '{ print $3 }' >"$W/deb.dirs"
  tree_listing "$A/installed" | grep '^d ' | awk '{ print $3 }' >"$W/tree.dirs"
  out=$(diff "$W/tree.dirs" "$W/deb.dirs" | grep -v -E '^[<>] /usr/share/doc/stem-daemon$|^[0-9]')
  is "$out" "" "and the same directories (but for /usr/share/doc/stem-daemon, which Debian requires)"
else
  fail "the .deb holds exactly make install's files (no make install tree)"
fi
# Policy 12.3: the upstream documentation, as the RPM ships it too.
for doc in README NEWS; do
  shipped=$(dpkg-deb --fsys-tarfile "$A/$DEB" | tar -xOf - "./usr/share/doc/stem-daemon/$doc.gz" 2>/dev/null | zcat 2>/dev/null ||
    dpkg-deb --fsys-tarfile "$A/$DEB" | tar -xOf - "./usr/share/doc/stem-daemon/$doc" 2>/dev/null)
  if [ -n "$shipped" ] && [ "$shipped" = "$(cat "$top_srcdir/$doc")" ]; then
    pass "the .deb ships the upstream $doc in /usr/share/doc/stem-daemon"
  else
    fail "the .deb ships the upstream $doc in /usr/share/doc/stem-daemon" "$(dpkg-deb -c "$A/$DEB" | grep /doc/)"
  fi
done
for deb in "$A"/*.deb; do
  others=$(dpkg-deb --fsys-tarfile "$deb" | tar -tvf - | awk '$2 != "root/root"')
  is "$others" "" "every file in $(basename "$deb") is owned by root/root"
done

# ---------------------------------------------------------------------------
phase "4. reproducible"
for deb in "$A"/*.deb; do
  name=$(basename "$deb")
  case $name in *"$UPVERSION"*) continue ;; esac
  if cmp -s "$deb" "$B/$name"; then
    pass "$name is bit-identical in a second build (other directory, umask, TZ, locale)"
  elif [ ! -f "$B/$name" ]; then
    fail "$name is bit-identical in a second build" "the second build made no $name"
  elif command -v diffoscope >/dev/null; then
    fail "$name is bit-identical in a second build" "$(diffoscope --text - "$deb" "$B/$name" 2>&1 | head -n 80)"
  else
    fail "$name is bit-identical in a second build" "$(debdiff "$deb" "$B/$name" 2>&1 | head -n 80)"
  fi
done

# ---------------------------------------------------------------------------
# The local apt repository both install tests use: /srv/stem-apt with the
# packages, a Packages index for the first version (Packages.1) and one
# with both (Packages.2).
repo=$W/repotree/srv/stem-apt
mkdir -p "$repo"
apt_repo "$repo" "$A/$DEB" || nspawn_bail "dpkg-scanpackages failed"
mv "$repo/Packages" "$repo/Packages.1"
if [ -f "$A/$DEB2" ]; then
  apt_repo "$repo" "$A/$DEB" "$A/$DEB2" && cp "$repo/Packages" "$repo/Packages.2"
fi
cp "$repo/Packages.1" "$repo/Packages"
mkdir -p "$W/repotree/etc/apt/sources.list.d"
echo 'deb [trusted=yes] file:/srv/stem-apt ./' >"$W/repotree/etc/apt/sources.list.d/stem.list"

# apt_get ARG…: apt-get in the container, offline: only the local repository.
apt_get () {
  NSPAWN_TIMEOUT=300 c env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@"
}
apt_setup () {
  c_sh ': >/etc/apt/sources.list' && apt_get update >/dev/null 2>&1
}
publish_upgrade () {
  c cp /srv/stem-apt/Packages.2 /srv/stem-apt/Packages && apt_get update >/dev/null 2>&1
}

# ---------------------------------------------------------------------------
phase "5. autopkgtest"
# What each test asks of its testbed, as autopkgtest itself reads
# debian/tests/control: a chroot (root, no isolation) may run only the
# tests that start no service; a container runs them all.
runnable () { # CAPABILITY…: the tests autopkgtest would run on such a testbed
  # (testdesc reports each test it skips on a line before.)
  /usr/bin/python3 - "$top_srcdir" "$ARCH" "$@" 2>/dev/null <<'PY' | tail -n 1
import sys
sys.path.insert(0, '/usr/share/autopkgtest/lib')
import testdesc
tests, _ = testdesc.parse_debian_source(sys.argv[1], sys.argv[3:], sys.argv[2])
print(' '.join(sorted(t.name for t in tests)))
PY
}
is "$(runnable root-on-testbed)" "smoke" \
  "autopkgtest: in a chroot only smoke runs (systemd-worker and sysv-script start services: isolation-container)"
is "$(runnable root-on-testbed isolation-container)" "smoke systemd-worker sysv-script" \
  "autopkgtest: in a container every test runs"
# The tests alone (autopkgtest's "degenerate source tree": debian/tests),
# run against the .deb: an unbuilt tree would need dpkg-dev to build.
srctree=$W/autopkgtest-tree
mkdir -p "$srctree/srv/stem-tests/debian"
cp -a "$W/repotree/." "$srctree/"
cp -a "$top_srcdir/debian/tests" "$srctree/srv/stem-tests/debian/"
NSPAWN_INCLUDE=$SYSTEMD_INCLUDE
nspawn_boot stem-autopkgtest "$srctree"
apt_setup
NSPAWN_TIMEOUT=900 c autopkgtest "/srv/stem-apt/$DEB" /srv/stem-tests -- null \
  >"$W/autopkgtest.log" 2>&1
rc=$?
summary=$(sed -n '/@@@@@@@@ summary$/,$p' "$W/autopkgtest.log" | tail -n +2)
for t in $(sed -n 's/^Tests: *//p' "$top_srcdir/debian/tests/control" | tr ',' ' '); do
  result=$(printf '%s\n' "$summary" | awk -v t="$t" '$1 == t { print $2 }')
  is "$result" PASS "autopkgtest: $t" "$(grep -A3 -B20 "^$t .*FAIL\|$t.*SKIP" "$W/autopkgtest.log" | tail -n 40)"
done
is "$rc" 0 "autopkgtest exits 0 (every test passed, none skipped)" "$(tail -n 30 "$W/autopkgtest.log")"
nspawn_poweroff

# ---------------------------------------------------------------------------
. "$top_srcdir/tests/packaging/deb-systemd.sh"
. "$top_srcdir/tests/packaging/deb-sysv.sh"

done_testing
