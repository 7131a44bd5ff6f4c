#!/bin/bash
# Bash completion of stem-multi, stem-health and stem-diagnose: verbs,
# options (from --help and from the built-in lists), option values after
# long and short options, node names; with the bash-completion package's
# functions and without them.
# The outer script is plain sh, so that a system without bash skips it.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

COMPLETION=$top_srcdir/data/completion/stem-multi

if ! command -v bash >/dev/null 2>&1; then
  skip "bash is not installed"
  done_testing
fi

# The bash-completion package's main script, when it is installed.
BASH_COMPLETION=
for f in "$(pkg-config --variable=datadir bash-completion 2>/dev/null)/bash-completion/bash_completion" \
  /usr/share/bash-completion/bash_completion /usr/local/share/bash-completion/bash_completion; do
  if [ -f "$f" ]; then
    BASH_COMPLETION=$f
    break
  fi
done

# A private env file and pidfile directory, so that the host's
# configuration never shows up in the results.
mkdir -p "$T/files" "$T/dir.d"
printf '# nodes\nexport STEMD_NODES="gamma delta"\n' >"$T/files/nodes.env"
printf 'STEM_WORKER_NODES=2\n' >"$T/files/count.env"
: >"$T/run/epsilon.pid"

# The driver: loads the completion (after bash-completion when asked),
# splits LINE into COMP_WORDS the way bash does (at blanks, and at the
# word-break characters = and : which become words of their own), calls the
# function registered for the command and prints COMPREPLY, one per line.
cat >"$T/driver.bash" <<'EOF'
set +u
if [ -n "$WITH_BASH_COMPLETION" ]; then
  . "$WITH_BASH_COMPLETION" || exit 3
  declare -F _init_completion >/dev/null || exit 3
else
  declare -F _init_completion >/dev/null && exit 3
fi
. "$COMPLETION" || exit 3
_stem_env_files=$T/no-such.env
_stem_pid_dir=$T/run

