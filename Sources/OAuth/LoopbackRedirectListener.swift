import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TunnelCore

/// The RFC 8252 loopback redirect receiver (AZ-10/11): binds 127.0.0.1 only, on an ephemeral port
/// or the configured fixed one, accepts exactly one callback on the exact path whose `state`
/// matches, answers it with a small static page (no third-party resources, nothing echoed), and
/// closes. Any other request gets a 400/404 and the listener keeps waiting.
final class LoopbackRedirectListener: Sendable {
  /// The parameters of the callback that carried the right `state`.
  typealias Callback = [String: String]

  let redirectURI: URL
  private let channel: any Channel
  private let result: Mutex<CheckedContinuation<Callback, any Error>?> = Mutex(nil)
  private let delivered: Mutex<Callback?> = Mutex(nil)

  private init(redirectURI: URL, channel: any Channel) {
    self.redirectURI = redirectURI
    self.channel = channel
  }

  /// Binds `fixed` (host must be 127.0.0.1) or 127.0.0.1:0 with path `/callback`.
  static func bind(fixed: URL?, expectedState: String) async throws -> LoopbackRedirectListener {
    var port = 0
    var path = "/callback"
    if let fixed {
      guard fixed.scheme == "http", fixed.host == "127.0.0.1" || fixed.host == "[::1]" || fixed.host == "::1" else {
        throw OAuthError(
          .usage, "idp.redirect_uri \(fixed.absoluteString) must be http://127.0.0.1:<port>/<path> (RFC 8252 §7.3)",
          fix: "use the IP literal 127.0.0.1, not localhost or another host")
      }
      port = fixed.port ?? 80
      path = fixed.path.isEmpty ? "/" : fixed.path
    }
    let holder = ListenerBox()
    let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.backlog, value: 8)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline().flatMap {
          channel.pipeline.addHandler(CallbackHandler(path: path, expectedState: expectedState, listener: holder))
        }
      }
    let channel: any Channel
    do {
      channel = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
    } catch {
      throw OAuthError(
        .addressInUse, "cannot listen for the login redirect on 127.0.0.1:\(port): \(error)",
        fix: port == 0
          ? "check that loopback networking works"
          : "free port \(port) (idp.redirect_uri needs it) or use --flow device")
    }
    let bound = channel.localAddress?.port ?? port
    let uri = URL(string: "http://127.0.0.1:\(bound)\(path)")!
    let listener = LoopbackRedirectListener(redirectURI: fixed ?? uri, channel: channel)
    holder.listener.withLock { $0 = listener }
    return listener
  }

  /// Waits for the one valid callback, at most `timeout`, then closes the listener.
  func waitForCallback(timeout: Duration) async throws -> Callback {
    defer { close() }
    return try await withThrowingTaskGroup(of: Callback.self) { group in
      group.addTask {
        try await withCheckedThrowingContinuation { continuation in
          if let early = self.delivered.withLock({ $0 }) {
            continuation.resume(returning: early)
          } else {
            self.result.withLock { $0 = continuation }
          }
        }
      }
      group.addTask {
        try await Task.sleep(for: timeout)
        throw OAuthError(
          .loginRequired, "no login redirect arrived within \(timeout.components.seconds) s",
          fix: "run mcp-tunnel login again, or use --flow device on a machine without a browser")
      }
      defer { group.cancelAll() }
      return try await group.next()!
    }
  }

  fileprivate func deliver(_ callback: Callback) {
    let continuation = result.withLock { c -> CheckedContinuation<Callback, any Error>? in
      defer { c = nil }
      return c
    }
    if let continuation {
      continuation.resume(returning: callback)
    } else {
      delivered.withLock { if $0 == nil { $0 = callback } }
    }
  }

  func close() { channel.close(promise: nil) }
}

private final class ListenerBox: Sendable {
  let listener = Mutex<LoopbackRedirectListener?>(nil)
  let done = Mutex(false)
}

private final class CallbackHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let path: String
  private let expectedState: String
  private let box: ListenerBox
  private var head: HTTPRequestHead?

  init(path: String, expectedState: String, listener: ListenerBox) {
    self.path = path
    self.expectedState = expectedState
    self.box = listener
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head): self.head = head
    case .body: break
    case .end:
      guard let head else { return }
      self.head = nil
      respond(context: context, to: head)
    }
  }

  private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
    let components = URLComponents(string: head.uri)
    guard head.method == .GET, let components, components.path == path else {
      write(context: context, status: .notFound, body: "Not found.")
      return
    }
    var parameters: [String: String] = [:]
    for item in components.queryItems ?? [] where parameters[item.name] == nil {
      parameters[item.name] = item.value ?? ""
    }
    // AZ-06: a callback without our state is not ours; it is answered and ignored.
    guard parameters["state"] == expectedState else {
      write(context: context, status: .badRequest, body: "This login link is not the one mcp-tunnel is waiting for.")
      return
    }
    let first = box.done.withLock { done -> Bool in
      defer { done = true }
      return !done
    }
    guard first else {
      write(context: context, status: .gone, body: "This login was already completed.")
      return
    }
    let ok = parameters["error"] == nil
    write(
      context: context, status: .ok,
      body: ok
        ? "mcp-tunnel: you are signed in. You can close this tab and return to the terminal."
        : "mcp-tunnel: the sign-in did not complete. Return to the terminal for details.")
    box.listener.withLock { $0 }?.deliver(parameters)
  }

  private func write(context: ChannelHandlerContext, status: HTTPResponseStatus, body: String) {
    let html =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>mcp-tunnel</title></head><body><p>\(body)</p></body></html>"
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
    headers.add(name: "Content-Length", value: "\(html.utf8.count)")
    headers.add(name: "Cache-Control", value: "no-store")
    headers.add(name: "Referrer-Policy", value: "no-referrer")
    headers.add(name: "Connection", value: "close")
    context.write(
      wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: html)))), promise: nil)
    context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
  }
}
