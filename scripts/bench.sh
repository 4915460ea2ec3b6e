#!/usr/bin/env bash
# mcp-tunnel bench (not a test): `mcp-tunnel up --mode tcp` vs OpenSSH `ssh -J bastion -N -L` vs a
# direct loopback connection, over the same two-sshd lab (Tests/Lab/ssh/setup.sh).
# Measures bulk upload throughput, 1 KiB round-trip latency p50/p99, N concurrent echo connections
# (errors, time) and the tunnel process's peak RSS (VmHWM), then prints a table with ratios and issue
# 18's targets, each with ✓/✗.
#
# env: BENCH_MIB (512) BENCH_RTT_COUNT (5000) BENCH_CONNS (256) BENCH_CONN_BYTES (65536)
#      MCP_TUNNEL_BIN (default: the binary users get, scripts/release-build.sh → dist/mcp-tunnel)
#      BENCH_UP_ARGS: extra `up` arguments, e.g. "--peers any-local-user" to measure without the
#      listen.peers look-up (word-split).
#      BENCH_KEEP=1 keeps the work directory.
#      BENCH_REPORT: a file the issue-18 rows are appended to (`make bench` prints them at the end).
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

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
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
  if [[ -n "$pid" ]]; then result[$name.rss]=$(peak_rss_mib "$pid"); else result[$name.rss]="-"; fi
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

# Targets: issue 18 (benchmarks, never assertions). Each row: the three paths, tunnel / ssh, the target, ✓/✗.
bulk_ratio=$(ratio "${result[mcp-tunnel.bulk]}" "${result[openssh.bulk]}")
p99_rtt=${result[mcp-tunnel.p99]}
rss_ratio=$(ratio "${result[mcp-tunnel.rss]}" "${result[openssh.rss]}")
row() { printf "%-22s %11s %11s %11s %11s %13s %4s\n" "$@"; }
echo
printf "mcp-tunnel bench: two hops (bastion -> target sshd) on loopback; %s MiB bulk, %s x 1 KiB RTT, %s x %s B concurrent\n" "$MIB" "$RTT_COUNT" "$CONNS" "$CONN_BYTES"
row "metric" "direct" "openssh" "mcp-tunnel" "tunnel/ssh" "target" "met"
row "bulk MiB/s" "${result[direct.bulk]}" "${result[openssh.bulk]}" "${result[mcp-tunnel.bulk]}" "$bulk_ratio" ">= 1.10x ssh" "$(verdict "$bulk_ratio" ">=" 1.10)"
row "RTT p50 us" "${result[direct.p50]}" "${result[openssh.p50]}" "${result[mcp-tunnel.p50]}" "$(ratio "${result[mcp-tunnel.p50]}" "${result[openssh.p50]}")" "" ""
row "RTT p99 us" "${result[direct.p99]}" "${result[openssh.p99]}" "$p99_rtt" "$(ratio "$p99_rtt" "${result[openssh.p99]}")" "<= 1000 us" "$(verdict "$p99_rtt" "<=" 1000)"
row "$CONNS conns errors" "${result[direct.errors]}" "${result[openssh.errors]}" "${result[mcp-tunnel.errors]}" "" "0" "$(verdict "${result[mcp-tunnel.errors]}" "==" 0)"
row "$CONNS conns seconds" "${result[direct.secs]}" "${result[openssh.secs]}" "${result[mcp-tunnel.secs]}" "$(ratio "${result[mcp-tunnel.secs]}" "${result[openssh.secs]}")" "" ""
row "peak RSS MiB" "${result[direct.rss]}" "${result[openssh.rss]}" "${result[mcp-tunnel.rss]}" "$rss_ratio" "<= 30 MiB" "$(verdict "${result[mcp-tunnel.rss]}" "<=" 30)"
echo "(openssh RSS = ssh + its ProxyJump child; tunnel RSS = VmHWM of up after all three runs;"
echo " load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end;"
echo " ciphers: OpenSSH negotiates chacha20-poly1305, mcp-tunnel aes128-ctr + hmac-sha2-256-etm (vendored libssh2 1.11.1,"
echo " one cipher call per packet); binary: $MCP_TUNNEL_BIN)"

report_row "tcp bulk MiB/s ($MIB MiB)" "${result[direct.bulk]}" "${result[openssh.bulk]}" "${result[mcp-tunnel.bulk]}" "$bulk_ratio" ">= 1.10x ssh" "$(verdict "$bulk_ratio" ">=" 1.10)"
report_row "tcp RTT p99 us (1 KiB)" "${result[direct.p99]}" "${result[openssh.p99]}" "$p99_rtt" "$(ratio "$p99_rtt" "${result[openssh.p99]}")" "<= 1000 us" "$(verdict "$p99_rtt" "<=" 1000)"
report_row "tcp $CONNS conns errors" "${result[direct.errors]}" "${result[openssh.errors]}" "${result[mcp-tunnel.errors]}" "" "0" "$(verdict "${result[mcp-tunnel.errors]}" "==" 0)"
report_row "tcp $CONNS conns seconds" "${result[direct.secs]}" "${result[openssh.secs]}" "${result[mcp-tunnel.secs]}" "$(ratio "${result[mcp-tunnel.secs]}" "${result[openssh.secs]}")" "" ""
report_row "tcp peak RSS MiB" "${result[direct.rss]}" "${result[openssh.rss]}" "${result[mcp-tunnel.rss]}" "$rss_ratio" "<= 30 MiB" "$(verdict "${result[mcp-tunnel.rss]}" "<=" 30)"
