import Foundation
import Synchronization
import TunnelCore

/// The in-memory twin of `PortForwarder`: every stream is one end of a socketpair whose other end
/// is served by `serve` on its own thread (an echo by default), with no SSH involved.
///
/// Tests can make `start()` fail (`startError`), fail streams (`failStreams`), and push events.
/// Thread safety: state behind a `Mutex`; any thread may call.
public final class InMemoryPortForwarder: PortForwarder {
  /// Serves the far end of one stream; it owns the descriptor and must close it.
  public typealias StreamServer = @Sendable (_ descriptor: Int32) -> Void

  public let events: AsyncStream<ForwarderEvent>
  private let continuation: AsyncStream<ForwarderEvent>.Continuation
  private let serve: StreamServer
  private let state = Mutex<(started: Bool, stopped: Bool, opened: Int, failure: (any Error & Sendable)?)>(
    (false, false, 0, nil))
  private let startError: (any Error & Sendable)?
  public let hops: [String]

  public init(
    hops: [String] = ["test@127.0.0.1:22"], startError: (any Error & Sendable)? = nil,
    serve: @escaping StreamServer = InMemoryPortForwarder.echo
  ) {
    self.hops = hops
    self.startError = startError
    self.serve = serve
    (events, continuation) = AsyncStream.makeStream(of: ForwarderEvent.self)
  }

  /// Streams opened so far.
  public var openedCount: Int { state.withLock { $0.opened } }

  /// From now on, `openStream()` throws `error` and `forward(_:)` closes the client.
  public func failStreams(with error: (any Error & Sendable)?) { state.withLock { $0.failure = error } }

  /// Emits `event` as if the SSH path had reported it.
  public func emit(_ event: ForwarderEvent) { continuation.yield(event) }

  public func start() async throws {
    if let startError { throw startError }
    state.withLock { $0.started = true }
    continuation.yield(.connected(hops: hops))
  }

  public func openStream() async throws -> StreamSocket {
    let (failure, running) = state.withLock { ($0.failure, $0.started && !$0.stopped) }
    if let failure { throw failure }
    guard running else {
      throw CoreError(.internalError, "InMemoryPortForwarder: openStream before start or after stop")
    }
    var pair: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else {
      throw CoreError(.internalError, "socketpair failed")
    }
    state.withLock { $0.opened += 1 }
    let far = pair[1]
    let serve = self.serve
    Thread { serve(far) }.start()
    return StreamSocket(adopting: pair[0])
  }

  public func forward(_ client: StreamSocket) {
    let failure = state.withLock { $0.failure }
    if let failure {
      client.close()
      continuation.yield(.channelFailed(reason: "\(failure)"))
      return
    }
    guard let fd = client.takeDescriptor() else { return }
    state.withLock { $0.opened += 1 }
    let serve = self.serve
    Thread { serve(fd) }.start()
  }

  public func stop() async {
    let first = state.withLock { s -> Bool in
      defer { s.stopped = true }
      return !s.stopped
    }
    if first {
      continuation.yield(.stopped)
      continuation.finish()
    }
  }

  /// Echoes bytes until EOF, then closes.
  public static let echo: StreamServer = { fd in
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      // off-pool: runs on the stream's own thread (openStream and forward start one)
      let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      var offset = 0
      while offset < n {
        let w = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + offset, n - offset) }
        if w <= 0 { break }
        offset += w
      }
    }
    close(fd)
  }
}
