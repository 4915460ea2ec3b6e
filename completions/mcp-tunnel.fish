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
        case 'login'
            __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'flow=' 'no-browser' 'no-store' 'version' 'h/help'
        case 'logout'
            __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'all' 'version' 'h/help'
        case 'status'
            __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'verify' 'version' 'h/help'
        case 'up'
            __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'listen=' 'tenant=' 'mode=' 'peers=' 'version' 'h/help'
        case 'tenant'
            __mcp-tunnel_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'use'
                __mcp-tunnel_parse_subcommand 1 'profile=' 'config=' 'json' 'v/verbose' 'version' 'h/help'
            case 'current'
                __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'version' 'h/help'
            case 'list'
                __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'version' 'h/help'
            end
        case 'token'
            __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'tenant=' 'force' 'version' 'h/help'
        case 'audit'
            __mcp-tunnel_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'tail'
                __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'f/follow' 'n/lines=' 'version' 'h/help'
            case 'verify'
                __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'version' 'h/help'
            case 'path'
                __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'version' 'h/help'
            end
        case 'doctor'
            __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'listen=' 'version' 'h/help'
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
        case 'client-config'
            __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'client=' 'name=' 'install' 'scope=' 'file=' 'version' 'h/help'
        case 'stdio'
            __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'tenant=' 'version' 'h/help'
        case 'elevate'
            __mcp-tunnel_parse_subcommand 0 'profile=' 'config=' 'json' 'v/verbose' 'tenant=' 'scope=+' 'for=' 'flow=' 'no-browser' 'version' 'h/help'
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
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'login' -d 'Sign in at the identity provider and keep the refresh token in the keyring.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'logout' -d 'Revoke the refresh token at the identity provider and delete it from the keyring.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'status' -d 'Show whether you are logged in, as whom, and where the refresh token is kept.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'up' -d 'Open the SSH path and serve the local MCP endpoint until interrupted.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'tenant' -d 'Show or switch the tenant the running tunnel serves.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'token' -d 'Print the running tunnel\'s current tenant token (for header-helper clients).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'audit' -d 'Read, follow and verify the tamper-evident audit log.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'doctor' -d 'Check each layer — keyring, login, identity provider, SSH path, local port — and say how to fix it.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'config' -d 'Create, inspect and locate the configuration file.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'client-config' -d 'Print the entry that points an MCP client at this profile\'s tunnel.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'stdio' -d 'Serve MCP on stdin/stdout through the profile\'s tunnel (for Claude Desktop).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'elevate' -d 'Step up: sign in again for more scope and hand the token to the running up, for one tenant, briefly.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel login" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel login" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel login" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel login" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel login" flow' -l 'flow' -d 'How to sign in: auto, browser (PKCE) or device (code on another device).' -rfka 'auto browser device'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel login" no-browser' -l 'no-browser' -d 'Print the browser URL instead of opening a browser.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel login" no-store' -l 'no-store' -d 'Do not store the refresh token; it lives only as long as this process.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel login" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel login" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel logout" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel logout" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel logout" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel logout" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel logout" all' -l 'all' -d 'Log out of every profile that has an [idp] section.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel logout" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel logout" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel status" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel status" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel status" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel status" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel status" verify' -l 'verify' -d 'Refresh the login at the identity provider to prove it is still valid.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel status" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" listen' -l 'listen' -d 'Loopback address to listen on (default: listen.address, 127.0.0.1:7700).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" tenant' -l 'tenant' -d 'Tenant to serve (default: session.default_tenant); must be listed in session.tenants.' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" mode' -l 'mode' -d 'http: token-injecting MCP proxy; tcp: raw bytes, no login (default: listen.mode, else http).' -rfka 'http tcp'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" peers' -l 'peers' -d 'Who may connect: same-user (only you) or any-local-user (default: listen.peers, else same-user).' -rfka 'same-user any-local-user'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel up" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel tenant" -eq 1' -fa 'use' -d 'Switch the running tunnel to another tenant.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel tenant" -eq 1' -fa 'current' -d 'Print the tenant the running tunnel serves.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel tenant" -eq 1' -fa 'list' -d 'List the tenants this profile allows, marking the one being served.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant use" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant use" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant use" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant use" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant use" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant use" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant current" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant current" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant current" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant current" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant current" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant current" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant list" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant list" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant list" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant list" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant list" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel tenant list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel token" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel token" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel token" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel token" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel token" tenant' -l 'tenant' -d 'Fail unless the tunnel serves this tenant.' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel token" force' -l 'force' -d 'Print the token even when stdout is a terminal.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel token" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel token" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel audit" -eq 1' -fa 'tail' -d 'Print the last records of the audit log, and follow it with -f.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel audit" -eq 1' -fa 'verify' -d 'Check that the audit log was not edited, truncated or reordered.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_positional "mcp-tunnel audit" -eq 1' -fa 'path' -d 'Print the path of the audit log of a profile.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit tail" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit tail" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit tail" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit tail" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit tail" f follow' -s 'f' -l 'follow' -d 'Keep running and print records as they are appended.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit tail" lines n' -s 'n' -l 'lines' -d 'How many past records to print first.' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit tail" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit tail" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit verify" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit verify" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit verify" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit verify" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit verify" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit verify" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit path" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit path" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit path" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit path" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit path" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel audit path" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel doctor" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel doctor" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel doctor" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel doctor" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel doctor" listen' -l 'listen' -d 'Loopback address to check instead of listen.address (as `up --listen`).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel doctor" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel doctor" h help' -s 'h' -l 'help' -d 'Show help information.'
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
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" client' -l 'client' -d 'The MCP client: claude-code, vscode, cursor, windsurf, zed, codex, gemini, cline, goose, continue, lmstudio, claude-desktop.' -rfka 'claude-code vscode cursor windsurf zed codex gemini cline goose continue lmstudio claude-desktop'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" name' -l 'name' -d 'The entry\'s name in the client\'s file.' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" install' -l 'install' -d 'Merge the entry into the client\'s config file (JSON and JSONC files), keeping everything else; FILE.bak keeps the previous one.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" scope' -l 'scope' -d 'With --install: the client\'s user file, or its project file in the current directory.' -rfka 'user project'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" file' -l 'file' -d 'With --install: the file to merge into instead.' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel client-config" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel stdio" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel stdio" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel stdio" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel stdio" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel stdio" tenant' -l 'tenant' -d 'Tenant for a tunnel of its own (default: session.default_tenant); a running up keeps its tenant.' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel stdio" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel stdio" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate" profile' -l 'profile' -d 'Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate" config' -l 'config' -d 'Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'toml\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate" json' -l 'json' -d 'Print machine-readable JSON on stdout (one object per line).'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate" v verbose' -s 'v' -l 'verbose' -d 'Print more detail on stderr.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate" tenant' -l 'tenant' -d 'The tenant to elevate; default: the one up serves.' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate"' -l 'scope' -d 'A scope to add (repeatable, or space-separated); the challenge\'s scopes are added anyway.' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate" for' -l 'for' -d 'How long up uses the elevated token, e.g. 2m; at most session.elevate_max (default 5m).' -rfka ''
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate" flow' -l 'flow' -d 'How to sign in: auto, browser (PKCE) or device (code on another device).' -rfka 'auto browser device'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate" no-browser' -l 'no-browser' -d 'Print the browser URL instead of opening a browser.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate" version' -l 'version' -d 'Show the version.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel elevate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'mcp-tunnel' -n '__mcp-tunnel_should_offer_completions_for_flags_or_options "mcp-tunnel help" version' -l 'version' -d 'Show the version.'
