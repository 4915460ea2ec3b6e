import Synchronization
import TunnelCore

/// In-memory twin of `OutputSink`: collects what a command printed, per stream.
public final class CapturingOutputSink: OutputSink {
  private let state = Mutex<(out: String, err: String)>(("", ""))
  public let resultIsTerminal: Bool

  public init(resultIsTerminal: Bool = false) { self.resultIsTerminal = resultIsTerminal }

  public func writeResult(_ text: String) { state.withLock { $0.out += text } }
  public func writeDiagnostic(_ text: String) { state.withLock { $0.err += text } }

  public var stdout: String { state.withLock { $0.out } }
  public var stderr: String { state.withLock { $0.err } }
}
