/// Where mcp-tunnel keeps its files (SPEC §6), derived from the XDG Base Directory variables.
///
/// Built from an explicit environment dictionary so tests never read the real process environment.
public struct XDGPaths: Sendable, Equatable {
  public var home: String
  public var configHome: String
  public var stateHome: String
  /// `$XDG_RUNTIME_DIR`; nil when unset (control socket and refresh lock then need it set).
  public var runtimeDir: String?

  public init(environment: [String: String]) {
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
  public var runtimeDirectory: String? { runtimeDir.map { "\($0)/mcp-tunnel" } }
  public func controlSocket(profile: String) -> String? { runtimeDirectory.map { "\($0)/\(profile).sock" } }
  public func refreshLock(profile: String) -> String? { runtimeDirectory.map { "\($0)/\(profile).lock" } }

  /// Expands a leading `~/` the way OpenSSH does for paths in its configuration.
  public func expandTilde(_ path: String) -> String {
    if path == "~" { return home }
    if path.hasPrefix("~/") { return home + path.dropFirst(1) }
    return path
  }
}
