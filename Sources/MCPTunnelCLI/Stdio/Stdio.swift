import ArgumentParser
import Foundation
import StdioBridge
import Synchronization
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// `mcp-tunnel stdio`: an MCP server on stdin/stdout for clients that can only start a command
/// (Claude Desktop), forwarding over Streamable HTTP through the profile's tunnel (SPEC §9). The
/// bridge itself is `StdioBridge`; this command only finds the tunnel — the running `up`'s, else
/// one of its own — and ends it.
struct Stdio: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stdio",
    abstract: "Serve MCP on stdin/stdout through the profile's tunnel (for Claude Desktop).",
    discussion: """
      For MCP clients that can only start a command. Reads newline-delimited JSON-RPC on stdin and \
      forwards each message over MCP Streamable HTTP to the profile's endpoint with the tenant token \
      injected; every answer and server message is one line on stdout, and stdout carries nothing \
      else (diagnostics go to stderr). When `mcp-tunnel up` runs for the profile, its tunnel is \
      used; otherwise stdio opens its own (SSH path, token, loopback port chosen by the system, no \
      control socket) and closes it on exit. It never starts a login: a request it cannot forward \
      (not logged in, SSH path down) is answered with a JSON-RPC error naming the fix. End of stdin, \
      SIGTERM or SIGINT ends the MCP session (DELETE) and exits 0 within 2 s. Calls are audited like \
      calls through up, marked "via":"stdio".

      Claude Desktop entry (claude_desktop_config.json; see client-config --client claude-desktop):
        {"mcpServers":{"mcp-tunnel-prod":{"command":"/usr/local/bin/mcp-tunnel",
          "args":["stdio","--profile","prod"]}}}

      Example:
        $ mcp-tunnel stdio --profile prod
      """
  )

  @OptionGroup var global: GlobalOptions

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Tenant for a tunnel of its own (default: session.default_tenant); a running up keeps its tenant.",
      valueName: "tenant"))
  var tenant: String?

  func validate() throws {
    if let tenant, TenantID(tenant) == nil { throw ValidationError("--tenant \(tenant) is not a valid tenant name") }
  }

  func run() async throws {
    signal(SIGPIPE, SIG_IGN)  // a client that went away must not kill the bridge mid-cleanup
    let env = AppEnvironment.current
    let log: @Sendable (String) -> Void = { env.output.writeDiagnostic($0 + "\n") }
    let output = LineWriter()
    let profileName = global.profile ?? env.environment["MCP_TUNNEL_PROFILE"] ?? "<profile>"

    // The client's lines, ended by the end of stdin or by SIGINT/SIGTERM: either way the bridge
    // ends the session (DELETE) and the process exits 0, within 2 s (the watchdog makes sure).
    let (input, feed) = AsyncStream.makeStream(of: [UInt8].self)
    let (inputEnded, announceEnd) = AsyncStream.makeStream(of: String.self)
    let (watchdogStart, startWatchdog) = AsyncStream.makeStream(of: Void.self)
    let end: @Sendable (String) -> Void = { reason in
      feed.finish()
      announceEnd.yield(reason)
      announceEnd.finish()
      startWatchdog.yield()
      startWatchdog.finish()
    }
    // Straight from the reader thread into the bridge's input: no relaying task in between.
    StdinLines.read(line: { feed.yield($0) }, end: { end("end of stdin") })
    let stopSignals = env.onTerminationSignal { name in
      log("stdio: \(name), ending the session")
      end(name)
    }
    defer { stopSignals() }
    Task {
      for await _ in watchdogStart {
        try? await Task.sleep(for: Self.exitWatchdog)
        log("stdio: cleanup took longer than \(Self.exitWatchdog); exiting")
        Foundation.exit(0)
      }
    }

    // Find the tunnel, unless the input ends first: then nothing is forwarded and a tunnel still
    // starting is ended at once (the client does not wait for it).
    let (configFlag, profileFlag, verbose, tenant) = (global.config, global.profile, global.verbose, tenant)
    let (found, endedFirst) = await Self.upstreamUnlessEnded(inputEnded) {
      await Self.upstream(
        configFlag: configFlag, profileFlag: profileFlag, verbose: verbose, tenant: tenant, environment: env,
        log: log)
    }
    var upstream = found?.upstream ?? .unavailable("mcp-tunnel: no tunnel")
    if let reason = endedFirst {
      log("stdio: \(reason) before the tunnel was ready; nothing was forwarded")
      upstream = .unavailable("mcp-tunnel: the session ended (\(reason)) before the tunnel was ready")
    }
    let fix = "check: mcp-tunnel doctor --profile \(found?.profile ?? profileName)"
    let bridge = StreamableHTTPBridge(upstream: upstream, unreachableFix: fix, output: output, log: log)
    await bridge.run(input: input)
    await found?.own?.stop(within: .milliseconds(900))
    await output.close()
  }

  /// From the end of input (stdin or a signal) to the exit, at most: clients kill a bridge that
  /// lingers, and SPEC §9 gives it 2 s.
  static let exitWatchdog = Duration.milliseconds(1800)

  /// Runs `find` unless `ended` yields first; then `find` is cancelled (a tunnel of its own still
  /// starting is ended) and the reason is returned beside whatever `find` still produced.
  static func upstreamUnlessEnded(
    _ ended: AsyncStream<String>, _ find: @escaping @Sendable () async -> Found
  ) async -> (Found?, String?) {
    enum Outcome: Sendable {
      case found(Found)
      case ended(String?)
    }
    return await withTaskGroup(of: Outcome.self) { group in
      group.addTask { .found(await find()) }
      group.addTask {
        for await reason in ended { return .ended(reason) }
        return .ended(nil)
      }
      var found: Found?
      var endedFirst: String?
      switch await group.next() {
      case .found(let value): found = value
      case .ended(let reason): endedFirst = reason ?? "end of input"
      case nil: break
      }
      group.cancelAll()
      for await outcome in group {
        if case .found(let value) = outcome { found = value }
      }
      return (found, endedFirst)
    }
  }

  struct Found: Sendable {
    var upstream: StreamableHTTPBridge.Upstream
    var own: OwnTunnel?
    var profile: String?
  }

  /// The running `up`'s URL, else a tunnel of its own; a failure becomes the text every request
  /// is answered with.
  static func upstream(
    configFlag: String?, profileFlag: String?, verbose: Bool, tenant: String?, environment env: AppEnvironment,
    log: @escaping @Sendable (String) -> Void
  ) async -> Found {
    var profileName: String?
    do {
      let (path, configuration) = try env.loader.loadConfiguration(configFlag: configFlag)
      let profile = try env.loader.selectProfile(configuration, flag: profileFlag, path: path)
      profileName = profile.name
      if case .success(let status?) = await Status.tunnel(profile: profile.name, environment: env),
        let url = status.url
      {
        log("stdio: using the tunnel of the running up (\(url))")
        return Found(upstream: .url(url), own: nil, profile: profile.name)
      }
      let own = try await OwnTunnel.start(
        profile: profile, tenant: try Up.tenant(tenant, profile: profile), environment: env, verbose: verbose)
      log("stdio: opened a tunnel of its own (\(own.url))")
      return Found(upstream: .url(own.url), own: own, profile: profile.name)
    } catch {
      let text: String
      if let error = error as? any UserFacingError {
        text = "mcp-tunnel: \(error.summary)" + (error.fix.map { "; \($0)" } ?? "")
      } else {
        text = "mcp-tunnel: \(error)"
      }
      log("stdio: no tunnel: \(text)")
      return Found(upstream: .unavailable(text), own: nil, profile: profileName)
    }
  }
}

