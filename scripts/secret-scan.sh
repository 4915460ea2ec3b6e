#!/usr/bin/env bash
# Secret-hygiene scan, run by `make test` after the whole suite (issue: "scan every file under the
# test HOME/XDG/temp dirs, process argv/environment, logs and audit files for every token value
# that was issued: zero hits").
#
#   scripts/secret-scan.sh LAB_ROOT
#
# Needles: LAB_ROOT/token-ledger — every token the RFC 8693 fixture issued and every subject token
# it received, every token glewlwyd returned to a test, and the refresh token stored after each
# login and at each lab's end (Tests/LabSupport/TokenLedger.swift). Haystack: every file under
# LAB_ROOT — the HOME, XDG_CONFIG/STATE/DATA/RUNTIME and TMPDIR trees every `mcp-tunnel` process
# ran with, their audit logs and config files, the archived stdout/stderr of every `mcp-tunnel`
# run (cli-output/; `token`'s stdout excepted, printing it is that command's job), the peers'
# process logs — except the peers' own state (glewlwyd's DB, the fixtures' dirs, the encrypted
# keyring file, sshd's keys). Plus /proc/*/cmdline and /proc/*/environ of every process. A second
# pass looks for anything JWT-shaped in the same files, ledgered or not. Token values are never
# printed: only where they were found.
set -euo pipefail
root="${1:?usage: secret-scan.sh LAB_ROOT}"
ledger="$root/token-ledger"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"

if [[ ! -s $ledger ]]; then
  echo "secret-scan: FAIL — $ledger is empty or missing: the suite recorded no token, so the scan would prove nothing" >&2
  exit 1
fi
sort -u "$ledger" | awk 'length($0) >= 16' >"$work/needles"
needles=$(wc -l <"$work/needles")

# Files that belong to a peer, not to mcp-tunnel (their own state legitimately holds tokens or keys).
find "$root" -type f \
  ! -name token-ledger \
  ! -path '*/glewlwyd/*' ! -path '*/sts/*' ! -path '*/mcp/*' ! -path '*/ssh/*' \
  ! -path '*/keyring/home/.local/share/keyrings/*' \
  -print0 >"$work/files"
files=$(tr -cd '\0' <"$work/files" | wc -c)

hits=0
if [[ $files -gt 0 ]]; then
  while IFS= read -r -d '' file; do
    echo "secret-scan: a ledgered token value is in $file" >&2
    hits=$((hits + 1))
  done < <(xargs -0 grep -l -a -F -f "$work/needles" -- <"$work/files" | tr '\n' '\0' || true)
  jwt='eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}'
  while IFS= read -r -d '' file; do
    echo "secret-scan: a JWT-shaped value is in $file" >&2
    hits=$((hits + 1))
  done < <(xargs -0 grep -l -a -E "$jwt" -- <"$work/files" | tr '\n' '\0' || true)
fi

procs=0
for pid in /proc/[0-9]*; do
  for part in cmdline environ; do
    [[ -r $pid/$part ]] || continue
    if { tr '\0' '\n' <"$pid/$part"; } 2>/dev/null | grep -q -a -F -f "$work/needles"; then
      echo "secret-scan: a ledgered token value is in $pid/$part ($(tr '\0' ' ' <"$pid/cmdline" | cut -c1-80))" >&2
      hits=$((hits + 1))
    fi
  done
  procs=$((procs + 1))
done

echo "secret-scan: $needles token values issued or seen, $files files and $procs processes scanned, $hits hits"
[[ $hits -eq 0 ]]
