# Boots a real systemd as PID 1 in a throwaway container (systemd-nspawn), for
# tests that must see units the way an operator's host runs them.  Sourced by
# bash tests running as root:
#
#   . lib-nspawn.sh
#   nspawn_require                 # or prints "1..0 # SKIP why" and exits
#   nspawn_boot NAME TREE          # TREE: a `make install DESTDIR=` tree
#   nspawn_run systemctl start …   # a command inside, bounded by a timeout
#   nspawn_poweroff                # also run by the EXIT trap
#
# Or, for a host without systemd (SysV), a container that is not booted:
#
#   nspawn_start NAME TREE         # no init system: a minimal PID 1 that
#                                  # reaps, nothing else running
#
# Every container boots from a fresh copy of a cached root filesystem, in its
# own temporary directory, mount namespace and cgroups, so containers can run
# side by side and none of them changes the cache or the host.
#
# Settings (environment):
#   STEM_SYSTEST_CACHE   where root filesystem tarballs are kept
#                        (default /var/cache/stem-daemon-tests)
#   STEM_SYSTEST_MIRROR  Debian mirror for debootstrap (default: the host's
#                        apt sources)
#   STEM_SYSTEST_KEEP=1  keep the container's directory after poweroff

NSPAWN_CACHE=${STEM_SYSTEST_CACHE:-/var/cache/stem-daemon-tests}
NSPAWN_SUITE=bookworm
# The packages a unit test needs at run time; bump NSPAWN_RECIPE_VERSION when
# the way the tree is prepared changes in a way the command line does not show.
NSPAWN_INCLUDE=systemd,systemd-sysv,dbus,procps,logrotate,adduser,libglib2.0-0,libjson-glib-1.0-0,libyaml-0-2
NSPAWN_RECIPE_VERSION=1
NSPAWN_HOST_PACKAGES="systemd-container debootstrap zstd"

NSPAWN_NAME=
NSPAWN_BOOTED=1
NSPAWN_DIR=
NSPAWN_PID=
NSPAWN_LEADER=
NSPAWN_CGROUPS=()
NSPAWN_ATEXIT=()

nspawn_log () { printf '# %s\n' "$*"; }

# nspawn_skip REASON: the whole test is skipped (TAP plan with no tests).
nspawn_skip () {
  echo "1..0 # SKIP $*"
  exit 0
}

# nspawn_bail REASON: the test cannot go on; cleanup runs from the EXIT trap.
nspawn_bail () {
  echo "Bail out! $*"
  exit 99
}

# nspawn_now_ms: wall-clock milliseconds (bash 5's EPOCHREALTIME), for deadlines.
nspawn_now_ms () {
  local t=${EPOCHREALTIME/[.,]/}
  echo $((t / 1000))
}

