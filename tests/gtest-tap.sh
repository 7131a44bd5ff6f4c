#!/bin/sh
# Runs a GTest program with TAP output (the default only from GLib 2.62 on).
# A program that hangs (a child left holding the TAP pipe after a failed
# assertion, say) is stopped after 15 minutes, with the whole process group
# timeout puts it in, so that the suite reports an error instead of never
# ending.  No test comes near that limit.
exec timeout --kill-after=10 900 "$@" --tap
