import Foundation
import LabSupport
import MCPTunnelTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TokenProxy
import TunnelCore

/// A `StreamServer` for `InMemoryPortForwarder` that connects each stream to `127.0.0.1:port` and
/// pumps bytes both ways (half-closes passed on), the way the SSH forwarder's I/O thread does.
func pumpToTCP(port: Int) -> InMemoryPortForwarder.StreamServer {
  { fd in
    let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        // off-pool: InMemoryPortForwarder's stream thread
        connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
    guard upstream >= 0, connected else {
      if upstream >= 0 { close(upstream) }
      close(fd)
      return
    }
    let done = DispatchSemaphore(value: 0)
    let back = Thread {
      copyBytes(from: upstream, to: fd)
      shutdown(fd, Int32(SHUT_WR))
      done.signal()
    }
    back.start()
    copyBytes(from: fd, to: upstream)
    shutdown(upstream, Int32(SHUT_WR))
    done.wait()  // off-pool: InMemoryPortForwarder's stream thread
    close(upstream)
    close(fd)
  }
}

private func copyBytes(from source: Int32, to sink: Int32) {
  var buffer = [UInt8](repeating: 0, count: 64 * 1024)
  while true {
    let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }  // off-pool: the stream threads
    if n < 0 && errno == EINTR { continue }
    if n <= 0 { return }
    var offset = 0
    while offset < n {
      // off-pool: the stream threads
      let w = buffer.withUnsafeBytes { send(sink, $0.baseAddress! + offset, n - offset, Int32(MSG_NOSIGNAL)) }
      if w < 0 && errno == EINTR { continue }
      if w <= 0 { return }
      offset += w
    }
  }
}

/// Collects what the proxy's `onRequest` callback reports.
final class RecordLog: Sendable {
  private let state = Mutex<[ProxyRequestRecord]>([])
  var all: [ProxyRequestRecord] { state.withLock { $0 } }
  func append(_ record: ProxyRequestRecord) { state.withLock { $0.append(record) } }
}

/// Upstream + forwarder + token source + proxy, wired the way `up --mode http` will wire them.
final class ProxyHarness: Sendable {
  static let upstreamHost = "127.0.0.1:8080"

  let upstream: TestUpstream
  let forwarder: InMemoryPortForwarder
  let tokens: InMemoryTenantTokenSource
  let proxy: HTTPTokenProxy
  let address: HostPort
  private let log: RecordLog

  var port: Int { address.port }
  var records: [ProxyRequestRecord] { log.all }

  init(
    token: String = "acme-token-1", tenant: String = "acme", limits: HTTPTokenProxy.Limits = .init(),
    peerCheck: ListenerPeerCheck? = nil, behavior: @escaping TestUpstream.Behavior = { _ in .ok() }
  ) async throws {
    upstream = try await TestUpstream(behavior: behavior)
    forwarder = InMemoryPortForwarder(serve: pumpToTCP(port: upstream.port))
    try await forwarder.start()
    tokens = InMemoryTenantTokenSource(tenant: tenant, token: token)
    let log = RecordLog()
    self.log = log
    proxy = HTTPTokenProxy(limits: limits, peerCheck: peerCheck) { log.append($0) }
    address = try await proxy.start(
      listen: HostPort(host: "127.0.0.1", port: 0), forwarder: forwarder, tokens: tokens,
      upstreamHost: Self.upstreamHost)
  }

  /// Waits until `count` records arrived (a record is reported once the response is written); the
  /// deadline only turns a record that never comes into a failure.
  func waitForRecords(_ count: Int) async throws -> [ProxyRequestRecord] {
    _ = try await eventually { self.log.all.count >= count }
    return log.all
  }

  func stop() async {
    await proxy.stop()
    await forwarder.stop()
    await upstream.stop()
  }
}

/// Polls `condition` until it holds and returns true, or false after `seconds` — a deadline that
/// only turns a wait that never ends into a failure, never a measure of speed.
func eventually(seconds: Double = 120, _ condition: @Sendable () -> Bool) async throws -> Bool {
  let deadline = ContinuousClock.now + .seconds(seconds)
  while !condition() {
    if ContinuousClock.now >= deadline { return false }
    try await Task.sleep(for: .milliseconds(10))
  }
  return true
}

/// Runs `body` with a deadline; a hang fails the test instead of stalling the run.
func withTimeout<T: Sendable>(
  _ seconds: Double = 120, _ what: String = "operation", _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
  try await withThrowingTaskGroup(of: T.self) { group in
    group.addTask { try await body() }
    group.addTask {
      try await Task.sleep(for: .seconds(seconds))
      throw LabError("\(what) did not finish within \(seconds) s")
    }
    defer { group.cancelAll() }
    guard let first = try await group.next() else { throw LabError("\(what): no result") }
    return first
  }
}

