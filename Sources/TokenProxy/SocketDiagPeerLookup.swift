import Foundation
import NIOCore
import TunnelCore

/// The live `PeerCredentialLookup`: asks the kernel who owns the client's socket of an accepted
/// loopback connection, the way `ss -tne` does.
///
/// First netlink `sock_diag` (`NETLINK_SOCK_DIAG`, one `SOCK_DIAG_BY_FAMILY` request with an
/// `inet_diag_req_v2` naming the exact 4-tuple, no dump): the kernel finds that one socket and
/// answers with its `idiag_uid` inside the `send` call, so the whole look-up is two syscalls on a
/// socket of its own, tens of microseconds. When that fails (no netlink in a sandbox, no
/// `tcp_diag`), `/proc/net/tcp` or `/proc/net/tcp6` is scanned for the line whose local address is
/// the client's and whose remote address is ours, and its `uid` column read.
///
/// For loopback TCP the client's socket is on this machine: its local address is the accepted
/// socket's remote one. A socket already closed by its process (`TIME_WAIT`, or an orphan still
/// finishing its close) reports uid 0 and inode 0 — that is `.closed`, never "root".
///
/// Stateless; any thread may call, but never the cooperative pool (see `PeerCredentialLookup`).
public struct SocketDiagPeerLookup: PeerCredentialLookup {
  public init() {}

  public func owner(of connection: AcceptedConnection) throws -> PeerSocketOwner {
    guard let tuple = PeerTuple(connection) else {
      throw ProxyError(
        .internalError, "the connection \(connection) has no IP addresses, so its peer cannot be looked up")
    }
    let netlink = Self.askSockDiag(tuple)
    if case .owner(let owner) = netlink { return owner }
    switch Self.scanProcNet(tuple) {
    case .owner(let owner): return owner
    case .notFound: return .notFound
    case .failed(let procProblem):
      if case .failed(let netlinkProblem) = netlink {
        throw ProxyError(
          .internalError, "neither sock_diag (\(netlinkProblem)) nor \(procProblem) could name the peer's owner",
          fix: "run mcp-tunnel where netlink sock_diag or /proc/net/tcp is available, "
            + "or set listen.peers = \"any-local-user\" to serve every local user")
      }
      return .notFound
    }
  }

  /// What one source answered.
  enum Answer: Equatable {
    case owner(PeerSocketOwner)
    case notFound
    case failed(String)
  }

  // MARK: sock_diag

