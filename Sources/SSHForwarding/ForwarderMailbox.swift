import CLibSSH2
import Foundation
import Synchronization
import TunnelCore

/// A request for one channel to `ssh.target`, and where its result goes.
struct StreamRequest: Sendable {
  enum Delivery: Sendable {
    /// `openStream()`: resume with one end of a fresh socketpair (the loop pumps the other end).
    case socketPair(CheckedContinuation<StreamSocket, any Error>)
    /// `forward(_:)`: pump this accepted client socket directly.
    case client(StreamSocket)
  }

  var delivery: Delivery

  /// Tells the requester that no channel will come, and why.
  func fail(_ error: SSHError, events: AsyncStream<ForwarderEvent>.Continuation) {
    switch delivery {
    case .socketPair(let continuation):
      continuation.resume(throwing: error)
    case .client(let socket):
      socket.close()
      events.yield(.channelFailed(reason: error.summary))
    }
  }
}

/// The only state shared between callers and a tunnel's I/O thread: a command queue plus an
/// eventfd that wakes the thread's poll().
///
/// Any thread may `post`; only the I/O thread `drain`s and `clearWake`s.
final class ForwarderMailbox: Sendable {
  enum Command: Sendable {
    case open(StreamRequest)
    case stop
  }

  let wakeDescriptor: Int32
  private let queue = Mutex<(commands: [Command], closed: Bool)>(([], false))

  init() throws(SSHError) {
    let fd = mcp_tunnel_wake_eventfd()
    guard fd >= 0 else {
      throw SSHError(.internalError, "eventfd failed: \(String(cString: strerror(errno)))")
    }
    wakeDescriptor = fd
  }

  deinit { Glibc.close(wakeDescriptor) }

  /// Queues `command` and wakes the loop. Returns false when the loop has already finished.
  @discardableResult
  func post(_ command: Command) -> Bool {
    let accepted = queue.withLock { q -> Bool in
      if q.closed { return false }
      q.commands.append(command)
      return true
    }
    if accepted { wake() }
    return accepted
  }

  func drain() -> [Command] {
    queue.withLock { q in
      defer { q.commands.removeAll() }
      return q.commands
    }
  }

  /// Refuses further commands and returns those not yet handled.
  func close() -> [Command] {
    queue.withLock { q in
      q.closed = true
      defer { q.commands.removeAll() }
      return q.commands
    }
  }

  func wake() {
    var one: UInt64 = 1
    _ = write(wakeDescriptor, &one, 8)
  }

  func clearWake() {
    var value: UInt64 = 0
    // off-pool: the eventfd is non-blocking (EFD_NONBLOCK); read on the tunnel's I/O thread
    _ = read(wakeDescriptor, &value, 8)
  }
}

/// Developer tracing of the I/O loop to stderr, on when `MCP_TUNNEL_SSH_TRACE=1`. Never prints
/// payload bytes or secrets: only states, sizes and libssh2 codes.
enum SSHTrace {
  static let enabled = ProcessInfo.processInfo.environment["MCP_TUNNEL_SSH_TRACE"] == "1"

  static func log(_ message: @autoclosure () -> String) {
    guard enabled else { return }
    let line = "[ssh-io] \(message())\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
  }
}
