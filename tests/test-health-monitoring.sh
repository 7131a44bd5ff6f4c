#!/bin/bash
# stem-health in the monitoring operators already run, each the real program
# from Debian's archive: Prometheus' node_exporter scraping what
# --format=openmetrics --output writes (and promtool checking it), and
# Nagios 4 running the shipped command definition of --format=nagios.
. "${top_srcdir:?run through make check}/tests/libtest.sh" || exit 99
HEALTH=$top_builddir/src/stem-health

health () { run "$HEALTH" --pidfile="$T/run/%n.pid" --logfile="$T/log/%n.log" "$@"; }

multi start alpha --command "$WORKER" --command run
rc_is 0 "start node alpha"

# The formats themselves, whatever is installed.
health alpha ghost --format=openmetrics
rc_is 0 "--format=openmetrics exits 0: the state is in the metrics"
like "$T/out" '^stem_worker_up\{node="alpha"\} 1$' "alpha is up"
like "$T/out" '^stem_worker_up\{node="ghost"\} 0$' "a node that is not running is down"
like "$T/out" '^# TYPE stem_worker_up gauge$' "with its TYPE"
like "$T/out" '^# HELP stem_worker_start_time_seconds ' "and HELP"
like "$T/out" '^stem_worker_start_time_seconds\{node="alpha"\} [0-9]+\.[0-9]{6}$' "the start time"
unlike "$T/out" 'stem_worker_start_time_seconds\{node="ghost"\}' "none for a node without a process"
is "$(tail -n 1 "$T/out")" "# EOF" "the last line is # EOF, as OpenMetrics requires"
is "$(grep -c '^# EOF$' "$T/out")" 1 "and only the last"
health alpha --format=openmetrics --output="$T/tf/stem.prom"
rc_is 1 "--output into a missing directory fails"
like "$T/err" "$T/tf" "naming it"
health alpha --format=text --output="$T/x.prom"
rc_is 2 "--output without --format=openmetrics is a usage error"
health alpha --format=openmetrics --output="$T/log/"
rc_is 2 "--output naming a directory (DIR/) is a usage error"
like "$T/err" "^stem-health: --output needs a file name$" "… which says a file name is needed"
# --json is --format=json, and the last of them wins: a wrapper may append
# its own to a command line that has one.
health alpha --json --format=nagios
rc_is 0 "--json, then --format=nagios: a Nagios check"
like "$T/out" '^STEM-HEALTH OK - ' "(its output)"
health alpha --format=nagios --json
rc_is 0 "--format=nagios, then --json: JSON"
is "$(jq -r '.nodes[0].node // .node' "$T/out")" alpha "(its output)"
health alpha --json --format=text
rc_is 0 "--json, then --format=text: text"
like "$T/out" '^alpha: ' "(its output)"
health alpha --format=xml
rc_is 2 "an unknown format"
like "$T/err" 'Invalid --format “xml”' "is named"
health alpha --format nagios --bogus
rc_is 3 "nagios: an unknown option is UNKNOWN too"
is "$(cat "$T/out")" "STEM-HEALTH UNKNOWN - Unknown option “--bogus” (see --help)" \
  "said on standard output"
# The last format asked for wins, also when the line does not parse.
health alpha --format=nagios --format=json --bogus
rc_is 2 "--format=nagios then --format=json: an unknown option is a usage error (2)"
is "$(cat "$T/out")" "" "… said on standard error only"
health alpha --json --format nagios --bogus
rc_is 3 "--json then --format nagios: an unknown option is UNKNOWN"
health alpha --format=nagios --critical
rc_is 3 "nagios: an option without its value is UNKNOWN"
like "$T/out" '^STEM-HEALTH UNKNOWN - .*--critical' "naming the option"
health alpha --bogus
rc_is 2 "in the other formats an unknown option is a usage error (2)"
is "$(cat "$T/out")" "" "said on standard error only"
health alpha --format=nagios -w 500ms -c 1500ms
like "$T/out" ' alpha_log_age=[0-9]+(\.[0-9]+)?s;0\.5;1\.5;0;$' "nagios: thresholds under a second keep their fraction"
health alpha --format=nagios -w 1h -c 1s
rc_is 3 "nagios: --warning longer than --critical is UNKNOWN (a usage error)"
is "$(cat "$T/out")" "STEM-HEALTH UNKNOWN - --warning (1h) is longer than --critical (1s)" "… saying so"
health alpha --format=nagios -w 1h -c 2h
rc_is 0 "nagios: -w and -c, the plugins' short options"
like "$T/out" '^STEM-HEALTH OK - alpha running \(pid [0-9]+\) \| alpha_up=1;;;0;1 alpha_log_age=[0-9]+(\.[0-9]+)?s;3600;7200;0;$' \
  "are --warning and --critical"
