import Dispatch
import Foundation

/// SIGINT/SIGTERM end a running `up` cleanly instead of killing the process (SIGPIPE is ignored).
enum TerminationSignals {
  /// Calls `handler` with the signal's name on each SIGINT or SIGTERM, until the returned function
  /// is called (the live `AppEnvironment.onTerminationSignal`).
  @Sendable static func install(_ handler: @escaping @Sendable (String) -> Void) -> @Sendable () -> Void {
    signal(SIGPIPE, SIG_IGN)
    let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { handler(number == SIGINT ? "SIGINT" : "SIGTERM") }
      source.resume()
      return source
    }
    let box = SourceBox(sources)
    return { box.cancel() }
  }
}

/// Keeps the dispatch sources until the tunnel is over (they are not `Sendable`; only `cancel` is used).
private final class SourceBox: @unchecked Sendable {
  private let sources: [any DispatchSourceSignal]
  init(_ sources: [any DispatchSourceSignal]) { self.sources = sources }
  func cancel() { for source in sources { source.cancel() } }
}
