#!/usr/bin/env bash
# mcp-tunnel http bench (not a test): MCP `tools/call` through `mcp-tunnel up --mode http` (which
# injects the tenant token itself) vs OpenSSH `ssh -J bastion -N -L` with a static Authorization
# header vs a direct loopback connection, all to the lab's MCP server (official SDK, streamable HTTP)
# behind the same two-sshd path (Tests/Lab/lab.sh start). The same load generator
# (scripts/bench/mcp_load.py, raw HTTP/1.1 keep-alive) drives every path.
#
# Measures `tools/call echo` round trips p50/p99 over BENCH_MCP_CALLS sequential calls on one
# session (split into BENCH_MCP_ROUNDS rounds that alternate between the paths, so a machine that
# gets busier during the run does not favour one path), BENCH_MCP_SESSIONS concurrent sessions of
# BENCH_MCP_SESSION_CALLS calls each (errors, seconds), and the tunnel process's peak RSS (VmHWM, with
# its children), then prints a table with ratios and the targets. In the same rounds, the same calls go
# through `mcp-tunnel stdio` (the SDK-less stdio session of mcp_load.py stdio-rtt, which uses the
# running up's tunnel): a second table compares stdio with up, p50/p95, ratio and the time the bridge
# adds (target: at most 1 ms at p50).
#
# The static header's token is a tenant token (acme) the script mints itself: its own device login at
# glewlwyd (approved like Tests/Lab/lab.sh approve), then an RFC 8693 exchange at the lab STS. Tokens
# live in shell variables and pipes only (never files, argv or the environment).
#
# env: BENCH_MCP_CALLS (2000) BENCH_MCP_ROUNDS (4) BENCH_MCP_WARMUP (100 untimed calls per round)
#      BENCH_MCP_SESSIONS (256) BENCH_MCP_SESSION_CALLS (5) LAB_SESSION_TTL (900)
#      MCP_TUNNEL_BIN (default: the binary users get, scripts/release-build.sh → dist/mcp-tunnel)
#      BENCH_UP_ARGS: extra `up` arguments, e.g. "--peers any-local-user" (word-split).
#      BENCH_KEEP=1 keeps the work directory (logs, lab).
#      BENCH_SMAPS=1 prints up's resident memory by mapping after the sessions (smaps);
#      BENCH_UNSTRIPPED=.build-release/release/mcp-tunnel also attributes the binary's resident pages
#      to components and symbols (scripts/bench/resident-pages.py; needs root).
#      BENCH_REPORT: a file the issue-18 rows are appended to (`make bench` prints them at the end).
# Through sshd, a tools/call's answer (uvicorn writes the SSE headers, the event and the last chunk
# separately) is split into SSH packets; the target sshd (no TCP_NODELAY on a forwarding-only
# connection) holds the later ones until the jump host's kernel ACKs the first, which it delays ~40 ms.
# OpenSSH's ssh -J pays that on most calls; mcp-tunnel sends a 1-byte window adjust on the target's
# session whenever it reads channel data there (ChannelPump, AcknowledgementNudge), whose forwarding
# by the jump host carries the ACK. The table shows the share of calls over 30 ms next to p50/p99.
#
# Exit: 0 when the numbers were measured, also when the binary's `up` does not know --mode http /
# --tenant yet (the mcp-tunnel column then says so); 1 when a path failed to come up.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLS=${BENCH_MCP_CALLS:-2000}
ROUNDS=${BENCH_MCP_ROUNDS:-4}
WARMUP=${BENCH_MCP_WARMUP:-100}
SESSIONS=${BENCH_MCP_SESSIONS:-256}
SESSION_CALLS=${BENCH_MCP_SESSION_CALLS:-5}
export LAB_SESSION_TTL=${LAB_SESSION_TTL:-900}
per_round=$(( (CALLS + ROUNDS - 1) / ROUNDS ))

