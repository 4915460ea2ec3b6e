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

peak_rss_mib() {  # peak RSS of PID and its children in MiB with one decimal (a verdict on a rounded-down
  # whole MiB would call 40.9 MiB "<= 40")
  awk -v k="$(peak_rss_kib "$1")" 'BEGIN { printf "%.1f", k / 1024 }'
}

rss_breakdown() {  # rss_breakdown PID: its resident memory now by mapping (file, [heap], [anon]…), largest first
  awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "") ? "[anon]" : $6 } /^Rss:/ { r[name] += $2 }
    END { for (n in r) if (r[n] >= 100) printf "  %8d KiB %s\n", r[n], n }' "/proc/$1/smaps" | sort -rn
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

release_binary() {  # sets MCP_TUNNEL_BIN to the binary users get unless it is set already:
  # scripts/release-build.sh (static Swift runtime and Foundation, stripped) → dist/mcp-tunnel
  if [[ -z "${MCP_TUNNEL_BIN:-}" ]]; then
    "$root/scripts/release-build.sh" "$root" >&2
    MCP_TUNNEL_BIN="$root/dist/mcp-tunnel"
  fi
}

# --- verdicts and the issue-18 summary -------------------------------------------------------------

verdict() {  # verdict VALUE OP LIMIT -> ✓ / ✗ / - ; VALUE may end in x (a ratio); OP is <=, <, >= or ==
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { sub(/x$/, "", v); if (v == "-" || v == "") { print "-"; exit }
    if (op == "<=") ok = v + 0 <= l + 0; else if (op == "<") ok = v + 0 < l + 0
    else if (op == ">=") ok = v + 0 >= l + 0; else ok = v + 0 == l + 0
    print ok ? "✓" : "✗" }'
}

ratio() {  # ratio A B -> A/B as "0.62x", or - when either is missing or B is 0
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'
}

# report_row METRIC DIRECT OPENSSH TUNNEL RATIO TARGET VERDICT — one row of issue 18's summary: appended
# (tab-separated) to $BENCH_REPORT when it is set (`make bench` sets it and prints the rows of both
# scripts together at the end with scripts/bench/report.sh), else nothing.
report_row() {
  [[ -n "${BENCH_REPORT:-}" ]] || return 0
  local IFS=$'\t'
  printf '%s\n' "$*" >>"$BENCH_REPORT"
}