# The status line is one line whatever a path holds: a newline would push
# the perfdata onto a second line (taken for long output), an escape
# would reach the operator's terminal, a "|" would start the perfdata.
run "$HEALTH" alpha --pidfile="$T/x"$'\n|y\e[31m\xc2\x9b.pid' --logfile=- --format=nagios
rc_is 2 "nagios: a node without a pidfile is CRITICAL"
is "$(wc -l <"$T/out")" 1 "one line, though the pidfile's name holds a newline"
is "$(cat "$T/out")" "STEM-HEALTH CRITICAL - alpha pidfile-missing (no pidfile “$T/x?/y?[31m?.pid” (not started?)) | alpha_up=0;;;0;1" \
  "control characters (C1 too) become ?, a | becomes /, the perfdata stays after the only |"
run "$HEALTH" alpha --pidfile="$T/x"$'\n|%q' --format=nagios
rc_is 3 "nagios: a usage error is UNKNOWN"
is "$(wc -l <"$T/out")" 1 "… on one line, though the option's value holds a newline"
unlike "$T/out" '\|' "… without a | in it"
run "$HEALTH" -V
rc_is 0 "-V"
like "$T/out" '^stem-health [0-9]' "prints the version"

health alpha --format=nagios --warning=1h --critical=2h
rc_is 0 "nagios: a running node is OK (exit 0)"
like "$T/out" '^STEM-HEALTH OK - alpha running \(pid [0-9]+\) \| alpha_up=1;;;0;1 alpha_log_age=[0-9]+(\.[0-9]+)?s;3600;7200;0;$' \
  "one status line, then perfdata with the thresholds"
touch -d '10 minutes ago' "$T/log/alpha.log"
health alpha --format=nagios --warning=1m --critical=1h
rc_is 1 "a log older than --warning is WARNING (exit 1)"
like "$T/out" '^STEM-HEALTH WARNING - alpha log 10m [0-9]+s old \|' "saying why"
# The log's age is compared and shown to the millisecond: a log 30.1s old
# is over a --warning of 30050ms and a --critical of 30050ms, and its
# perfdata value is not cut to 30.
touch -d "@$(awk -v now="$(date +%s.%N)" 'BEGIN { printf "%.3f", now - 30.1 }')" "$T/log/alpha.log"
health alpha --format=nagios -w 30050ms -c 1h
rc_is 1 "a log 30.1s old is over a --warning of 30050ms (WARNING)"
like "$T/out" '^STEM-HEALTH WARNING - alpha log 30[0-9]{3}ms old \|' "… its age said to the millisecond"
age=$(sed -n 's/.* alpha_log_age=\([0-9.]*\)s;.*/\1/p' "$T/out")
ok_if "… and its perfdata value ($age) is at least 30.1, not cut to whole seconds" \
  awk -v a="$age" 'BEGIN { exit !(a != "" && a >= 30.1) }'
health alpha --format=nagios -c 30050ms
rc_is 2 "a log 30.1s old is over a --critical of 30050ms (CRITICAL)"
like "$T/out" 'last written 30[0-9]{3}ms ago \(limit 30050ms\)' "… saying both to the millisecond"
# A log dated in the future (a clock set back since it was written) has no
# age to compare: with --warning it is WARNING, with --critical CRITICAL,
# never OK because it looks fresh; and its perfdata has no log age.
touch -d '+1 hour' "$T/log/alpha.log"
health alpha --format=nagios --warning=1m
rc_is 1 "a log dated in the future, with --warning: WARNING (exit 1)"
like "$T/out" '^STEM-HEALTH WARNING - alpha log dated [0-9hms ]+ in the future \| alpha_up=1;;;0;1$' \
  "… saying why, with no log age in the perfdata"
health alpha --format=nagios --warning=1m --critical=2h
rc_is 2 "… with --critical: CRITICAL (exit 2)"
like "$T/out" '^STEM-HEALTH CRITICAL - alpha log-stale \(log file .* is dated [0-9hms ]+ in the future \(was the clock set back\?\): its age cannot be known\)' \
  "… saying why"
