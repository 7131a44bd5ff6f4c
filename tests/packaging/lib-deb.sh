# Helpers of the Debian package tests (sourced by bash, after
# tests/system/lib-nspawn.sh): TAP output, commands in the container, the
# packages' build-dependencies and a local apt repository.
# shellcheck shell=bash disable=SC2317,SC2016 # functions called through nspawn_wait; scripts run inside

t_start=$(nspawn_now_ms)
# shellcheck source=../lib-tap.sh
. "$top_srcdir/tests/lib-tap.sh" || exit 99
tap_summary () { echo "# elapsed: $((($(nspawn_now_ms) - t_start) / 1000)) s"; }
# phase NAME: a comment with the time so far, so slow steps show in the log.
phase () { echo "# == $* ($((($(nspawn_now_ms) - t_start) / 1000)) s)"; }

# deb_require_tools PACKAGE…: installs what is missing with apt-get, under
# the host lock (the dpkg database is the host's).
deb_require_tools () {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  nspawn_log "installing ${missing[*]}"
  flock /tmp/stem-host.lock sh -c '
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1; }' \
    sh "${missing[@]}" || nspawn_skip "cannot install ${missing[*]} with apt-get"
}

# deb_build_depends CONTROL: the packages of Build-Depends, one per line
# (first alternative, no versions, profiles or architectures), for
# debootstrap --include.
deb_build_depends () {
  awk '
    /^Build-Depends:/ { on = 1; sub(/^Build-Depends:/, "") }
    on && /^[^ \t]/ && !/^Build-Depends:/ && seen { on = 0 }
    on { seen = 1; printf "%s ", $0 }' "$1" |
    tr ',' '\n' | sed 's/|.*//; s/([^)]*)//g; s/<[^>]*>//g; s/\[[^]]*\]//g; s/[[:space:]]//g' |
    sed 's/^debhelper-compat$/debhelper/' | grep -v '^$' | sort -u
}

# c CMD…: CMD in the container, as root.  c_out: its output, for messages.
c () { nspawn_run "$@"; }
c_out () { nspawn_run "$@" 2>&1; }
c_sh () { nspawn_run sh -c "$1"; }

# apt_repo DIR DEB…: a local apt repository (a folder with a Packages index
# that `deb [trusted=yes] file:DIR ./` names) holding DEB….
apt_repo () {
  local dir=$1
  shift
  mkdir -p "$dir"
  rm -f "$dir"/*.deb
  cp "$@" "$dir/"
  (cd "$dir" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages) || return 1
}

# Processes of the package in the container: PID, user and executable of
# each process running a program of ours (zombies are not running).
our_processes () {
  c_sh 'for p in /proc/[0-9]*; do
      exe=$(readlink "$p/exe" 2>/dev/null) || continue
      case $exe in
        */stem-multi*|*/stem-example-worker*|*/stem-daemon/*|*/stem-health*|*/stem-diagnose*)
          state=$(sed "s/^.*) //" "$p/stat" | cut -d" " -f1)
          [ "$state" = Z ] || echo "${p#/proc/} $(stat -c %U "$p") $exe" ;;
      esac
    done'
}
# proc_exe PID: the executable of PID in the container ("… (deleted)" once
# the file was replaced).
proc_exe () { c readlink "/proc/$1/exe" 2>/dev/null; }
proc_user () { c stat -c %U "/proc/$1" 2>/dev/null; }
# runs_current PID PROGRAM: PID runs PROGRAM as it is on disk now.
runs_current () {
  [ -n "$1" ] && [ "$(proc_exe "$1")" = "$2" ] &&
    [ "$(c stat -L -c %i "/proc/$1/exe")" = "$(c stat -c %i "$2")" ]
}
running () {
  local s
  s=$(c awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null)
  [ -n "$s" ] && [ "$s" != Z ]
}
gone () { ! running "$1"; }
pidfile () { c cat "/run/stem/$1.pid" 2>/dev/null | tr -d '[:space:]'; }

# fs_listing: every path of the container's file system but the ones that
# change by themselves (kernel file systems, caches, logs, apt's and
# dpkg's bookkeeping, backups), one per line with type, owner and mode.
fs_listing () {
  c find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
    -o -path /var/tmp -o -path /var/cache -o -path /var/log -o -path /var/lib/apt \
    -o -path /var/lib/dpkg -o -path /var/backups -o -path /srv \
    -o -path /var/lib/systemd/catalog -o -path /var/lib/systemd/random-seed \
    -o -path /etc/ld.so.cache \) -prune -o -printf '%y %u:%g %m %p\n' | LC_ALL=C sort
}

# purge_leftovers: diff's output of two fs_listing, without what purging
# keeps on purpose (README.Debian): the stem user and group, whose creation
# left backups of the account files (/etc/passwd- …).  What is left is a
# difference nobody documented.
purge_leftovers () {
  grep -E '^[<>] ' | grep -v -E '^[<>] [a-z] [^ ]+ [0-7]+ /etc/(passwd|group|shadow|gshadow)-$'
}
