#!/usr/bin/env bash
# DESIGN.md §1: CLibSSH2 only in SSHForwarding, CLibSecret only in Keyring, no adapter imports
# another adapter, no C pointer types in public signatures; and every import is a declared
# dependency (the compiler check does not see transitive imports, hence the greps).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
complain() { echo "import check: $*" >&2; fail=1; }

for pair in "CLibSSH2:Sources/SSHForwarding/" "CLibSecret:Sources/Keyring/"; do
  module=${pair%%:*} home=${pair#*:}
  bad=$(grep -rlE "^\s*(@_implementationOnly\s+|internal\s+|public\s+)?import\s+$module\b" Sources Tests | grep -v "^$home" || true)
  [ -z "$bad" ] || complain "$module imported outside $home: $bad"
done

adapters=(OAuth Keyring SSHForwarding TokenProxy AuditLog ClientConfig StdioBridge)
for a in "${adapters[@]}"; do
  for b in "${adapters[@]}"; do
    [ "$a" = "$b" ] && continue
    bad=$(grep -rlE "^\s*(@testable\s+)?import\s+$b\b" "Sources/$a" || true)
    [ -z "$bad" ] || complain "adapter $a imports adapter $b: $bad"
  done
done

bad=$(grep -rnE "^\s*(public|open)\s.*(OpaquePointer|Unsafe(Mutable)?(Raw)?(Buffer)?Pointer)" Sources || true)
[ -z "$bad" ] || complain "C pointer types in public API:
$bad"

bad=$(grep -rlE "^\s*import\s+(OAuth|Keyring|SSHForwarding|TokenProxy|AuditLog|ClientConfig|StdioBridge|MCPTunnelCLI)\b" Sources/TunnelCore || true)
[ -z "$bad" ] || complain "TunnelCore must not import outer modules: $bad"

swift build --explicit-target-dependency-import-check error >/dev/null 2>"${TMPDIR:-/tmp}/import-check.log" \
  || { cat "${TMPDIR:-/tmp}/import-check.log" >&2; complain "swift build --explicit-target-dependency-import-check failed"; }

[ $fail -eq 0 ] && echo "imports: module boundaries hold"
exit $fail
