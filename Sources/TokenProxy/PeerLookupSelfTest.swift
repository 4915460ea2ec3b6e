import Foundation
import TunnelCore

/// `doctor`'s check of `listen.peers = same-user` (SPEC §5): connects to a loopback listener of its
/// own and asks `lookup` who owns the client end, exactly as the front end asks for each accepted
/// connection. On a machine where `sock_diag` and `/proc/net/tcp` are both out of reach (some
/// containers and sandboxes), `up` would refuse every connection; this says so before a client
/// finds out.
///
/// Blocking (a loopback connect, an accept, a netlink round trip): call it off the cooperative pool.
public enum PeerLookupSelfTest {
  /// The owner `lookup` reports for a connection this process just made to itself.
  public static func run(_ lookup: any PeerCredentialLookup) throws -> PeerSocketOwner {
    let listener = try LoopbackListener.bind(HostPort(host: "127.0.0.1", port: 0), backlog: 1)
    defer { listener.close() }
    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard client >= 0 else {
      throw ProxyError(.internalError, "could not create a loopback socket (errno \(errno))")
    }
    let clientSocket = StreamSocket(adopting: client)
    defer { clientSocket.close() }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(listener.address.port).bigEndian)
    address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        // off-pool: the caller runs this on a thread of its own (doctor: runOffPool)
        connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else {
      throw ProxyError(.internalError, "could not connect to a loopback listener of its own (errno \(errno))")
    }
    // off-pool: as above; the connection is already queued, so accept returns at once
    guard let accepted = listener.accept() else {
      throw ProxyError(.internalError, "the loopback listener of its own accepted nothing")
    }
    defer { accepted.close() }
    return try lookup.owner(of: SocketDiagPeerLookup.acceptedConnection(ofSocket: accepted.descriptor))
  }
}
