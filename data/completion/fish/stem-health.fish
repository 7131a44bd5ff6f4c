# fish completion for stem-health.
function __stem_health_nodes
    for f in /run/stem/*.pid
        test -e $f; and basename $f .pid
    end
end
complete -c stem-health -f -a '(__stem_health_nodes)' -d node
complete -c stem-health -l node -x -a '(__stem_health_nodes)' -d 'Check node NAME'
complete -c stem-health -l pidfile -r -F -d 'Pidfile of each node'
complete -c stem-health -l logfile -r -F -d 'Log file of each node'
complete -c stem-health -l uid -x -a '(__fish_complete_users)' -d 'User the workers run as'
complete -c stem-health -l max-log-age -x -d 'Fail a node whose log is older'
complete -c stem-health -l env-file -r -F -d 'Read STEMD_NODES from FILE'
complete -c stem-health -l prefix -x -d 'Name prefix for a count of nodes'
complete -c stem-health -l format -x -a 'text json openmetrics nagios' -d 'Output format'
complete -c stem-health -l json -d 'Print one JSON document'
complete -c stem-health -s w -l warning -x -d 'nagios: WARNING log age'
complete -c stem-health -s c -l critical -x -d 'nagios: CRITICAL log age'
complete -c stem-health -l output -r -F -d 'openmetrics: replace FILE atomically'
complete -c stem-health -l quiet -d 'Print nothing'
complete -c stem-health -s V -l version -d 'Print the version and exit'
complete -c stem-health -s h -l help -d 'Print the help and exit'
