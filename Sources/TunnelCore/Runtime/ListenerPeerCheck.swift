import Synchronization

/// The `listen.peers` rule (SPEC §5), applied by a front end to every accepted connection before
/// it reads or forwards a single byte: with `same-user`, only a connection whose peer socket
/// belongs to `ownerUID` is served. Every other one — another uid, a peer the lookup cannot find,
/// a lookup that fails — is refused (fail closed): counted, and handed to the observer, which
/// audits each and logs the first of its kind. A peer that had already closed is just dropped: it
/// is gone, and a port probe (`nc -z`) of the owner must not look like an intrusion.
///
/// Thread safety: `admits` runs on the front end's accepting thread or event loop (the lookup is a
/// synchronous netlink round trip, never on the cooperative pool); the counters and the observer
/// sit behind one `Mutex`, and the observer is called outside it.
public final class ListenerPeerCheck: Sendable {
  /// One refused connection.
  public struct Denial: Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
      /// The peer socket belongs to another user.
      case otherUser(UInt32)
      /// No socket with the peer's address was found.
      case peerNotFound
      /// The owner could not be looked up at all; the text says why.
      case lookupFailed(String)
    }

    public var connection: AcceptedConnection
    public var reason: Reason
    /// True for the first denial of its uid (or, without one, of its kind) since start: the one
    /// worth a line on stderr. Later ones are counted and audited only.
    public var isFirstOfItsKind: Bool

    public init(connection: AcceptedConnection, reason: Reason, isFirstOfItsKind: Bool) {
      self.connection = connection
      self.reason = reason
      self.isFirstOfItsKind = isFirstOfItsKind
    }

    /// The peer's uid, when it is known.
    public var peerUID: UInt32? {
      if case .otherUser(let uid) = reason { return uid }
      return nil
    }

    /// Why, in a few words: the audit record's `detail`.
    public var explanation: String {
      switch reason {
      case .otherUser(let uid): "connection from uid \(uid) refused: listen.peers is same-user"
      case .peerNotFound: "connection refused: its peer socket was not found, so its owner is unknown"
      case .lookupFailed(let why): "connection refused: its owner could not be looked up (\(why))"
      }
    }
  }

  private struct State {
    var denied = 0
    var dropped = 0
    var reported: Set<String> = []
    var observer: (@Sendable (Denial) -> Void)?
  }

  public let policy: ListenPeers
  /// The uid allowed in with `same-user`: the user who runs the tunnel (its effective uid).
  public let ownerUID: UInt32
  private let lookup: any PeerCredentialLookup
  private let state = Mutex(State())

  public init(policy: ListenPeers, ownerUID: UInt32, lookup: any PeerCredentialLookup) {
    self.policy = policy
    self.ownerUID = ownerUID
    self.lookup = lookup
  }

  /// Connections refused so far (peers that had already closed are not counted).
  public var deniedConnections: Int { state.withLock { $0.denied } }

  /// Connections dropped because their peer had already closed.
  public var droppedClosedPeers: Int { state.withLock { $0.dropped } }

  /// Sets who hears of each denial (the runtime: audit record, stderr line). Replaces the previous one.
  public func observeDenials(_ observer: @escaping @Sendable (Denial) -> Void) {
    state.withLock { $0.observer = observer }
  }

  /// Whether `connection` may be served. With `any-local-user` always true, without a lookup.
  /// Otherwise looks the peer up; when the answer is no the caller closes the connection without
  /// reading from it. Call on the accepting thread or event loop, never on the cooperative pool.
  public func admits(_ connection: AcceptedConnection) -> Bool {
    guard policy == .sameUser else { return true }
    let reason: Denial.Reason
    do {
      switch try lookup.owner(of: connection) {
      case .uid(let uid) where uid == ownerUID:
        return true
      case .uid(let uid):
        reason = .otherUser(uid)
      case .closed:
        state.withLock { $0.dropped += 1 }
        return false
      case .notFound:
        reason = .peerNotFound
      }
    } catch {
      reason = .lookupFailed((error as? any UserFacingError)?.summary ?? "\(error)")
    }
    let key: String =
      switch reason {
      case .otherUser(let uid): "uid \(uid)"
      case .peerNotFound: "not found"
      case .lookupFailed: "lookup failed"
      }
    let (first, observer) = state.withLock { s in
      s.denied += 1
      return (s.reported.insert(key).inserted, s.observer)
    }
    observer?(Denial(connection: connection, reason: reason, isFirstOfItsKind: first))
    return false
  }
}
