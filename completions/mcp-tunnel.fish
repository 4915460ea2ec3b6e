function __mcp-tunnel_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __mcp-tunnel_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __mcp-tunnel_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __mcp-tunnel_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __mcp-tunnel_parse_tokens -S
    set -l unparsed_tokens (__mcp-tunnel_tokens -pc)
    switch $unparsed_tokens[1]
    case 'mcp-tunnel'
        __mcp-tunnel_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'config'
            __mcp-tunnel_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'init'
                __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'force' 'stdout' 'version' 'h/help'
            case 'show'
                __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'version' 'h/help'
            case 'path'
                __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'version' 'h/help'
            end
        case 'up'
            __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'listen=' 'mode=' 'version' 'h/help'
        case 'help'
            __mcp-tunnel_parse_subcommand -r 1 'version'
        end
    end
end

function __mcp-tunnel_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __mcp-tunnel_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __mcp-tunnel_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __mcp-tunnel_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__mcp-tunnel_tokens -p)
    if test -z "$(__mcp-tunnel_tokens -t)"
        set -l index (count (__mcp-tunnel_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'mcp-tunnel' -f
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'config' -d 'Create, inspect and locate the configuration file.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'up' -d 'Open the SSH path and serve the local listener until interrupted.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel config" -eq 1' -fa 'init' -d 'Write a commented configuration template (mode 0600).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel config" -eq 1' -fa 'show' -d 'Print the effective configuration of a profile.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel config" -eq 1' -fa 'path' -d 'Print the path of the configuration file in use.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config init" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config init" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config init" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config init" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config init" force' -l 'force' -d 'Overwrite an existing configuration file.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config init" stdout' -l 'stdout' -d 'Print the template on stdout instead of writing a file.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config init" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config init" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config show" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config show" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config show" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config show" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config show" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config show" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config path" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config path" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config path" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config path" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config path" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel config path" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" listen' -l 'listen' -d 'Loopback address to listen on (default: listen.address, 127.0.0.1:7700).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" mode' -l 'mode' -d 'Listener mode; tcp forwards raw bytes and needs no login (the default comes from listen.mode).' -rfka 'tcp'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel help" version' -l 'version' -d 'Show the version.'
