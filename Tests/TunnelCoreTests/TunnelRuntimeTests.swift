import Foundation
import MCPTunnelTestSupport
import Synchronization
import Testing
import TunnelCore

/// `TunnelRuntime` against twins: the start order that picks the exit code, reverse shutdown, "one
/// fails, all stop", the control answers of both modes, a tenant switch, and the request-record →
/// audit mapping. The built binary over real peers is covered by the `up` lab suites.
@Suite("tunnel runtime (twins)", .timeLimit(.minutes(5)))
struct TunnelRuntimeTests {
  /// Every call of every twin, in the order they happened.
  final class CallLog: Sendable {
    private let calls = Mutex<[String]>([])
    func append(_ call: String) { calls.withLock { $0.append(call) } }
    var all: [String] { calls.withLock { $0 } }
  }

  /// Runtime events as a stream, so a test waits for the one it needs.
  final class Events: Sendable {
    let stream: AsyncStream<TunnelRuntime.Event>
    private let continuation: AsyncStream<TunnelRuntime.Event>.Continuation
    init() { (stream, continuation) = AsyncStream.makeStream(of: TunnelRuntime.Event.self) }
    func yield(_ event: TunnelRuntime.Event) { continuation.yield(event) }

    /// The first event `match` accepts, skipping others; nil if the stream ends first.
    func first<T>(_ match: (TunnelRuntime.Event) -> T?) async -> T? {
      for await event in stream { if let found = match(event) { return found } }
      return nil
    }
  }

  /// A forwarder that notes `start`/`stop` in the shared log and delegates to the echo twin.
  final class LoggingForwarder: PortForwarder {
    let inner: InMemoryPortForwarder
    let log: CallLog
    init(_ inner: InMemoryPortForwarder, log: CallLog) {
      self.inner = inner
      self.log = log
    }
    func start() async throws {
      log.append("forwarder.start")
      try await inner.start()
    }
    func openStream() async throws -> StreamSocket { try await inner.openStream() }
    func forward(_ client: StreamSocket) { inner.forward(client) }
    var events: AsyncStream<ForwarderEvent> { inner.events }
    func stop() async {
      log.append("forwarder.stop")
      await inner.stop()
    }
  }

  struct Endpoint: ControlEndpoint {
    let log: CallLog
    func stop() async { log.append("control.stop") }
  }

  struct Failure: UserFacingError {
    var category: FailureCategory
    var summary: String
    var fix: String? { nil }
  }

  /// The control handler the runtime installed, for the test to call as a client would.
  final class HandlerBox: Sendable {
    private let handler = Mutex<(@Sendable ([UInt8]) async -> [UInt8])?>(nil)
    func set(_ h: @escaping @Sendable ([UInt8]) async -> [UInt8]) { handler.withLock { $0 = h } }
    var value: (@Sendable ([UInt8]) async -> [UInt8])? { handler.withLock { $0 } }
  }

  let log = CallLog()
  let events = Events()
  let acme = TenantID("acme")!
  let globex = TenantID("globex")!
  let profile = Profile(
    name: "lab",
    ssh: SSHSettings(jump: [SSHEndpoint(parsing: "a@127.0.0.1:2201")!], target: HostPort(host: "127.0.0.1", port: 8080))
  )

  /// A control starter that notes the claim and keeps the handler for the test.
  func control(
    failWith error: (any Error & Sendable)? = nil, handler: HandlerBox? = nil
  ) -> ControlEndpointStarter {
    let log = self.log
    return { h in
      log.append("control.start")
      if let error { throw error }
      handler?.set(h)
      return Endpoint(log: log)
    }
  }

  func runtime(
    frontEnd: InMemoryFrontEnd, forwarder: InMemoryPortForwarder = InMemoryPortForwarder(),
    tokens: TunnelRuntime.Tokens? = nil, control: ControlEndpointStarter? = nil, audit: InMemoryAuditSink? = nil
  ) -> TunnelRuntime {
    let events = self.events
    return TunnelRuntime(
      settings: TunnelRuntime.Settings(
        profile: profile, sessionID: "s1", subject: "dev1", hops: ["a@127.0.0.1:2201"],
        tokenFingerprint: { _ in "sha256:test" }),
      services: TunnelRuntime.Services(
        forwarder: LoggingForwarder(forwarder, log: log), frontEnd: frontEnd, tokens: tokens,
        control: control ?? self.control(), audit: audit),
      onEvent: { events.yield($0) })
  }