  /// One exact-match `inet_diag` request. Layouts (linux/netlink.h, linux/inet_diag.h), all in host
  /// byte order except ports and addresses: `nlmsghdr` {len u32, type u16, flags u16, seq u32,
  /// pid u32}; `inet_diag_req_v2` {family u8, protocol u8, ext u8, pad u8, states u32,
  /// `inet_diag_sockid` {sport be16, dport be16, src be32[4], dst be32[4], if u32, cookie u32[2]}};
  /// the answer's `inet_diag_msg` {family u8, state u8, timer u8, retrans u8, id (48 bytes),
  /// expires u32, rqueue u32, wqueue u32, uid u32, inode u32}.
  static func askSockDiag(_ tuple: PeerTuple) -> Answer {
    let netlinkSockDiag: Int32 = 4
    let sockDiagByFamily: UInt16 = 20
    let nlmsgError: UInt16 = 2
    let fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), netlinkSockDiag)
    guard fd >= 0 else { return .failed("netlink socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }

    var request: [UInt8] = []
    request.appendNative(UInt32(72))
    request.appendNative(sockDiagByFamily)
    request.appendNative(UInt16(1))  // NLM_F_REQUEST: one socket, not a dump
    request.appendNative(UInt32(1))
    request.appendNative(UInt32(0))
    request += [UInt8(tuple.family), UInt8(IPPROTO_TCP), 0, 0]
    request.appendNative(UInt32.max)  // every state
    // The socket asked about is the client's: its source is the client's address.
    request.appendBigEndian(tuple.peerPort)
    request.appendBigEndian(tuple.ourPort)
    request += tuple.peerAddress + [UInt8](repeating: 0, count: 16 - tuple.peerAddress.count)
    request += tuple.ourAddress + [UInt8](repeating: 0, count: 16 - tuple.ourAddress.count)
    request.appendNative(UInt32(0))  // any interface
    request.appendNative(UInt32.max)  // INET_DIAG_NOCOOKIE
    request.appendNative(UInt32.max)

    let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
    guard sent == request.count else { return .failed("netlink send: \(String(cString: strerror(errno)))") }
    var reply = [UInt8](repeating: 0, count: 1024)
    // The kernel handles the request within send(): the answer is queued before send returns,
    // so a non-blocking receive finds it; EAGAIN would mean there is none.
    let received = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
    guard received >= 16 else {
      return .failed("netlink receive: \(received < 0 ? String(cString: strerror(errno)) : "short answer")")
    }
    let type = reply.loadNative(UInt16.self, at: 4)
    if type == nlmsgError, received >= 20 {
      let code = -reply.loadNative(Int32.self, at: 16)
      return code == ENOENT ? .notFound : .failed("sock_diag: \(String(cString: strerror(code)))")
    }
    guard type == sockDiagByFamily, received >= 16 + 72 else {
      return .failed("sock_diag: unexpected answer (type \(type), \(received) bytes)")
    }
    let uid = reply.loadNative(UInt32.self, at: 16 + 64)
    let inode = reply.loadNative(UInt32.self, at: 16 + 68)
    return .owner(inode == 0 ? .closed : .uid(uid))
  }

  // MARK: /proc/net/tcp

  /// The `/proc/net/tcp{,6}` line of the client's socket. Addresses there are each 32-bit word of
  /// the network-order address printed as a host-order `%08X`; ports are host-order `%04X`;
  /// field 7 is the uid and field 9 the inode (0 for a socket in `TIME_WAIT`).
  static func scanProcNet(_ tuple: PeerTuple, root: String = "/proc") -> Answer {
    let path = root + (tuple.family == AF_INET6 ? "/net/tcp6" : "/net/tcp")
    guard let text = PortHolder.readWhole(path) else { return .failed("\(path) cannot be read") }
    let clientSide = procAddress(tuple.peerAddress, port: tuple.peerPort)
    let ourSide = procAddress(tuple.ourAddress, port: tuple.ourPort)
    var closed = false
    for line in text.split(separator: "\n").dropFirst() {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      guard fields.count > 9, fields[1] == clientSide, fields[2] == ourSide else { continue }
      guard fields[9] != "0" else {
        closed = true
        continue
      }
      guard let uid = UInt32(fields[7]) else { return .failed("\(path) has no uid for \(clientSide)") }
      return .owner(.uid(uid))
    }
    return closed ? .owner(.closed) : .notFound
  }

  static func procAddress(_ address: [UInt8], port: UInt16) -> String {
    let words = stride(from: 0, to: address.count, by: 4).map { start in
      address[start..<start + 4].withUnsafeBytes { String(format: "%08X", $0.loadUnaligned(as: UInt32.self)) }
    }
    return words.joined() + String(format: ":%04X", port)
  }

  // MARK: Addresses

  /// Both ends of an accepted connection as the kernel tables hold them.
  struct PeerTuple {
    var family: Int32
    /// The client's address and port: the peer socket's own local side.
    var peerAddress: [UInt8]
    var peerPort: UInt16
    var ourAddress: [UInt8]
    var ourPort: UInt16

    init?(_ connection: AcceptedConnection) {
      guard let peer = Self.parse(connection.remote.host), let ours = Self.parse(connection.local.host),
        peer.family == ours.family, let peerPort = UInt16(exactly: connection.remote.port),
        let ourPort = UInt16(exactly: connection.local.port)
      else { return nil }
      family = peer.family
      peerAddress = peer.bytes
      self.peerPort = peerPort
      ourAddress = ours.bytes
      self.ourPort = ourPort
    }

    static func parse(_ host: String) -> (family: Int32, bytes: [UInt8])? {
      let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
      var v4 = [UInt8](repeating: 0, count: 4)
      if v4.withUnsafeMutableBytes({ inet_pton(AF_INET, bare, $0.baseAddress) }) == 1 { return (AF_INET, v4) }
      var v6 = [UInt8](repeating: 0, count: 16)
      if v6.withUnsafeMutableBytes({ inet_pton(AF_INET6, bare, $0.baseAddress) }) == 1 { return (AF_INET6, v6) }
      return nil
    }
  }

  /// The local and remote address of an accepted socket (`getsockname`/`getpeername`), numeric.
  /// When either cannot be had, an empty host, which the look-up refuses (so the check fails closed).
  static func acceptedConnection(ofSocket descriptor: Int32) -> AcceptedConnection {
    let unknown = HostPort(host: "", port: 0)
    return AcceptedConnection(
      local: address(descriptor, getsockname) ?? unknown, remote: address(descriptor, getpeername) ?? unknown)
  }

  /// The same for a NIO channel's cached addresses.
  static func acceptedConnection(local: SocketAddress?, remote: SocketAddress?) -> AcceptedConnection {
    func hostPort(_ address: SocketAddress?) -> HostPort {
      guard let address, let host = address.ipAddress, let port = address.port else {
        return HostPort(host: "", port: 0)
      }
      return HostPort(host: host, port: port)
    }
    return AcceptedConnection(local: hostPort(local), remote: hostPort(remote))
  }

  /// `get` (`getsockname`/`getpeername`) of `descriptor` as a numeric `HostPort`, IPv4 or IPv6.
  static func address(
    _ descriptor: Int32, _ get: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
  ) -> HostPort? {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let ok = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { get(descriptor, $0, &length) == 0 }
    }
    guard ok else { return nil }
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    switch Int32(storage.ss_family) {
    case AF_INET:
      return withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a -> HostPort? in
          var address = a.pointee.sin_addr
          guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else { return nil }
          return HostPort(host: String(cString: text), port: Int(UInt16(bigEndian: a.pointee.sin_port)))
        }
      }
    case AF_INET6:
      return withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a -> HostPort? in
          var address = a.pointee.sin6_addr
          guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return nil }
          return HostPort(host: String(cString: text), port: Int(UInt16(bigEndian: a.pointee.sin6_port)))
        }
      }
    default:
      return nil
    }
  }
}

extension [UInt8] {
  fileprivate mutating func appendNative<T: FixedWidthInteger>(_ value: T) {
    Swift.withUnsafeBytes(of: value) { append(contentsOf: $0) }
  }

  fileprivate mutating func appendBigEndian(_ value: UInt16) {
    append(UInt8(value >> 8))
    append(UInt8(value & 0xff))
  }

  fileprivate func loadNative<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
    withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
  }
}
