import Foundation

/// One SSH hop as it will be connected: where, as whom, with which keys, known_hosts files and
/// keepalive — after `~/.ssh/config` (when used) and the TOML keys that win over it.
///
/// Paths are as OpenSSH printed or the TOML wrote them, `%` tokens already expanded; a leading `~/`
/// is expanded with `HOME` where a file is opened (`SSHForwarding`).
public struct SSHHop: Sendable, Equatable {
  /// `user` nil means the local user (a TOML hop without `user@` and no ssh config).
  public var endpoint: SSHEndpoint
  /// Key files to try after the agent, in order: `ssh.identity` when written, else the hop's
  /// `IdentityFile`s. Missing files are skipped, as OpenSSH skips them.
  public var identityFiles: [String]
  /// True when `identityFiles` is OpenSSH's built-in list (no `IdentityFile` was configured): a
  /// missing one is not worth naming in an error.
  public var identityFilesAreDefaults: Bool
  /// `IdentitiesOnly yes`: only agent keys that match one of `identityFiles` (their `.pub`) are offered.
  public var identitiesOnly: Bool
  /// `CertificateFile`s (OpenSSH user certificates) configured for the hop.
  public var certificateFiles: [String]
  /// The hop's known_hosts files, in order; an `accept-new` key is recorded in the first.
  public var knownHostsFiles: [String]
  /// `GlobalKnownHostsFile`s (e.g. a company-wide `/etc/ssh/ssh_known_hosts`): read after
  /// `knownHostsFiles`, never written; a missing one counts as empty.
  public var globalKnownHostsFiles: [String]
  /// `HostKeyAlias`: the host key is looked up (and recorded) under this name instead of host:port.
  public var hostKeyAlias: String?
  /// How long the hop may be silent before a keepalive probe (`ServerAliveInterval`, else
  /// `ssh.keepalive`); zero disables probes.
  public var keepalive: Duration
  /// `IdentityAgent`: nil for `SSH_AUTH_SOCK` (the default), `"none"` for no agent, else a socket path.
  public var identityAgent: String?
  /// Where the hop came from, for `doctor` and `ready`: `ssh.jump[0]`, `ssh.host`,
  /// `~/.ssh/config:12: Host bastion`, or `ssh -G name` when no `Host` line was found.
  public var origin: String?

  public init(
    endpoint: SSHEndpoint, identityFiles: [String] = [], identityFilesAreDefaults: Bool = false,
    identitiesOnly: Bool = false, certificateFiles: [String] = [], knownHostsFiles: [String] = ["~/.ssh/known_hosts"],
    globalKnownHostsFiles: [String] = [], hostKeyAlias: String? = nil, keepalive: Duration = .seconds(15),
    identityAgent: String? = nil,
    origin: String? = nil
  ) {
    self.endpoint = endpoint
    self.identityFiles = identityFiles
    self.identityFilesAreDefaults = identityFilesAreDefaults
    self.identitiesOnly = identitiesOnly
    self.certificateFiles = certificateFiles
    self.knownHostsFiles = knownHostsFiles
    self.globalKnownHostsFiles = globalKnownHostsFiles
    self.hostKeyAlias = hostKeyAlias
    self.keepalive = keepalive
    self.identityAgent = identityAgent
    self.origin = origin
  }

  /// `user@host:port`, with `localUser` where no user is known.
  public func name(localUser: String) -> String {
    SSHEndpoint(user: endpoint.user ?? localUser, address: endpoint.address).description
  }
}

/// The whole SSH path after resolution: the hops in connection order and what they lead to.
public struct SSHRoute: Sendable, Equatable {
  public var hops: [SSHHop]
  /// The MCP server as seen from the last hop.
  public var target: HostPort
  public var hostKeyPolicy: HostKeyPolicy
  /// The ssh config that was read (as written in the TOML), nil when none was.
  public var sshConfig: String?
  /// Settings of the ssh config that mcp-tunnel does not apply, one sentence each (for stderr and `doctor`).
  public var warnings: [String]

  public init(
    hops: [SSHHop], target: HostPort, hostKeyPolicy: HostKeyPolicy = .strict, sshConfig: String? = nil,
    warnings: [String] = []
  ) {
    self.hops = hops
    self.target = target
    self.hostKeyPolicy = hostKeyPolicy
    self.sshConfig = sshConfig
    self.warnings = warnings
  }

  /// The hops exactly as the TOML gives them, with no ssh config: one identity (and certificate), one known_hosts
  /// file and one keepalive for every hop (what mcp-tunnel did before `ssh_config` existed).
  public init(settings: SSHSettings) {
    self.init(
      hops: settings.hops.indices.map { index in
        SSHHop(
          endpoint: settings.hops[index], identityFiles: settings.identity.map { [$0] } ?? [],
          certificateFiles: settings.certificate.map { [$0] } ?? [], knownHostsFiles: [settings.knownHosts],
          keepalive: settings.keepalive,
          origin: index < settings.jump.count ? "ssh.jump[\(index)]" : "ssh.host")
      }, target: settings.target, hostKeyPolicy: settings.hostKeyPolicy)
  }

  /// Each hop as `user@host:port`.
  public func hopNames(localUser: String) -> [String] { hops.map { $0.name(localUser: localUser) } }
}

/// `[user@]host[:port]` with each part kept only when written, as in `ssh -J` and `ProxyJump`
/// (an `ssh://` URI prefix is accepted, as OpenSSH does).
public enum SSHDestinationText {
  public static func parse(_ text: String) -> (user: String?, host: String, port: Int?)? {
    var body = text
    if body.lowercased().hasPrefix("ssh://") { body = String(body.dropFirst(6)) }
    if body.hasSuffix("/") { body.removeLast() }
    guard let endpoint = SSHEndpoint(parsing: body) else { return nil }
    let hostPart = body.lastIndex(of: "@").map { String(body[body.index(after: $0)...]) } ?? body
    let hasPort = hostPart.hasPrefix("[") ? hostPart.contains("]:") : hostPart.contains(":")
    return (endpoint.user, endpoint.address.host, hasPort ? endpoint.address.port : nil)
  }
}