  func frontEnd(_ mode: ListenMode, startError: (any Error & Sendable)? = nil) -> InMemoryFrontEnd {
    let log = self.log
    return InMemoryFrontEnd(mode: mode, startError: startError, onCall: { log.append("frontEnd.\($0)") })
  }

  func ready() async -> TunnelRuntime.Ready? {
    await events.first { if case .ready(let r) = $0 { r } else { nil } }
  }

  // MARK: order

  @Test("start order control → path → front end; a signal stops them in reverse and run returns")
  func orderAndSignal() async throws {
    let runtime = runtime(frontEnd: frontEnd(.tcp))
    let run = Task { try await runtime.run() }
    let ready = try #require(await ready())
    #expect(ready.mode == .tcp && ready.url == nil && ready.tenant == nil && ready.hops == ["a@127.0.0.1:2201"])
    runtime.end(.signal("SIGTERM"))
    try await run.value
    #expect(await events.first { if case .stopped(let r) = $0 { r } else { nil } } == "SIGTERM")
    #expect(
      log.all == [
        "control.start", "forwarder.start", "frontEnd.start", "control.stop", "frontEnd.stop", "forwarder.stop",
      ])
  }

  @Test("SPEC exit 8 first: a taken control socket fails before any SSH traffic, and the bound port is released")
  func controlTaken() async throws {
    let taken = Failure(category: .addressInUse, summary: "another up runs")
    let runtime = runtime(frontEnd: frontEnd(.http), control: control(failWith: taken))
    await #expect(throws: Failure.self) { try await runtime.run() }
    #expect(log.all == ["control.start", "frontEnd.stop", "forwarder.stop"])
  }

  @Test("the SSH path fails to start: its error is thrown (its exit code), the front end never serves")
  func pathFails() async throws {
    let refused = Failure(category: .sshConnection, summary: "hop 1/1: publickey refused")
    let runtime = runtime(frontEnd: frontEnd(.tcp), forwarder: InMemoryPortForwarder(startError: refused))
    let error = await #expect(throws: Failure.self) { try await runtime.run() }
    #expect(error?.category == .sshConnection)
    #expect(!log.all.contains("frontEnd.start"))
    #expect(log.all.suffix(3) == ["control.stop", "frontEnd.stop", "forwarder.stop"])
  }

  @Test("one fails, all stop: a fatal path event after ready ends the run with its category, audited as an error")
  func fatalEventAfterReady() async throws {
    let forwarder = InMemoryPortForwarder()
    let audit = InMemoryAuditSink()
    let runtime = runtime(frontEnd: frontEnd(.tcp), forwarder: forwarder, audit: audit)
    let run = Task { try await runtime.run() }
    _ = try #require(await ready())
    forwarder.emit(.failed(category: .hostKeyVerification, message: "hop 1/1: the host key changed"))
    let error = await #expect(throws: TunnelFailure.self) { try await run.value }
    #expect(error?.category == .hostKeyVerification)
    #expect(await events.first { if case .stopped(let r) = $0 { r } else { nil } } == "failed")
    #expect(audit.events.map(\.event) == [.tunnelUp, .tunnelDown])
    #expect(audit.events(of: .tunnelDown).first?.outcome == .error)
    #expect(log.all.suffix(3) == ["control.stop", "frontEnd.stop", "forwarder.stop"])
  }

  @Test("a signal before the path is built ends the run without an error, and no SSH connection is made")
  func signalBeforeReady() async throws {
    let runtime = runtime(frontEnd: frontEnd(.tcp))
    runtime.end(.signal("SIGINT"))
    try await runtime.run()
    #expect(!log.all.contains("forwarder.start") && !log.all.contains("frontEnd.start"))
    #expect(await events.first { if case .stopped(let r) = $0 { r } else { nil } } == "SIGINT")
  }

  // MARK: control answers

  @Test("tcp mode answers status over the control socket, and refuses tenant and token requests with the fix")
  func tcpControl() async throws {
    let handler = HandlerBox()
    let runtime = runtime(frontEnd: frontEnd(.tcp), control: control(handler: handler))
    let run = Task { try await runtime.run() }
    _ = try #require(await ready())
    let answer = try #require(handler.value)
    let status = try ControlProtocol.decoder.decode(
      ControlResponse.self, from: Data(await answer(Array(#"{"op":"status"}"#.utf8))))
    #expect(status.ok && status.tunnel?.mode == "tcp" && status.tunnel?.url == nil && status.tunnel?.tenant == nil)
    #expect(status.tunnel?.state == "forwarding" && status.tunnel?.hops.map(\.state) == ["connected"])
    for op in ["tenant_use", "tenant_current", "tenant_list", "token"] {
      let refused = try ControlProtocol.decoder.decode(
        ControlResponse.self, from: Data(await answer(Array(#"{"op":"\#(op)","tenant":"acme"}"#.utf8))))
      #expect(!refused.ok && refused.error?.category == "usage" && refused.error?.fix != nil, "\(op)")
    }
    let garbage = try ControlProtocol.decoder.decode(ControlResponse.self, from: Data(await answer(Array("{".utf8))))
    #expect(!garbage.ok && garbage.error?.category == "usage")
    runtime.end(.signal("SIGTERM"))
    try await run.value
  }

  @Test("a reconnect shows in status and the audit log, and is reported as events")
  func reconnect() async throws {
    let forwarder = InMemoryPortForwarder()
    let audit = InMemoryAuditSink()
    let runtime = runtime(frontEnd: frontEnd(.tcp), forwarder: forwarder, audit: audit)
    let run = Task { try await runtime.run() }
    _ = try #require(await ready())
    forwarder.emit(.reconnecting(attempt: 1, delay: .milliseconds(500), reason: "EOF"))
    #expect(await events.first { if case .reconnecting(let a, _, _) = $0 { a } else { nil } } == 1)
    #expect(await runtime.status().state == "reconnecting")
    forwarder.emit(.reconnected(hops: ["a@127.0.0.1:2201"], attempts: 1))
    #expect(await events.first { if case .reconnected(_, let a) = $0 { a } else { nil } } == 1)
    let status = await runtime.status()
    #expect(status.state == "forwarding" && status.counters.reconnects == 1)
    #expect(audit.events(of: .reconnect).count == 1)
    runtime.end(.signal("SIGTERM"))
    try await run.value
  }

  // MARK: http mode

  func tokens(loggedIn: Bool = true) throws -> (TunnelRuntime.Tokens, InMemorySessionTokenMinter) {
    let key = StoredLoginKey(profile: "lab", issuer: "https://idp.example.test", clientID: "mcp-tunnel")
    let store = InMemorySecretStore()
    let idp = InMemoryIdentityProvider()
    if loggedIn { try store.store(StoredLogin(subject: "dev1", refreshToken: idp.issueRefreshToken()), for: key) }
    let minter = InMemorySessionTokenMinter(expiresIn: .seconds(300))
    let settings = SessionSettings(
      method: .tokenExchange, resource: TenantTemplate("https://mcp.example.test/t/{tenant}/mcp"),
      audience: TenantTemplate("mcp-{tenant}"), scope: TenantTemplate("mcp tenant:{tenant}"), maxTTL: .seconds(900),
      tenants: [acme, globex], defaultTenant: acme)
    let login = LoginSession(key: key, store: store, provider: idp, lock: InMemoryCrossProcessLock())
    return (TunnelRuntime.Tokens(settings: settings, login: login, minter: minter, tenant: acme), minter)
  }

  @Test("http mode: ready carries the first token's expiry; use(tenant) mints, retires old connections, audits")
  func httpTenantSwitch() async throws {
    let (tokens, _) = try tokens()
    let audit = InMemoryAuditSink()
    let front = frontEnd(.http)
    let runtime = runtime(frontEnd: front, tokens: tokens, audit: audit)
    let run = Task { try await runtime.run() }
    let ready = try #require(await ready())
    #expect(ready.url == "http://127.0.0.1:7700/mcp" && ready.tenant == acme && ready.tokenExpiresAt != nil)
    #expect(front.tokens != nil, "the front end gets the broker as its token source")
    let (previous, token) = try await runtime.use(globex)
    #expect(previous == acme && token.tenant == globex)
    #expect(front.calls.contains("retire \(token.generation)"))
    let switched = await events.first { if case .tenantSwitched(let f, let t) = $0 { (f, t) } else { nil } }
    #expect(switched?.0 == acme && switched?.1 == globex)
    #expect(audit.events(of: .tenantSwitch).map(\.tenant) == ["globex"])
    #expect(audit.events(of: .tokenMinted).count == 2)
    #expect(audit.events(of: .tokenMinted).allSatisfy { $0.tokenID == "sha256:test" })
    #expect(await runtime.status().tenant == "globex")
    runtime.end(.signal("SIGTERM"))
    try await run.value
    #expect(audit.events(of: .tunnelDown).first?.tenant == "globex")
  }

  @Test("http mode, not logged in: the run still reaches ready, after a tokenPending event naming the fix")
  func httpLoggedOut() async throws {
    let (tokens, _) = try tokens(loggedIn: false)
    let runtime = runtime(frontEnd: frontEnd(.http), tokens: tokens)
    let run = Task { try await runtime.run() }
    let pending = await events.first { if case .tokenPending(let t, _, let fix) = $0 { (t, fix) } else { nil } }
    #expect(pending?.0 == acme && pending?.1 != nil)
    let ready = try #require(await ready())
    #expect(ready.tokenExpiresAt == nil)
    runtime.end(.signal("SIGTERM"))
    try await run.value
  }

  // MARK: request records → audit

  @Test("SPEC §7: the proxy's own 403 is `denied`; a batch gives one record per message; a body without one says why")
  func auditMapping() {
    func events(_ record: ProxyRequestRecord) -> [AuditEvent] {
      TunnelRuntime.auditEvents(for: record, profile: "lab", actor: "dev1", session: "s1")
    }
    let denied = events(
      ProxyRequestRecord(
        method: "POST", path: "/mcp", status: 403, duration: .milliseconds(2), answeredBy: .proxy,
        completed: true, detail: "foreign Origin"))
    #expect(denied.map(\.event) == [.denied] && denied.first?.outcome == .denied)
    let batch = events(
      ProxyRequestRecord(
        method: "POST", path: "/mcp", status: 200, duration: .milliseconds(1500), bodyKind: .jsonRPC,
        rpcMessages: [
          .init(method: "tools/call", id: "1", target: .tool("whoami")),
          .init(method: "resources/read", id: "2", target: .resource("lab://x")),
        ], answeredBy: .upstream, completed: true))
    #expect(batch.map(\.tool) == ["whoami", nil] && batch.map(\.resource) == [nil, "lab://x"])
    #expect(batch.allSatisfy { $0.detail == "batch of 2" && $0.outcome == .ok && $0.durationMilliseconds == 1500 })
    let rpcError = events(
      ProxyRequestRecord(
        method: "POST", path: "/mcp", status: 200, duration: .zero, bodyKind: .jsonRPC,
        rpcMessages: [.init(method: "tools/call", id: "1")], rpcErrorCode: -32601, answeredBy: .upstream,
        completed: true))
    #expect(rpcError.first?.outcome == .error && rpcError.first?.rpcError == -32601)
    let opaque = events(
      ProxyRequestRecord(
        method: "POST", path: "/mcp", status: 502, duration: .zero, bodyKind: .notJSONRPC, answeredBy: .proxy,
        completed: true, detail: "no SSH path"))
    #expect(opaque.first?.detail == "POST /mcp: body is not JSON-RPC: no SSH path" && opaque.first?.event == .call)
    #expect(opaque.first?.outcome == .error)
    let stream = ProxyRequestRecord(
      method: "GET", path: "/mcp", status: 200, duration: .seconds(30), answeredBy: .upstream, completed: false,
      detail: "client_closed")
    #expect(events(stream).first?.outcome == .ok, "the client ending its GET event stream is how that stream ends")
    var brokenPost = stream
    brokenPost.method = "POST"
    #expect(events(brokenPost).first?.outcome == .error, "a POST whose answer the client abandoned is not ok")
    var upstreamEnded = stream
    upstreamEnded.detail = "upstream_closed"
    #expect(events(upstreamEnded).first?.outcome == .error)
  }
}
