#!/bin/sh
# Builds the source and binary RPMs from `make dist`'s tarball with
# rpm/stem-daemon.spec, on any host with rpmbuild.  Fedora's macros that
# the host's rpm lacks (on Debian: systemd, sysusers) come from
# rpm/macros.fallback, loaded only then; BuildRequires cannot be resolved
# from a Debian host's empty rpm database, so such a build passes --nodeps.
# Usage: tools/build-rpm.sh BUILDDIR OUTDIR [RPMBUILD-OPTION...]
#   e.g. tools/build-rpm.sh _build _build/rpm --nocheck
set -eu
build=$(cd "${1:?usage: build-rpm.sh BUILDDIR OUTDIR [OPTION...]}" && pwd)
out=${2:?usage: build-rpm.sh BUILDDIR OUTDIR [OPTION...]}
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^Version: *//p' "$top/rpm/stem-daemon.spec")

make -s -C "$build" dist >/dev/null
tarball=$build/stem-daemon-$version.tar.xz
[ -f "$tarball" ] || { echo "build-rpm: no $tarball (is the spec's Version configure.ac's?)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/SOURCES" "$work/SPECS"
cp "$tarball" "$top/rpm/stem-daemon.sysusers" "$work/SOURCES/"
cp "$top/rpm/stem-daemon.spec" "$work/SPECS/"

set -- --define "_topdir $work" "$@"
if [ -z "$(rpm --eval '%{?systemd_post:1}')" ]; then
  set -- --load="$top/rpm/macros.fallback" --nodeps "$@"
fi
rpmbuild -ba "$@" "$work/SPECS/stem-daemon.spec"
mkdir -p "$out"
find "$work/RPMS" "$work/SRPMS" -name '*.rpm' -exec cp {} "$out/" \;
ls "$out"/*.rpm
