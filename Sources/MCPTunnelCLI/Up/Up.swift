import ArgumentParser
import AuditLog
import Foundation
import Logging
import TokenProxy
import TunnelCore

/// `mcp-tunnel up`: opens the SSH path and serves the local listener until SIGINT/SIGTERM.
struct Up: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "up",
    abstract: "Open the SSH path and serve the local MCP endpoint until interrupted.",
    discussion: """
      Connects through every [ssh] jump host (ProxyJump semantics) and the optional final host, \
      verifying each host key against known_hosts, then listens on a loopback address. If the SSH \
      path drops, it is reconnected with backoff while the listener stays bound. SIGINT or SIGTERM \
      closes everything and exits 0. A jump or host may be a Host alias of ~/.ssh/config \
      (ssh.ssh_config): it is resolved with `ssh -G` (HostName, User, Port, IdentityFile, ProxyJump, \
      UserKnownHostsFile, HostKeyAlias…); what [ssh] writes itself wins.

      In http mode (the default) the listener is an MCP proxy: point your MCP client at \
      http://127.0.0.1:7700/mcp. Each request gets Authorization: Bearer <tenant token> — a token \
      minted from your login for one tenant ([session] method token-exchange or resource-refresh), \
      valid at most session.max_ttl, kept in memory and re-minted before it expires; whatever \
      credentials the client sent are dropped. Not being logged in is not fatal: requests get 503 \
      naming the fix until you run `mcp-tunnel login`. `mcp-tunnel tenant use T` switches the \
      tenant; `status`, `token` and `tenant` talk to this process over its control socket \
      ($XDG_RUNTIME_DIR/mcp-tunnel/<profile>.sock), so a second `up` for the same profile exits 8.

      In tcp mode every accepted connection becomes a direct-tcpip channel to ssh.target; no login \
      and no token.

      In both modes only the user who runs up may use the listener (listen.peers = "same-user", \
      the default): the owner of each connection's peer socket is looked up (netlink sock_diag, \
      else /proc/net/tcp) and another user's connection is closed before a byte is read, counted \
      in status, audited as denied with the peer's uid, and reported once per uid on stderr. \
      --peers any-local-user (listen.peers = "any-local-user") lets every local user in.

      Started by systemd socket activation (mcp-tunnel@.socket, or systemd-socket-activate), up \
      takes over the listening socket it was passed (LISTEN_FDS, exactly one, on loopback) instead \
      of binding listen.address; the first connection waits in its backlog until up serves it.

      In both modes the session ends by itself, cleanly with exit 0, after session.max_duration \
      (default 12h) or after session.idle_timeout without a request or connection (default 0s: \
      never); ready and status show when, and a warning comes 5 minutes before (or at half the \
      limit, whichever is later).

      With --json, stdout carries one event per line: ready (first), reconnecting, reconnected, \
      token_minted, token_error, tenant_switched, session_ending, stopped.

      Example:
        $ mcp-tunnel up --tenant acme
        $ mcp-tunnel up --json | jq -c .
        $ mcp-tunnel up --mode tcp --listen 127.0.0.1:7701
        $ mcp-tunnel up --peers any-local-user
      """
  )

  @OptionGroup var global: GlobalOptions

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Loopback address to listen on (default: listen.address, 127.0.0.1:7700).", valueName: "host:port"))
  var listen: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Tenant to serve (default: session.default_tenant); must be listed in session.tenants.", valueName: "tenant"))
  var tenant: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "http: token-injecting MCP proxy; tcp: raw bytes, no login (default: listen.mode, else http).",
      valueName: "http|tcp"))
  var mode: ListenMode?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Who may connect: same-user (only you) or any-local-user (default: listen.peers, else same-user).",
      valueName: "same-user|any-local-user"))
  var peers: ListenPeers?

  func validate() throws {
    if let tenant, TenantID(tenant) == nil { throw ValidationError("--tenant \(tenant) is not a valid tenant name") }
    if tenant != nil, mode == .tcp {
      throw ValidationError("--tenant applies to http mode only; tcp mode has no token")
    }
    if let listen {
      // The loopback rule is checked in run(), where its CoreError keeps its category (exit 2).
      guard HostPort(parsing: listen) != nil else { throw ValidationError("--listen \(listen) is not host:port") }
    }
  }

  func run() async throws {
    var current = AppEnvironment.current
    // Socket activation (mcp-tunnel@.socket): systemd holds the listen address and passed the socket.
    let activated = try LoopbackListener.activated(environment: current.environment)
    for name in LoopbackListener.activationVariables { current.environment[name] = nil }
    let env = current
    let (path, configuration) = try env.loader.loadConfiguration(configFlag: global.config)
    let profile = try env.loader.selectProfile(configuration, flag: global.profile, path: path)
    let address =
      try listen.map { text throws(CoreError) -> HostPort in
        guard let parsed = HostPort(parsing: text) else { throw CoreError(.usage, "--listen \(text) is not host:port") }
        return try ListenSettings.validateLoopback(parsed, source: "--listen")
      } ?? ListenSettings.validateLoopback(profile.listen.address, source: "listen.address")
    if let activated, listen != nil, activated.address != address {
      env.output.writeDiagnostic(
        "warning: --listen \(address) is ignored: systemd passed the socket on \(activated.address)\n")
    }
    let peers = peers ?? profile.listen.peers
    let runtime =
      try await (mode ?? profile.listen.mode) == .http
      ? Self.httpRuntime(
        profile: profile, listen: address, tenant: try Self.tenant(tenant, profile: profile), environment: env,
        json: global.json, verbose: global.verbose, peers: peers, activated: activated)
      : await Self.tcpRuntime(
        profile: profile, listen: address, environment: env, json: global.json, verbose: global.verbose, peers: peers,
        activated: activated)
    let stopHandlingSignals = env.onTerminationSignal { runtime.end(.signal($0)) }
    defer { stopHandlingSignals() }
    try await runtime.run()
  }
}

