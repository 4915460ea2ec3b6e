import Foundation
import Logging
import Synchronization
import TunnelCore

/// The front end of `up --mode http`: the token-injecting MCP proxy (`HTTPTokenProxy`) on a
/// listener bound earlier, carrying each upstream connection over the SSH path. `peerCheck`
/// (`listen.peers`) sees each accepted connection before the proxy reads from it.
public final class HTTPProxyFrontEnd: TunnelFrontEnd {
  public var mode: ListenMode { .http }
  public let address: HostPort
  public let peerCheck: ListenerPeerCheck?
  private let listener: LoopbackListener
  private let upstreamHost: String
  private let logger: Logger
  private let limits: HTTPTokenProxy.Limits
  private let stepUpContext: StepUpContext
  private let proxy = Mutex<HTTPTokenProxy?>(nil)

  /// `upstreamHost` is the `Host` the MCP server expects: the SSH target's `host:port`.
  /// `stepUpContext` words the answer to a step-up challenge (the profile's scopes and name).
  public init(
    listener: LoopbackListener, upstreamHost: String, logger: Logger = Logger(label: "mcp-tunnel.proxy"),
    limits: HTTPTokenProxy.Limits = HTTPTokenProxy.Limits(), peerCheck: ListenerPeerCheck? = nil,
    stepUpContext: StepUpContext = StepUpContext()
  ) {
    self.stepUpContext = stepUpContext
    self.listener = listener
    self.address = listener.address
    self.upstreamHost = upstreamHost
    self.logger = logger
    self.limits = limits
    self.peerCheck = peerCheck
  }

  public func start(
    forwarder: any PortForwarder, tokens: (any TenantTokenSource)?,
    onRequest: @escaping @Sendable (ProxyRequestRecord) -> Void
  ) async throws {
    guard let tokens else { throw ProxyError(.internalError, "the http front end needs a tenant token source") }
    let proxy = HTTPTokenProxy(
      logger: logger, limits: limits, peerCheck: peerCheck, stepUpContext: stepUpContext, onRequest: onRequest)
    let first = self.proxy.withLock { current -> Bool in
      guard current == nil else { return false }
      current = proxy
      return true
    }
    guard first else { throw ProxyError(.internalError, "the http proxy was already started") }
    try await proxy.start(listener: listener, forwarder: forwarder, tokens: tokens, upstreamHost: upstreamHost)
  }

  public func retireConnections(before generation: UInt64) {
    proxy.withLock { $0 }?.retireConnections(before: generation)
  }

  public var counters: ProxyCounters { proxy.withLock { $0 }?.counters ?? ProxyCounters() }

  public func stop() async {
    // A listener the proxy took over is closed by the proxy; one never served is closed here.
    listener.close()
    await proxy.withLock { $0 }?.stop()
  }
}

/// The front end of `up --mode tcp`: every accepted connection becomes a `direct-tcpip` channel to
/// the target; no token. Accepting runs on a thread of its own (a blocking `accept`), and so does
/// `peerCheck` (`listen.peers`): a refused connection is closed there, before the forwarder sees it.
public final class TCPForwardFrontEnd: TunnelFrontEnd {
  public var mode: ListenMode { .tcp }
  public let address: HostPort
  public let peerCheck: ListenerPeerCheck?
  private let listener: LoopbackListener

  public init(listener: LoopbackListener, peerCheck: ListenerPeerCheck? = nil) {
    self.listener = listener
    self.address = listener.address
    self.peerCheck = peerCheck
  }

  public func start(
    forwarder: any PortForwarder, tokens: (any TenantTokenSource)?,
    onRequest: @escaping @Sendable (ProxyRequestRecord) -> Void
  ) async throws {
    let listener = listener
    let peerCheck = peerCheck
    let thread = Thread {
      // off-pool: runs on the accept thread
      while let client = listener.accept() {
        if let peerCheck, !peerCheck.admits(SocketDiagPeerLookup.acceptedConnection(ofSocket: client.descriptor)) {
          client.close()
          continue
        }
        forwarder.forward(client)
      }
    }
    thread.name = "mcp-tunnel-accept"
    thread.start()
  }

  public func retireConnections(before generation: UInt64) {}

  /// Zeros: tcp mode sees bytes, not requests, and the forwarder owns the connections.
  public var counters: ProxyCounters { ProxyCounters() }

  public func stop() async { listener.close() }
}

extension ControlSocketServer: ControlEndpoint {}
