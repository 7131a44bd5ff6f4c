# fish completion for stem-multi (installed where fish finds vendor
# completions).  Node names come from the pidfiles in /run/stem.

function __stem_nodes
    for f in /run/stem/*.pid
        test -e $f; and basename $f .pid
    end
end

set -l verbs start stop stopwait restart kill supervise status show names expand get logs
complete -c stem-multi -f
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a start -d 'Start nodes in the background'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a stop -d 'Stop nodes and wait for them'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a stopwait -d 'The same as stop'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a restart -d 'Stop and start nodes one at a time'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a kill -d 'Send SIGKILL and wait'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a supervise -d 'Run nodes as children, restart crashed ones'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a status -d 'Show node state (LSB exit codes)'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a show -d 'Show what start would run'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a names -d 'List node names'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a expand -d 'Expand a template for each node'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a get -d 'Print the command line of one node'
complete -c stem-multi -n "not __fish_seen_subcommand_from $verbs" -a logs -d 'Print the last lines of each node\'s log'
complete -c stem-multi -n "__fish_seen_subcommand_from $verbs" -a '(__stem_nodes)' -d node

complete -c stem-multi -l pidfile -r -F -d 'Pidfile of each node'
complete -c stem-multi -l logfile -r -F -d 'Log file of each node'
complete -c stem-multi -l workdir -x -a '(__fish_complete_directories)' -d 'Working directory of the worker'
complete -c stem-multi -l env-file -r -F -d 'Read variables from FILE'
complete -c stem-multi -l command -r -d 'One word of the worker command'
complete -c stem-multi -l command-line -r -d 'The worker command'
complete -c stem-multi -s q -l queue -x -d 'Queue to consume'
complete -c stem-multi -s b -l broadcast -x -d 'Broadcast channel to subscribe'
complete -c stem-multi -l routing-config -r -F -d 'Routing file'
complete -c stem-multi -l prefix -x -d 'Name prefix for a count of nodes'
complete -c stem-multi -l uid -x -a '(__fish_complete_users)' -d 'Run the worker as USER'
complete -c stem-multi -l gid -x -a '(__fish_complete_groups)' -d 'Run the worker in GROUP'
complete -c stem-multi -l umask -x -d 'File mode creation mask of the worker'
complete -c stem-multi -l detach -d 'Start in the background (the default)'
complete -c stem-multi -l foreground -d 'Run one node in place of stem-multi'
complete -c stem-multi -l settle -x -d 'Report nodes that died within DURATION'
complete -c stem-multi -l timeout -x -d 'Wait after the first stop signal'
complete -c stem-multi -l lock-timeout -x -d 'Wait at most this long for a node lock'
complete -c stem-multi -l mode -x -a 'warm soft hard' -d 'First stop signal'
complete -c stem-multi -l retry -x -d 'Stop schedule such as TERM/30/KILL/5'
complete -c stem-multi -l restart -x -a 'on-failure always never' -d 'supervise: which exits restart a node'
complete -c stem-multi -l max-restarts -x -d 'supervise: give a node up after N restarts'
complete -c stem-multi -l no-wait -d 'Send the stop signal and return at once'
complete -c stem-multi -l no-clean -d 'Let status leave stale pidfiles alone'
complete -c stem-multi -l no-kill-group -d 'Leave what a worker left in its process group'
complete -c stem-multi -l no-log-writer -d 'Let workers append to their log files themselves'
complete -c stem-multi -s n -l lines -x -d 'logs: the last N lines'
complete -c stem-multi -s f -l follow -d 'logs: keep printing what is written'
complete -c stem-multi -l json -d 'Print one JSON document'
complete -c stem-multi -l quiet -d 'Print only errors'
complete -c stem-multi -s v -l verbose -d 'Say what is being done'
complete -c stem-multi -l version -d 'Print the version and exit'
complete -c stem-multi -s h -l help -d 'Print the help and exit'
