import Synchronization
import TunnelCore

/// In-memory twin of `SSHConfigResolver`: per config file, per Host alias, the lines `ssh -G`
/// would print for it, merged over OpenSSH's defaults (HostName = the name, User = `localUser`,
/// Port 22, the default IdentityFile list, `~/.ssh/known_hosts ~/.ssh/known_hosts2`), with `-l`/`-p`
/// winning as on ssh's command line. A name that is no alias gets the defaults only, as with ssh.
/// A file that is not listed does not exist. Every query is recorded.
public final class InMemorySSHConfigResolver: SSHConfigResolver {
  /// One Host entry: `ssh -G`-style `keyword value` lines, plus where it is "written".
  public struct Entry: Sendable {
    public var lines: String
    public var origin: String?
    public var optionLines: [String: String]

    public init(_ lines: String, origin: String? = nil, optionLines: [String: String] = [:]) {
      self.lines = lines
      self.origin = origin
      self.optionLines = optionLines
    }
  }

  private let files: [String: [String: Entry]]
  private let localUser: String
  private let home: String
  private let failure: (any Error & Sendable)?
  private let recorded = Mutex<[SSHConfigQuery]>([])

  /// - Parameters:
  ///   - files: config path → Host alias → its lines.
  ///   - failure: thrown by every query (an unreadable config, a missing ssh binary).
  public init(
    files: [String: [String: Entry]] = [:], localUser: String = "dev", home: String = "/home/dev",
    failure: (any Error & Sendable)? = nil
  ) {
    self.files = files
    self.localUser = localUser
    self.home = home
    self.failure = failure
  }

  public var queries: [SSHConfigQuery] { recorded.withLock { $0 } }

  public func effectiveConfig(for query: SSHConfigQuery) async throws -> SSHEffectiveConfig? {
    recorded.withLock { $0.append(query) }
    if let failure { throw failure }
    guard let hosts = files[query.configFile] else { return nil }
    let entry = hosts[query.host]
    let set = SSHEffectiveConfig(parsing: entry?.lines ?? "")
    var options: [String: [String]] = [
      "hostname": [query.host], "user": [localUser], "port": ["22"],
      "identityfile": SSHRoutePlanner.openSSHDefaultIdentityFiles, "identitiesonly": ["no"],
      "userknownhostsfile": ["\(home)/.ssh/known_hosts \(home)/.ssh/known_hosts2"],
      "globalknownhostsfile": ["/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"],
      "stricthostkeychecking": ["ask"], "serveraliveinterval": ["0"],
    ]
    for (key, values) in set.options { options[key] = values }
    if let user = query.user { options["user"] = [user] }
    if let port = query.port { options["port"] = [String(port)] }
    return SSHEffectiveConfig(options: options, origin: entry?.origin, lines: entry?.optionLines ?? [:])
  }
}
