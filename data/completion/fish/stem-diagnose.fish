# fish completion for stem-diagnose.
function __stem_diagnose_nodes
    for f in /run/stem/*.pid
        test -e $f; and basename $f .pid
    end
end
complete -c stem-diagnose -f -a '(__stem_diagnose_nodes)' -d node
complete -c stem-diagnose -l pidfile -r -F -d 'Pidfile template'
complete -c stem-diagnose -l logfile -r -F -d 'Log file template'
complete -c stem-diagnose -l env-file -r -F -d 'Env file to check'
complete -c stem-diagnose -l user -x -a '(__fish_complete_users)' -d 'The service user'
complete -c stem-diagnose -l routing-config -r -F -d 'Routing file'
complete -c stem-diagnose -l unitdir -x -a '(__fish_complete_directories)' -d 'Where the units are'
complete -c stem-diagnose -l initdir -x -a '(__fish_complete_directories)' -d 'Where the init scripts are'
complete -c stem-diagnose -l json -d 'Print one JSON document'
complete -c stem-diagnose -l version -d 'Print the version and exit'
complete -c stem-diagnose -s h -l help -d 'Print the help and exit'
