import Synchronization
import TunnelCore

/// The in-memory twin of `TunnelFrontEnd`: no socket. It records what the runtime asks of it
/// (`calls`), and `finish(_:)` hands a request record to the runtime as a served request would.
/// `startError` makes `start` fail. `accept(_:)` plays an accepted client connection through the
/// `peerCheck`, as the live front ends do before reading a byte. Thread safety: state behind a `Mutex`; any thread may call.
public final class InMemoryFrontEnd: TunnelFrontEnd {
  public let mode: ListenMode
  public let address: HostPort
  public let peerCheck: ListenerPeerCheck?
  private let startError: (any Error & Sendable)?
  private let onCall: @Sendable (String) -> Void
  private let state = Mutex<
    (calls: [String], onRequest: (@Sendable (ProxyRequestRecord) -> Void)?, tokens: (any TenantTokenSource)?)
  >(([], nil, nil))

  /// `onCall` sees each call's name as it happens ("start", "stop", "retire <generation>"), for
  /// tests that check an order across several twins.
  public init(
    mode: ListenMode, address: HostPort = HostPort(host: "127.0.0.1", port: 7700),
    startError: (any Error & Sendable)? = nil, peerCheck: ListenerPeerCheck? = nil,
    onCall: @escaping @Sendable (String) -> Void = { _ in }
  ) {
    self.mode = mode
    self.address = address
    self.peerCheck = peerCheck
    self.startError = startError
    self.onCall = onCall
  }

  public var calls: [String] { state.withLock { $0.calls } }

  /// The token source the runtime handed over at `start` (nil in tcp mode or before).
  public var tokens: (any TenantTokenSource)? { state.withLock { $0.tokens } }

  /// Reports `record` as a finished request; false before `start`.
  @discardableResult
  public func finish(_ record: ProxyRequestRecord) -> Bool {
    guard let onRequest = state.withLock({ $0.onRequest }) else { return false }
    onRequest(record)
    return true
  }

  /// A client connected from `client`: true when it would be served (no check, or the check
  /// admits it), false when it would be closed before a byte is read.
  public func accept(from client: HostPort) -> Bool {
    let connection = AcceptedConnection(local: address, remote: client)
    return peerCheck?.admits(connection) ?? true
  }

  private func note(_ call: String) {
    state.withLock { $0.calls.append(call) }
    onCall(call)
  }

  public func start(
    forwarder: any PortForwarder, tokens: (any TenantTokenSource)?,
    onRequest: @escaping @Sendable (ProxyRequestRecord) -> Void
  ) async throws {
    note("start")
    if let startError { throw startError }
    state.withLock {
      $0.onRequest = onRequest
      $0.tokens = tokens
    }
  }

  public func retireConnections(before generation: UInt64) { note("retire \(generation)") }

  public var counters: ProxyCounters { ProxyCounters() }

  public func stop() async { note("stop") }
}