/// A response as a test client received it.
struct TestResponse: Sendable {
  var head: HTTPResponseHead
  var body: [UInt8]
  var status: Int { Int(head.status.code) }
  var text: String { String(decoding: body, as: UTF8.self) }
  var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]) ?? [:] }
}

/// An HTTP/1.1 client connection to the proxy built on NIO's client codecs, for one test task.
final class TestConnection {
  typealias Inbound = NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
  private var inbound: Inbound
  let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
  let port: Int

  private init(inbound: Inbound, outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>, port: Int) {
    self.inbound = inbound
    self.outbound = outbound
    self.port = port
  }

  /// Connects, runs `body`, closes.
  static func with<T: Sendable>(
    port: Int, _ body: (TestConnection) async throws -> T
  ) async throws -> T {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .connect(host: "127.0.0.1", port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHTTPClientHandlers()
          return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
            wrappingChannelSynchronously: channel)
        }
      }
    return try await channel.executeThenClose { inbound, outbound in
      try await body(TestConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound, port: port))
    }
  }

  var defaultHost: String { "127.0.0.1:\(port)" }

  /// Sends a request; `body` nil sends none, otherwise with `Content-Length`.
  func send(
    _ method: HTTPMethod = .POST, _ uri: String = "/mcp", headers: [(String, String)] = [], body: String? = nil
  ) async throws {
    var fields = HTTPHeaders(headers)
    if !fields.contains(name: "host") { fields.add(name: "Host", value: defaultHost) }
    if let body { fields.replaceOrAdd(name: "Content-Length", value: "\(body.utf8.count)") }
    try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: fields)))
    if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body)))) }
    try await outbound.write(.end(nil))
  }

  /// The next response part; nil when the proxy closed the connection.
  func nextPart() async throws -> HTTPClientResponsePart? { try await inbound.next() }

  /// The next whole response; nil when the connection closed before one arrived.
  func response() async throws -> TestResponse? {
    var head: HTTPResponseHead?
    var body: [UInt8] = []
    while let part = try await inbound.next() {
      switch part {
      case .head(let h): head = h
      case .body(let buffer): body += buffer.readableBytesView
      case .end:
        if let head { return TestResponse(head: head, body: body) }
      }
    }
    return nil
  }

  /// Whether the proxy closed the connection (reads EOF, possibly after a stray part).
  func isClosedByPeer() async -> Bool {
    do {
      while try await inbound.next() != nil {}
      return true
    } catch {
      return true
    }
  }

  /// One request and its response on this connection.
  func exchange(
    _ method: HTTPMethod = .POST, _ uri: String = "/mcp", headers: [(String, String)] = [], body: String? = nil
  ) async throws -> TestResponse? {
    try await send(method, uri, headers: headers, body: body)
    return try await response()
  }
}

/// One request on a fresh connection.
func request(
  port: Int, _ method: HTTPMethod = .POST, _ uri: String = "/mcp", headers: [(String, String)] = [],
  body: String? = nil
) async throws -> TestResponse? {
  try await withTimeout(120, "\(method) \(uri)") {
    try await TestConnection.with(port: port) { try await $0.exchange(method, uri, headers: headers, body: body) }
  }
}

/// Writes raw bytes to the proxy and reads until it closes the connection (or `seconds` pass, which
/// only turns a proxy that never closes into a failure): for requests NIO's client encoder would
/// refuse to produce.
func rawExchange(port: Int, _ text: String, seconds: Double = 120) async throws -> (response: String, closed: Bool) {
  let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .connect(host: "127.0.0.1", port: port) { channel in
      channel.eventLoop.makeCompletedFuture {
        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
      }
    }
  return try await channel.executeThenClose { inbound, outbound in
    try await outbound.write(ByteBuffer(string: text))
    let collected = Mutex<(text: String, closed: Bool)>(("", false))
    _ = try? await withTimeout(seconds, "raw exchange") {
      var iterator = inbound.makeAsyncIterator()
      while let buffer = try await iterator.next() {
        collected.withLock { $0.text += String(buffer: buffer) }
      }
      collected.withLock { $0.closed = true }
      return true
    }
    return collected.withLock { ($0.text, $0.closed) }
  }
}

/// A one-shot signal between tasks.
final class Gate: Sendable {
  private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  func open() {
    let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
      s.open = true
      defer { s.waiters = [] }
      return s.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  var isOpen: Bool { state.withLock { $0.open } }

  func wait() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let resumeNow = state.withLock { s -> Bool in
        if s.open { return true }
        s.waiters.append(continuation)
        return false
      }
      if resumeNow { continuation.resume() }
    }
  }
}
