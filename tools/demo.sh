#!/bin/sh
# Quick start: installs what is missing, builds stem-daemon, and starts a
# fleet of two example workers under a scratch directory, then shows their
# status.  Nothing is installed into the system.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh tools/deps.sh
[ -x configure ] || ./autogen.sh >/dev/null 2>&1
mkdir -p _build
cd _build
[ -f Makefile ] || ../configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var --runstatedir=/run >/dev/null
make -j"$(nproc)" >/dev/null

demo=${STEM_DEMO_DIR:-$top/_demo}
mkdir -p "$demo"
multi () { ./src/stem-multi "$@" --pidfile="$demo/run/%n.pid" --logfile="$demo/log/%n.log"; }
STEM_EXAMPLE_HEARTBEAT=1
export STEM_EXAMPLE_HEARTBEAT
multi start alpha beta --command "$PWD/examples/stem-example-worker" -q default -q:beta=images
multi status alpha beta
echo
echo "Logs: $demo/log/ — stop the demo with:"
echo "  $PWD/src/stem-multi stop alpha beta --pidfile='$demo/run/%n.pid' --logfile='$demo/log/%n.log'"