extension Up {
  /// --tenant, else session.default_tenant, else the only listed tenant.
  static func tenant(_ flag: String?, profile: Profile) throws -> TenantID {
    if let flag, let tenant = TenantID(flag) { return tenant }
    if let tenant = profile.session?.defaultTenant { return tenant }
    if let tenants = profile.session?.tenants, tenants.count == 1 { return tenants[0] }
    throw CoreError(
      .usage, "no tenant chosen for profile \(profile.name)",
      fix: "pass --tenant T, or set default_tenant under [profiles.\(profile.name).session]")
  }
}

extension ListenMode: ExpressibleByArgument {}
extension ListenPeers: ExpressibleByArgument {}

extension Up {
  /// `up --mode http` (the default): the token-injecting MCP proxy over the SSH path, with a tenant
  /// session, a control socket and the audit log (SPEC §2, §4, §5, §6, §7). What is checked here,
  /// in this order, before `TunnelRuntime.run()` takes over: `[session]` and the tenant allowed
  /// (2, 9); the keyring is readable (4; being logged out is only a warning, at `run()`); the
  /// listen port is bound (8); the audit log opens (a security record that silently does not
  /// exist is worse than a tunnel that does not start).
  ///
  /// `stdio` builds its own tunnel here too, with `controlSocket: false` (two `stdio` of one
  /// profile must both run) and its events on stderr only (`onEvent`). `peers` is `--peers`, else
  /// the profile's `listen.peers`. `activated` is the socket systemd passed (socket activation),
  /// used instead of binding `listen`.
  static func httpRuntime(
    profile: Profile, listen: HostPort, tenant: TenantID, environment env: AppEnvironment, json: Bool, verbose: Bool,
    peers: ListenPeers? = nil, controlSocket: Bool = true, onEvent: (@Sendable (TunnelRuntime.Event) -> Void)? = nil,
    activated: LoopbackListener? = nil
  ) async throws -> TunnelRuntime {
    guard let settings = profile.session else {
      throw CoreError(
        .usage,
        "profile \"\(profile.name)\" has no [profiles.\(profile.name).session] section, so no tenant token can be minted",
        fix: "add method, resource and tenants under [profiles.\(profile.name).session], or pass --mode tcp")
    }
    let context = try LoginContext(profile: profile, environment: env)
    try TokenBroker.checkAllowed(tenant, settings: settings, profile: profile.name)
    let route = try await sshRoute(profile: profile, environment: env)
    let login = try context.session()
    let subject = try await login.currentLogin()?.subject  // throws when the keyring is unusable (exit 4)
    let listener = try activated ?? LoopbackListener.bind(listen)
    try PrivateDirectory.ensure(env.paths.runtimeDirectory)
    let audit = try auditSink(profile: profile, environment: env)
    // Library log lines go to stderr only with -v: the events are what a user reads.
    let frontEnd = HTTPProxyFrontEnd(
      listener: listener, upstreamHost: profile.ssh.target.description,
      logger: logger("mcp-tunnel.proxy", verbose: verbose),
      peerCheck: peerCheck(peers ?? profile.listen.peers, environment: env),
      stepUpContext: StepUpContext(profile: profile))
    let services = TunnelRuntime.Services(
      forwarder: try env.makePortForwarder(route, env.environment), frontEnd: frontEnd,
      tokens: TunnelRuntime.Tokens(
        settings: settings, login: login,
        minter: settings.method == .tokenExchange ? env.makeSessionMinter(settings, context.idp) : nil, tenant: tenant),
      control: controlSocket ? controlStarter(profile: profile.name, environment: env, verbose: verbose) : nil,
      audit: audit)
    return runtime(
      profile: profile, route: route, subject: subject, services: services, environment: env, json: json,
      verbose: verbose, onEvent: onEvent)
  }

