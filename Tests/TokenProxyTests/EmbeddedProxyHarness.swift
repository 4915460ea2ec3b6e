import Dispatch
import Logging
import MCPTunnelTestSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Synchronization
import TunnelCore

@testable import TokenProxy

/// The http proxy's client pipeline, in process: every client connection and every upstream stream
/// is a `NIOAsyncTestingChannel` on one `NIOAsyncTestingEventLoop`, set up exactly as
/// `HTTPTokenProxy` sets up its sockets (`HTTPTokenProxy.addClientHandlers`), with an
/// `UpstreamDialer` whose streams lead to an in-process MCP server (`UpstreamRequestHandler`, the
/// one `TestUpstream` runs on sockets). No socket, no thread of its own, no real waiting: time
/// moves only by `advanceTime(by:)`, so the deadline cases are deterministic.
///
/// The asynchronous-testing loop, not `EmbeddedEventLoop`: the proxy fetches tokens and opens
/// streams in Swift tasks whose results hop back onto the loop, and only the former may be
/// called from another thread. Tests wait for events (`waitUntil`, signalled by every byte,
/// close, record and upstream change), never for time.
final class EmbeddedProxyHarness: Sendable {
  /// The address the proxy "listens" on: `Host` must name it (LP-01); `HOST` in a `HostileCase`.
  static let listen = HostPort(host: "127.0.0.1", port: 18080)

  let loop: NIOAsyncTestingEventLoop
  let tokens: InMemoryTenantTokenSource
  /// The token source the proxy calls: `tokens`, held back while the test says so.
  let heldTokens: HeldTokenSource
  let upstream: EmbeddedUpstream
  let changes: ChangeSignal
  private let shared: ProxyShared
  private let log: RecordLog

  var port: Int { Self.listen.port }
  var host: String { "\(Self.listen.host):\(Self.listen.port)" }
  var counters: ProxyCounters { shared.counters }
  var records: [ProxyRequestRecord] { log.all }

  init(
    token: String = "acme-token-1", tenant: String = "acme", limits: HTTPTokenProxy.Limits = .init(),
    behavior: @escaping TestUpstream.Behavior = { _ in .ok() }
  ) {
    let loop = NIOAsyncTestingEventLoop()
    let changes = ChangeSignal()
    let log = RecordLog()
    self.loop = loop
    self.changes = changes
    self.log = log
    tokens = InMemoryTenantTokenSource(tenant: tenant, token: token)
    heldTokens = HeldTokenSource(tokens, changes: changes)
    upstream = EmbeddedUpstream(loop: loop, behavior: behavior, changes: changes)
    shared = ProxyShared(
      tokens: heldTokens, dialer: upstream, upstreamHost: ProxyHarness.upstreamHost, listen: Self.listen,
      limits: limits, logger: Logger(label: "mcp-tunnel.proxy.embedded"),
      onRequest: { record in
        log.append(record)
        changes.bump()
      })
  }

  /// Closes every channel and shuts the loop down, on the loop's own queue: a testing loop must
  /// not be freed with deadlines still scheduled or promises (a channel's close) unfulfilled.
  deinit {
    let loop = loop
    let channels = upstream.allChannels
    loop.execute {
      for channel in channels where channel.isActive { channel.close(promise: nil) }
    }
    loop.shutdownGracefully(queue: .global()) { _ in withExtendedLifetime(loop) {} }
  }

