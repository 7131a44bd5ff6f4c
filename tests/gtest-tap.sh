#!/bin/sh
# Runs a GTest program with TAP output (the default only from GLib 2.62 on).
exec "$@" --tap
