import Foundation
import Glibc
import MCPTunnelTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import TestTiers
import Testing
import TunnelCore

@testable import TokenProxy

/// `listen.peers` at the listener (SPEC §5): the live look-up (`SocketDiagPeerLookup`, netlink
/// `sock_diag` and the `/proc/net/tcp{,6}` fallback) against real loopback sockets made in this
/// process, and both front ends refusing a connection before a byte is read or forwarded. A client
/// process of another uid against the built binary is in the lab suites.
@Suite("listener peers: the live look-up and both front ends", .offPool, .timeLimit(.minutes(3)))
struct ListenerPeerTests {
  /// A connected loopback pair: `client` as a plain socket of this process, `accepted` as the
  /// listener handed it over. Both ends are `StreamSocket`s, so a test that closes the client early
  /// and `close()` at its end close each descriptor exactly once: a second `close(2)` of a number
  /// the process has meanwhile reused (a NIO channel of a test running in parallel) would pull a
  /// socket from under its owner.
  struct Pair {
    let listener: LoopbackListener
    let client: StreamSocket
    let accepted: StreamSocket

    var connection: AcceptedConnection { SocketDiagPeerLookup.acceptedConnection(ofSocket: accepted.descriptor) }
    var tuple: SocketDiagPeerLookup.PeerTuple? { SocketDiagPeerLookup.PeerTuple(connection) }

    func close() {
      client.close()
      accepted.close()
      listener.close()
    }
  }

  /// Listens on `host`:0 and connects to it; the client socket is made by `makeSocket` (so a test
  /// can make one that belongs to another uid).
  static func pair(
    _ host: String, makeSocket: (Int32) -> Int32 = { socket($0, Int32(SOCK_STREAM.rawValue), 0) }
  )
    throws -> Pair
  {
    let listener = try LoopbackListener.bind(HostPort(host: host, port: 0))
    let v6 = host.contains(":")
    let fd = makeSocket(v6 ? AF_INET6 : AF_INET)
    try #require(fd >= 0, "socket: errno \(errno)")
    let client = StreamSocket(adopting: fd)
    var storage = sockaddr_storage()
    let length: socklen_t
    if v6 {
      var a = sockaddr_in6()
      a.sin6_family = sa_family_t(AF_INET6)
      a.sin6_port = in_port_t(UInt16(listener.address.port).bigEndian)
      inet_pton(AF_INET6, host, &a.sin6_addr)
      length = socklen_t(MemoryLayout<sockaddr_in6>.size)
      memcpy(&storage, &a, Int(length))
    } else {
      var a = sockaddr_in()
      a.sin_family = sa_family_t(AF_INET)
      a.sin_port = in_port_t(UInt16(listener.address.port).bigEndian)
      inet_pton(AF_INET, host, &a.sin_addr)
      length = socklen_t(MemoryLayout<sockaddr_in>.size)
      memcpy(&storage, &a, Int(length))
    }
    let connected = withUnsafePointer(to: &storage) {
      // off-pool: the suite runs on the off-pool executor; a loopback connect completes at once
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
    }
    try #require(connected == 0, "connect: errno \(errno)")
    // off-pool: the suite runs on the off-pool executor; the connection is already queued
    let accepted = try #require(listener.accept())
    return Pair(listener: listener, client: client, accepted: accepted)
  }

  // MARK: the live look-up

  @Test(
    "a loopback connection made in this process is ours: sock_diag and /proc/net/tcp{,6} both name our uid",
    arguments: ["127.0.0.1", "::1"])
  func ownConnection(host: String) throws {
    let pair = try Self.pair(host)
    defer { pair.close() }
    #expect(pair.connection.remote.host == host && pair.connection.local == pair.listener.address)
    let tuple = try #require(pair.tuple)
    let mine = PeerSocketOwner.uid(geteuid())
    #expect(SocketDiagPeerLookup.askSockDiag(tuple) == .owner(mine))
    #expect(SocketDiagPeerLookup.scanProcNet(tuple) == .owner(mine))
    #expect(try SocketDiagPeerLookup().owner(of: pair.connection) == mine)
  }

