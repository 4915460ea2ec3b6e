#!/usr/bin/env bash
# Builds the self-contained release binary (SPEC §11): the Swift runtime and Foundation linked
# statically, the version from `git describe` baked in, symbols stripped. Writes dist/mcp-tunnel and
# dist/VERSION (the describe string). Usage: scripts/release-build.sh [repo-root]
set -euo pipefail
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$root"

version=$(git describe --tags --always --dirty 2>/dev/null || echo "0.0.0-unknown")
stamp=Sources/MCPTunnelCLI/Support/BuildVersion+Stamped.swift
# The stamp is ignored by git (so no `-dirty` from it) and stays between builds: a build that runs
# beside this one (SwiftPM lists a target's files when it starts) must not lose a file it listed.
# Its content is inside `#if MCP_TUNNEL_STAMPED`, so every other build ignores it. Rewritten only
# when the version changed, so an unchanged tree relinks nothing.
text=$(printf '#if MCP_TUNNEL_STAMPED\n  /// Written by scripts/release-build.sh (git describe); ignored by git.\n  let stampedVersion = "%s"\n#endif\n' "$version")
[[ -f $stamp && $(cat "$stamp") == "$text" ]] || printf '%s\n' "$text" >"$stamp"

# Its own scratch path: the flags differ from the debug/test builds in .build, and SwiftPM locks a
# scratch path for the whole build, so the two can run side by side.
scratch=${RELEASE_SCRATCH:-.build-release}
# --no-export-dynamic: the static stdlib's link arguments export every public symbol of our modules
# (42 000 of them, 3.4 MB of .dynsym/.dynstr) that nothing looks up; the dynamic loader pages most of
# that table in at start-up (every symbol look-up of every library begins with the executable) and it
# stays resident — 2.6 MiB of `up`'s RSS. A crash backtrace of the stripped binary then shows
# addresses instead of those names, and the concurrency runtime's dlsym of libdispatch's
# `dispatch_async_swift_job` finds nothing, so it enqueues jobs with plain `dispatch_async_f` (its
# documented fallback; the pool and its width are the same).
#
# Packed relative relocations (DT_RELR) where the C library can read them (glibc >= 2.36: Debian 12
# and later): the binary's ~134 000 relative relocations are 3.2 MB of `.rela.dyn` that the loader
# reads at every start and that then stay resident (~3 MiB of `up`'s RSS); packed they are 26 KB.
# gold (swiftc's default linker here) cannot pack them, lld can: swiftc takes its linker from
# `-use-ld`, which SwiftPM passes to the link step only from a toolset. The binary then asks for
# `GLIBC_ABI_DT_RELR`, so an older glibc refuses it at start instead of misreading it; a build on an
# older glibc links the way it did before (gold, unpacked). Changing this changes the compile flags:
# the first build after it is a cold one.
link=(-Xlinker --no-export-dynamic)
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
if [[ -n $glibc ]] && printf '2.36\n%s\n' "$glibc" | sort -V -C; then
  mkdir -p "$scratch"
  printf '{ "schemaVersion": "1.0", "swiftCompiler": { "extraCLIOptions": ["-use-ld=lld"] } }\n' \
    >"$scratch/lld-toolset.json"
  link+=(--toolset "$scratch/lld-toolset.json" -Xlinker -z -Xlinker pack-relative-relocs)
fi
swift build --scratch-path "$scratch" -c release --product mcp-tunnel --static-swift-stdlib \
  -Xswiftc -DMCP_TUNNEL_STAMPED "${link[@]}"
bin=$(swift build --scratch-path "$scratch" -c release --show-bin-path)/mcp-tunnel

mkdir -p dist
strip --strip-all -o dist/mcp-tunnel "$bin"
# libsecret and the GLib it is built on are loaded with dlopen at the first keyring use
# (Sources/CLibSecret/shim.h); SwiftPM still links what pkg-config names. Drop those NEEDED entries
# so `--version` and every command without the keyring start without loading a dozen libraries —
# then prove that nothing in the binary still refers to them: `ldd -r` resolves every symbol.
for lib in libsecret-1.so.0 libgio-2.0.so.0 libgobject-2.0.so.0 libglib-2.0.so.0; do
  patchelf --remove-needed "$lib" dist/mcp-tunnel
done
if unresolved=$(ldd -r dist/mcp-tunnel 2>&1 | grep -E "undefined symbol|not found"); then
  echo "release-build: after dropping the GLib NEEDED entries the binary does not resolve:" >&2
  echo "$unresolved" >&2
  exit 1
fi
printf '%s\n' "$version" >dist/VERSION
echo "dist/mcp-tunnel $version ($(du -h dist/mcp-tunnel | cut -f1), unstripped $(du -h "$bin" | cut -f1))" >&2
