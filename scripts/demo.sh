#!/usr/bin/env bash
# What a user sees, in a throwaway HOME so nothing of yours is touched. Extended as commands land.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(swift build --show-bin-path)/mcp-tunnel"
demo=$(mktemp -d /tmp/mcp-tunnel-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
export HOME=$demo XDG_CONFIG_HOME=$demo/config XDG_STATE_HOME=$demo/state
unset MCP_TUNNEL_CONFIG MCP_TUNNEL_PROFILE

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }
mcp-tunnel() { "$bin" "$@"; }
run() { say "$*"; "$@"; }

run mcp-tunnel --version
run mcp-tunnel config init
run mcp-tunnel config path
run mcp-tunnel config show
say "mcp-tunnel config show --json | jq .ssh"
mcp-tunnel config show --json | jq .ssh
echo
echo "# a typo in the file is named with its line:"
sed -i 's/^keepalive   = "15s"/keepalve = "15s"/' "$XDG_CONFIG_HOME/mcp-tunnel/config.toml"
say "mcp-tunnel config show"
mcp-tunnel config show || echo "(exit $?)"
