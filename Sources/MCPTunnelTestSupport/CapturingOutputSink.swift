import Synchronization
import TunnelCore

/// In-memory twin of `OutputSink`: collects what a command printed, per stream, and lets a test
/// wait for a piece of output (an event line) instead of for time.
public final class CapturingOutputSink: OutputSink {
  private struct Waiter {
    var texts: [String]
    func matches(_ out: String) -> Bool { texts.contains { out.contains($0) } }
    var continuation: CheckedContinuation<Void, Never>
  }

  private let state = Mutex<(out: String, err: String, waiters: [Waiter])>(("", "", []))
  public let resultIsTerminal: Bool

  public init(resultIsTerminal: Bool = false) { self.resultIsTerminal = resultIsTerminal }

  public func writeResult(_ text: String) {
    let ready = state.withLock { s -> [Waiter] in
      s.out += text
      let out = s.out
      let ready = s.waiters.filter { $0.matches(out) }
      s.waiters.removeAll { $0.matches(out) }
      return ready
    }
    for waiter in ready { waiter.continuation.resume() }
  }

  public func writeDiagnostic(_ text: String) { state.withLock { $0.err += text } }

  public var stdout: String { state.withLock { $0.out } }
  public var stderr: String { state.withLock { $0.err } }

  /// Returns once stdout contains one of `texts` (at once if it already does). Give it a text the
  /// command prints when it ends too, so a command that fails early does not leave the test waiting.
  public func waitForResult(containingAny texts: [String]) async {
    await withCheckedContinuation { continuation in
      let waiter = Waiter(texts: texts, continuation: continuation)
      let done = state.withLock { s -> Bool in
        if waiter.matches(s.out) { return true }
        s.waiters.append(waiter)
        return false
      }
      if done { continuation.resume() }
    }
  }
}
