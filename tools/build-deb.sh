#!/bin/sh
# Builds the Debian source and binary packages from this tree (what
# `make deb` runs):
#
#   tools/build-deb.sh [OUTDIR]          (default: ./deb)
#
# The tree's tracked files (as they are now, committed or not; every file
# when it is not a git checkout) are copied to OUTDIR/stem-daemon-VERSION,
# and dpkg-buildpackage -us -uc builds there, so nothing of an earlier
# build in the checkout gets into the packages.  The log is OUTDIR/build.log.
# DEB_BUILD_OPTIONS (e.g. nocheck) and other dpkg-buildpackage settings
# are taken from the environment; arguments after OUTDIR are passed on to
# dpkg-buildpackage.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-deb}
[ $# -gt 0 ] && shift
command -v dpkg-buildpackage >/dev/null || {
  echo "build-deb.sh: dpkg-buildpackage not found (apt-get install dpkg-dev debhelper)" >&2
  exit 2
}
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/stem-daemon-$version
rm -rf "$src"
mkdir "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked files that still exist, with their current contents.
  # shellcheck disable=SC2016 # the script is for sh -c
  (cd "$top" && git ls-files -z --cached | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
    tar --null -T - -cf -) | tar -C "$src" -xf -
else
  (cd "$top" && tar --exclude='./_build*' --exclude=./deb --exclude=./debian/build -cf - .) | tar -C "$src" -xf -
fi
echo "build-deb.sh: building stem-daemon $version in $src (log: $out/build.log)"
if (cd "$src" && dpkg-buildpackage -us -uc "$@") >"$out/build.log" 2>&1; then
  ls "$out"/*.deb "$out"/*.changes
else
  tail -n 40 "$out/build.log" >&2
  echo "build-deb.sh: dpkg-buildpackage failed: see $out/build.log" >&2
  exit 1
fi
