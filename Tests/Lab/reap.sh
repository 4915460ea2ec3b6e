#!/usr/bin/env bash
# Safety net: stops every process whose PID is recorded in DIR/pids/*.pid (SIGTERM, then SIGKILL after
# a short grace) and removes the pid files. Also searches one level of lab subdirectories
# (DIR/*/pids) so it can be pointed at $MCP_TUNNEL_LAB_ROOT. Only PIDs we recorded are touched.
set -uo pipefail
dir="${1:?usage: reap.sh DIR}"
shopt -s nullglob
files=("$dir"/pids/*.pid "$dir"/*/pids/*.pid)
pids=()
for f in "${files[@]}"; do
  pid="$(tr -dc 0-9 <"$f")"
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  fi
done
for _ in $(seq 30); do
  alive=()
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
  ((${#alive[@]})) || break
  sleep 0.1
done
for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null && { echo "reap: SIGKILL $pid" >&2; kill -KILL "$pid" 2>/dev/null; }
done
rm -f "${files[@]}"
((${#pids[@]})) && echo "reap: stopped ${#pids[@]} process(es) under $dir" >&2
exit 0
