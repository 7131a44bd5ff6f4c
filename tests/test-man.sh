#!/bin/bash
# Man pages are lint-clean, and every long option of --help is documented.
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