  /// A new client connection, active, with the proxy's handlers in its pipeline.
  func connect() async throws -> EmbeddedClient {
    let client = try await loop.executeInContext { [shared, loop, changes] in
      let channel = NIOAsyncTestingChannel(loop: loop)
      let wire = WireEnd()
      let client = EmbeddedClient(channel: channel, wire: NIOLoopBound(wire, eventLoop: loop), changes: changes)
      wire.onSend = { bytes in client.didReceive(bytes) }
      wire.onClose = { client.didClose() }
      try channel.pipeline.syncOperations.addHandler(wire)
      try HTTPTokenProxy.addClientHandlers(to: channel, shared: shared)
      channel.pipeline.register(promise: nil)
      channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 50000), promise: nil)
      return client
    }
    upstream.track(client.channel)
    await loop.run()
    return client
  }

  /// Moves the loop's clock on, running every deadline that falls due.
  func advanceTime(by duration: Duration) async { await loop.advanceTime(by: TimeAmount(duration)) }

  /// Returns once `condition` holds; re-checked after every byte, close, record or upstream event.
  func waitUntil(_ condition: () -> Bool) async { await changes.wait(until: condition) }

  /// Waits until `count` records were reported.
  func waitForRecords(_ count: Int) async -> [ProxyRequestRecord] {
    await waitUntil { log.all.count >= count }
    return log.all
  }

  /// One request on a new connection: its response, or nil when the connection closed first.
  func request(
    _ method: String = "POST", _ uri: String = "/mcp", headers: [(String, String)] = [], body: String? = nil
  ) async throws -> RawResponse? {
    let client = try await connect()
    await client.send(Self.requestText(method, uri, host: host, headers: headers, body: body))
    return await client.wait { !$0.responses.isEmpty || $0.closed }.responses.first
  }

  /// A request as raw text, with `Host` (unless `headers` has one) and `Content-Length` for a body.
  static func requestText(
    _ method: String, _ uri: String, host: String, headers: [(String, String)] = [], body: String? = nil
  ) -> String {
    var fields = headers
    if !fields.contains(where: { $0.0.lowercased() == "host" }) { fields.insert(("Host", host), at: 0) }
    if let body { fields.append(("Content-Length", "\(body.utf8.count)")) }
    return "\(method) \(uri) HTTP/1.1\r\n" + fields.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n" + (body ?? "")
  }
}

/// One client connection in process: what the test writes is what the proxy reads from its
/// socket, and what the proxy writes and flushes is collected as the client's `received` bytes.
final class EmbeddedClient: Sendable {
  let channel: NIOAsyncTestingChannel
  private let wire: NIOLoopBound<WireEnd>
  private let changes: ChangeSignal
  private let state = Mutex(RawHTTPClient.Received())

  fileprivate init(channel: NIOAsyncTestingChannel, wire: NIOLoopBound<WireEnd>, changes: ChangeSignal) {
    self.channel = channel
    self.wire = wire
    self.changes = changes
  }

  /// What the proxy sent so far (`reset` is never set: there is no TCP here).
  var received: RawHTTPClient.Received { state.withLock { $0 } }

  /// Sends bytes to the proxy (read when the proxy asks for a read); false when it already closed.
  @discardableResult
  func send(_ bytes: [UInt8]) async -> Bool {
    guard channel.isActive else { return false }
    _ = try? await channel.testingEventLoop.executeInContext { [wire] in wire.value.peerSent(ByteBuffer(bytes: bytes)) }
    await channel.testingEventLoop.run()
    return true
  }

  @discardableResult
  func send(_ text: String) async -> Bool { await send(Array(text.utf8)) }

  /// The client hangs up.
  func close() async {
    _ = try? await channel.testingEventLoop.executeInContext { [wire] in wire.value.peerClosed() }
    await channel.testingEventLoop.run()
  }

  /// Waits until `condition` holds for what arrived; returns what arrived.
  @discardableResult
  func wait(until condition: (RawHTTPClient.Received) -> Bool) async -> RawHTTPClient.Received {
    await changes.wait { condition(received) }
    return received
  }

  /// Waits until the proxy closed the connection.
  func waitForClose() async -> RawHTTPClient.Received { await wait { $0.closed } }

  fileprivate func didReceive(_ bytes: ByteBuffer) {
    state.withLock { $0.bytes += bytes.readableBytesView }
    changes.bump()
  }

  fileprivate func didClose() {
    state.withLock { $0.closed = true }
    changes.bump()
  }
}

/// The dialer of `EmbeddedProxyHarness`: each stream is a testing channel cross-connected to a
/// second one, the MCP server's end, whose pipeline is NIO's HTTP server codec and
/// `UpstreamRequestHandler` (the same recorder and behaviors as `TestUpstream`).
final class EmbeddedUpstream: UpstreamDialer {
  private let loop: NIOAsyncTestingEventLoop
  private let box: TestUpstream.StateBox
  private let changes: ChangeSignal
  private let opened = Mutex(0)
  private let channels = Mutex<[NIOAsyncTestingChannel]>([])

