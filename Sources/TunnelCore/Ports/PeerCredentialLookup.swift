/// One accepted TCP connection of the local listener, as the listener sees it: its own address
/// (`local`) and the client's (`remote`), numeric hosts (`127.0.0.1`, `::1`).
public struct AcceptedConnection: Sendable, Hashable, CustomStringConvertible {
  public var local: HostPort
  public var remote: HostPort

  public init(local: HostPort, remote: HostPort) {
    self.local = local
    self.remote = remote
  }

  public var description: String { "\(remote) → \(local)" }
}

/// Who owns the client's end of an accepted loopback connection.
public enum PeerSocketOwner: Sendable, Equatable {
  /// The uid the peer socket belongs to (the user whose process created it).
  case uid(UInt32)
  /// The peer socket is there but closed by its process (`TIME_WAIT`, or an orphan still
  /// finishing its close): there is no one left to serve. It has no owner to report.
  case closed
  /// No socket with the peer's address was found. A client on this machine's loopback always has
  /// one, so this means the lookup cannot see it (another network namespace, a filtered
  /// `sock_diag`), not that the client is harmless.
  case notFound
}

/// Finds the owner of the peer socket of an accepted loopback connection (SPEC §5
/// `listen.peers`). For loopback TCP the peer socket is the client's own: its local address is the
/// accepted socket's remote address and the other way round.
///
/// The live version is `SocketDiagPeerLookup` in `TokenProxy` (netlink `sock_diag`, falling back to
/// `/proc/net/tcp{,6}`); the twin is `InMemoryPeerCredentialLookup` in `MCPTunnelTestSupport`.
public protocol PeerCredentialLookup: Sendable {
  /// Short but synchronous (one netlink request, or a read of `/proc`): call it on an accept
  /// thread or an event loop, never on the cooperative pool. Throws a `UserFacingError` saying why
  /// when the owner cannot be found out at all (neither `sock_diag` nor `/proc/net/tcp` usable).
  func owner(of connection: AcceptedConnection) throws -> PeerSocketOwner
}
