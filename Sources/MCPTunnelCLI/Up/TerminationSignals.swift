import Dispatch
import Foundation

/// SIGINT/SIGTERM end a running `up` cleanly instead of killing the process (SIGPIPE is ignored).
enum TerminationSignals {
  /// Calls `handler` with the signal's name on each SIGINT or SIGTERM. Cancel the returned sources
  /// when the tunnel is over.
  static func install(_ handler: @escaping @Sendable (String) -> Void) -> [any DispatchSourceSignal] {
    signal(SIGPIPE, SIG_IGN)
    return [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { handler(number == SIGINT ? "SIGINT" : "SIGTERM") }
      source.resume()
      return source
    }
  }
}