  init(loop: NIOAsyncTestingEventLoop, behavior: @escaping TestUpstream.Behavior, changes: ChangeSignal) {
    self.loop = loop
    self.box = TestUpstream.StateBox(behavior)
    self.changes = changes
  }

  /// Streams the proxy opened (`InMemoryPortForwarder.openedCount` on sockets).
  var openedCount: Int { opened.withLock { $0 } }
  var requests: [TestUpstream.Seen] { box.state.withLock { $0.seen } }
  var connectionsAccepted: Int { box.state.withLock { $0.connections } }
  var bodyBytesReceived: Int { box.state.withLock { $0.bodyBytes } }
  var headsReceived: [String] { box.heads.withLock { $0 } }
  var connectionsClosed: Int { box.closedConnections.withLock { $0 } }

  /// Every channel of the harness, clients' included, for its teardown.
  var allChannels: [NIOAsyncTestingChannel] { channels.withLock { $0 } }

  func track(_ channel: NIOAsyncTestingChannel) { channels.withLock { $0.append(channel) } }

  func open() async throws -> any UpstreamStream {
    opened.withLock { $0 += 1 }
    changes.bump()
    return Stream(upstream: self)
  }

  private struct Stream: UpstreamStream {
    let upstream: EmbeddedUpstream

    func makeChannel(
      on loop: any EventLoop, initialize: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) throws -> EventLoopFuture<any Channel> {
      let testingLoop = upstream.loop
      precondition(loop === testingLoop, "the upstream must run on the client connection's loop")
      let proxySide = NIOAsyncTestingChannel(loop: testingLoop)
      let proxyWire = WireEnd()
      try proxySide.pipeline.syncOperations.addHandler(proxyWire)
      let serverSide = NIOAsyncTestingChannel(loop: testingLoop)
      let serverWire = WireEnd()
      try serverSide.pipeline.syncOperations.addHandler(serverWire)
      try serverSide.pipeline.syncOperations.configureHTTPServerPipeline()
      try serverSide.pipeline.syncOperations.addHandler(
        UpstreamRequestHandler(recorder: upstream.box.recorder { [changes = upstream.changes] in changes.bump() }))
      WireEnd.cross(proxyWire, serverWire)
      upstream.track(proxySide)
      upstream.track(serverSide)
      let address = try SocketAddress(ipAddress: "127.0.0.1", port: 8080)
      return initialize(proxySide).assumeIsolated().map { () -> any Channel in
        serverSide.pipeline.register(promise: nil)
        serverSide.connect(to: address, promise: nil)
        proxySide.pipeline.register(promise: nil)
        proxySide.connect(to: address, promise: nil)
        return proxySide
      }.nonisolated()
    }

    func discard() {}
  }
}

/// The socket end of an in-process connection, first in a testing channel's pipeline. It behaves
/// like a socket under `autoRead`: bytes from the peer wait until the pipeline asks for a read (so
/// the proxy holding reads back holds them back), written bytes leave on flush, and a close is seen
/// by the peer after the bytes written before it. Deliveries happen on a later loop tick, as socket
/// events do, never inside the writer's call.
final class WireEnd: ChannelDuplexHandler {
  typealias InboundIn = ByteBuffer
  typealias InboundOut = ByteBuffer
  typealias OutboundIn = IOData
  typealias OutboundOut = IOData

  /// Flushed bytes, handed to the peer (or the test).
  var onSend: ((ByteBuffer) -> Void)?
  /// The channel closed.
  var onClose: (() -> Void)?
  /// The peer end's `peerClosed`, when cross-connected.
  var onCloseToPeer: (() -> Void)?

  private var context: ChannelHandlerContext?
  private var unflushed = ByteBuffer()
  private var unflushedPromises: [EventLoopPromise<Void>] = []
  private var fromPeer: [ByteBuffer] = []
  private var peerHasClosed = false
  private var readRequested = false
  private var deliveryScheduled = false

  /// Connects two ends: each one's sent bytes and close reach the other.
  static func cross(_ a: WireEnd, _ b: WireEnd) {
    a.onSend = { [weak b] bytes in b?.peerSent(bytes) }
    b.onSend = { [weak a] bytes in a?.peerSent(bytes) }
    a.onCloseToPeer = { [weak b] in b?.peerClosed() }
    b.onCloseToPeer = { [weak a] in a?.peerClosed() }
  }

