#!/usr/bin/env bash
# What a user sees, in a throwaway HOME against the local lab (real glewlwyd, gnome-keyring,
# OpenSSH bastion + target, the official MCP SDK server). Extended as commands land.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(swift build --show-bin-path)/mcp-tunnel"
demo=$(mktemp -d /tmp/mcp-tunnel-demo.XXXXXX)
lab="$demo/lab"
cleanup() {
  Tests/Lab/lab.sh stop "$lab" >/dev/null 2>&1 || true
  rm -rf "$demo"
}
trap cleanup EXIT
export HOME=$demo/home XDG_CONFIG_HOME=$demo/home/.config XDG_STATE_HOME=$demo/home/.local/state
mkdir -p "$HOME"
unset MCP_TUNNEL_CONFIG MCP_TUNNEL_PROFILE

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }
note() { printf '\n# %s\n' "$*"; }
mcp-tunnel() { "$bin" "$@"; }
run() { say "$*"; "$@"; }

note "1. A fresh user: write the commented template, see where it lives and what it means."
run mcp-tunnel --version
run mcp-tunnel config init
run mcp-tunnel config path
say "mcp-tunnel config show --json | jq .listen"
mcp-tunnel config show --json | jq .listen

note "2. A typo is never silently ignored: the key and its line are named (exit 2)."
sed -i 's/^keepalive   = "15s"/keepalve = "15s"/' "$XDG_CONFIG_HOME/mcp-tunnel/config.toml"
say "mcp-tunnel config show"
mcp-tunnel config show || echo "(exit $?)"

note "3. The local lab: an IdP, a keyring, a bastion and a target, an MCP server that wants a token."
Tests/Lab/lab.sh start "$lab" 2>&1 | tail -1
# shellcheck disable=SC1091
source "$lab/lab.env"
cp "$lab/mcp-tunnel.toml" "$XDG_CONFIG_HOME/mcp-tunnel/config.toml"
run mcp-tunnel config show --profile lab

note "Next to land: login -> up (token-injecting proxy on 127.0.0.1:7700) -> MCP call -> tenant switch."
