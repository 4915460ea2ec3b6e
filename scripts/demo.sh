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
set -a; source "$lab/lab.env"; set +a   # exports DBUS_SESSION_BUS_ADDRESS: the lab's keyring
export XDG_RUNTIME_DIR=$demo/run; mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
cp "$lab/mcp-tunnel.toml" "$XDG_CONFIG_HOME/mcp-tunnel/config.toml"
run mcp-tunnel config show --profile lab

note "4. Identity: no display here, so login picks the device flow and says why. The lab approves the"
note "   code the way you would on your phone; only the refresh token is kept, in the keyring."
say "mcp-tunnel login --profile lab"
"$bin" login --profile lab --json >"$demo/login.jsonl" 2>"$demo/login.err" &
login_pid=$!
for _ in $(seq 200); do grep -q device_authorization "$demo/login.jsonl" 2>/dev/null && break; sleep 0.05; done
cat "$demo/login.err"
code=$(jq -r 'select(.event=="device_authorization") | .user_code' "$demo/login.jsonl")
echo "(lab: approving $code as ${LAB_USER:-the lab user})"
Tests/Lab/lab.sh approve "$lab" "$code" >/dev/null
wait "$login_pid"
jq -c 'select(.event=="logged_in")' "$demo/login.jsonl"
run mcp-tunnel status --profile lab
run mcp-tunnel status --profile lab --verify
note "Nothing secret on disk: the refresh token is only in the Secret Service."
say "grep -rl <refresh token> \$HOME \$XDG_RUNTIME_DIR /tmp/mcp-tunnel-demo.*"
token=$(secret-tool lookup application mcp-tunnel profile lab)
# The pattern comes from a file descriptor, so the token is not in grep's argv either.
if grep -rlF -f <(printf '%s\n' "$token") "$HOME" "$XDG_RUNTIME_DIR" "$demo"/*.jsonl "$demo"/*.err 2>/dev/null; then
  echo "LEAK"; exit 1
else echo "(no file contains it)"; fi
unset token

note "5. up: the SSH path (bastion -> target, host keys checked), a tenant token minted from the login"
note "   (RFC 8693 exchange, at most 15 min, memory only), and an MCP endpoint on loopback that injects it."
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "mcp-tunnel up --profile lab --tenant acme --listen 127.0.0.1:$port &"
"$bin" up --profile lab --tenant acme --listen "127.0.0.1:$port" >"$demo/up.out" 2>"$demo/up.err" &
up_pid=$!
for _ in $(seq 400); do grep -q '^ready' "$demo/up.out" 2>/dev/null && break; sleep 0.05; done
cat "$demo/up.out"
url="http://127.0.0.1:$port/mcp"
python="$(Tests/Lab/setup-venv.sh)"
mcp() { "$python" Tests/Lab/mcp/client.py "$url" "$@"; }

note "6. Any MCP client now points at $url. It sends no token: the tunnel adds the tenant's."
note "   (The official MCP SDK client, through the proxy, the SSH hops, to the server in the 'cluster':)"
say "mcp-client $url tools"
mcp tools | jq -c .
say "mcp-client $url call whoami"
mcp call whoami | jq -c .result
say "mcp-tunnel status --profile lab"
mcp-tunnel status --profile lab
note "   The entry a client needs, in its own format (here Claude Code's; --client codex gives TOML):"
run mcp-tunnel client-config --profile lab --client claude-code

note "7. Switch tenant without dropping the SSH path: globex's token is minted, acme's dropped,"
note "   and connections opened under acme are closed."
run mcp-tunnel tenant use globex --profile lab
say "mcp-client $url call whoami"
mcp call whoami | jq -c .result
run mcp-tunnel tenant list --profile lab
note "Tenants outside session.tenants are refused (exit 9):"
say "mcp-tunnel tenant use initech --profile lab"
mcp-tunnel tenant use initech --profile lab || echo "(exit $?)"
note "Header-helper clients can ask for the current token; a terminal is refused without --force:"
say "mcp-tunnel token --profile lab --tenant globex | cut -c1-16"
mcp-tunnel token --profile lab --tenant globex | cut -c1-16
note "A second up for the same profile does not fight for the port (exit 8):"
say "mcp-tunnel up --profile lab --listen 127.0.0.1:$port"
mcp-tunnel up --profile lab --listen "127.0.0.1:$port" || echo "(exit $?)"

note "7b. Clients that can only start a command (Claude Desktop) get mcp-tunnel stdio: JSON-RPC on"
note "    stdin/stdout, forwarded through the running up's tunnel (its tenant, its token)."
run mcp-tunnel client-config --profile lab --client claude-desktop
# The official MCP SDK's stdio_client starts `mcp-tunnel stdio` as Claude Desktop would; the
# environment it passes the child comes on stdin (the script's convention).
stdio_call() { env_json | "$python" Tests/Lab/mcp/stdio_client.py call "$@" -- "$bin" stdio --profile lab; }
env_json() { python3 -c 'import json, os; print(json.dumps(dict(os.environ)))'; }
say "mcp-stdio-client call whoami -- mcp-tunnel stdio --profile lab"
stdio_call whoami 2>"$demo/stdio.err" | jq -c .result
grep '^stdio:' "$demo/stdio.err" || true

note "The MCP server saw only tenant tokens from the exchange endpoint, never the IdP token:"
say "jq -c '.token | {iss, tenant}' \$LAB_DIR/mcp/requests.jsonl | sort | uniq -c"
jq -c 'select(.token) | .token | {iss, tenant}' "$lab/mcp/requests.jsonl" | sort | uniq -c

note "SIGTERM closes everything cleanly (exit 0) and says so:"
kill -TERM "$up_pid"
wait "$up_pid" && echo "up exited $?"
cat "$demo/up.err"

note "Without a running up, stdio opens a tunnel of its own for the session (and closes it at the end of stdin):"
say "mcp-stdio-client call whoami -- mcp-tunnel stdio --profile lab"
stdio_call whoami 2>"$demo/stdio.err" | jq -c .result
grep '^stdio:' "$demo/stdio.err" || true

note "8. Ports are loopback only, and a taken port names its holder:"
say "mcp-tunnel up --profile lab --listen 0.0.0.0:$port"
mcp-tunnel up --profile lab --listen "0.0.0.0:$port" || echo "(exit $?)"
# The holder says when it listens (SO_REUSEADDR: the connections of the up above may still be in
# TIME_WAIT on this port); `timeout` only keeps a wrong result from hanging the demo.
exec 9< <(exec python3 -c 'import socket,time,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); print("held", flush=True); time.sleep(60)' "$port")
holder=$!
read -r _ <&9
say "mcp-tunnel up --profile lab --mode tcp --listen 127.0.0.1:$port"
timeout 30 "$bin" up --profile lab --mode tcp --listen "127.0.0.1:$port" || echo "(exit $?)"
kill "$holder" 2>/dev/null || true
exec 9<&-

note "9. Logout revokes the refresh token at the IdP, then wipes the keyring entry."
run mcp-tunnel logout --profile lab
run mcp-tunnel status --profile lab

note "10. Every call, the session and the tenant switch are in the hash-chained audit log:"
run mcp-tunnel audit tail --profile lab
note "Calls that came through stdio carry \"via\":\"stdio\" (a label, not an authentication):"
say "mcp-tunnel audit tail --profile lab --json -n 100 | jq -c 'select(.via and .tool) | {tenant, via, tool, outcome}'"
mcp-tunnel audit tail --profile lab --json -n 100 | jq -c 'select(.via and .tool) | {tenant, via, tool, outcome}'
run mcp-tunnel audit verify --profile lab
