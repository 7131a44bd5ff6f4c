#!/bin/bash
# zsh and fish completion, by the real shells: zsh's compinit loads the
# function and, on a pseudo-terminal (zpty), completes a verb and an
# option after TAB; fish lists the verbs and the options of each tool, and
# file names only where an option's value is a file.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99
ZSH_DIR=$top_srcdir/data/completion/zsh
FISH_DIR=$top_srcdir/data/completion/fish
# The tools as an installed system has them: on PATH (fish loads a
# command's completions only for a command it can find).
export PATH=$top_builddir/src:$PATH

if ! command -v zsh >/dev/null; then
  skip "zsh is not installed (Debian: zsh)"
else
  cat >"$T/zcomp.zsh" <<'ZSH'
# zcomp.zsh FPATH-DIR LINE: what the terminal shows after LINE and a TAB.
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D; PS1='READY> '"
out=
for i in {1..100}; do
  if zpty -r -t z line; then out+=$line; else sleep 0.1; fi
  [[ $out == *'READY> '* ]] && break
done
zpty -w -n z "$2"$'\t'
out=
# Until the completion is shown (bounded; the line only bounds a failure).
for i in {1..100}; do
  if zpty -r -t z line; then out+=$line; else sleep 0.1; fi
  [[ ${out//$'\a'/} == *"$3"* ]] && break
done
# Without carriage returns, bells and terminal escapes.
print -r -- "$out" | tr -d '\r\a' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g'
zpty -d z
ZSH
  zc () { timeout 60 zsh -f "$T/zcomp.zsh" "$ZSH_DIR" "$1" "$2" 2>&1; }
  out=$(zsh -f -c "fpath=($ZSH_DIR \$fpath); autoload -Uz compinit; compinit -u -D; print \$_comps[stem-multi] \$_comps[stem-health] \$_comps[stem-diagnose]")
  is "$out" "_stem-multi _stem-multi _stem-multi" "zsh's compinit loads _stem-multi for the three tools"
  out=$(zc "stem-multi st" "stopwait")
  for verb in start status stop stopwait; do
    ok_if "zsh completes stem-multi st<TAB> with $verb" eval '[[ $out == *"$verb "*"--"* ]]'
  done
  out=$(zc "stem-multi stop --no-w" "--no-wait ")
  ok_if "zsh completes an option (--no-w<TAB> → --no-wait)" eval '[[ $out == *"stop --no-wait "* ]]'
  # The tools refuse bundled short options (-vh), so none is offered after -v.
  out=$(zc "stem-multi -v" "-v ")
  ok_if "zsh bundles no option with -v (-v<TAB> → -v and a space)" \
    eval '[[ $out == *"stem-multi -v "* && $out != *"-f  -- "* ]]'
  # A short option's value may follow it in the same word (-n5).
  out=$(zc "stem-multi -n5 st" "stopwait")
  ok_if "zsh takes -n5 for -n and its value (-n5 st<TAB> → the verbs)" eval '[[ $out == *"stopwait "*"--"* ]]'
  out=$(zc "stem-health --format=n" "nagios")
  ok_if "zsh completes stem-health's --format values" eval '[[ $out == *"--format=nagios"* ]]'
fi

if ! command -v fish >/dev/null; then
  skip "fish is not installed (Debian: fish)"
else
  fc () { fish -c "set -p fish_complete_path '$FISH_DIR'; complete -C '$1'" 2>&1 | cut -f1 | sort | tr '\n' ' '; }
  is "$(fc 'stem-multi st')" "start status stop stopwait " \
    "fish -c 'complete -C \"stem-multi st\"' lists start, status, stop, stopwait"
  is "$(fc 'stem-multi stop --no-')" "--no-clean --no-kill-group --no-log-writer --no-wait " "fish completes stem-multi's options"
  is "$(fc 'stem-health --format=')" "--format=json --format=nagios --format=openmetrics --format=text " \
    "fish completes stem-health's formats"
  ok_if "fish completes stem-diagnose's options" eval '[[ $(fc "stem-diagnose --u") == *--user* ]]'
  # File names only for an option whose value is a file (fish runs beside one).
  mkdir -p "$T/cwd/a-dir"
  : >"$T/cwd/a-file"
  offers_file () { (cd "$T/cwd" && fc "$1") | grep -q a-file; }
  # Directories only for an option whose value is a directory.
  for line in 'stem-multi start --workdir=' 'stem-diagnose --unitdir=' 'stem-diagnose --initdir='; do
    ok_if "fish offers directories, not files, for '$line'" \
      eval '(cd "$T/cwd" && fc "$line") | grep -q a-dir && ! offers_file "$line"'
  done
  ok_if "fish offers file names for --env-file" offers_file 'stem-multi start --env-file='
  for line in 'stem-multi start --settle=' 'stem-multi stop --timeout ' 'stem-multi logs -n ' \
    'stem-multi start -q ' 'stem-multi start --uid=' 'stem-health -w ' 'stem-health --max-log-age=' \
    'stem-health --node=' 'stem-diagnose --user='; do
    ok_if "fish offers no file names for '$line'" eval '! offers_file "$line"'
  done
fi

# The three files offer every long option each tool's --help lists.
for tool in stem-multi stem-health stem-diagnose; do
  "$top_builddir/src/$tool" --help | sed -n 's/^ \+\(-[A-Za-z0-9], \+\)\?--\([a-z-]*\).*/\2/p' | sort -u >"$T/help-$tool"
  missing_zsh= missing_fish=
  while IFS= read -r opt; do
    grep -q -- "--$opt\(=\|\[\|}\)" "$ZSH_DIR/_stem-multi" || missing_zsh="$missing_zsh --$opt"
    grep -q -- "-c $tool .*-l $opt\( \|$\)" "$FISH_DIR/$tool.fish" || missing_fish="$missing_fish --$opt"
  done <"$T/help-$tool"
  is "$missing_zsh" "" "the zsh completion has every option of $tool --help"
  is "$missing_fish" "" "the fish completion has every option of $tool --help"
done

done_testing
