#!/bin/bash
# Translations: every catalogue in po/ is complete and valid, and the tools
# speak German and French when asked to, while JSON keys and state keywords
# stay English.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99

HEALTH=$top_builddir/src/stem-health

command -v msgfmt >/dev/null || {
  echo "1..0 # SKIP msgfmt not found"
  exit 0
}

# Every catalogue: msgfmt --check passes, nothing fuzzy or untranslated.
for po in "$top_srcdir"/po/*.po; do
  [ -f "$po" ] || continue
  lang=$(basename "$po" .po)
  run msgfmt --check --statistics -o /dev/null "$po"
  rc_is 0 "$lang.po: msgfmt --check"
  stats=$(cat "$T/err")
  case $stats in
    *fuzzy* | *untranslated*) fail "$lang.po: complete" "statistics: $stats" ;;
    *" translated message"*) pass "$lang.po: complete ($stats)" ;;
    *) fail "$lang.po: complete" "unexpected statistics: $stats" ;;
  esac
done

# Every catalogue covers the current template, when there is one.
if [ -f "$top_srcdir/po/stem-daemon.pot" ]; then
  for lang in de fr; do
    run msgcmp "$top_srcdir/po/$lang.po" "$top_srcdir/po/stem-daemon.pot"
    rc_is 0 "$lang.po translates every message of the template"
  done
fi

for lang in de fr; do
  mkdir -p "$T/locale/$lang/LC_MESSAGES"
  if ! msgfmt -o "$T/locale/$lang/LC_MESSAGES/stem-daemon.mo" "$top_srcdir/po/$lang.po"; then
    echo "Bail out! cannot compile po/$lang.po"
    exit 99
  fi
done

# in_lang LANG CMD…: runs CMD with the catalogues of this tree in language LANG.
in_lang () {
  local lang=$1
  shift
  STEM_LOCALEDIR=$T/locale LC_ALL=C.UTF-8 LANGUAGE=$lang run "$@"
}

# German.
in_lang de "$MULTI" --help
rc_is 0 "de: stem-multi --help"
like "$T/out" '^Aufruf: .*stem-multi VERB \[KNOTEN…\|N\] \[OPTION…\]' "de: --help usage line"
like "$T/out" '^  start \[KNOTEN…\|N\] +Knoten im Hintergrund starten' "de: --help verb description"
like "$T/out" '^  -q, --queue\[:SEL\]=' "de: option names stay untranslated"

in_lang de "$MULTI" start x --command /nonexistent --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log"
rc_is 2 "de: start with a missing program"
like "$T/err" 'Programm „/nonexistent“ existiert nicht' "de: missing program error"

in_lang de "$MULTI" status x --pidfile="$T/run/%n.pid"
rc_is 3 "de: status of a stopped node"
like "$T/out" '^x: gestoppt$' "de: stopped node"

in_lang de "$MULTI" status x --pidfile="$T/run/%n.pid" --json
json_ok () { jq -e . "$1" >/dev/null; }
ok_if "de: status --json parses" json_ok "$T/out"
is "$(json "$T/out" '.nodes[0].state')" stopped "de: JSON state keyword stays English"
like "$T/out" '"state" : "stopped"' "de: JSON keys stay English"

in_lang de "$MULTI" bogus
rc_is 2 "de: unknown verb"
like "$T/err" '^stem-multi: unbekanntes Verb „bogus“' "de: unknown verb message"

in_lang de "$HEALTH" x --pidfile="$T/run/%n.pid"
rc_is 1 "de: stem-health on a missing pidfile"
like "$T/err" "^stem-health: x: Fehler: pidfile-missing: keine PID-Datei „$T/run/x.pid“" \
  "de: stem-health missing pidfile (error kind stays English)"

in_lang de "$HEALTH" --help
like "$T/out" '^Aufruf: .*stem-health \[KNOTEN…\|N\]' "de: stem-health --help"
# The Nagios status line is one language: its messages, not its keywords.
"$WORKER" sleep-forever &
sleeper=$!
echo "$sleeper" >"$T/run/up.pid"
in_lang de "$HEALTH" up x --format=nagios --pidfile="$T/run/%n.pid" --logfile=-
like "$T/out" "^STEM-HEALTH CRITICAL - x pidfile-missing \(keine PID-Datei .*\), up läuft \(PID $sleeper\) \|" \
  "de: the nagios line is German but for its keywords"
kill "$sleeper"
# The placeholder of an option's value is translated where --help is.
in_lang de "$MULTI" status x --pidfile
like "$T/err" "^stem-multi: Option „--pidfile“ benötigt einen Wert \(VORLAGE\)$" \
  "de: a missing value names the option's placeholder as --help does"

in_lang de "$top_builddir/src/stem-diagnose" --help
rc_is 0 "de: stem-diagnose --help"
like "$T/out" '^Prüft die Stem-Einrichtung dieses Rechners: Env-Dateien' "de: stem-diagnose --help description"

# French: the catalogue uses no-break spaces inside « » and before “:”.
NBSP=$(printf '\302\240')
in_lang fr "$MULTI" --help
rc_is 0 "fr: stem-multi --help"
like "$T/out" "^Utilisation${NBSP}: .*stem-multi VERBE \\[NŒUD…\\|N\\]" "fr: --help usage line"
like "$T/out" '^  stop \[NŒUD…\|N\] +Arrêter des nœuds et les attendre' "fr: --help verb description"

in_lang fr "$MULTI" start x --command /nonexistent --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log"
rc_is 2 "fr: start with a missing program"
like "$T/err" "Le programme «${NBSP}/nonexistent${NBSP}» n'existe pas" "fr: missing program error"

in_lang fr "$MULTI" status x --pidfile="$T/run/%n.pid" --json
is "$(json "$T/out" '.nodes[0].state')" stopped "fr: JSON state keyword stays English"

in_lang fr "$HEALTH" x --pidfile="$T/run/%n.pid"
rc_is 1 "fr: stem-health on a missing pidfile"
like "$T/err" "^stem-health: x: erreur${NBSP}: pidfile-missing: pas de fichier PID «${NBSP}$T/run/x.pid${NBSP}»" "fr: stem-health missing pidfile"

# Without a catalogue for the language, the tools fall back to English.
in_lang xx "$MULTI" status x --pidfile="$T/run/%n.pid"
like "$T/out" '^x: stopped$' "unknown language: English"

done_testing
