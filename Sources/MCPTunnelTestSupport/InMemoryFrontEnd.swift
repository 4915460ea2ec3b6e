import Synchronization
import TunnelCore

/// The in-memory twin of `TunnelFrontEnd`: no socket. It records what the runtime asks of it
/// (`calls`), and `finish(_:)` hands a request record to the runtime as a served request would.
/// `startError` makes `start` fail. Thread safety: state behind a `Mutex`; any thread may call.
public final class InMemoryFrontEnd: TunnelFrontEnd {
  public let mode: ListenMode
  public let address: HostPort
  private let startError: (any Error & Sendable)?
  private let onCall: @Sendable (String) -> Void
  private let state = Mutex<
    (calls: [String], onRequest: (@Sendable (ProxyRequestRecord) -> Void)?, tokens: (any TenantTokenSource)?)
  >(([], nil, nil))

  /// `onCall` sees each call's name as it happens ("start", "stop", "retire <generation>"), for
  /// tests that check an order across several twins.
  public init(
    mode: ListenMode, address: HostPort = HostPort(host: "127.0.0.1", port: 7700),
    startError: (any Error & Sendable)? = nil, onCall: @escaping @Sendable (String) -> Void = { _ in }
  ) {
    self.mode = mode
    self.address = address
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
