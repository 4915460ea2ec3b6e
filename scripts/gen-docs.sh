#!/usr/bin/env bash
# Generates shell completions and the man page from the command tree (help strings are the
# single source of truth). Usage: scripts/gen-docs.sh OUTDIR  (writes OUTDIR/completions, OUTDIR/man)
set -euo pipefail
out=${1:?usage: gen-docs.sh OUTDIR}
cd "$(dirname "$0")/.."
# A fixed date keeps the man page byte-stable across runs; bump it when the CLI changes.
MAN_DATE=${MAN_DATE:-2026-11-21}
swift build --product mcp-tunnel >/dev/null
swift build --product generate-manual >/dev/null
bin=$(swift build --show-bin-path)
mkdir -p "$out/completions" "$out/man"
"$bin/mcp-tunnel" --generate-completion-script bash >"$out/completions/mcp-tunnel.bash"
"$bin/mcp-tunnel" --generate-completion-script zsh >"$out/completions/_mcp-tunnel"
"$bin/mcp-tunnel" --generate-completion-script fish >"$out/completions/mcp-tunnel.fish"
"$bin/generate-manual" "$bin/mcp-tunnel" --date "$MAN_DATE" --authors "mcp-tunnel developers" \
  --output-directory "$out/man" >/dev/null
# mdoc treats a blank line inside a paragraph as an error; the generator emits one per blank line
# in a discussion. A paragraph macro renders the same break without the warning.
sed -i 's/^$/.Pp/' "$out/man/"*.1