# nspawn_wait TIMEOUT_S CMD…: polls CMD every 0.1 s until it succeeds; fails
# once TIMEOUT_S have passed.  The timeout only bounds a failure.
nspawn_wait () {
  local deadline=$(($(nspawn_now_ms) + $1 * 1000))
  shift
  until "$@"; do
    [ "$(nspawn_now_ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# nspawn_atexit CMD: one more command for the EXIT trap, run after poweroff.
nspawn_atexit () { NSPAWN_ATEXIT+=("$1"); }

nspawn_exit_trap () {
  local rc=$? cmd
  trap - EXIT
  nspawn_poweroff || true
  for cmd in "${NSPAWN_ATEXIT[@]}"; do eval "$cmd" || true; done
  exit "$rc"
}
trap nspawn_exit_trap EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# nspawn_require: skips the test unless this machine can boot a container:
# root, the tools (installed with apt-get when missing), cgroups and mount
# namespaces.
nspawn_require () {
  [ "$(id -u)" -eq 0 ] || nspawn_skip "systemd-nspawn needs root"
  [ "${BASH_VERSINFO[0]}" -ge 5 ] || nspawn_skip "needs bash 5"
  local missing=() p
  for p in $NSPAWN_HOST_PACKAGES; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || nspawn_skip "missing ${missing[*]} and no apt-get to install them"
    nspawn_log "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}" >/dev/null 2>&1; then
      apt-get update -q >/dev/null 2>&1
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >/dev/null 2>&1 || nspawn_skip "cannot install ${missing[*]} with apt-get"
    fi
  fi
  local tool
  for tool in systemd-nspawn debootstrap zstd nsenter unshare timeout; do
    command -v "$tool" >/dev/null || nspawn_skip "$tool not found"
  done
  if [ ! -d /sys/fs/cgroup ] || [ ! -w /sys/fs/cgroup ]; then nspawn_skip "no writable /sys/fs/cgroup"; fi
  unshare -m true 2>/dev/null || nspawn_skip "cannot create a mount namespace"
  [ -d /run/systemd/system ] &&
    nspawn_log "the host runs systemd: this harness is made for hosts where it does not"
  return 0
}

# nspawn_mirror: the Debian mirror the host's apt uses for $NSPAWN_SUITE.
nspawn_mirror () {
  if [ -n "${STEM_SYSTEST_MIRROR:-}" ]; then
    echo "$STEM_SYSTEST_MIRROR"
    return
  fi
  local f uri
  # deb822 stanzas: the first URI of a stanza whose Suites name the release.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk -v suite="$NSPAWN_SUITE" '
      function flush() { if (!done && ok && uri != "" && deb) { print uri; done = 1; exit } ok = 0; uri = ""; deb = 0 }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      END { flush() }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk -v suite="$NSPAWN_SUITE" '
      $1 == "deb" { i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++; if ($i ~ /^\[/ || $i ~ /\]$/) i++
                    if ($(i + 1) == suite) { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  return 1
}

# nspawn_rootfs: prints the path of the cached root filesystem tarball,
# building it with debootstrap when it is missing.  The name is a hash of the
# recipe (debootstrap's arguments but the target and mirror, which do not
# change the result, and the recipe version).
nspawn_rootfs () {
  local args=(--variant=minbase "--include=$NSPAWN_INCLUDE" "$NSPAWN_SUITE")
  local key
  key=$(printf '%s\n' "recipe $NSPAWN_RECIPE_VERSION" "debootstrap ${args[*]} DIR MIRROR" \
    "strip etc/hostname var/cache/apt/archives/*.deb var/lib/apt/lists/*" "arch $(dpkg --print-architecture)" |
    sha256sum | cut -c1-16)
  local tarball=$NSPAWN_CACHE/rootfs-$NSPAWN_SUITE-$key.tar.zst
  [ -s "$tarball" ] && { echo "$tarball"; return 0; }

  mkdir -p "$NSPAWN_CACHE" || return 1
  # One builder at a time; the others wait for its tarball.
  exec {lock}>"$NSPAWN_CACHE/.lock" || return 1
  if ! flock -w 900 "$lock"; then
    exec {lock}>&-
    echo "timed out waiting for another build of $tarball" >&2
    return 1
  fi
  if [ -s "$tarball" ]; then
    exec {lock}>&-
    echo "$tarball"
    return 0
  fi
  local mirror build rc=0
  mirror=$(nspawn_mirror) || { exec {lock}>&-; echo "no Debian mirror for $NSPAWN_SUITE in the apt sources" >&2; return 1; }
  build=$(mktemp -d "$NSPAWN_CACHE/build.XXXXXX") || { exec {lock}>&-; return 1; }
  echo "# building $tarball: debootstrap ${args[*]} $mirror (a minute or two)" >&2
  if timeout 900 debootstrap "${args[@]}" "$build/root" "$mirror" >"$build/debootstrap.log" 2>&1; then
    rm -f "$build/root/etc/hostname" "$build/root"/var/cache/apt/archives/*.deb
    rm -rf "$build/root"/var/lib/apt/lists/*
    tar -C "$build/root" --numeric-owner --xattrs --xattrs-include='*' --acls -cf - . |
      zstd -q -T0 -o "$build/rootfs.tar.zst" && mv "$build/rootfs.tar.zst" "$tarball" || rc=1
  else
    rc=1
    tail -n 20 "$build/debootstrap.log" >&2
    [ -f "$build/root/debootstrap/debootstrap.log" ] && tail -n 20 "$build/root/debootstrap/debootstrap.log" >&2
  fi
  rm -rf --one-file-system "$build"
  exec {lock}>&-
  [ "$rc" -eq 0 ] && echo "$tarball"
  return "$rc"
}

# nspawn_find_leader: the container's PID 1 as the host sees it: the child of
# the nspawn process that is PID 1 in its own PID namespace (nspawn's
# short-lived intermediate child is not).
nspawn_find_leader () {
  local child
  # shellcheck disable=SC2013 # space-separated PIDs
  for child in $(cat /proc/"$NSPAWN_PID"/task/*/children 2>/dev/null); do
    if awk '$1 == "NSpid:" && NF > 2 && $NF == 1 { found = 1 } END { exit !found }' \
      /proc/"$child"/status 2>/dev/null; then
      NSPAWN_LEADER=$child
      return 0
    fi
  done
  return 1
}

nspawn_alive () { [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null && ! nspawn_zombie "$NSPAWN_PID"; }
nspawn_zombie () { [ "$(awk '{ sub(/^.*\) /, ""); print $1 }' /proc/"$1"/stat 2>/dev/null)" = Z ]; }
nspawn_bus_up () { [ -S /proc/"$NSPAWN_LEADER"/root/run/systemd/private ]; }

# nspawn_console: the container's console so far, as TAP comments.
nspawn_console () {
  [ -f "$NSPAWN_DIR/console.log" ] && sed 's/\r$//; s/^/# console: /' "$NSPAWN_DIR/console.log"
}

# nspawn_setup NAME TREE: a fresh copy of the root filesystem with TREE
# copied over it, and cgroups of its own; nothing runs yet.
nspawn_setup () {
  local name=$1 tree=$2 tarball
  tarball=$(nspawn_rootfs) || nspawn_skip "cannot build the root filesystem (no access to a Debian mirror?)"
  NSPAWN_NAME=$name-$$
  NSPAWN_DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/stem-nspawn.XXXXXX") || nspawn_bail "mktemp failed"
  chmod 755 "$NSPAWN_DIR"
  mkdir "$NSPAWN_DIR/root"
  zstd -q -dc "$tarball" |
    tar -C "$NSPAWN_DIR/root" --numeric-owner --xattrs --xattrs-include='*' --acls -xpf - ||
    nspawn_bail "cannot extract $tarball"
  # The tree's own files win, but its directories must not change the owner
  # or mode of the root filesystem's (/, /usr, /etc …), nor replace the
  # merged-/usr symlinks (/lib -> usr/lib) with directories.
  tar -C "$tree" --numeric-owner -cf - . |
    tar -C "$NSPAWN_DIR/root" --numeric-owner --no-overwrite-dir --keep-directory-symlink -xpf - ||
    nspawn_bail "cannot copy $tree into the container"

  # Without systemd on the host, nspawn builds the container's cgroup tree
  # below its own: give it a cgroup of its own in both hierarchies, or
  # parallel containers share one and leave leftovers behind.
  local hier cg
  NSPAWN_CGROUPS=()
  for hier in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
    [ -f "$hier/cgroup.procs" ] || continue
    [ "$hier" = /sys/fs/cgroup ] && [ ${#NSPAWN_CGROUPS[@]} -gt 0 ] && continue
    cg=$hier/$NSPAWN_NAME
    mkdir "$cg" || nspawn_bail "cannot create cgroup $cg"
    NSPAWN_CGROUPS+=("$cg")
  done
}

# nspawn_spawn NSPAWN-ARG…: starts systemd-nspawn on the tree nspawn_setup
# made, in the background, and waits until its PID 1 exists.
nspawn_spawn () {
  # A private mount namespace holds the tmpfs nspawn needs on
  # /run/systemd/nspawn (the host's /run is not a tmpfs: without it nspawn
  # ends with "Attempted to remove disk file system") and every mount nspawn
  # makes, so they all go away with the container.  The tree in NSPAWN_DIR is
  # already a private copy: --volatile=overlay would add nothing.
  local procs=() cg
  for cg in "${NSPAWN_CGROUPS[@]}"; do procs+=("$cg/cgroup.procs"); done
  (
    for p in "${procs[@]}"; do echo 0 >"$p" || exit 125; done
    exec unshare -m --propagation private sh -c '
      mkdir -p /run/systemd/nspawn && mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn &&
      exec "$@"' sh \
      systemd-nspawn --quiet --register=no --keep-unit --private-network \
      --console=read-only --link-journal=no --machine="$NSPAWN_NAME" \
      --directory="$NSPAWN_DIR/root" "$@"
  ) </dev/null >"$NSPAWN_DIR/console.log" 2>&1 &
  NSPAWN_PID=$!

  # Ends early when nspawn gives up.
  if ! nspawn_wait 30 eval 'nspawn_find_leader || ! nspawn_alive' || [ -z "$NSPAWN_LEADER" ]; then
    nspawn_console
    nspawn_bail "the container did not start"
  fi
}

# nspawn_boot NAME TREE: boots a container named NAME with TREE copied over a
# fresh root filesystem, and waits until its systemd has finished booting.
nspawn_boot () {
  local t0
  t0=$(nspawn_now_ms)
  nspawn_setup "$1" "$2"
  NSPAWN_BOOTED=1
  nspawn_spawn --boot
  if ! nspawn_wait 60 eval 'nspawn_bus_up || ! nspawn_alive' || ! nspawn_bus_up; then
    nspawn_console
    nspawn_bail "systemd in the container did not come up (no /run/systemd/private)"
  fi
  local state
  state=$(nspawn_run systemctl is-system-running --wait 2>&1)
  case $state in
    running) ;;
    degraded)
      nspawn_log "the container booted degraded; failed units:"
      nspawn_run systemctl list-units --failed --no-legend --plain | sed 's/^/#   /'
      ;;
    *)
      nspawn_console
      nspawn_bail "the container did not finish booting: ${state:-timed out}"
      ;;
  esac
  nspawn_log "container $NSPAWN_NAME booted ($state) in $(($(nspawn_now_ms) - t0)) ms"
}

# nspawn_start NAME TREE: like nspawn_boot, but nothing is booted: PID 1 is
# nspawn's minimal init (it reaps orphans, as a SysV init does) and the
# only other process is a sleep that keeps the container up.  No systemd
# runs, /run/systemd/system does not exist: a SysV host, for
# `service` and the maintainer scripts.
nspawn_start () {
  nspawn_setup "$1" "$2"
  NSPAWN_BOOTED=0
  nspawn_spawn --as-pid2 sleep infinity
  nspawn_log "container $NSPAWN_NAME started (not booted)"
}

# nspawn_run CMD…: runs CMD in all of the container's namespaces, as root,
# with a clean environment; NSPAWN_TIMEOUT (default 60 s) bounds it.
nspawn_run () {
  [ -n "$NSPAWN_LEADER" ] || { echo "nspawn_run: no container" >&2; return 125; }
  timeout -k 5 "${NSPAWN_TIMEOUT:-60}" nsenter -t "$NSPAWN_LEADER" -a -r -w \
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@" </dev/null
}

nspawn_cgroup_procs () {
  local cg
  for cg in "${NSPAWN_CGROUPS[@]}"; do
    [ -d "$cg" ] && find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
}
# Succeeds once the cgroups are empty.
nspawn_kill_cgroup_procs () {
  local pids
  pids=$(nspawn_cgroup_procs)
  [ -z "$pids" ] && return 0
  # shellcheck disable=SC2086 # one PID a word
  kill -KILL $pids 2>/dev/null
  return 1
}

# nspawn_poweroff: shuts the container down (killing it after a timeout) and
# removes everything nspawn_boot made.  Safe to call more than once.
nspawn_poweroff () {
  local rc=0
  if nspawn_alive && [ "$NSPAWN_BOOTED" = 0 ]; then
    # No init system to shut down: ending PID 1 ends everything inside.
    [ -n "$NSPAWN_LEADER" ] && kill -KILL "$NSPAWN_LEADER" 2>/dev/null
    nspawn_wait 30 eval '! nspawn_alive' || rc=1
  fi
  if nspawn_alive; then
    if [ -n "$NSPAWN_LEADER" ]; then
      # SIGRTMIN+4 is systemd's "poweroff" request, which works even when
      # nsenter or the bus do not.
      NSPAWN_TIMEOUT=10 nspawn_run systemctl poweroff --no-block >/dev/null 2>&1 ||
        kill -s RTMIN+4 "$NSPAWN_LEADER" 2>/dev/null
    fi
    if ! nspawn_wait 30 eval '! nspawn_alive'; then
      nspawn_log "the container did not power off in 30 s: killing it"
      rc=1
      kill -KILL "$NSPAWN_PID" "$NSPAWN_LEADER" 2>/dev/null
      nspawn_wait 10 eval '! nspawn_alive'
    fi
  fi
  [ -n "$NSPAWN_PID" ] && wait "$NSPAWN_PID" 2>/dev/null
  NSPAWN_PID=
  NSPAWN_LEADER=

  # Whatever is still in the container's cgroups is ours and must go: a
  # container whose nspawn died keeps running under the host's PID 1.  Then
  # the cgroups are removed, leaves first.
  local cg
  if [ -n "$(nspawn_cgroup_procs)" ]; then
    nspawn_log "processes left in the container's cgroups: killing them"
    rc=1
    nspawn_wait 10 nspawn_kill_cgroup_procs
  fi
  for cg in "${NSPAWN_CGROUPS[@]}"; do
    [ -d "$cg" ] || continue
    if ! nspawn_wait 10 eval "find '$cg' -depth -type d -exec rmdir {} + 2>/dev/null; [ ! -d '$cg' ]"; then
      nspawn_log "cannot remove cgroup $cg"
      rc=1
    fi
  done
  NSPAWN_CGROUPS=()

  if [ -n "$NSPAWN_DIR" ] && [ -d "$NSPAWN_DIR" ]; then
    # The mounts lived in nspawn's own namespace; never delete through one
    # that leaked into the host's.
    if grep -q " ${NSPAWN_DIR}[/ ]" /proc/self/mountinfo; then
      nspawn_log "mounts left below $NSPAWN_DIR: unmounting"
      umount -R -l "$NSPAWN_DIR/root" 2>/dev/null
    fi
    if [ "${STEM_SYSTEST_KEEP:-0}" = 1 ]; then
      nspawn_log "kept $NSPAWN_DIR"
    else
      rm -rf --one-file-system "$NSPAWN_DIR"
    fi
  fi
  NSPAWN_DIR=
  return "$rc"
}
