import Synchronization
import TunnelCore

/// In-memory twin of `AuditSink`: keeps every recorded event in order.
///
/// `failWith(_:)` makes later `record` calls throw, to test callers that must not lose or hide a
/// failing audit trail. Thread safety: state behind a `Mutex`; any thread may call.
public final class InMemoryAuditSink: AuditSink {
  private let state = Mutex<(events: [AuditEvent], failure: (any Error & Sendable)?)>(([], nil))

  public init() {}

  public func record(_ event: AuditEvent) throws {
    let failure = state.withLock { s -> (any Error & Sendable)? in
      if s.failure == nil { s.events.append(event) }
      return s.failure
    }
    if let failure { throw failure }
  }

  /// While set, `record` throws this error and records nothing.
  public func failWith(_ error: (any Error & Sendable)?) { state.withLock { $0.failure = error } }

  /// Everything recorded so far, oldest first.
  public var events: [AuditEvent] { state.withLock { $0.events } }

  /// Recorded events of one kind.
  public func events(of kind: AuditEventKind) -> [AuditEvent] { events.filter { $0.event == kind } }
}
