#!/bin/sh
# Regenerates the build system; configure, Makefile.in and the gettext
# infrastructure are not kept in git.
set -e
cd "$(dirname "$0")"
autoreconf --force --install --verbose