touch -d '10 minutes ago' "$T/log/alpha.log"
health alpha ghost --format=nagios --critical=1m
rc_is 2 "a log older than --critical, or a node that is down, is CRITICAL (exit 2)"
like "$T/out" '^STEM-HEALTH CRITICAL - alpha log-stale \(.*\), ghost pidfile-missing \(' \
  "problems are listed first"

# Prometheus: node_exporter's textfile collector, on a loopback port.
mkdir -p "$T/tf"
scrape () { # PORT: /metrics, or nothing
  local reply
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  reply=$(cat <&3)
  exec 3<&-
  printf '%s\n' "$reply"
}
up_in_scrape () { scrape "$port" | grep -qx "stem_worker_up{node=\"alpha\"} $1"; }
exporter=$(command -v prometheus-node-exporter || command -v node_exporter)
if [ -z "$exporter" ]; then
  skip "node_exporter is not installed (Debian: prometheus-node-exporter)"
else
  health alpha --format=openmetrics --output="$T/tf/stem.prom"
  rc_is 0 "--output writes the metrics into the textfile directory"
  is "$(stat -c %a "$T/tf/stem.prom")" 644 "mode 0644, for node_exporter to read"
  is "$(find "$T/tf" -name '.*' | wc -l)" 0 "and no temporary file is left"
  port=
  for try in $(seq 1 20); do
    p=$((20000 + (RANDOM % 20000)))
    "$exporter" --web.listen-address="127.0.0.1:$p" --collector.disable-defaults \
      --collector.textfile --collector.textfile.directory="$T/tf" >"$T/exporter.log" 2>&1 &
    exporter_pid=$!
    if wait_until 10 eval "scrape $p >/dev/null 2>&1 || ! kill -0 $exporter_pid 2>/dev/null" \
      && kill -0 "$exporter_pid" 2>/dev/null; then
      port=$p
      break
    fi
    wait "$exporter_pid" 2>/dev/null
  done
  if [ -z "$port" ]; then
    fail "node_exporter listens on a loopback port" "$(cat "$T/exporter.log")"
  else
    ok_if "node_exporter's scrape shows stem_worker_up{node=\"alpha\"} 1" up_in_scrape 1
    unlike <(scrape "$port") '^node_textfile_scrape_error 1' "and the textfile collector read it without error"
    multi stop alpha
    health alpha --format=openmetrics --output="$T/tf/stem.prom"
    ok_if "after stop, the scrape shows stem_worker_up{node=\"alpha\"} 0" up_in_scrape 0
    multi start alpha --command "$WORKER" --command run
  fi
  kill "$exporter_pid" 2>/dev/null
  wait "$exporter_pid" 2>/dev/null
fi

if ! command -v promtool >/dev/null; then
  skip "promtool is not installed (Debian: prometheus)"
else
  health alpha ghost --format=openmetrics
  run promtool check metrics <"$T/out"
  is "$rc:$(cat "$T/err")" "0:" "promtool check metrics accepts the output, without a remark"
fi

# The OpenMetrics parser of Prometheus' Python client (python3-prometheus-client),
# with Debian's Python, where that package puts it.
if ! /usr/bin/python3 -c 'import prometheus_client.openmetrics.parser' 2>/dev/null; then
  skip "prometheus_client is not installed (Debian: python3-prometheus-client)"
else
  health alpha ghost --format=openmetrics
  cp "$T/out" "$T/metrics"
  run /usr/bin/python3 -c '
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        print(family.type, s.name, s.labels["node"], s.value)
' <"$T/metrics"
  is "$rc:$(cat "$T/err")" "0:" "the OpenMetrics parser accepts the output"
  like "$T/out" '^gauge stem_worker_up alpha 1(\.0)?$' "and reads alpha as up"
  like "$T/out" '^gauge stem_worker_up ghost 0(\.0)?$' "and ghost as down"
fi

# Nagios 4 running the shipped definition, its command pointed at this build.
nagios=$(command -v nagios4 || command -v nagios)
if [ -z "$nagios" ]; then
  skip "Nagios is not installed (Debian: nagios4-core)"
