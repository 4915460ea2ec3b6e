import Synchronization

/// Why a running tunnel ends.
public enum TunnelEnding: Sendable, Equatable {
  /// SIGINT or SIGTERM (by name), or a caller's `TunnelRuntime.end(_:)`.
  case signal(String)
  /// A failure retrying cannot fix (a changed host key, a refused login), from the forwarder.
  case failed(FailureCategory, String)
  /// `session.max_duration` or `session.idle_timeout` was reached: a clean end (exit 0).
  case limit(SessionLimit)
}

/// The session limit that ends a run (SPEC §10); the raw value names it in `stopped` and the audit log.
public enum SessionLimit: String, Sendable, Equatable {
  case maxDuration = "max_duration"
  case idleTimeout = "idle_timeout"
}

/// A failure reported by the running tunnel (after `ready`), carrying the adapter's category.
public struct TunnelFailure: UserFacingError {
  public var category: FailureCategory
  public var summary: String
  public var fix: String? { nil }

  public init(category: FailureCategory, summary: String) {
    self.category = category
    self.summary = summary
  }
}

/// The first reason the tunnel ends; later ones are ignored. Any number of tasks may wait; the
/// value is sticky. Thread-safe.
final class EndingLatch: Sendable {
  private let state = Mutex<(ending: TunnelEnding?, waiters: [CheckedContinuation<TunnelEnding, Never>])>((nil, []))

  func yield(_ ending: TunnelEnding) {
    let waiters = state.withLock { s -> [CheckedContinuation<TunnelEnding, Never>] in
      guard s.ending == nil else { return [] }
      s.ending = ending
      defer { s.waiters = [] }
      return s.waiters
    }
    for waiter in waiters { waiter.resume(returning: ending) }
  }

  func wait() async -> TunnelEnding {
    await withCheckedContinuation { continuation in
      let ready = state.withLock { s -> TunnelEnding? in
        if let e = s.ending { return e }
        s.waiters.append(continuation)
        return nil
      }
      if let ready { continuation.resume(returning: ready) }
    }
  }

  /// How bringing the SSH path up ended.
  enum StartOutcome: Sendable {
    case started
    case interrupted(String)
    case failed(any Error & Sendable)
  }

  /// The ending, if there is one yet.
  var ending: TunnelEnding? { state.withLock { $0.ending } }

  /// Starts `forwarder`, unless the tunnel is ended first (a signal while a hop hangs); an ending
  /// that came before the call means the forwarder is not started at all.
  func start(_ forwarder: any PortForwarder) async -> StartOutcome {
    switch ending {
    case .signal(let name): return .interrupted(name)
    case .limit(let limit): return .interrupted(limit.rawValue)
    case .failed(let category, let message): return .failed(TunnelFailure(category: category, summary: message))
    case nil: break
    }
    return await withCheckedContinuation { continuation in
      let once = FirstOutcome(continuation)
      Task {
        do {
          try await forwarder.start()
          once.resume(.started)
        } catch {
          once.resume(.failed(error as (any Error & Sendable)))
        }
      }
      Task {
        switch await self.wait() {
        case .signal(let name): once.resume(.interrupted(name))
        case .limit(let limit): once.resume(.interrupted(limit.rawValue))
        case .failed(let category, let message):
          once.resume(.failed(TunnelFailure(category: category, summary: message)))
        }
      }
    }
  }
}

/// Resumes a continuation with the first outcome only.
private final class FirstOutcome: Sendable {
  private let continuation: Mutex<CheckedContinuation<EndingLatch.StartOutcome, Never>?>
  init(_ c: CheckedContinuation<EndingLatch.StartOutcome, Never>) { continuation = Mutex(c) }
  func resume(_ outcome: EndingLatch.StartOutcome) {
    let c = continuation.withLock { c -> CheckedContinuation<EndingLatch.StartOutcome, Never>? in
      defer { c = nil }
      return c
    }
    c?.resume(returning: outcome)
  }
}