  func handlerAdded(context: ChannelHandlerContext) { self.context = context }

  func handlerRemoved(context: ChannelHandlerContext) {
    self.context = nil
    let promises = unflushedPromises
    unflushedPromises = []
    for promise in promises { promise.fail(ChannelError.ioOnClosedChannel) }
  }

  /// Bytes from the peer: read on the next tick once a read is asked for.
  func peerSent(_ bytes: ByteBuffer) {
    fromPeer.append(bytes)
    scheduleDelivery()
  }

  /// The peer closed: what it sent before is read first, then this end closes too.
  func peerClosed() {
    peerHasClosed = true
    scheduleDelivery()
  }

  func channelActive(context: ChannelHandlerContext) {
    context.fireChannelActive()
    context.channel.read()  // autoRead's first read
  }

  func channelInactive(context: ChannelHandlerContext) {
    onClose?()
    onCloseToPeer?()
    context.fireChannelInactive()
  }

  func read(context: ChannelHandlerContext) {
    readRequested = true
    scheduleDelivery()
  }

  func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
    if case .byteBuffer(var buffer) = unwrapOutboundIn(data) { unflushed.writeBuffer(&buffer) }
    if let promise { unflushedPromises.append(promise) }
  }

  func flush(context: ChannelHandlerContext) {
    let bytes = unflushed
    let promises = unflushedPromises
    unflushed.clear()
    unflushedPromises = []
    if bytes.readableBytes > 0 { onSend?(bytes) }
    for promise in promises { promise.succeed() }
  }

  private func scheduleDelivery() {
    guard !deliveryScheduled, let context else { return }
    guard (readRequested && !fromPeer.isEmpty) || peerHasClosed else { return }
    deliveryScheduled = true
    context.eventLoop.assumeIsolated().execute { self.deliver() }
  }

  private func deliver() {
    deliveryScheduled = false
    guard let context, context.channel.isActive else { return }
    // A closing peer's last bytes are read regardless of held reads: the socket reports them with the EOF.
    if (readRequested || peerHasClosed), var all = fromPeer.first {
      for more in fromPeer.dropFirst() { all.writeImmutableBuffer(more) }
      fromPeer = []
      readRequested = false
      context.fireChannelRead(wrapInboundOut(all))
      context.fireChannelReadComplete()
      if !peerHasClosed, context.channel.isActive { context.channel.read() }  // autoRead
    }
    if peerHasClosed, context.channel.isActive { context.close(promise: nil) }
  }
}

/// "Something changed": bumped on every event a test may wait for.
final class ChangeSignal: Sendable {
  private struct State {
    var version: UInt64 = 0
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private let state = Mutex(State())

  func bump() {
    let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
      s.version &+= 1
      defer { s.waiters = [] }
      return s.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Returns once `condition` holds, checking it again after every `bump()`.
  func wait(until condition: () -> Bool) async {
    while true {
      let seen = state.withLock { $0.version }
      if condition() { return }
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let changed = state.withLock { s -> Bool in
          if s.version != seen { return true }
          s.waiters.append(continuation)
          return false
        }
        if changed { continuation.resume() }
      }
    }
  }
}

/// A token source that can hold `currentToken()` until the test lets it go, standing in for a
/// slow mint without any real waiting.
final class HeldTokenSource: TenantTokenSource {
  private let inner: InMemoryTenantTokenSource
  private let changes: ChangeSignal
  private let gate = Mutex<Gate?>(nil)
  private let calls = Mutex(0)

  init(_ inner: InMemoryTenantTokenSource, changes: ChangeSignal) {
    self.inner = inner
    self.changes = changes
  }

  /// `currentToken()` calls so far, held ones included.
  var currentTokenCalls: Int { calls.withLock { $0 } }

  /// From now on `currentToken()` waits until `release()`.
  func hold() { gate.withLock { $0 = Gate() } }

  func release() { gate.withLock { $0 }?.open() }

  func currentToken() async throws -> TenantSessionToken {
    calls.withLock { $0 += 1 }
    changes.bump()
    if let gate = gate.withLock({ $0 }) { await gate.wait() }
    return try await inner.currentToken()
  }

  func replaceRejected(_ rejected: TenantSessionToken) async throws -> TenantSessionToken {
    try await inner.replaceRejected(rejected)
  }
}
