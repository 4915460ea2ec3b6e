import ArgumentParser
import Foundation
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
      closes everything and exits 0.

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

      With --json, stdout carries one event per line: ready (first), reconnecting, reconnected, \
      token_minted, token_error, tenant_switched, stopped.

      Example:
        $ mcp-tunnel up --tenant acme
        $ mcp-tunnel up --json | jq -c .
        $ mcp-tunnel up --mode tcp --listen 127.0.0.1:7701
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
    let env = AppEnvironment.current
    let (path, configuration) = try env.loader.loadConfiguration(configFlag: global.config)
    let profile = try env.loader.selectProfile(configuration, flag: global.profile, path: path)
    let address =
      try listen.map { text throws(CoreError) -> HostPort in
        guard let parsed = HostPort(parsing: text) else { throw CoreError(.usage, "--listen \(text) is not host:port") }
        return try ListenSettings.validateLoopback(parsed, source: "--listen")
      } ?? ListenSettings.validateLoopback(profile.listen.address, source: "listen.address")
    let effectiveMode = mode ?? profile.listen.mode
    if effectiveMode == .http {
      try await HTTPTunnelSession(
        profile: profile, listen: address, tenant: try Self.tenant(tenant, profile: profile), environment: env,
        json: global.json, verbose: global.verbose
      ).run()
      return
    }
    let session = TCPForwardSession(
      profile: profile, listen: address, environment: env, json: global.json, verbose: global.verbose)
    try await session.run()
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
