import Foundation

/// The whole configuration file: a default profile name and the profiles it holds (SPEC §3).
public struct Configuration: Sendable, Equatable {
  public var defaultProfile: String?
  public var profiles: [String: Profile]
  /// Profile names in file order, for listings.
  public var profileOrder: [String]

  public init(defaultProfile: String? = nil, profiles: [Profile] = []) {
    self.defaultProfile = defaultProfile
    self.profiles = Dictionary(profiles.map { ($0.name, $0) }, uniquingKeysWith: { _, b in b })
    self.profileOrder = profiles.map(\.name)
  }
}

/// One named environment: how to log in, how to mint tenant tokens, how to reach the server,
/// where to listen.
public struct Profile: Sendable, Equatable {
  public var name: String
  public var idp: IdentityProviderSettings?
  public var session: SessionSettings?
  public var ssh: SSHSettings
  public var listen: ListenSettings
  /// `session.max_duration` / `session.idle_timeout` (SPEC §10): apply in both modes.
  public var limits: SessionLimits
  /// `[profiles.P.audit]`.
  public var audit: AuditSettings

  public init(
    name: String,
    idp: IdentityProviderSettings? = nil,
    session: SessionSettings? = nil,
    ssh: SSHSettings,
    listen: ListenSettings = ListenSettings(),
    limits: SessionLimits = SessionLimits(),
    audit: AuditSettings = AuditSettings()
  ) {
    self.name = name
    self.idp = idp
    self.session = session
    self.ssh = ssh
    self.listen = listen
    self.limits = limits
    self.audit = audit
  }
}

/// `[profiles.P.audit]` (SPEC §3).
public struct AuditSettings: Sendable, Equatable {
  /// `journal`: also send each audit record to the systemd journal (the file stays the source of
  /// truth).
  public var journal: Bool

  public init(journal: Bool = false) {
    self.journal = journal
  }
}

/// When `up` ends by itself (SPEC §3, §10). The keys live in `[profiles.P.session]`; a
/// `[session]` table holding only these keys is allowed in tcp mode (no tenant tokens), and they
/// apply in both modes.
public struct SessionLimits: Sendable, Equatable {
  /// `max_duration` when not written.
  public static let defaultMaxDuration: Duration = .seconds(12 * 3600)
  /// The keys of `[session]` that are limits, not token settings.
  /// `elevate_max` when not written.
  public static let defaultElevateMax: Duration = .seconds(5 * 60)
  static let keys: Set<String> = ["max_duration", "idle_timeout", "elevate_max"]

  /// `up` stops this long after it started; zero means never.
  public var maxDuration: Duration
  /// `up` stops after this long without a call (http) or connection (tcp); zero means never.
  public var idleTimeout: Duration
  /// The longest an elevated token from `mcp-tunnel elevate` is used (SPEC §10); `--for` above it
  /// is clamped to it.
  public var elevateMax: Duration

  public init(
    maxDuration: Duration = defaultMaxDuration, idleTimeout: Duration = .zero, elevateMax: Duration = defaultElevateMax
  ) {
    self.maxDuration = maxDuration
    self.idleTimeout = idleTimeout
    self.elevateMax = elevateMax
  }
}

/// `[profiles.P.idp]`: the OAuth 2.1 / OIDC identity provider the developer logs in at.
public struct IdentityProviderSettings: Sendable, Equatable {
  public var issuer: URL
  public var clientID: String
  public var scopes: [String]
  /// A fixed loopback redirect for IdPs that need an exact match; nil means an ephemeral port.
  public var redirectURI: URL?
  /// Proceed when discovery omits `code_challenge_methods_supported`.
  public var pkceMetadataOverride: Bool
  /// The RFC 8707 `resource` sent with the login itself. Not a configuration key: set from
  /// `[session]` for `method = "resource-refresh"` (the default tenant's URI, TOK-02), because some
  /// IdPs (glewlwyd) refuse a refresh for a resource the login did not name; nil otherwise.
  public var loginResource: String?

  public init(
    issuer: URL, clientID: String, scopes: [String] = ["openid", "offline_access"], redirectURI: URL? = nil,
    pkceMetadataOverride: Bool = false, loginResource: String? = nil
  ) {
    self.issuer = issuer
    self.clientID = clientID
    self.scopes = scopes
    self.redirectURI = redirectURI
    self.pkceMetadataOverride = pkceMetadataOverride
    self.loginResource = loginResource
  }
}

/// How a tenant-scoped MCP token is minted from the IdP login (SPEC §4).
public enum SessionMethod: String, Sendable, Equatable, CaseIterable {
  /// RFC 8693 token exchange at `endpoint`.
  case tokenExchange = "token-exchange"
  /// RFC 8707: a refresh-token grant at the IdP carrying the tenant's `resource`.
  case resourceRefresh = "resource-refresh"
}

/// `[profiles.P.session]`.
public struct SessionSettings: Sendable, Equatable {
  /// The longest a tenant token may live, whatever the issuer says (SPEC §1: at most 15 minutes).
  public static let maximumTTL: Duration = .seconds(15 * 60)

  public var method: SessionMethod
  /// Token endpoint for minting; nil means the issuer's `token_endpoint`.
  public var endpoint: URL?
  public var resource: TenantTemplate
  public var audience: TenantTemplate?
  public var scope: TenantTemplate?
  public var maxTTL: Duration
  public var tenants: [TenantID]
  public var defaultTenant: TenantID?

