#!/bin/bash
# Man pages are lint-clean, carry the version and the sections every page
# has, name only pages of ours that exist and can each be reached from
# another's SEE ALSO, and every long option of --help is documented.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

for page in "$top_srcdir"/man/*.[1-8]; do
  # An alias page is one ".so manN/PAGE" line that man(1) resolves once
  # installed: check that it names a page of ours instead of running groff.
  target=$(sed -n 's|^\.so man[1-8]/||p' "$page")
  if [ -n "$target" ]; then
    ok_if "$(basename "$page") is an alias of $target" \
      test "$(wc -l <"$page")" -eq 1 -a -f "$top_srcdir/man/$target"
    continue
  fi
  run groff -man -ww -z "$page"
  is "$rc:$(cat "$T/out" "$T/err")" "0:" "$(basename "$page") is lint-clean (groff -ww)"
done

# The pages themselves, not the one-line aliases.
pages=()
for page in "$top_srcdir"/man/*.[1-8]; do
  grep -q '^\.so ' "$page" || pages+=("$page")
done

version=$("$MULTI" --version | awk '{ print $2 }')
for page in "${pages[@]}"; do
  name=$(basename "$page")
  like "$page" "^\.TH [^ ]+ [1-8] [0-9-]+ \"stem-daemon $version\" " "$name: .TH names stem-daemon $version"
  sections="NAME SYNOPSIS DESCRIPTION"
  case $name in *.1) sections="$sections EXIT_STATUS EXAMPLES" ;; esac
  for section in $sections "SEE_ALSO"; do
    like "$page" "^\.SH ${section//_/ }\$" "$name has $(printf '%s' "$section" | tr _ ' ')"
  done
  # Every page of ours that it names (.BR stem\-multi (1)) is in man/.
  for ref in $(sed -n 's/^\.[BI]R  *\(stem[^ ]*\) (\([1-8]\)).*/\1.\2/p' "$page" | sed 's/\\-/-/g' | sort -u); do
    ok_if "$name refers to $ref, which is in man/" test -f "$top_srcdir/man/$ref"
  done
done

# Every page can be reached from the SEE ALSO of another.
for page in "${pages[@]}"; do
  name=$(basename "$page")
  ref=".BR $(printf '%s' "${name%.*}" | sed 's/-/\\-/g') (${name##*.})"
  found=
  for other in "${pages[@]}"; do
    [ "$other" != "$page" ] || continue
    if sed -n '/^\.SH SEE ALSO/,/^\.SH /p' "$other" | grep -qF -- "$ref"; then
      found=$(basename "$other")
      break
    fi
  done
  ok_if "$name is in the SEE ALSO of another page${found:+ ($found)}" test -n "$found"
done

for tool in stem-multi stem-health stem-diagnose; do
  "$top_builddir/src/$tool" --help >"$T/help"
  for opt in $(grep -o -- '--[a-z][a-z-]*' "$T/help" | sort -u); do
    if grep -q -- "$(printf '%s' "$opt" | sed 's/-/\\\\-/g')" "$top_srcdir/man/$tool.1"; then
      pass "$tool(1) documents $opt"
    else
      fail "$tool(1) documents $opt"
    fi
  done
done

"$MULTI" --help >"$T/help"
for verb in $(sed -n '/^Verbs:/,/^$/p' "$T/help" | awk 'NF { print $1 }' | grep -v Verbs:); do
  like "$top_srcdir/man/stem-multi.1" "^\.(B|TP|IP).*\b$verb\b|^\.B $verb" "stem-multi(1) documents the verb $verb"
done

done_testing
