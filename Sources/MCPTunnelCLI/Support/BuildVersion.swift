/// The version `mcp-tunnel --version` prints.
///
/// `make release` (scripts/release-build.sh) writes `BuildVersion+Stamped.swift` next to this file
/// (ignored by git) with the output of `git describe --tags --always --dirty` and compiles with
/// `-DMCP_TUNNEL_STAMPED`. Any other build (a plain `swift build`, the test builds) ignores that
/// file and says honestly that it is an unstamped development build.
enum BuildVersion {
  #if MCP_TUNNEL_STAMPED
    static let current = stampedVersion
  #else
    static let current = "0.0.0-dev"
  #endif
}
