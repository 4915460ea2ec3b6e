import Synchronization
import TunnelCore

/// In-memory twin of `PeerCredentialLookup`: answers from a table keyed by the client's address
/// (the accepted connection's `remote`), `unknown` for every other one, and throws while
/// `failWith(_:)` is set. `lookups` lists every connection asked about, in order.
///
/// Thread safety: state behind a `Mutex`; any thread may call.
public final class InMemoryPeerCredentialLookup: PeerCredentialLookup {
  private struct State {
    var owners: [HostPort: PeerSocketOwner] = [:]
    var failure: (any Error & Sendable)?
    var lookups: [AcceptedConnection] = []
  }

  private let unknown: PeerSocketOwner
  private let state = Mutex(State())

  /// `unknown` answers for a client address `set` never named.
  public init(unknown: PeerSocketOwner = .notFound) { self.unknown = unknown }

  /// From now on, a connection from `client` has a peer socket owned as `owner` says.
  public func set(_ owner: PeerSocketOwner, forClient client: HostPort) {
    state.withLock { $0.owners[client] = owner }
  }

  /// While set, every lookup throws this error.
  public func failWith(_ error: (any Error & Sendable)?) { state.withLock { $0.failure = error } }

  /// Every connection looked up so far, oldest first.
  public var lookups: [AcceptedConnection] { state.withLock { $0.lookups } }

  public func owner(of connection: AcceptedConnection) throws -> PeerSocketOwner {
    let (owner, failure) = state.withLock { s in
      s.lookups.append(connection)
      return (s.owners[connection.remote], s.failure)
    }
    if let failure { throw failure }
    return owner ?? unknown
  }
}
