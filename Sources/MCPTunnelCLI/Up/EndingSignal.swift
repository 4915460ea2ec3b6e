import Dispatch
import Foundation
import Synchronization
import TunnelCore

/// Why a running `up` ends.
enum TunnelEnding: Sendable {
  case signal(String)
  case failed(FailureCategory, String)
}

/// How bringing the SSH path up ended.
enum StartOutcome: Sendable {
  case started
  case interrupted(String)
  case failed(any Error & Sendable)
}

/// The first reason the session ends (a signal or a fatal event); later ones are ignored.
/// Any number of tasks may wait; the value is sticky. Thread-safe.
final class EndingSignal: Sendable {
  private let state = Mutex<
    (ending: TunnelEnding?, waiters: [CheckedContinuation<TunnelEnding, Never>])
  >((nil, []))

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
}

/// Resumes a continuation with the first outcome only.
private final class FirstOutcome: Sendable {
  private let continuation = Mutex<CheckedContinuation<StartOutcome, Never>?>(nil)
  init(_ c: CheckedContinuation<StartOutcome, Never>) { continuation.withLock { $0 = c } }
  func resume(_ outcome: StartOutcome) {
    let c = continuation.withLock { c -> CheckedContinuation<StartOutcome, Never>? in
      defer { c = nil }
      return c
    }
    c?.resume(returning: outcome)
  }
}

extension EndingSignal {
  /// SIGINT/SIGTERM end the session instead of killing the process (and SIGPIPE is ignored).
  /// Cancel the returned sources when the session is over.
  func handleTerminationSignals() -> [any DispatchSourceSignal] {
    signal(SIGPIPE, SIG_IGN)
    return [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { self.yield(.signal(number == SIGINT ? "SIGINT" : "SIGTERM")) }
      source.resume()
      return source
    }
  }

  /// Starts `forwarder`, unless a signal ends the session first.
  func start(_ forwarder: any PortForwarder) async -> StartOutcome {
    await withCheckedContinuation { continuation in
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
        if case .signal(let name) = await self.wait() { once.resume(.interrupted(name)) }
      }
    }
  }
}
