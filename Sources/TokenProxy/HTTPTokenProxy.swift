import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TunnelCore

/// The local listener of mode `http` (SPEC §5): an HTTP/1.1 reverse proxy on loopback that
/// injects the tenant token into every request and carries each upstream connection over a stream
/// from `PortForwarder.openStream()`.
///
/// Per request: `Host` must name the listen address (or `localhost`/`127.0.0.1`/`[::1]` with its
/// port) and `Origin`, when present, a loopback origin, else `403` (LP-01); ambiguous framing or a
/// malformed request gets `400` and the connection closes; heads, bodies and waits are bounded by
/// `Limits` (`431`, `413`, `408`); OAuth discovery paths get a local `404` (USE-06); the client's
/// `Authorization`, `Proxy-Authorization`, `Cookie`, `DPoP` and hop-by-hop fields are stripped and
/// `Authorization: Bearer <tenant token>` injected (USE-01/02); all other fields, the MCP ones
/// included, pass unchanged (USE-07). A token source failure is a `503` whose JSON body names the
/// fix; a failed `openStream()` a `502` naming the SSH problem. Connection reuse, the tenant
/// binding of connections and the `401 invalid_token` retry are described on
/// `ProxyConnectionHandler`.
///
/// Threading: one `MultiThreadedEventLoopGroup` with one thread, owned by the proxy, runs every
/// client and upstream channel; `onRequest` is called on it and must return quickly. The public
/// methods may be called from any thread. Call `stop()` before dropping a started proxy: it owns
/// that thread.
public final class HTTPTokenProxy: Sendable {
  /// Size and time limits; the defaults suit MCP traffic. Every refusal below is a JSON answer
  /// (`error`, `message`, `fix`) with `Connection: close`, counted in `ProxyCounters.errors`, and
  /// nothing of the refused request is forwarded (a streamed chunked body excepted: its upstream
  /// stream is aborted, so the MCP server never sees a complete request). A refusal before any
  /// request head was parsed (`431`, `408` for the head, a malformed head) counts in `errors` only:
  /// not in `requests`, and no `onRequest` record, as there is no method or path to report.
  public struct Limits: Sendable, Equatable {
    /// Largest request body (known from `Content-Length`) kept for a replay after `401`.
    public var replayableBody: Int
    /// Largest request body copied aside for the JSON-RPC summary of `ProxyRequestRecord`, and how
    /// much of an `application/json` or `text/event-stream` response is looked at for
    /// `rpcErrorCode`. Bodies stream on regardless; only the summary stops at this size.
    public var jsonSummaryBody: Int
    /// Request body bytes read and dropped after the proxy answered early; beyond, the connection closes.
    public var discardedBody: Int
    /// Largest request head, in bytes of the request target plus every header field name and
    /// value (NIO's count: the method, the version, `: ` and line ends are not counted; no single
    /// target, name or value may be larger either). Beyond: `431 request_head_too_large` + close.
    public var requestHead: Int
    /// Most header fields in one request head (trailers included). Beyond: `431` + close.
    public var headerFields: Int
    /// Largest request body. A larger `Content-Length` is answered `413 body_too_large` + close
    /// before anything is forwarded; a chunked body that grows past it gets the same answer when
    /// no response has started (else the connection just closes) and its upstream stream is aborted.
    public var requestBody: Int
    /// Time for a whole request head once its first byte arrived (slowloris). Beyond:
    /// `408 request_timeout` + close.
    public var headTimeout: Duration
    /// How long a connection may sit with no request in progress and no response under way (a
    /// keep-alive connection between requests). Beyond: closed without an answer. A response being
    /// relayed, such as a long SSE stream, is never idle.
    public var idleTimeout: Duration
    /// Longest pause between two pieces of a request body, while the proxy is reading it (time
    /// the proxy holds reads back, waiting for a token, the SSH stream or a slow upstream, does
    /// not count). Beyond: `408 request_timeout` + close, or just a close once the response started.
    public var bodyTimeout: Duration