  /// `up --mode tcp`: every accepted connection becomes a direct-tcpip channel to ssh.target; no
  /// login, no token. The port is bound first (8), and the control socket claimed at `run()`, so
  /// `status` sees this tunnel too. The audit log has the tunnel's lifecycle and every connection
  /// `listen.peers` refused — bytes are not calls, so nothing per connection otherwise.
  static func tcpRuntime(
    profile: Profile, listen: HostPort, environment env: AppEnvironment, json: Bool, verbose: Bool,
    peers: ListenPeers? = nil, activated: LoopbackListener? = nil
  ) async throws -> TunnelRuntime {
    let route = try await sshRoute(profile: profile, environment: env)
    let listener = try activated ?? LoopbackListener.bind(listen)
    try PrivateDirectory.ensure(env.paths.runtimeDirectory)
    let audit = try auditSink(profile: profile, environment: env)
    let services = TunnelRuntime.Services(
      forwarder: try env.makePortForwarder(route, env.environment),
      frontEnd: TCPForwardFrontEnd(
        listener: listener, peerCheck: peerCheck(peers ?? profile.listen.peers, environment: env)),
      control: controlStarter(profile: profile.name, environment: env, verbose: verbose), audit: audit)
    return runtime(
      profile: profile, route: route, subject: nil, services: services, environment: env, json: json,
      verbose: verbose)
  }

  /// The profile's hops after `ssh.ssh_config`; what the ssh config sets but mcp-tunnel does not
  /// apply is said on stderr (never silently dropped).
  static func sshRoute(profile: Profile, environment env: AppEnvironment) async throws -> SSHRoute {
    let route = try await env.sshRoute(for: profile.ssh)
    for warning in route.warnings { env.output.writeDiagnostic("warning: \(warning)\n") }
    return route
  }

  /// The profile's audit log behind a queue: writes never block the listener (the queue is
  /// bounded and drops are counted into the log itself).
  /// With `audit.journal = true` each record also goes to the systemd journal
  /// (`JournalMirrorSink`); a journal that is not there is a warning now, never a failed call.
  private static func auditSink(profile: Profile, environment env: AppEnvironment) throws -> QueuedAuditSink {
    var sink = try env.makeAuditSink(profile.name, env.paths)
    if profile.audit.journal {
      let journal = JournalSocket(path: env.environment[journalSocketVariable] ?? JournalSocket.defaultPath)
      if let problem = journal.problem() {
        env.output.writeDiagnostic(
          "warning: audit.journal is on but \(problem); the audit log file is still written\n")
      }
      sink = JournalMirrorSink(
        file: sink, journal: journal,
        onJournalError: { [output = env.output] error in
          output.writeDiagnostic("warning: could not send an audit record to the journal: \(error.summary)\n")
        })
    }
    return QueuedAuditSink(
      wrapping: sink,
      onError: { [output = env.output] error in
        output.writeDiagnostic("warning: could not write the audit log: \(error)\n")
      })
  }

  /// Names another journal socket than /run/systemd/journal/socket (tests, a journald in a
  /// container).
  static let journalSocketVariable = "MCP_TUNNEL_JOURNAL_SOCKET"

  /// `listen.peers` for the listener: only this process's effective uid with `same-user`.
  private static func peerCheck(_ peers: ListenPeers, environment env: AppEnvironment) -> ListenerPeerCheck {
    ListenerPeerCheck(policy: peers, ownerUID: geteuid(), lookup: env.makePeerLookup())
  }

  private static func runtime(
    profile: Profile, route: SSHRoute, subject: String?, services: TunnelRuntime.Services,
    environment env: AppEnvironment, json: Bool, verbose: Bool,
    onEvent: (@Sendable (TunnelRuntime.Event) -> Void)? = nil
  ) -> TunnelRuntime {
    let reporter = UpEventReporter(output: env.output, json: json, verbose: verbose)
    return TunnelRuntime(
      settings: TunnelRuntime.Settings(
        profile: profile, sessionID: newSessionID(), subject: subject, hops: UpEventReporter.hopLabels(route),
        hopOrigins: route.hops.map { $0.origin ?? "" },
        tokenFingerprint: TokenFingerprint.of),
      services: services, onEvent: onEvent ?? { reporter.render($0) })
  }

  private static func controlStarter(
    profile: String, environment env: AppEnvironment, verbose: Bool
  )
    -> ControlEndpointStarter
  {
    let path = env.paths.controlSocket(profile: profile)
    let logger = logger("mcp-tunnel.control", verbose: verbose)
    return { handler in try await ControlSocketServer.start(path: path, logger: logger, handler: handler) }
  }

  private static func logger(_ label: String, verbose: Bool) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = verbose ? .info : .warning
    return logger
  }

  static func newSessionID() -> String {
    var generator = SystemRandomNumberGenerator()
    return AuditHash.hex((0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) })
  }
}

/// A short, one-way identifier of a token for events and the audit log (SPEC §7): the first 16
/// hex digits of the SHA-256 of its value. Never the token.
enum TokenFingerprint {
  @Sendable static func of(_ token: AccessToken) -> String {
    "sha256:" + String(AuditHash.hexDigest(of: Array(token.revealedForTransmission.utf8)).prefix(16))
  }
}
