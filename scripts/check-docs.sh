#!/usr/bin/env bash
# Fails when completions/ or man/ differ from what the command tree generates now.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scripts/gen-docs.sh "$tmp"
status=0
for dir in completions man; do
  if ! diff -ru "$dir" "$tmp/$dir" >"$tmp/$dir.diff"; then
    echo "docs drift: $dir/ is out of date with the command tree:" >&2
    head -40 "$tmp/$dir.diff" >&2
    status=1
  fi
done
if [ $status -ne 0 ]; then
  echo "fix: run \`make docs\` and commit completions/ and man/" >&2
  exit 1
fi
# The man page must render without warnings.
if command -v man >/dev/null; then
  warnings=$(MANWIDTH=80 man --warnings -l man/mcp-tunnel.1 2>&1 >/dev/null || true)
  if [ -n "$warnings" ]; then
    echo "man/mcp-tunnel.1 renders with warnings:" >&2
    echo "$warnings" >&2
    exit 1
  fi
fi
echo "docs: completions/ and man/ match the command tree"
