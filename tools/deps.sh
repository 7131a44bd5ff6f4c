#!/bin/sh
# Installs, with apt-get, what building and testing stem-daemon needs and
# this Debian/Ubuntu machine lacks.  Run as root.
set -eu
packages="autoconf automake autopoint gettext make gcc pkg-config
  libglib2.0-dev libjson-glib-dev libyaml-dev
  groff-base groff clang-format jq procps util-linux
  systemd shellcheck logrotate supervisor bash-completion
  systemd-container debootstrap zstd
  prometheus prometheus-node-exporter python3-prometheus-client nagios4-core clang libclang-rt-14-dev
  rpm rpmlint rpm2cpio cpio zsh fish sudo strace
  dpkg-dev debhelper devscripts fakeroot lintian blhc diffoscope-minimal equivs"
missing=
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
  exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
