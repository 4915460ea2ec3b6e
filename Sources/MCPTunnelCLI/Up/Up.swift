import ArgumentParser
import Foundation
import TunnelCore

/// `mcp-tunnel up`: opens the SSH path and serves the local listener until SIGINT/SIGTERM.
struct Up: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "up",
    abstract: "Open the SSH path and serve the local listener until interrupted.",
    discussion: """
      Connects through every [ssh] jump host (ProxyJump semantics) and the optional final host, \
      verifying each host key against known_hosts, then listens on a loopback address. In tcp \
      mode every accepted connection becomes a direct-tcpip channel to ssh.target; no login is \
      needed. If the SSH path drops, it is reconnected with backoff while the listener stays bound. \
      SIGINT or SIGTERM closes everything and exits 0.

      With --json, stdout carries one event per line: ready, reconnecting, reconnected, stopped.

      Example:
        $ mcp-tunnel up --mode tcp --listen 127.0.0.1:7701
        $ mcp-tunnel up --mode tcp --json | jq -c .
      """
  )

  @OptionGroup var global: GlobalOptions

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Loopback address to listen on (default: listen.address, 127.0.0.1:7700).", valueName: "host:port"))
  var listen: String?

  // Only tcp is accepted until the token-injecting http proxy lands; the option then gains `http`.
  @Option(
    name: .long,
    help: ArgumentHelp(
      "Listener mode; tcp forwards raw bytes and needs no login (the default comes from listen.mode).",
      valueName: "tcp"))
  var mode: ListenMode?

  func validate() throws {
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
    guard effectiveMode == .tcp else {
      throw CoreError(
        .usage, "the http listener (token-injecting MCP proxy) is not built yet; only tcp mode works",
        fix: "pass --mode tcp, or set mode = \"tcp\" under [profiles.\(profile.name).listen]")
    }
    let session = TCPForwardSession(
      profile: profile, listen: address, environment: env, json: global.json, verbose: global.verbose)
    try await session.run()
  }
}

/// `--mode` accepts what this build can serve; `http` joins when the proxy lands.
extension ListenMode: ExpressibleByArgument {
  public init?(argument: String) {
    guard argument == ListenMode.tcp.rawValue else { return nil }
    self = .tcp
  }

  public static var allValueStrings: [String] { [ListenMode.tcp.rawValue] }
}
