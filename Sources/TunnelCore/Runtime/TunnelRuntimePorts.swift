/// The local side of a running tunnel: a listener bound before the runtime starts (so a taken
/// port fails first, exit 8), served once the SSH path and the first token are ready. Clients that
/// connect in between wait in the listen backlog.
///
/// Live versions: `HTTPProxyFrontEnd` (the token-injecting MCP proxy) and `TCPForwardFrontEnd`
/// (raw bytes) in `TokenProxy`; the twin is `InMemoryFrontEnd` in `MCPTunnelTestSupport`.
public protocol TunnelFrontEnd: Sendable {
  /// What the listener serves.
  var mode: ListenMode { get }
  /// The bound address (the real port when port 0 was asked for).
  var address: HostPort { get }
  /// Starts serving. `tokens` is the tenant token source (nil in tcp mode); `onRequest` is called
  /// once per finished client request (http mode) and must return quickly.
  func start(
    forwarder: any PortForwarder, tokens: (any TenantTokenSource)?,
    onRequest: @escaping @Sendable (ProxyRequestRecord) -> Void
  ) async throws
  /// Closes the connections bound to a tenant generation older than `generation` (a tenant switch).
  func retireConnections(before generation: UInt64)
  /// Requests, errors and open connections so far.
  var counters: ProxyCounters { get }
  /// Stops serving and closes the listener, started or not. Idempotent.
  func stop() async
  /// The `listen.peers` check the front end applies to each accepted connection; nil when it
  /// applies none. The runtime observes its denials (audit, stderr) and shows its count in `status`.
  var peerCheck: ListenerPeerCheck? { get }
}

extension TunnelFrontEnd {
  public var peerCheck: ListenerPeerCheck? { nil }
}

/// The control socket of a running tunnel (SPEC §6), serving until `stop()`.
public protocol ControlEndpoint: Sendable {
  func stop() async
}

/// Claims the control socket and serves it with `handler` (a request line in, a response line out).
/// Throws with category `.addressInUse` when another `up` of the profile answers there.
public typealias ControlEndpointStarter =
  @Sendable (_ handler: @escaping @Sendable ([UInt8]) async -> [UInt8]) async throws -> any ControlEndpoint
