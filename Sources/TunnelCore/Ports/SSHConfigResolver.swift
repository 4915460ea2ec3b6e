import Foundation

/// What OpenSSH's client would use to connect to one destination: the effective configuration
/// `ssh -G` prints (OpenSSH's own rules for `Host`, `Match`, `Include`, first-value-wins and
/// command-line precedence), so mcp-tunnel never re-implements `ssh_config(5)`.
///
/// The live version is `OpenSSHConfigResolver` (SSHForwarding: runs `/usr/bin/ssh -G`); the
/// in-memory twin is `InMemorySSHConfigResolver` (MCPTunnelTestSupport).
public protocol SSHConfigResolver: Sendable {
  /// The effective configuration for `query`, or nil when `query.configFile` does not exist.
  /// Throws when OpenSSH refuses the file or the name (a syntax error, a bad `Match`), with its message.
  func effectiveConfig(for query: SSHConfigQuery) async throws -> SSHEffectiveConfig?
}

/// One `ssh -G` question: `ssh -G -F configFile [-l user] [-p port] host`. `user` and `port` are
/// set only when written (TOML or a `ProxyJump` entry), so they win as ssh's command line does.
public struct SSHConfigQuery: Sendable, Hashable, CustomStringConvertible {
  /// The config file, `~/` already expanded.
  public var configFile: String
  public var host: String
  public var user: String?
  public var port: Int?

  public init(configFile: String, host: String, user: String? = nil, port: Int? = nil) {
    self.configFile = configFile
    self.host = host
    self.user = user
    self.port = port
  }

  /// As a command line, for messages.
  public var description: String {
    "ssh -G -F \(configFile)" + (user.map { " -l \($0)" } ?? "") + (port.map { " -p \($0)" } ?? "") + " \(host)"
  }
}

/// The parsed output of `ssh -G`: lower-case keyword → its values, in printed order (keywords such
/// as `identityfile` appear once per value), plus where the resolver found the settings.
public struct SSHEffectiveConfig: Sendable, Equatable {
  public var options: [String: [String]]
  /// The config line the destination's settings came from (`~/.ssh/config:12: Host bastion`), nil
  /// when no `Host` line names it (then only defaults and `Host *`/`Match` blocks applied).
  public var origin: String?
  /// For keywords mcp-tunnel refuses or warns about (`proxycommand`, `stricthostkeychecking`…): the
  /// config line that sets them, when the resolver found it.
  public var lines: [String: String]

  public init(options: [String: [String]], origin: String? = nil, lines: [String: String] = [:]) {
    self.options = options
    self.origin = origin
    self.lines = lines
  }

  /// Parses `ssh -G` output: one `keyword value…` per line.
  public init(parsing text: String, origin: String? = nil, lines: [String: String] = [:]) {
    var options: [String: [String]] = [:]
    for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
      let line = raw.trimmingCharacters(in: .whitespaces)
      guard !line.isEmpty else { continue }
      let parts = line.split(separator: " ", maxSplits: 1)
      let key = parts[0].lowercased()
      let value = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
      options[key, default: []].append(value)
    }
    self.init(options: options, origin: origin, lines: lines)
  }

  /// The first value of `key`, nil when it is absent.
  public func value(_ key: String) -> String? { options[key.lowercased()]?.first }
  public func values(_ key: String) -> [String] { options[key.lowercased()] ?? [] }
}
