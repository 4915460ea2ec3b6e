import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Carries byte streams from the local machine to `ssh.target` along the SSH path (SPEC §1 layer 2).
///
/// The live version is `BastionPortForwarder` (libssh2, one I/O thread per tunnel); the in-memory
/// twin is `InMemoryPortForwarder` in `MCPTunnelTestSupport`.
///
/// Errors are `UserFacingError`s: an unknown or changed host key has category
/// `.hostKeyVerification` and names the hop and the key's `SHA256:` fingerprint; an unreachable hop
/// or a refused login has category `.sshConnection` and names the hop (and the methods tried).
public protocol PortForwarder: Sendable {
  /// Connects every hop, verifying host keys and authenticating. Returns once the path is ready, or
  /// throws the first failure. Called once.
  func start() async throws

  /// A new `direct-tcpip` channel to the target, delivered as one end of a connected stream socket;
  /// the forwarder pumps the other end. While the path reconnects the request waits (bounded), then
  /// fails with a message that says why.
  func openStream() async throws -> StreamSocket

  /// Hands an accepted client connection to the forwarder, which opens a channel for it and pumps
  /// bytes both ways until either side closes. Ownership of the socket passes to the forwarder; if
  /// no channel can be opened the socket is closed and a `.channelFailed` event says why.
  func forward(_ client: StreamSocket)

  /// Lifecycle and error events, for `--json` output and logs. Single consumer.
  var events: AsyncStream<ForwarderEvent> { get }

  /// Closes every channel and session and waits for the I/O to finish. Idempotent.
  func stop() async
}

/// Something that happened to the SSH path.
public enum ForwarderEvent: Sendable, Equatable {
  /// Every hop is connected; `hops` are the hops' `user@host:port` in order.
  case connected(hops: [String])
  /// The path was lost; the next attempt starts after `delay`.
  case reconnecting(attempt: Int, delay: Duration, reason: String)
  /// The path is back after `attempts` attempts.
  case reconnected(hops: [String], attempts: Int)
  /// A channel could not be opened or failed; the tunnel as a whole goes on.
  case channelFailed(reason: String)
  /// The forwarder gave up: a failure that retrying cannot fix (a changed host key, a refused
  /// login). `category` and `message` come from the underlying `UserFacingError`.
  case failed(category: FailureCategory, message: String)
  /// `stop()` finished.
  case stopped
}

/// Where building the path failed: the hop (1-based `index`) and how far that hop got.
public struct HopFailure: Sendable, Equatable {
  public enum Stage: Sendable, Equatable {
    /// TCP connect (hop 1), the tunnel through the previous hop, or the SSH handshake.
    case reaching
    /// The host key was presented and not accepted (known_hosts).
    case hostKey
    /// The host key was accepted; the login was refused or failed.
    case authentication
  }

  public var index: Int
  public var stage: Stage

  public init(index: Int, stage: Stage) {
    self.index = index
    self.stage = stage
  }
}

/// An error of `PortForwarder.start()` that can say which hop failed (`mcp-tunnel doctor` places
/// each hop's checks from it).
public protocol HopAttributedError: Error {
  var failedHop: HopFailure? { get }
}

/// A connected stream socket (TCP or a Unix socketpair end) and the duty to close it.
///
/// Exactly one owner closes the descriptor: this object (on `close()` or `deinit`), unless
/// `takeDescriptor()` moved the duty elsewhere. Any thread may call; ownership is tracked atomically.
public final class StreamSocket: Sendable {
  /// The descriptor number, valid while this object owns it.
  public let descriptor: Int32
  private let owned: Atomic<Bool>

  /// Takes ownership of `descriptor`.
  public init(adopting descriptor: Int32) {
    self.descriptor = descriptor
    owned = Atomic(true)
  }

  /// Moves the duty to close the descriptor to the caller. Returns nil when it was already taken or closed.
  public func takeDescriptor() -> Int32? {
    owned.exchange(false, ordering: .acquiringAndReleasing) ? descriptor : nil
  }

  /// Closes the descriptor now, if this object still owns it.
  public func close() {
    if let fd = takeDescriptor() {
      #if canImport(Glibc)
        _ = Glibc.close(fd)
      #else
        _ = Darwin.close(fd)
      #endif
    }
  }

  deinit { close() }
}
