import Foundation
import LabSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small HTTP/1.1 server inside the test process that plays the MCP server: it records every
/// request (headers, body size, a prefix of the body, and whether an upload matched its
/// `X-Pattern-Seed`), and answers as the test's `behavior` says.
final class TestUpstream: Sendable {
  /// One request as the upstream saw it.
  struct Seen: Sendable {
    var method: HTTPMethod
    var uri: String
    var headers: HTTPHeaders
    var bodyCount: Int
    /// The first 64 KiB of the body.
    var bodyPrefix: [UInt8]
    /// For requests with `X-Pattern-Seed`: whether the body was exactly that `PatternStream`.
    var patternMatched: Bool?

    var authorization: String? { headers["authorization"].first }
    var bodyText: String { String(decoding: bodyPrefix, as: UTF8.self) }
  }

  enum Reply: Sendable {
    case text(HTTPResponseStatus, headers: [(String, String)] = [], body: String)
    /// Streams the response with the writer (SSE, large bodies, gated events).
    case custom(@Sendable (ResponseWriter) async throws -> Void)

    static func ok(_ body: String = #"{"ok":true}"#) -> Reply {
      .text(.ok, headers: [("Content-Type", "application/json")], body: body)
    }
  }

  typealias Behavior = @Sendable (Seen) -> Reply

  /// Writes one response from any task; each write waits until NIO took the bytes (backpressure).
  struct ResponseWriter: Sendable {
    let channel: any Channel

    func head(_ status: HTTPResponseStatus, _ headers: [(String, String)]) async throws {
      try await channel.writeAndFlush(
        HTTPServerResponsePart.head(
          HTTPResponseHead(
            version: .http1_1, status: status, headers: HTTPHeaders(headers))))
    }

    func body(_ text: String) async throws { try await body(ByteBuffer(string: text)) }

    func body(_ buffer: ByteBuffer) async throws {
      try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer)))
    }

    func end() async throws { try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)) }
  }

  let port: Int
  private let group: MultiThreadedEventLoopGroup
  private let server: any Channel
  private let box: StateBox

  final class StateBox: Sendable {
    let state: Mutex<(seen: [Seen], connections: Int, behavior: Behavior, bodyBytes: Int)>
    /// `METHOD uri` of every request head, as it arrives (before its body).
    let heads = Mutex<[String]>([])
    let closedConnections = Mutex(0)
    init(_ behavior: @escaping Behavior) { state = Mutex(([], 0, behavior, 0)) }

    /// Writes what `UpstreamRequestHandler` sees into this box; `changed` runs after each update.
    func recorder(changed: @escaping @Sendable () -> Void = {}) -> Recorder {
      Recorder(
        record: { seen in
          self.state.withLock { $0.seen.append(seen) }
          changed()
        },
        behavior: { self.state.withLock { $0.behavior } },
        accepted: {
          self.state.withLock { $0.connections += 1 }
          changed()
        },
        receivedBody: { count in
          self.state.withLock { $0.bodyBytes += count }
          changed()
        },
        receivedHead: { head in
          self.heads.withLock { $0.append(head) }
          changed()
        },
        closed: {
          self.closedConnections.withLock { $0 += 1 }
          changed()
        })
    }
  }

  var address: String { "127.0.0.1:\(port)" }
  var requests: [Seen] { box.state.withLock { $0.seen } }
  var connectionsAccepted: Int { box.state.withLock { $0.connections } }
  /// Request body bytes received so far, counted as they arrive (before a request is complete).
  var bodyBytesReceived: Int { box.state.withLock { $0.bodyBytes } }
  /// `METHOD uri` of every request head received, complete request or not (`requests` lists only
  /// requests whose end arrived).
  var headsReceived: [String] { box.heads.withLock { $0 } }
  /// Connections that have closed (the proxy's stream ended or was aborted).
  var connectionsClosed: Int { box.closedConnections.withLock { $0 } }

  func setBehavior(_ behavior: @escaping Behavior) { box.state.withLock { $0.behavior = behavior } }

  init(behavior: @escaping Behavior = { _ in .ok() }) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let box = StateBox(behavior)
    self.group = group
    self.box = box
    let recorder = box.recorder()
    server = try await ServerBootstrap(group: group)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.configureHTTPServerPipeline()
          try channel.pipeline.syncOperations.addHandler(UpstreamRequestHandler(recorder: recorder))
        }
      }
      .bind(host: "127.0.0.1", port: 0).get()
    port = server.localAddress?.port ?? 0
  }

  func stop() async {
    try? await server.close()
    try? await group.shutdownGracefully()
  }
}

/// The callbacks through which `UpstreamRequestHandler` reports what it saw.
struct Recorder: Sendable {
  let record: @Sendable (TestUpstream.Seen) -> Void
  let behavior: @Sendable () -> TestUpstream.Behavior
  let accepted: @Sendable () -> Void
  let receivedBody: @Sendable (Int) -> Void
  let receivedHead: @Sendable (String) -> Void
  let closed: @Sendable () -> Void
}

/// The MCP server's side of one upstream connection: records each request and answers it as the
/// behavior says. Used by `TestUpstream` on sockets and by `EmbeddedUpstream` in process.
final class UpstreamRequestHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let recorder: Recorder
  private var current: TestUpstream.Seen?
  private var pattern: PatternStream?
  private var matched = true

  init(recorder: Recorder) { self.recorder = recorder }

  func channelActive(context: ChannelHandlerContext) {
    recorder.accepted()
    context.fireChannelActive()
  }

  func channelInactive(context: ChannelHandlerContext) {
    recorder.closed()
    context.fireChannelInactive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head):
      recorder.receivedHead("\(head.method.rawValue) \(head.uri)")
      current = TestUpstream.Seen(
        method: head.method, uri: head.uri, headers: head.headers, bodyCount: 0, bodyPrefix: [],
        patternMatched: nil)
      pattern = head.headers["x-pattern-seed"].first.flatMap(UInt64.init).map { PatternStream(seed: $0) }
      matched = true
    case .body(let buffer):
      current?.bodyCount += buffer.readableBytes
      recorder.receivedBody(buffer.readableBytes)
      if let prefixCount = current?.bodyPrefix.count, prefixCount < 64 * 1024 {
        current?.bodyPrefix += buffer.readableBytesView.prefix(64 * 1024 - prefixCount)
      }
      if pattern != nil {
        buffer.withUnsafeReadableBytes { bytes in
          if !(pattern?.matches(bytes) ?? false) { matched = false }
        }
      }
    case .end:
      guard var seen = current else { return }
      if pattern != nil { seen.patternMatched = matched }
      current = nil
      recorder.record(seen)
      switch recorder.behavior()(seen) {
      case .text(let status, let headers, let body):
        var fields = HTTPHeaders(headers)
        fields.replaceOrAdd(name: "Content-Length", value: "\(body.utf8.count)")
        context.write(
          wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
      case .custom(let write):
        let writer = TestUpstream.ResponseWriter(channel: context.channel)
        Task {
          do { try await write(writer) } catch { try? await writer.channel.close() }
        }
      }
    }
  }
}
