/// The version `mcp-tunnel --version` prints.
///
/// `make release` (and the targets built on it) writes `BuildVersion+Stamped.swift` next to this
/// file with the output of `git describe --tags --always --dirty`, compiles with
/// `-DMCP_TUNNEL_STAMPED` and deletes the file again. Any other build (a plain `swift build`, the
/// test builds) says honestly that it is an unstamped development build.
enum BuildVersion {
  #if MCP_TUNNEL_STAMPED
    static let current = stampedVersion
  #else
    static let current = "0.0.0-dev"
  #endif
}
