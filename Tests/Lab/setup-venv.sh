#!/usr/bin/env bash
# Creates the lab's Python virtualenv at <repo>/.venv/lab from Tests/Lab/requirements.txt.
# Idempotent: a stamp file holds the SHA-256 of requirements.txt; when it matches, nothing is done.
# Prints the venv's python path on stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${MCP_TUNNEL_LAB_VENV:-$repo/.venv/lab}"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [[ -x $venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv/bin/python"
  exit 0
fi

echo "setup-venv: building $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" </dev/null >&2
"$venv/bin/python" -c 'import mcp.server.mcpserver, jwt, uvicorn, starlette, httpx2, fastmcp' >&2
echo "$want" >"$stamp"
echo "$venv/bin/python"