  public init(
    method: SessionMethod = .tokenExchange, endpoint: URL? = nil, resource: TenantTemplate,
    audience: TenantTemplate? = nil, scope: TenantTemplate? = nil, maxTTL: Duration = maximumTTL,
    tenants: [TenantID] = [], defaultTenant: TenantID? = nil
  ) {
    self.method = method
    self.endpoint = endpoint
    self.resource = resource
    self.audience = audience
    self.scope = scope
    self.maxTTL = maxTTL
    self.tenants = tenants
    self.defaultTenant = defaultTenant
  }
}

/// Whether an unknown host key may be recorded. A changed key is refused under every policy.
public enum HostKeyPolicy: String, Sendable, Equatable, CaseIterable {
  case strict
  case acceptNew = "accept-new"
}

/// `[profiles.P.ssh]`: the path to the MCP server.
public struct SSHSettings: Sendable, Equatable {
  /// Bastions in order (ProxyJump semantics); may be empty.
  public var jump: [SSHEndpoint]
  /// An optional final SSH host reached through the jumps.
  public var host: SSHEndpoint?
  /// The MCP server as seen from the last SSH hop.
  public var target: HostPort
  /// Path as written (a leading `~/` is expanded at use).
  public var knownHosts: String
  /// Key file; nil means the agent only.
  public var identity: String?
  /// OpenSSH user certificate for `identity` (as written); nil means `<identity>-cert.pub` when
  /// that file exists (see `SSHIdentity`).
  public var certificate: String?
  /// Zero disables keepalive probes.
  public var keepalive: Duration
  public var hostKeyPolicy: HostKeyPolicy
  /// `ssh.ssh_config`: the OpenSSH client config whose `Host` entries `jump`/`host` may name,
  /// resolved as `ssh -G` does (`SSHRoutePlanner`); as written, `~/` expanded at use. Nil for
  /// `"none"`, and for settings built in code: then the hops are used exactly as given.
  public var sshConfig: String?
  /// What the TOML wrote itself, so that it wins over the ssh config (as options on ssh's command
  /// line win over its config file).
  public var written: WrittenKeys

  /// The TOML keys that `~/.ssh/config` could also set, and whether each was written.
  public struct WrittenKeys: Sendable, Equatable {
    public var knownHosts: Bool
    public var keepalive: Bool
    /// Indexes into `hops` of the entries written without `:port`.
    public var hopsWithoutPort: Set<Int>

    public init(knownHosts: Bool, keepalive: Bool, hopsWithoutPort: Set<Int>) {
      self.knownHosts = knownHosts
      self.keepalive = keepalive
      self.hopsWithoutPort = hopsWithoutPort
    }

    /// Everything as given: what settings built in code mean.
    public static let all = WrittenKeys(knownHosts: true, keepalive: true, hopsWithoutPort: [])
  }

  /// The value `ssh.ssh_config` has when it is not written.
  public static let defaultSSHConfig = "~/.ssh/config"

  public init(
    jump: [SSHEndpoint] = [], host: SSHEndpoint? = nil, target: HostPort,
    knownHosts: String = "~/.ssh/known_hosts", identity: String? = nil, certificate: String? = nil,
    keepalive: Duration = .seconds(15), hostKeyPolicy: HostKeyPolicy = .strict, sshConfig: String? = nil,
    written: WrittenKeys = .all
  ) {
    self.jump = jump
    self.host = host
    self.target = target
    self.knownHosts = knownHosts
    self.identity = identity
    self.certificate = certificate
    self.keepalive = keepalive
    self.hostKeyPolicy = hostKeyPolicy
    self.sshConfig = sshConfig
    self.written = written
  }

  /// Every SSH hop in connection order: the jumps, then the final host when there is one.
  public var hops: [SSHEndpoint] { jump + (host.map { [$0] } ?? []) }

  /// Hop `index` of `hops` as the TOML wrote it: `:port` only when it was written.
  public func hopText(_ index: Int) -> String {
    let hop = hops[index]
    guard written.hopsWithoutPort.contains(index) else { return hop.description }
    let host = hop.address.host.contains(":") ? "[\(hop.address.host)]" : hop.address.host
    return (hop.user.map { "\($0)@" } ?? "") + host
  }
}

/// What the local listener does with a connection.
public enum ListenMode: String, Sendable, Equatable, CaseIterable {
  /// Token-injecting MCP proxy.
  case http
  /// Raw byte forward, no token.
  case tcp
}

/// Who may connect to the local listener (SPEC §5 `listen.peers`). Loopback is shared by every
/// user and container on the machine, so a port number alone is no access control.
public enum ListenPeers: String, Sendable, Equatable, CaseIterable {
  /// Only connections whose peer socket belongs to the user who runs the tunnel (the default).
  case sameUser = "same-user"
  /// Every local user: no check (the behaviour before `listen.peers` existed).
  case anyLocalUser = "any-local-user"
}

/// `[profiles.P.listen]`.
public struct ListenSettings: Sendable, Equatable {
  public static let defaultAddress = HostPort(host: "127.0.0.1", port: 7700)

  /// Always a loopback address: the decoder and `validateLoopback` refuse anything else.
  public var address: HostPort
  public var mode: ListenMode
  public var peers: ListenPeers

  public init(address: HostPort = defaultAddress, mode: ListenMode = .http, peers: ListenPeers = .sameUser) {
    self.address = address
    self.mode = mode
    self.peers = peers
  }

  /// Refuses a non-loopback address (SPEC §5: the listener binds loopback only).
  public static func validateLoopback(_ address: HostPort, source: String) throws(CoreError) -> HostPort {
    guard address.isLoopback else {
      throw CoreError(
        .usage, "\(source) \(address) is not a loopback address; mcp-tunnel listens on loopback only",
        fix: "use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT")
    }
    return address
  }
}