else
  N=$T/nagios
  mkdir -p "$N/spool/checkresults" "$N/run"
  sed -e "s|/usr/bin/stem-health|$HEALTH --pidfile=$T/run/%n.pid --logfile=$T/log/%n.log|" \
    -e '/use  *generic-service/d' \
    -e 's|check_stem_health!alpha beta!60s!5m|check_stem_health!alpha!1h!2h|' \
    "$top_srcdir/data/examples/nagios-stem-health.cfg" >"$N/stem.cfg"
  cat >"$N/base.cfg" <<EOF
define timeperiod {
    timeperiod_name 24x7
    alias           always
    sunday 00:00-24:00
    monday 00:00-24:00
    tuesday 00:00-24:00
    wednesday 00:00-24:00
    thursday 00:00-24:00
    friday 00:00-24:00
    saturday 00:00-24:00
}
define contact {
    contact_name                  nobody
    host_notifications_enabled    0
    service_notifications_enabled 0
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     n
    service_notification_options  n
    host_notification_commands    notify-none
    service_notification_commands notify-none
}
define command {
    command_name notify-none
    command_line /bin/true
}
define host {
    host_name             localhost
    address               127.0.0.1
    max_check_attempts    1
    check_period          24x7
    contacts              nobody
    notification_interval 0
    notification_period   24x7
}
define service {
    name                  test-service
    register              0
    max_check_attempts    1
    check_interval        1
    retry_interval        1
    check_period          24x7
    contacts              nobody
    notification_interval 0
    notification_period   24x7
}
EOF
  sed -i 's|^\(define service {\)$|\1\n    use test-service|' "$N/stem.cfg"
  cat >"$N/nagios.cfg" <<EOF
cfg_file=$N/base.cfg
cfg_file=$N/stem.cfg
status_file=$N/status.dat
status_update_interval=1
log_file=$N/nagios.log
lock_file=$N/run/nagios.lock
temp_file=$N/nagios.tmp
temp_path=$N
check_result_path=$N/spool/checkresults
state_retention_file=$N/retention.dat
retain_state_information=0
use_retained_scheduling_info=0
object_cache_file=$N/objects.cache
precached_object_file=$N/objects.precache
command_file=$N/run/nagios.cmd
query_socket=$N/run/nagios.qh
debug_file=$N/nagios.debug
debug_level=0
check_external_commands=0
nagios_user=$(id -un)
nagios_group=$(id -gn)
interval_length=1
max_service_check_spread=1
max_host_check_spread=1
service_inter_check_delay_method=n
host_inter_check_delay_method=n
execute_host_checks=0
enable_notifications=0
enable_flap_detection=0
check_service_freshness=0
use_syslog=0
illegal_macro_output_chars=\`~\$&|'"<>
EOF
  run "$nagios" -v "$N/nagios.cfg"
  rc_is 0 "nagios -v accepts a config with the shipped definition"
  "$nagios" "$N/nagios.cfg" >"$T/nagios.out" 2>&1 &
  nagios_pid=$!
  # service_state STATE: the status file shows the service with that state.
  service_state () {
    awk -v want="$1" '/^servicestatus \{/ { s = 1 } s && /current_state=/ { split($0, a, "="); st = a[2] }
      s && /has_been_checked=1/ { c = 1 } s && /^\t}/ { if (c && st == want) found = 1; s = c = 0 }
      END { exit !found }' "$N/status.dat" 2>/dev/null
  }
  output_of_service () { # the service's plugin output and perfdata, a line each
    awk '/^servicestatus \{/ { s = 1 } s && /^\t(plugin_output|performance_data)=/ { sub(/^\t[a-z_]+=/, ""); print }
      /^\t}/ { s = 0 }' "$N/status.dat"
  }
  if wait_until 60 service_state 0; then
    pass "Nagios shows the service OK for a running node"
    like <(output_of_service) '^alpha_up=1;;;0;1 alpha_log_age=[0-9]+(\.[0-9]+)?s;3600;7200;0;$' "with its perfdata"
  else
    fail "Nagios shows the service OK for a running node" "$(cat "$N/status.dat" "$T/nagios.out" 2>&1 | tail -30)"
  fi
  multi stop alpha
  if wait_until 60 service_state 2; then
    pass "and CRITICAL once the node is stopped"
    like <(output_of_service) '^STEM-HEALTH CRITICAL - alpha ' "saying which node" 
  else
    fail "and CRITICAL once the node is stopped" "$(tail -30 "$N/status.dat" 2>&1)"
  fi
  kill "$nagios_pid" 2>/dev/null
  wait "$nagios_pid" 2>/dev/null
fi

done_testing