/// A tunnel `stdio` opened itself: `up`'s http runtime on 127.0.0.1:<ephemeral>, no control
/// socket, its events on stderr.
final class OwnTunnel: Sendable {
  let runtime: TunnelRuntime
  let task: Task<Void, Never>
  let url: String

  private init(runtime: TunnelRuntime, task: Task<Void, Never>, url: String) {
    self.runtime = runtime
    self.task = task
    self.url = url
  }

  static func start(
    profile: Profile, tenant: TenantID, environment env: AppEnvironment, verbose: Bool
  ) async throws
    -> OwnTunnel
  {
    let (events, continuation) = AsyncStream.makeStream(of: Result<String, any Error>.self)
    let reporter = UpEventReporter(output: DiagnosticsOnly(env.output), json: false, verbose: verbose)
    let runtime = try await Up.httpRuntime(
      profile: profile, listen: HostPort(host: "127.0.0.1", port: 0), tenant: tenant, environment: env, json: false,
      verbose: verbose, controlSocket: false,
      onEvent: { event in
        reporter.render(event)
        if case .ready(let ready) = event, let url = ready.url { continuation.yield(.success(url)) }
      })
    let task = Task {
      do {
        try await runtime.run()
      } catch {
        env.output.writeDiagnostic("stdio: the tunnel stopped: \(error)\n")
        continuation.yield(.failure(error))
      }
      continuation.finish()
    }
    // Cancelled (the input ended while the tunnel starts): the runtime is ended at once, even mid
    // SSH handshake, and waited for briefly.
    let first = await withTaskCancellationHandler {
      var iterator = events.makeAsyncIterator()
      return await iterator.next()
    } onCancel: {
      runtime.end(.signal("the session ended while the tunnel was starting"))
    }
    switch first {
    case .success(let url)?: return OwnTunnel(runtime: runtime, task: task, url: url)
    case .failure(let error)?: throw error
    case nil:
      await Self.wait(for: task, atMost: .milliseconds(900))
      try Task.checkCancellation()
      throw CoreError(.internalError, "the tunnel ended before it was ready")
    }
  }

  /// Ends the runtime and waits for it, at most `limit` (the client kills a bridge that lingers).
  func stop(within limit: Duration) async {
    runtime.end(.signal("stdin closed"))
    await Self.wait(for: task, atMost: limit)
  }

  private static func wait(for task: Task<Void, Never>, atMost limit: Duration) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let once = ResumeOnce(continuation)
      Task {
        await task.value
        once.resume()
      }
      Task {
        try? await Task.sleep(for: limit)
        once.resume()
      }
    }
  }
}

/// A continuation two racing tasks may resume: the first wins.
private final class ResumeOnce: Sendable {
  private let continuation: Mutex<CheckedContinuation<Void, Never>?>
  init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = Mutex(continuation) }
  func resume() { continuation.withLock { $0.take() }?.resume() }
}

/// `up`'s event reporter writes its ready line as a result; for `stdio` stdout is the JSON-RPC
/// channel, so everything goes to stderr.
struct DiagnosticsOnly: OutputSink {
  let wrapped: any OutputSink
  init(_ wrapped: any OutputSink) { self.wrapped = wrapped }
  func writeResult(_ text: String) { wrapped.writeDiagnostic(text) }
  func writeDiagnostic(_ text: String) { wrapped.writeDiagnostic(text) }
  var resultIsTerminal: Bool { wrapped.diagnosticIsTerminal }
  var diagnosticIsTerminal: Bool { wrapped.diagnosticIsTerminal }
}
