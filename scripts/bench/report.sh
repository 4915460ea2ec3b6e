#!/usr/bin/env bash
# Prints issue 18's rows that scripts/bench.sh and scripts/bench-http.sh appended to one report file
# (BENCH_REPORT, tab-separated: metric, direct, openssh, mcp-tunnel, tunnel/ssh, target, ✓/✗) as one
# table, with how many targets were met. `make bench` runs it after both scripts.
# Usage: scripts/bench/report.sh REPORT-FILE [BINARY]
set -euo pipefail
report=$1
binary=${2:-}
echo
echo "issue 18 summary (make bench, $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)${binary:+, $binary})"
if [[ ! -s "$report" ]]; then
  echo "(no rows: both benchmarks failed before their tables; see above)"
  exit 0
fi
awk -F'\t' '
  BEGIN { fmt = "%-28s %11s %11s %11s %11s %16s %4s\n"; printf fmt, "metric", "direct", "openssh", "mcp-tunnel", "tunnel/ssh", "target", "met" }
  { printf fmt, $1, $2, $3, $4, $5, $6, $7
    if ($7 == "✓") met++; else if ($7 == "✗") missed++; else if ($6 != "") unknown++ }
  END { printf "targets met: %d of %d", met, met + missed + unknown
        if (unknown) printf " (%d not measured)", unknown
        printf "\n" }' "$report"