    public init(
      replayableBody: Int = 64 * 1024, jsonSummaryBody: Int = 64 * 1024, discardedBody: Int = 1 << 20,
      requestHead: Int = 64 * 1024, headerFields: Int = 100, requestBody: Int = 64 << 20,
      headTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(120), bodyTimeout: Duration = .seconds(60)
    ) {
      self.replayableBody = replayableBody
      self.jsonSummaryBody = jsonSummaryBody
      self.discardedBody = discardedBody
      self.requestHead = requestHead
      self.headerFields = headerFields
      self.requestBody = requestBody
      self.headTimeout = headTimeout
      self.idleTimeout = idleTimeout
      self.bodyTimeout = bodyTimeout
    }
  }

  private struct Running {
    var group: MultiThreadedEventLoopGroup
    var server: any Channel
    var shared: ProxyShared
    var address: HostPort
  }

  private enum Lifecycle {
    case idle
    case starting
    case running(Running)
    case stopped
  }

  private let logger: Logger
  private let limits: Limits
  private let peerCheck: ListenerPeerCheck?
  private let onRequest: (@Sendable (ProxyRequestRecord) -> Void)?
  private let stepUpContext: StepUpContext
  private let lifecycle = Mutex(Lifecycle.idle)

  /// `onRequest` is called once per finished client request (see `ProxyRequestRecord`).
  /// `peerCheck` (`listen.peers`, SPEC §5) sees every accepted connection on the event loop before
  /// its pipeline exists: a refused one is closed without a byte read from it. `stepUpContext`
  /// (the profile's scopes and name) words the answer to a step-up challenge (SPEC §10).
  public init(
    logger: Logger = Logger(label: "mcp-tunnel.proxy"), limits: Limits = Limits(),
    peerCheck: ListenerPeerCheck? = nil, stepUpContext: StepUpContext = StepUpContext(),
    onRequest: (@Sendable (ProxyRequestRecord) -> Void)? = nil
  ) {
    self.logger = logger
    self.limits = limits
    self.peerCheck = peerCheck
    self.stepUpContext = stepUpContext
    self.onRequest = onRequest
  }

  /// Binds `listen` (loopback only) and serves until `stop()`. Returns the bound address, with
  /// the real port when port 0 was asked for.
  ///
  /// `upstreamHost` is the `Host` the MCP server expects: the SSH target's `host:port`.
  /// Throws `ProxyError`: `.usage` for a non-loopback address, `.addressInUse` naming the holder.
  @discardableResult
  public func start(
    listen: HostPort, forwarder: any PortForwarder, tokens: any TenantTokenSource, upstreamHost: String
  ) async throws -> HostPort {
    try await start(
      listener: try LoopbackListener.bind(listen), forwarder: forwarder, tokens: tokens, upstreamHost: upstreamHost)
  }

  /// Serves on a listener bound earlier — `up` binds first, so a taken port fails (exit 8) before
  /// any SSH or IdP traffic, and starts serving only once the SSH path and the first token are
  /// ready; clients that connect in between wait in the listen backlog. The proxy takes the
  /// listener's socket over.
  @discardableResult
  public func start(
    listener: LoopbackListener, forwarder: any PortForwarder, tokens: any TenantTokenSource, upstreamHost: String
  ) async throws -> HostPort {
    let mayStart = lifecycle.withLock { state -> Bool in
      guard case .idle = state else { return false }
      state = .starting
      return true
    }
    guard mayStart else { throw ProxyError(.internalError, "the http proxy was already started") }
    do {
      let running = try await bind(listener, forwarder: forwarder, tokens: tokens, upstreamHost: upstreamHost)
      let stoppedMeanwhile = lifecycle.withLock { state -> Bool in
        guard case .starting = state else { return true }
        state = .running(running)
        return false
      }
      if stoppedMeanwhile {
        await shutDown(running)
        throw ProxyError(.internalError, "the http proxy was stopped while starting")
      }
      logger.info("http proxy listening", metadata: ["listen": "\(running.address)", "upstream": "\(upstreamHost)"])
      return running.address
    } catch {
      lifecycle.withLock { state in
        if case .starting = state { state = .idle }
      }
      throw error
    }
  }