  @Test(
    "a socket created under another fsuid is found with that uid by both sources",
    .enabled(if: geteuid() == 0, "needs root to create a socket of another uid"), arguments: ["127.0.0.1", "::1"])
  func otherUID(host: String) throws {
    // The socket's owner is the creating thread's fsuid; setfsuid changes only this thread's.
    // (Not in Swift's Glibc module: found with dlsym.)
    let symbol = try #require(dlsym(nil, "setfsuid"))
    let setfsuid = unsafeBitCast(symbol, to: (@convention(c) (UInt32) -> Int32).self)
    let pair = try Self.pair(host) { family in
      setfsuid(65534)
      defer { setfsuid(0) }
      return socket(family, Int32(SOCK_STREAM.rawValue), 0)
    }
    defer { pair.close() }
    #expect(setfsuid(UInt32.max) == 0, "fsuid restored")
    let tuple = try #require(pair.tuple)
    #expect(SocketDiagPeerLookup.askSockDiag(tuple) == .owner(.uid(65534)))
    #expect(SocketDiagPeerLookup.scanProcNet(tuple) == .owner(.uid(65534)))
  }

  @Test("a client that already closed is .closed (TIME_WAIT has uid 0, never 'root'); an unknown tuple is .notFound")
  func closedAndUnknown() throws {
    let pair = try Self.pair("127.0.0.1")
    defer { pair.close() }
    let connection = pair.connection
    pair.client.close()  // its socket is orphaned at once: no inode, whatever its TCP state
    #expect(try SocketDiagPeerLookup().owner(of: connection) == .closed)
    let tuple = try #require(pair.tuple)
    #expect(SocketDiagPeerLookup.scanProcNet(tuple) == .owner(.closed))

    var nobody = connection
    nobody.remote.port = connection.remote.port == 1 ? 2 : 1
    #expect(try SocketDiagPeerLookup().owner(of: nobody) == .notFound)
  }

  @Test("an address that is not an IP literal cannot be looked up: an error, so the check fails closed")
  func notAnAddress() {
    let odd = AcceptedConnection(local: HostPort(host: "", port: 0), remote: HostPort(host: "", port: 0))
    #expect(throws: ProxyError.self) { try SocketDiagPeerLookup().owner(of: odd) }
    let check = ListenerPeerCheck(policy: .sameUser, ownerUID: geteuid(), lookup: SocketDiagPeerLookup())
    #expect(!check.admits(odd) && check.deniedConnections == 1)
  }

  @Test("the /proc/net/tcp line format: each address word in host order, ports as %04X")
  func procAddressFormat() throws {
    let v4 = try #require(SocketDiagPeerLookup.PeerTuple.parse("127.0.0.1"))
    #expect(SocketDiagPeerLookup.procAddress(v4.bytes, port: 7700) == "0100007F:1E14")
    let v6 = try #require(SocketDiagPeerLookup.PeerTuple.parse("::1"))
    #expect(SocketDiagPeerLookup.procAddress(v6.bytes, port: 443) == "00000000000000000000000001000000:01BB")
  }

  // MARK: the front ends

  /// A check whose twin says every client belongs to `peer`, for an owner uid 1000.
  static func check(peer: UInt32) -> (ListenerPeerCheck, InMemoryPeerCredentialLookup) {
    let lookup = InMemoryPeerCredentialLookup(unknown: .uid(peer))
    return (ListenerPeerCheck(policy: .sameUser, ownerUID: 1000, lookup: lookup), lookup)
  }

