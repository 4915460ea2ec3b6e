#!/usr/bin/env bash
# mcp-tunnel bench (not a test): `mcp-tunnel up --mode tcp` vs OpenSSH `ssh -J bastion -N -L` vs a
# direct loopback connection, over the same two-sshd lab (Tests/Lab/ssh/setup.sh).
# Measures bulk upload throughput, 1 KiB round-trip latency p50/p99, N concurrent echo connections
# (errors, time) and the tunnel process's peak RSS (VmHWM), then prints a table with ratios.
#
# env: BENCH_MIB (512) BENCH_RTT_COUNT (5000) BENCH_CONNS (256) BENCH_CONN_BYTES (65536)
#      MCP_TUNNEL_BIN (default: release build via `swift build -c release --product mcp-tunnel`)
#      BENCH_UP_ARGS: extra `up` arguments, e.g. "--peers any-local-user" to measure without the
#      listen.peers look-up (word-split).
#      BENCH_KEEP=1 keeps the work directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MIB=${BENCH_MIB:-512}
RTT_COUNT=${BENCH_RTT_COUNT:-5000}
CONNS=${BENCH_CONNS:-256}
CONN_BYTES=${BENCH_CONN_BYTES:-65536}

work="$(mktemp -d "${TMPDIR:-/tmp}/mcp-tunnel-bench.XXXXXX")"
pids=()
# shellcheck source=scripts/bench/common.sh
source "$root/scripts/bench/common.sh"
cleanup() {
  stop_pids
  [[ "${BENCH_KEEP:-0}" == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT

echo "== building" >&2
release_binary
cc -O2 -pthread -o "$work/loadgen" "$root/scripts/bench/loadgen.c"
lg="$work/loadgen"

echo "== lab in $work" >&2
echo_port=$(free_port); bastion_port=$(free_port); target_port=$(free_port)
"$root/Tests/Lab/ssh/setup.sh" "$work/ssh" "$bastion_port" "$target_port" "127.0.0.1:$echo_port" >&2
"$lg" serve "$echo_port" & pids+=($!)
/usr/sbin/sshd -D -e -f "$work/ssh/sshd_bastion.conf" 2>"$work/bastion.log" & pids+=($!)
/usr/sbin/sshd -D -e -f "$work/ssh/sshd_target.conf" 2>"$work/target.log" & pids+=($!)
wait_port "$echo_port" "echo server"; wait_port "$bastion_port" "bastion sshd"; wait_port "$target_port" "target sshd"

declare -A result
measure() {  # measure NAME PORT [PID]
  local name=$1 port=$2 pid=${3:-}
  echo "== $name: bulk ${MIB} MiB" >&2
  result[$name.bulk]=$("$lg" bulk "$port" "$MIB" | awk '/^bulk/ {print $2}')
  echo "== $name: ${RTT_COUNT} round trips of 1 KiB" >&2
  read -r p50 p99 < <("$lg" rtt "$port" "$RTT_COUNT" 1024 | awk '/^rtt/ {print $2, $3}')
  result[$name.p50]=$p50; result[$name.p99]=$p99
  echo "== $name: $CONNS concurrent echo connections" >&2
  read -r errors secs < <("$lg" conc "$port" "$CONNS" "$CONN_BYTES" | awk '/^conc/ {print $2, $3}')
  result[$name.errors]=$errors; result[$name.secs]=$secs
  if [[ -n "$pid" ]]; then result[$name.rss]=$(( $(peak_rss_kib "$pid") / 1024 )); else result[$name.rss]="-"; fi
}

measure direct "$echo_port"

ssh_port=$(free_port)
ssh -F "$work/ssh/ssh_config" -N -L "127.0.0.1:$ssh_port:127.0.0.1:$echo_port" target 2>"$work/ssh.log" & ssh_pid=$!; pids+=($ssh_pid)
wait_port "$ssh_port" "ssh -J -L"
measure openssh "$ssh_port" "$ssh_pid"
kill "$ssh_pid" 2>/dev/null || true

tunnel_port=$(free_port)
cat > "$work/config.toml" <<CFG
default_profile = "bench"
[profiles.bench.ssh]
jump = ["$(id -un)@127.0.0.1:$bastion_port"]
host = "$(id -un)@127.0.0.1:$target_port"
target = "127.0.0.1:$echo_port"
known_hosts = "$work/ssh/known_hosts"
identity = "$work/ssh/id_ed25519"
[profiles.bench.listen]
address = "127.0.0.1:$tunnel_port"
mode = "tcp"
CFG
# shellcheck disable=SC2086 # BENCH_UP_ARGS is word-split on purpose
env -u SSH_AUTH_SOCK HOME="$work" "$MCP_TUNNEL_BIN" up --config "$work/config.toml" --json ${BENCH_UP_ARGS:-} >"$work/up.out" 2>"$work/up.err" & up_pid=$!; pids+=($up_pid)
wait_port "$tunnel_port" "mcp-tunnel up"
for _ in $(seq 1 200); do grep -q '"event":"ready"' "$work/up.out" && break; sleep 0.05; done
measure mcp-tunnel "$tunnel_port" "$up_pid"
kill -TERM "$up_pid" 2>/dev/null || true

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2fx", a / b }'; }
echo
printf "mcp-tunnel bench: two hops (bastion -> target sshd) on loopback; %s MiB bulk, %s x 1 KiB RTT, %s x %s B concurrent\n" "$MIB" "$RTT_COUNT" "$CONNS" "$CONN_BYTES"
printf "%-22s %12s %12s %12s %14s %14s\n" "metric" "direct" "openssh" "mcp-tunnel" "tunnel/ssh" "target"
printf "%-22s %12s %12s %12s %14s %14s\n" "bulk MiB/s" "${result[direct.bulk]}" "${result[openssh.bulk]}" "${result[mcp-tunnel.bulk]}" "$(ratio "${result[mcp-tunnel.bulk]}" "${result[openssh.bulk]}")" ">= 1.00x"
printf "%-22s %12s %12s %12s %14s %14s\n" "RTT p50 us" "${result[direct.p50]}" "${result[openssh.p50]}" "${result[mcp-tunnel.p50]}" "$(ratio "${result[mcp-tunnel.p50]}" "${result[openssh.p50]}")" ""
printf "%-22s %12s %12s %12s %14s %14s\n" "RTT p99 us" "${result[direct.p99]}" "${result[openssh.p99]}" "${result[mcp-tunnel.p99]}" "$(ratio "${result[mcp-tunnel.p99]}" "${result[openssh.p99]}")" "<= 1000 us"
printf "%-22s %12s %12s %12s %14s %14s\n" "$CONNS conns errors" "${result[direct.errors]}" "${result[openssh.errors]}" "${result[mcp-tunnel.errors]}" "" "0"
printf "%-22s %12s %12s %12s %14s %14s\n" "$CONNS conns seconds" "${result[direct.secs]}" "${result[openssh.secs]}" "${result[mcp-tunnel.secs]}" "$(ratio "${result[mcp-tunnel.secs]}" "${result[openssh.secs]}")" ""
printf "%-22s %12s %12s %12s %14s %14s\n" "peak RSS MiB" "${result[direct.rss]}" "${result[openssh.rss]}" "${result[mcp-tunnel.rss]}" "$(ratio "${result[mcp-tunnel.rss]}" "${result[openssh.rss]}")" "<= 40 MiB"
echo "(openssh RSS = ssh + its ProxyJump child; ciphers: OpenSSH negotiates chacha20-poly1305, libssh2 1.10 aes128-ctr + hmac-sha2-256)"
