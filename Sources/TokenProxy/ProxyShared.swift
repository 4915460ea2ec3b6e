import Logging
import NIOCore
import Synchronization
import TunnelCore

/// What every connection of one running `HTTPTokenProxy` shares. Immutable apart from the
/// registry, the counters and the lifecycle flag, each behind its own `Mutex`; any thread may call.
final class ProxyShared: Sendable {
  let tokens: any TenantTokenSource
  /// How a connection reaches the MCP server: `ForwardedUpstreamDialer` over the `PortForwarder`.
  let dialer: any UpstreamDialer
  /// `Host` sent upstream: the SSH target's `host:port`, what the MCP server expects.
  let upstreamHost: String
  let requestGuard: LoopbackRequestGuard
  let limits: HTTPTokenProxy.Limits
  let logger: Logger
  let onRequest: (@Sendable (ProxyRequestRecord) -> Void)?
  let stepUpContext: StepUpContext
  let registry = ConnectionRegistry()
  private let counterState = Mutex(ProxyCounters())
  private let stopped = Mutex(false)

  init(
    tokens: any TenantTokenSource, dialer: any UpstreamDialer, upstreamHost: String, listen: HostPort,
    limits: HTTPTokenProxy.Limits, logger: Logger, stepUpContext: StepUpContext = StepUpContext(),
    onRequest: (@Sendable (ProxyRequestRecord) -> Void)?
  ) {
    self.tokens = tokens
    self.dialer = dialer
    self.upstreamHost = upstreamHost
    self.requestGuard = LoopbackRequestGuard(listen: listen, maxRequestBody: limits.requestBody)
    self.limits = limits
    self.logger = logger
    self.onRequest = onRequest
    self.stepUpContext = stepUpContext
  }

  var counters: ProxyCounters {
    var value = counterState.withLock { $0 }
    value.openConnections = registry.count
    return value
  }

  func count(_ update: (inout ProxyCounters) -> Void) { counterState.withLock { update(&$0) } }

  /// Runs `body` on `loop` unless the proxy has stopped (its event loop may then be gone: a late
  /// token or stream result is dropped instead of being scheduled on a dead loop).
  func onLoopUnlessStopped(_ loop: any EventLoop, _ body: @escaping @Sendable () -> Void) {
    stopped.withLock { isStopped in
      if !isStopped { loop.execute(body) }
    }
  }

  func markStopped() { stopped.withLock { $0 = true } }
}

/// The open client connections and the token generation each is bound to (the generation of its
/// first request's token), so `retireConnections(before:)` can close the old tenant's ones.
final class ConnectionRegistry: Sendable {
  private struct Entry {
    var channel: any Channel
    var generation: UInt64?
    /// Why the proxy closed it (`tenant_switched`, `proxy_stopped`), when it did.
    var closedBecause: String?
  }

  private struct State {
    var entries: [UInt64: Entry] = [:]
    var nextID: UInt64 = 0
    /// Tokens of a generation below this are never sent again (highest `retire` so far).
    var retiredBelow: UInt64 = 0
    var closed = false
  }

  private let state = Mutex(State())

  var count: Int { state.withLock { $0.entries.count } }

  /// Registers a new connection; nil once the proxy stopped (the caller closes the channel).
  func add(_ channel: any Channel) -> UInt64? {
    state.withLock { s in
      guard !s.closed else { return nil }
      s.nextID += 1
      s.entries[s.nextID] = Entry(channel: channel, generation: nil, closedBecause: nil)
      return s.nextID
    }
  }

  /// Forgets connection `id`; returns why the proxy closed it, when it was the proxy.
  func remove(_ id: UInt64) -> String? { state.withLock { $0.entries.removeValue(forKey: id)?.closedBecause } }

  /// Binds connection `id` to `generation`; false when that generation was already retired.
  func bind(_ id: UInt64, to generation: UInt64) -> Bool {
    state.withLock { s in
      guard generation >= s.retiredBelow else { return false }
      s.entries[id]?.generation = generation
      return true
    }
  }

  func isRetired(_ generation: UInt64) -> Bool { state.withLock { generation < $0.retiredBelow } }

  /// Raises the watermark to `generation` and returns the connections bound below it.
  func retire(before generation: UInt64) -> [any Channel] {
    state.withLock { s in
      s.retiredBelow = max(s.retiredBelow, generation)
      var retired: [any Channel] = []
      for (id, entry) in s.entries where (entry.generation ?? .max) < generation {
        s.entries[id]?.closedBecause = "tenant_switched"
        retired.append(entry.channel)
      }
      return retired
    }
  }

  /// Refuses new connections from now on and returns every open one.
  func closeAll() -> [any Channel] {
    state.withLock { s in
      s.closed = true
      for id in s.entries.keys { s.entries[id]?.closedBecause = "proxy_stopped" }
      return s.entries.values.map(\.channel)
    }
  }
}
