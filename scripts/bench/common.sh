# Helpers shared by scripts/bench.sh and scripts/bench-http.sh (sourced, not run). Expects `root`
# (the repository) and an array `pids` of background processes the bench started.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_port() {  # wait_port PORT WHAT [PID] — fails early when PID exits before listening
  for _ in $(seq 1 300); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    if [[ -n "${3:-}" ]] && ! kill -0 "$3" 2>/dev/null; then echo "bench: $2 exited before listening on $1" >&2; return 1; fi
    sleep 0.05
  done
  echo "bench: $2 did not listen on $1" >&2; return 1
}

peak_rss_kib() {  # peak RSS (VmHWM) of PID and its children, summed
  local total=0 p v
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0); total=$((total + ${v:-0}))
  done
  echo "$total"
}

stop_pids() {  # TERM every recorded process and its children, then KILL what is left
  local pid child
  for pid in "${pids[@]}"; do
    for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill "$child" 2>/dev/null || true; done
    kill "$pid" 2>/dev/null || true
  done
  sleep 0.2  # sshd forks per connection; what is left of ours goes by PID
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}

release_binary() {  # sets MCP_TUNNEL_BIN to a release build unless it is set already
  if [[ -z "${MCP_TUNNEL_BIN:-}" ]]; then
    (cd "$root" && swift build -c release --product mcp-tunnel >&2)
    MCP_TUNNEL_BIN="$(cd "$root" && swift build -c release --show-bin-path)/mcp-tunnel"
  fi
}