line=$1
COMP_LINE=$line
COMP_POINT=${#line}
COMP_WORDS=()
for token in $line; do
  while [ -n "$token" ]; do
    if [[ $token =~ ^[=:]+ ]] || [[ $token =~ ^[^=:]+ ]]; then
      COMP_WORDS+=("${BASH_REMATCH[0]}")
      token=${token:${#BASH_REMATCH[0]}}
    fi
  done
done
[[ $line == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))

spec=$(complete -p "${COMP_WORDS[0]##*/}" 2>/dev/null) || exit 4
fn=${spec#*-F }
fn=${fn%% *}
COMPREPLY=()
"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
[ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort
EOF

tool_path=$top_builddir/src:$PATH
# complete LINE: the completions of LINE in $T/out (sorted), exit code in $rc.
complete_line () {
  run env PATH="$tool_path" COMPLETION="$COMPLETION" T="$T" \
    WITH_BASH_COMPLETION="$with" bash --norc --noprofile "$T/driver.bash" "$1"
}
# offers LINE WORD…: every WORD is among the completions of LINE.
offers () {
  line=$1
  shift
  complete_line "$line"
  missing=
  for w in "$@"; do
    grep -qxF -- "$w" "$T/out" || missing="$missing $w"
  done
  if [ "$rc" -eq 0 ] && [ -z "$missing" ]; then
    pass "$mode: '$line' offers $*"
  else
    fail "$mode: '$line' offers $*" "exit $rc, missing:$missing"
  fi
}
# offers_exactly LINE WORD…: the completions of LINE are the WORDs.
offers_exactly () {
  line=$1
  shift
  complete_line "$line"
  expected=$(printf '%s\n' "$@" | LC_ALL=C sort)
  if [ "$rc" -eq 0 ] && [ "$(cat "$T/out")" = "$expected" ]; then
    pass "$mode: '$line' offers exactly $*"
  else
    fail "$mode: '$line' offers exactly $*" "exit $rc"
  fi
}
# not_offers LINE WORD: WORD is not among the completions of LINE.
not_offers () {
  complete_line "$1"
  if [ "$rc" -eq 0 ] && ! grep -qxF -- "$2" "$T/out"; then
    pass "$mode: '$1' does not offer $2"
  else
    fail "$mode: '$1' does not offer $2" "exit $rc"
  fi
}

for mode in without-bash-completion with-bash-completion; do
  if [ "$mode" = with-bash-completion ]; then
    if [ -z "$BASH_COMPLETION" ]; then
      skip "$mode: the bash-completion package is not installed"
      continue
    fi
    with=$BASH_COMPLETION
  else
    with=
  fi

  # Verbs first, from --help.
  offers_exactly "stem-multi st" start stop stopwait status
  offers "stem-multi " start stop stopwait restart kill status show names expand get supervise
  # Options, and their values in both spellings.
  offers "stem-multi start --ti" --timeout=
  offers "stem-multi --he" --help
  offers_exactly "stem-multi stop --mode=" warm soft hard
  offers_exactly "stem-multi stop --mode=s" soft
  offers_exactly "stem-multi stop --mode " warm soft hard
  offers_exactly "stem-multi supervise --restart=" on-failure always never
  offers_exactly "stem-multi start --env-file=$T/files/no" "$T/files/nodes.env"
  offers_exactly "stem-multi start --pidfile:alpha=$T/files/co" "$T/files/count.env"
  offers_exactly "stem-multi start --workdir $T/dir" "$T/dir.d"
  offers "stem-multi start --uid=roo" root
  offers "stem-multi start --gid=roo" root
  offers_exactly "stem-multi start --timeout " ""
  # Node names: the environment, env files, pidfiles; not twice.
  STEMD_NODES="alpha beta"
  export STEMD_NODES
  offers "stem-multi start " alpha beta epsilon
  offers_exactly "stem-multi stop al" alpha
  not_offers "stem-multi stop alpha " alpha
  offers "stem-multi status --json " alpha beta
  offers "stem-multi status --timeout 5s " alpha beta
  not_offers "stem-multi status --timeout " alpha
  # Short options that take a value: no node names for it, nor the value as a verb.
  offers_exactly "stem-multi logs -n " ""
  offers_exactly "stem-multi -n 5 st" start stop stopwait status
  offers_exactly "stem-health -w " ""
  offers_exactly "stem-health -c " ""
  offers "stem-health -c 1h " alpha beta
  offers_exactly "stem-multi -q:alpha images st" start stop stopwait status
  offers_exactly "stem-multi -q:alpha=images st" start stop stopwait status
  offers "stem-multi status --env-file=$T/files/nodes.env " gamma delta
  offers "stem-multi status --env-file $T/files/count.env --prefix w " w1 w2
  not_offers "stem-multi expand " alpha
  offers "stem-multi expand %n.log " alpha
  offers_exactly "stem-multi start alpha -- $T/files/nod" "$T/files/nodes.env"
  unset STEMD_NODES
  # stem-health and stem-diagnose.
  offers "stem-health --js" --json
  offers "stem-health --no" --node=
  offers "stem-health " epsilon
  offers_exactly "stem-health --node=eps" epsilon
  offers "stem-diagnose --ro" --routing-config=
  offers "stem-diagnose --user=roo" root
  offers_exactly "stem-diagnose --unitdir=$T/dir" "$T/dir.d"
  offers "stem-diagnose " epsilon
  # Without the tools on PATH: the built-in lists.
  tool_path=$T/no-tools:$PATH
  offers_exactly "stem-multi st" start stop stopwait status
  offers "stem-multi start --ti" --timeout=
  offers "stem-health --js" --json
  offers_exactly "stem-health -w " ""
  offers_exactly "stem-multi -n 5 st" start stop stopwait status
  tool_path=$top_builddir/src:$PATH
done

# The built-in lists agree with --help (so that they do not go stale).
check_lists () { # TOOL
  if [ ! -x "$top_builddir/src/$1" ]; then
    skip "$1 is not built"
    return
  fi
  run bash --norc --noprofile -c '
    . "$1" || exit 3
    help=$(LC_ALL=C "$2" --help) || exit 4
    diff <(_stem_options "$3" "$help" | sort) <(_stem_options "$3" "" | sort) || exit 5
    diff <(_stem_shorts "$3" "$help" | sort) <(_stem_shorts "$3" "" | sort) || exit 7
    if [ "$3" = stem-multi ]; then
      diff <(_stem_verbs "$help" | sort) <(_stem_verbs "" | sort) || exit 6
    fi' sh "$COMPLETION" "$top_builddir/src/$1" "$1"
  rc_is 0 "the built-in lists of $1 match its --help"
}
check_lists stem-multi
check_lists stem-health
check_lists stem-diagnose

done_testing