  @Test("http: another uid's connection is closed before a byte is read — no answer, no upstream stream, counted")
  func httpRefuses() async throws {
    let (check, lookup) = Self.check(peer: 65534)
    let h = try await ProxyHarness(peerCheck: check)
    defer { Task { await h.stop() } }
    let received = try await RawHTTPClient.with(port: h.port) { client in
      _ = await client.send("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nContent-Length: 2\r\n\r\n{}")
      return await client.waitForClose()
    }
    #expect(received.closed && received.bytes.isEmpty, "\(received.text)")
    #expect(check.deniedConnections == 1)
    #expect(lookup.lookups.map(\.local) == [h.address], "looked up with the listener's own address")
    #expect(h.forwarder.openedCount == 0 && h.upstream.requests.isEmpty)
    #expect(h.proxy.counters.requests == 0, "no request head was parsed")
  }

  @Test("http: the owner's connection is served as before")
  func httpServesOwner() async throws {
    let (check, _) = Self.check(peer: 1000)
    let h = try await ProxyHarness(peerCheck: check)
    defer { Task { await h.stop() } }
    let response = try await request(port: h.port, .POST, "/mcp", body: "{}")
    #expect(response?.status == 200)
    #expect(check.deniedConnections == 0)
  }

  @Test("http with the live look-up: our own connection is served; with another owner uid it is refused")
  func httpLiveLookup() async throws {
    for (owner, served) in [(geteuid(), true), (geteuid() &+ 1, false)] {
      let check = ListenerPeerCheck(policy: .sameUser, ownerUID: owner, lookup: SocketDiagPeerLookup())
      let h = try await ProxyHarness(peerCheck: check)
      let response = try? await request(port: h.port, .POST, "/mcp", body: "{}")
      #expect((response?.status == 200) == served, "owner \(owner)")
      #expect(check.deniedConnections == (served ? 0 : 1))
      await h.stop()
    }
  }

  @Test("tcp: another uid's connection is closed on the accept thread, never handed to the forwarder; the owner's is")
  func tcpFrontEnd() async throws {
    for (peer, served) in [(UInt32(65534), false), (1000, true)] {
      let (check, _) = Self.check(peer: peer)
      let listener = try LoopbackListener.bind(HostPort(host: "127.0.0.1", port: 0))
      let frontEnd = TCPForwardFrontEnd(listener: listener, peerCheck: check)
      let forwarder = InMemoryPortForwarder()
      try await forwarder.start()
      try await frontEnd.start(forwarder: forwarder, tokens: nil) { _ in }
      let echoed = try await runOffPool { try Self.echo(port: listener.address.port, [1, 2, 3]) }
      #expect((echoed == [1, 2, 3]) == served, "peer \(peer): \(echoed)")
      #expect(forwarder.openedCount == (served ? 1 : 0))
      #expect(check.deniedConnections == (served ? 0 : 1))
      await frontEnd.stop()
      await forwarder.stop()
    }
  }

  @Test("close() wakes an accept() on another thread; the listening socket is closed once: its port binds again")
  func closeWakesAccept() async throws {
    let listener = try LoopbackListener.bind(HostPort(host: "127.0.0.1", port: 0))
    async let accepted = runOffPool { listener.accept() }  // off-pool: runOffPool's own thread
    listener.close()  // before or during that accept(2): either way it returns nil
    #expect(try await accepted == nil)
    // off-pool: the suite runs on OffPoolExecutor (.offPool); a closed listener returns at once
    #expect(listener.accept() == nil, "a closed listener accepts nothing")
    // A listening socket still open (by either side) would make this EADDRINUSE.
    let again = try LoopbackListener.bind(listener.address)
    again.close()
  }

  /// Sends `bytes` and reads until as many came back or the connection closed; what came back.
  static func echo(port: Int, _ bytes: [UInt8]) throws -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { Glibc.close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr)
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let connected = withUnsafePointer(to: &a) {
      // off-pool: runs in runOffPool
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
    }
    try #require(connected == 0)
    var timeout = timeval(tv_sec: 60, tv_usec: 0)  // turns a hang into a failure
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }  // off-pool: runOffPool
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64)
    while received.count < bytes.count {
      // off-pool: runs in runOffPool
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n <= 0 { break }
      received += buffer[0..<n]
    }
    return received
  }
}