work="$(mktemp -d "${TMPDIR:-/tmp}/mcp-tunnel-bench-http.XXXXXX")"
lab="$work/lab"
pids=()
# shellcheck source=scripts/bench/common.sh
source "$root/scripts/bench/common.sh"
cleanup() {
  stop_pids
  "$root/Tests/Lab/lab.sh" stop "$lab" >/dev/null 2>&1 || true
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then echo "bench-http: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

first_message() {  # first_message FILE… — the first JSON error event's .message (first line), else the first text line
  local m
  m=$(cat "$@" 2>/dev/null | jq -Rr 'fromjson? | objects | select(.event == "error") | .message' 2>/dev/null |
    grep -v '^[[:space:]]*$' | head -1 || true)
  [[ -n "$m" ]] || m=$(cat "$@" 2>/dev/null | grep -v '^[[:space:]]*$' | head -1 || true)
  printf '%s\n' "$m"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== building" >&2
release_binary
python="$("$root/Tests/Lab/setup-venv.sh")"
load="$root/scripts/bench/mcp_load.py"

echo "== lab in $lab (session TTL ${LAB_SESSION_TTL}s)" >&2
"$root/Tests/Lab/lab.sh" start "$lab" >&2
# shellcheck disable=SC1091
set -a; source "$lab/lab.env"; set +a   # ports, URLs, DBUS_SESSION_BUS_ADDRESS (the lab's keyring)
[[ -n "$LAB_SSH_CONFIG" ]] || { echo "bench-http: the lab has no SSH servers (LAB_SSH=0?)" >&2; exit 1; }
# A throwaway HOME for ssh and mcp-tunnel (after the build: SwiftPM keeps its caches under HOME).
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_STATE_HOME="$work/home/.local/state" \
  XDG_CACHE_HOME="$work/home/.cache" XDG_DATA_HOME="$work/home/.local/share" XDG_RUNTIME_DIR="$work/run"
mkdir -p "$XDG_CONFIG_HOME/mcp-tunnel" "$XDG_STATE_HOME" "$XDG_CACHE_HOME" "$XDG_DATA_HOME"
mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
unset MCP_TUNNEL_CONFIG MCP_TUNNEL_PROFILE SSH_AUTH_SOCK
cp "$lab/mcp-tunnel.toml" "$XDG_CONFIG_HOME/mcp-tunnel/config.toml"

# --- the static header's token: device login (curl) + RFC 8693 exchange; pipes and variables only --
echo "== minting the static header's tenant token (device login + token exchange)" >&2
device=$(printf 'client_id=%s&scope=openid%%20mcp' "$LAB_CLIENT_ID" |
  curl -fsS --data-binary @- "$LAB_IDP_DEVICE_ENDPOINT")
"$root/Tests/Lab/lab.sh" approve "$lab" "$(printf '%s' "$device" | jq -r .user_code)" >&2
subject_token=$(printf '%s' "$device" |
  jq -r '"grant_type=urn:ietf:params:oauth:grant-type:device_code&client_id=mcp-tunnel&device_code=" + (.device_code | @uri)' |
  curl -sS --data-binary @- "$LAB_IDP_TOKEN_ENDPOINT" | jq -r '.access_token // empty')
unset device
[[ -n "$subject_token" ]] || { echo "bench-http: the device login at glewlwyd gave no access token" >&2; exit 1; }
tenant_token=$(printf '%s' "$subject_token" |
  jq -Rr '"grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=" + @uri
    + "&subject_token_type=urn:ietf:params:oauth:token-type:access_token"
    + "&requested_token_type=urn:ietf:params:oauth:token-type:access_token"
    + "&resource=" + ("https://mcp.example.test/t/acme/mcp" | @uri) + "&client_id=mcp-tunnel"' |
  curl -sS --data-binary @- "$LAB_STS_TOKEN_ENDPOINT" | jq -r '.access_token // empty')
unset subject_token
[[ -n "$tenant_token" ]] || { echo "bench-http: the token exchange at $LAB_STS_TOKEN_ENDPOINT failed" >&2; exit 1; }

# --- openssh: ssh -J -L ------------------------------------------------------------------------
ssh_port=$(free_port)
ssh -F "$LAB_SSH_CONFIG" -o ExitOnForwardFailure=yes -N -L "127.0.0.1:$ssh_port:127.0.0.1:$LAB_MCP_PORT" target \
  2>"$work/ssh.log" & ssh_pid=$!; pids+=($ssh_pid)
wait_port "$ssh_port" "ssh -J -L" "$ssh_pid" || { cat "$work/ssh.log" >&2; exit 1; }

# --- mcp-tunnel: login (device flow, as scripts/demo.sh) + up --mode http -------------------------
status=0
tunnel_note=""    # set when the mcp-tunnel column cannot be measured
up_pid=""
echo "== mcp-tunnel login --profile lab (device flow)" >&2
"$MCP_TUNNEL_BIN" login --profile lab --json >"$work/login.jsonl" 2>"$work/login.err" & login_pid=$!; pids+=($login_pid)
for _ in $(seq 400); do
  grep -q device_authorization "$work/login.jsonl" 2>/dev/null && break
  kill -0 "$login_pid" 2>/dev/null || break
  sleep 0.05
done
code=$(jq -r 'select(.event=="device_authorization") | .user_code' "$work/login.jsonl" 2>/dev/null || true)
if [[ -n "$code" ]] && "$root/Tests/Lab/lab.sh" approve "$lab" "$code" >&2 && wait "$login_pid"; then
  tunnel_port=$(free_port)
  echo "== mcp-tunnel up --mode http --tenant acme on 127.0.0.1:$tunnel_port" >&2
  # shellcheck disable=SC2086 # BENCH_UP_ARGS is word-split on purpose
  "$MCP_TUNNEL_BIN" up --profile lab --tenant acme --mode http --listen "127.0.0.1:$tunnel_port" --json ${BENCH_UP_ARGS:-} \
    >"$work/up.jsonl" 2>"$work/up.err" & up_pid=$!; pids+=($up_pid)
  for _ in $(seq 1200); do  # 60 s
    grep -Eq '"event" *: *"ready"' "$work/up.jsonl" 2>/dev/null && break
    kill -0 "$up_pid" 2>/dev/null || break
    sleep 0.05
  done
  if ! grep -Eq '"event" *: *"ready"' "$work/up.jsonl" 2>/dev/null; then
    rc=0; if kill -0 "$up_pid" 2>/dev/null; then rc=timeout; kill "$up_pid" 2>/dev/null || true; else wait "$up_pid" || rc=$?; fi
    why=$(first_message "$work/up.jsonl" "$work/up.err")
    if [[ $rc == 2 ]]; then
      tunnel_note="mcp-tunnel http mode unavailable: ${why:-exit 2}"
    else
      tunnel_note="mcp-tunnel up failed (exit $rc): ${why:-no ready event within 60 s}"; status=1
    fi
    up_pid=""
  else
    head -1 "$work/up.jsonl" >&2 || true
  fi
else
  wait "$login_pid" 2>/dev/null || true
  why=$(first_message "$work/login.jsonl" "$work/login.err")
  tunnel_note="mcp-tunnel login failed: ${why:-no device authorization}"; status=1
fi
[[ -z "$tunnel_note" ]] || echo "bench-http: $tunnel_note" >&2

# --- measurements ------------------------------------------------------------------------------
paths=(direct openssh); [[ -n "$up_pid" ]] && paths+=(mcp-tunnel)
declare -A url token result
url[direct]="$LAB_MCP_URL"; token[direct]=1
url[openssh]="http://127.0.0.1:$ssh_port/mcp"; token[openssh]=1
url[mcp-tunnel]="http://127.0.0.1:${tunnel_port:-0}/mcp"; token[mcp-tunnel]=0

mcp_load() {  # mcp_load PATH ARGS… — the load generator on PATH's URL, with the token on stdin if PATH needs it
  local name=$1; shift
  if [[ ${token[$name]} == 1 ]]; then
    printf '%s\n' "$tenant_token" | "$python" "$load" "$1" --token-stdin "${@:2}" 2>>"$work/load.$name.err" || true
  else
    "$python" "$load" "$@" </dev/null 2>>"$work/load.$name.err" || true
  fi
}

rtt_paths=("${paths[@]}"); [[ -n "$up_pid" ]] && rtt_paths+=(stdio)
for name in "${rtt_paths[@]}"; do result[$name.rtt_errors]=0; : >"$work/rtt.$name"; done
stdio_load() {  # stdio_load ARGS… — mcp_load.py stdio-rtt through `mcp-tunnel stdio` (which finds the running up)
  "$python" "$load" stdio-rtt "$@" -- "$MCP_TUNNEL_BIN" stdio --profile lab </dev/null 2>>"$work/load.stdio.err" || true
}
for round in $(seq 1 "$ROUNDS"); do
  order=("${rtt_paths[@]}")
  if (( round % 2 == 0 )); then order=(); for ((i = ${#rtt_paths[@]} - 1; i >= 0; i--)); do order+=("${rtt_paths[i]}"); done; fi
  for name in "${order[@]}"; do
    echo "== round $round/$ROUNDS: $name, $per_round tools/call round trips" >&2
    if [[ $name == stdio ]]; then
      read -r tag _ _ errors < <(stdio_load --warmup "$WARMUP" --samples "$work/rtt.$name" "$per_round"; echo)
    else
      read -r tag _ _ errors < <(mcp_load "$name" rtt --warmup "$WARMUP" --samples "$work/rtt.$name" "${url[$name]}" "$per_round"; echo)
    fi
    [[ $tag == rtt ]] || { errors=$((per_round + WARMUP + 3)); echo "bench-http: $name: load generator failed" >&2; }
    result[$name.rtt_errors]=$(( ${result[$name.rtt_errors]} + errors ))
  done
done
for name in "${rtt_paths[@]}"; do
  read -r _ p50 p99 count slow p95 fast_p50 < <("$python" "$load" stats "$work/rtt.$name")
  result[$name.p50]=$p50; result[$name.p99]=$p99; result[$name.p95]=$p95; result[$name.count]=$count
  result[$name.fast_p50]=$fast_p50
  result[$name.slow]=$(awk -v s="$slow" -v n="$count" 'BEGIN { if (n + 0 == 0) print "-"; else printf "%.1f", 100 * s / n }')
done
for name in "${paths[@]}"; do
  echo "== $name: $SESSIONS concurrent sessions x $SESSION_CALLS calls" >&2
  read -r tag errors secs < <(mcp_load "$name" conc "${url[$name]}" "$SESSIONS" "$SESSION_CALLS"; echo)
  [[ $tag == conc ]] || { errors=$((SESSIONS * (SESSION_CALLS + 3))); secs="-"; echo "bench-http: $name: load generator failed" >&2; }
  result[$name.conc_errors]=$errors; result[$name.secs]=$secs
done
result[direct.rss]="-"
result[openssh.rss]=$(peak_rss_mib "$ssh_pid")
[[ -z "$up_pid" ]] || result[mcp-tunnel.rss]=$(peak_rss_mib "$up_pid")
if [[ -n "$up_pid" && "${BENCH_SMAPS:-0}" == 1 ]]; then echo "== up's resident memory after the sessions:" >&2; rss_breakdown "$up_pid" >&2; fi
if [[ -n "$up_pid" && -n "${BENCH_UNSTRIPPED:-}" ]]; then "$root/scripts/bench/resident-pages.py" "$up_pid" "$BENCH_UNSTRIPPED" --top 30 >&2; fi
for name in "${rtt_paths[@]}"; do
  # What is not a failure: the load generator's summary, stdio's note of which tunnel it uses.
  informational='^(mcp_load: response types|stdio: using the tunnel)'
  if [[ -s "$work/load.$name.err" ]] && grep -qvE "$informational" "$work/load.$name.err"; then
    echo "bench-http: $name: first failures:" >&2; grep -vE "$informational" "$work/load.$name.err" | head -5 >&2
  fi
done
types=$(grep -ho "response types {.*}" "$work/load.openssh.err" | tail -1 || true)

for pid in $up_pid $ssh_pid; do  # SIGTERM: mcp-tunnel closes cleanly; children first, then the process
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill -TERM "$child" 2>/dev/null || true; done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done

# --- table -------------------------------------------------------------------------------------
# Targets: issue 18 (benchmarks, never assertions). Each row: the three paths, tunnel / ssh, the target, ✓/✗.
get() { echo "${result[$1]:--}"; }
row() { printf "%-24s %11s %11s %11s %11s %13s %4s\n" "$@"; }
p50r=$(ratio "$(get mcp-tunnel.p50)" "$(get openssh.p50)"); p99r=$(ratio "$(get mcp-tunnel.p99)" "$(get openssh.p99)")
p50d=$(ratio "$(get mcp-tunnel.p50)" "$(get direct.p50)")
rssr=$(ratio "$(get mcp-tunnel.rss)" "$(get openssh.rss)")
echo
printf "mcp-tunnel http bench: MCP tools/call echo, two hops (bastion -> target sshd) on loopback; %s calls in %s rounds, %s sessions x %s calls\n" \
  "$(( per_round * ROUNDS ))" "$ROUNDS" "$SESSIONS" "$SESSION_CALLS"
row "metric" "direct" "openssh" "mcp-tunnel" "tunnel/ssh" "target" "met"
row "tools/call p50 us" "$(get direct.p50)" "$(get openssh.p50)" "$(get mcp-tunnel.p50)" "$p50r" "<= 0.30x ssh" "$(verdict "$p50r" "<=" 0.30)"
row "  p50 tunnel/direct" "" "" "$p50d" "" "<= 2.50x" "$(verdict "$p50d" "<=" 2.50)"
row "tools/call p99 us" "$(get direct.p99)" "$(get openssh.p99)" "$(get mcp-tunnel.p99)" "$p99r" "<= 0.50x ssh" "$(verdict "$p99r" "<=" 0.50)"
row "tools/call > 30 ms %" "$(get direct.slow)" "$(get openssh.slow)" "$(get mcp-tunnel.slow)" "" "< 5 %" "$(verdict "$(get mcp-tunnel.slow)" "<" 5)"
row "tools/call errors" "$(get direct.rtt_errors)" "$(get openssh.rtt_errors)" "$(get mcp-tunnel.rtt_errors)" "" "0" "$(verdict "$(get mcp-tunnel.rtt_errors)" "==" 0)"
row "$SESSIONS sessions errors" "$(get direct.conc_errors)" "$(get openssh.conc_errors)" "$(get mcp-tunnel.conc_errors)" "" "0" "$(verdict "$(get mcp-tunnel.conc_errors)" "==" 0)"
row "$SESSIONS sessions seconds" "$(get direct.secs)" "$(get openssh.secs)" "$(get mcp-tunnel.secs)" "$(ratio "$(get mcp-tunnel.secs)" "$(get openssh.secs)")" "" ""
row "peak RSS MiB" "$(get direct.rss)" "$(get openssh.rss)" "$(get mcp-tunnel.rss)" "$rssr" "<= 40 MiB" "$(verdict "$(get mcp-tunnel.rss)" "<=" 40)"
[[ -z "$tunnel_note" ]] || echo "$tunnel_note"
report_row "MCP tools/call p50 us" "$(get direct.p50)" "$(get openssh.p50)" "$(get mcp-tunnel.p50)" "$p50r" "<= 0.30x ssh" "$(verdict "$p50r" "<=" 0.30)"
report_row "  MCP p50 tunnel/direct" "" "" "$p50d" "" "<= 2.50x direct" "$(verdict "$p50d" "<=" 2.50)"
report_row "MCP tools/call p99 us" "$(get direct.p99)" "$(get openssh.p99)" "$(get mcp-tunnel.p99)" "$p99r" "<= 0.50x ssh" "$(verdict "$p99r" "<=" 0.50)"
report_row "MCP calls > 30 ms %" "$(get direct.slow)" "$(get openssh.slow)" "$(get mcp-tunnel.slow)" "" "< 5 %" "$(verdict "$(get mcp-tunnel.slow)" "<" 5)"
report_row "MCP $SESSIONS sessions errors" "$(get direct.conc_errors)" "$(get openssh.conc_errors)" "$(get mcp-tunnel.conc_errors)" "" "0" "$(verdict "$(get mcp-tunnel.conc_errors)" "==" 0)"
report_row "http peak RSS MiB" "$(get direct.rss)" "$(get openssh.rss)" "$(get mcp-tunnel.rss)" "$rssr" "<= 40 MiB" "$(verdict "$(get mcp-tunnel.rss)" "<=" 40)"
if [[ -n "$up_pid" ]]; then
  added=$(awk -v a="$(get stdio.p50)" -v b="$(get mcp-tunnel.p50)" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%+d", a - b }')
  echo
  printf "mcp-tunnel stdio vs up: the same tools/call echo, same run (stdio uses the running up's tunnel)\n"
  row "metric" "up" "stdio" "stdio/up" "stdio - up" "target" "met"
  row "tools/call p50 us" "$(get mcp-tunnel.p50)" "$(get stdio.p50)" "$(ratio "$(get stdio.p50)" "$(get mcp-tunnel.p50)")" "$added" "<= +1000" "$(verdict "${added#+}" "<=" 1000)"
  fast_added=$(awk -v a="$(get stdio.fast_p50)" -v b="$(get mcp-tunnel.fast_p50)" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%+d", a - b }')
  row "p50 of calls <= 30 ms us" "$(get mcp-tunnel.fast_p50)" "$(get stdio.fast_p50)" "$(ratio "$(get stdio.fast_p50)" "$(get mcp-tunnel.fast_p50)")" "$fast_added" "<= +1000" "$(verdict "${fast_added#+}" "<=" 1000)"
  row "tools/call p95 us" "$(get mcp-tunnel.p95)" "$(get stdio.p95)" "$(ratio "$(get stdio.p95)" "$(get mcp-tunnel.p95)")" "" "" ""
  row "tools/call > 30 ms %" "$(get mcp-tunnel.slow)" "$(get stdio.slow)" "" "" "" ""
  row "tools/call errors" "$(get mcp-tunnel.rtt_errors)" "$(get stdio.rtt_errors)" "" "" "0" "$(verdict "$(get stdio.rtt_errors)" "==" 0)"
fi
echo "(openssh = ssh -J -L + a static Authorization header, RSS = ssh + its ProxyJump child; mcp-tunnel injects the token itself;"
echo " client: scripts/bench/mcp_load.py, raw HTTP/1.1 keep-alive; ${types:-response types: -};"
echo " binary: ${MCP_TUNNEL_BIN}; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end;"
echo " calls > 30 ms: the target sshd holds part of a response ~40 ms (Nagle + the jump host's delayed ACK) unless"
echo " something is sent to it; mcp-tunnel sends a 1-byte window adjust after each read; targets: issue 18)"
exit "$status"
