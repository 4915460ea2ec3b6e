#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Where mcp-tunnel keeps its files (SPEC §6), derived from the XDG Base Directory variables.
///
/// Built from an explicit environment dictionary so tests never read the real process environment.
public struct XDGPaths: Sendable, Equatable {
  public var home: String
  public var configHome: String
  public var stateHome: String
  /// `$XDG_RUNTIME_DIR`; nil when unset.
  public var runtimeDir: String?
  /// The user whose `/tmp/mcp-tunnel-<uid>` stands in for `runtimeDirectory` without `XDG_RUNTIME_DIR`.
  public var uid: UInt32

  public init(environment: [String: String], uid: UInt32 = getuid()) {
    self.uid = uid
    let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/"
    self.home = home
    configHome = Self.absolute(environment["XDG_CONFIG_HOME"]) ?? "\(home)/.config"
    stateHome = Self.absolute(environment["XDG_STATE_HOME"]) ?? "\(home)/.local/state"
    runtimeDir = Self.absolute(environment["XDG_RUNTIME_DIR"])
  }

  /// The XDG spec says relative values are invalid and must be ignored.
  private static func absolute(_ value: String?) -> String? {
    guard let value, value.hasPrefix("/") else { return nil }
    return value
  }

  public var configFile: String { "\(configHome)/mcp-tunnel/config.toml" }
  public var auditDirectory: String { "\(stateHome)/mcp-tunnel/audit" }
  public func auditFile(profile: String) -> String { "\(auditDirectory)/\(profile).jsonl" }
  /// `$XDG_RUNTIME_DIR/mcp-tunnel`, or `/tmp/mcp-tunnel-<uid>` without `XDG_RUNTIME_DIR` (a bare
  /// `su`, some containers); whoever creates it makes it 0700 and checks it is ours.
  public var runtimeDirectory: String { runtimeDir.map { "\($0)/mcp-tunnel" } ?? "/tmp/mcp-tunnel-\(uid)" }
  public func controlSocket(profile: String) -> String { "\(runtimeDirectory)/\(profile).sock" }
  public func refreshLock(profile: String) -> String { "\(runtimeDirectory)/\(profile).lock" }

  /// Expands a leading `~/` the way OpenSSH does for paths in its configuration.
  public func expandTilde(_ path: String) -> String {
    if path == "~" { return home }
    if path.hasPrefix("~/") { return home + path.dropFirst(1) }
    return path
  }
}