  private func bind(
    _ listener: LoopbackListener, forwarder: any PortForwarder, tokens: any TenantTokenSource, upstreamHost: String
  ) async throws -> Running {
    guard let descriptor = listener.takeDescriptor() else {
      throw ProxyError(.internalError, "the listening socket for \(listener.address) was closed before use")
    }
    let address = listener.address
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let peerCheck = peerCheck
    let shared = ProxyShared(
      tokens: tokens, dialer: ForwardedUpstreamDialer(forwarder: forwarder), upstreamHost: upstreamHost,
      listen: address, limits: limits, logger: logger, stepUpContext: stepUpContext, onRequest: onRequest)
    do {
      let server = try await ServerBootstrap(group: group)
        .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
        .childChannelOption(.allowRemoteHalfClosure, value: false)
        .childChannelInitializer { channel in
          // Before registration: nothing has been read yet. A failed initializer makes NIO close
          // the accepted channel. The look-up is one netlink round trip, run right here on the
          // event loop (a thread hop would cost more than the look-up).
          if let peerCheck,
            !peerCheck.admits(
              SocketDiagPeerLookup.acceptedConnection(local: channel.localAddress, remote: channel.remoteAddress))
          {
            return channel.eventLoop.makeFailedFuture(ProxyError(.accessDenied, "refused by listen.peers"))
          }
          return channel.eventLoop.makeCompletedFuture { try Self.addClientHandlers(to: channel, shared: shared) }
        }
        .withBoundSocket(descriptor)
        .get()
      return Running(group: group, server: server, shared: shared, address: address)
    } catch {
      try? await group.shutdownGracefully()
      throw ProxyError(.internalError, "cannot serve on \(address): \(error)")
    }
  }

  /// Sets up the pipeline of one accepted client connection; on the channel's loop. Separate from
  /// the bootstrap so that tests can run the very same pipeline on NIOEmbedded's testing channels
  /// (with a test `UpstreamDialer` in `shared`) instead of real sockets.
  static func addClientHandlers(to channel: any Channel, shared: ProxyShared) throws {
    let limits = shared.limits
    var decoderLimits = NIOHTTPDecoderLimitConfiguration()
    decoderLimits.maxHeaderFieldSize = limits.requestHead
    decoderLimits.maxHeaderListSize = limits.requestHead
    decoderLimits.maxHeaderFieldCount = limits.headerFields
    let tap = ClientByteTap()
    let sync = channel.pipeline.syncOperations
    try sync.addHandler(tap)
    // Parse errors are answered by ProxyConnectionHandler (a JSON 4xx), not NIO's bare 400.
    try sync.configureHTTPServerPipeline(
      withPipeliningAssistance: true, withErrorHandling: false, withEncoderConfiguration: .init(),
      withDecoderLimitConfiguration: decoderLimits)
    try sync.addHandler(ProxyConnectionHandler(shared: shared, tap: tap))
  }

  /// The bound address while running.
  public var address: HostPort? {
    lifecycle.withLock { state in
      if case .running(let running) = state { return running.address }
      return nil
    }
  }

  /// Totals since `start` (zeros before).
  public var counters: ProxyCounters {
    lifecycle.withLock { state in
      if case .running(let running) = state { return running.shared.counters }
      return ProxyCounters()
    }
  }

  /// Closes every client connection bound to a token generation below `generation` — idle
  /// keep-alive ones and those in the middle of a response alike — and makes sure no token of an
  /// older generation is sent from now on. Call it after the token source switched tenants.
  public func retireConnections(before generation: UInt64) {
    let shared = lifecycle.withLock { state -> ProxyShared? in
      if case .running(let running) = state { return running.shared }
      return nil
    }
    guard let shared else { return }
    let retired = shared.registry.retire(before: generation)
    if !retired.isEmpty {
      logger.info(
        "closing connections of an older tenant generation",
        metadata: ["connections": "\(retired.count)", "generation": "\(generation)"])
    }
    for channel in retired { channel.close(promise: nil) }
  }

  /// Stops listening, closes every connection and waits for the event loop to finish. Idempotent.
  public func stop() async {
    let running = lifecycle.withLock { state -> Running? in
      defer { state = .stopped }
      if case .running(let running) = state { return running }
      return nil
    }
    guard let running else { return }
    await shutDown(running)
    logger.info("http proxy stopped", metadata: ["listen": "\(running.address)"])
  }

  private func shutDown(_ running: Running) async {
    try? await running.server.close()
    for channel in running.shared.registry.closeAll() { try? await channel.close() }
    running.shared.markStopped()
    try? await running.group.shutdownGracefully()
  }
}
