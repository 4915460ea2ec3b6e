import CLibSSH2
import Foundation
import TunnelCore

/// One SSH hop, brought up in order: TCP connect (hop 0) or the transport over the previous hop
/// (hop k > 0) → SSH handshake → host key check → authentication → ready. This type owns the
/// sequence and the hop's libssh2 session; the byte path under the session is its `HopTransport`,
/// the login its `HopAuthenticator`. (`ForwardingLoop` opens the direct-tcpip channels over a ready
/// hop: the transport of the next hop, and the streams to `ssh.target` over the last.)
///
/// Hop 0 runs over a TCP socket it connects itself. Hop k > 0 runs over one end of a socketpair
/// whose other end `ForwardingLoop` pumps into a `direct-tcpip` channel of hop k−1.
///
/// Confined to one thread at a time: the tunnel's I/O thread, or (a jump hop, once the route is up)
/// its relay thread until the I/O thread joins it (see `HopRelay`). The session's send/recv callbacks go to `transport`
/// through libssh2's `abstract` pointer (unretained: this object owns both and frees the session
/// first). The socket descriptor belongs to `transport` and is closed after the session is freed.
final class HopConnection {
  enum Phase: Equatable {
    case tcpConnecting
    case awaitingTransport
    case handshaking
    case authenticating
    case ready
    case dead
  }

  enum Step {
    /// Waiting for the socket (see `pollEvents`).
    case blocked
    case progressed
    case becameReady
    case failed(SSHError)
  }

  let index: Int
  let endpoint: SSHEndpoint
  let user: String
  /// "hop 1/2 root@bastion:22", used in every message about this hop.
  let label: String
  private(set) var phase: Phase
  private(set) var session: SessionHandle?
  private(set) var hostKey: HostKey?
  /// The socket and the buffers between it and the session.
  let transport: HopTransport
  /// The socket descriptor (owned by `transport`), or -1.
  var descriptor: Int32 { transport.descriptor }

  // Keepalive.
  private(set) var unansweredKeepalives = 0
  private var lastKeepaliveSent: ContinuousClock.Instant?

  private let verifier: KnownHostsVerifier
  private let credentials: HopCredentials
  /// The login, while `phase == .authenticating`.
  private var authenticator: HopAuthenticator?
  private var addresses: [sockaddr_storage] = []
  private var addressIndex = 0
  private var lastConnectError: Int32 = 0

  /// Where the host key is looked up in known_hosts: the address, or `HostKeyAlias`.
  let hostKeyName: HostPort

  init(
    index: Int, count: Int, endpoint: SSHEndpoint, hostKeyName: HostPort? = nil, verifier: KnownHostsVerifier,
    credentials: HopCredentials
  ) {
    self.index = index
    self.endpoint = endpoint
    self.hostKeyName = hostKeyName ?? endpoint.address
    self.user = endpoint.user ?? HopConnection.currentUser()
    self.label = "hop \(index + 1)/\(count) \(endpoint.user == nil ? "\(HopConnection.currentUser())@" : "")\(endpoint)"
    self.verifier = verifier
    self.credentials = credentials
    transport = HopTransport(overTCP: index == 0)
    phase = index == 0 ? .tcpConnecting : .awaitingTransport
  }

  deinit { tearDown() }

  /// Frees the session, then closes the socket. Shutting the socket down first makes any send
  /// libssh2 attempts while freeing fail at once instead of blocking or returning EAGAIN.
  func tearDown() {
    transport.shutDownSocket()
    authenticator?.release()
    authenticator = nil
    session = nil
    transport.closeSocket()
    phase = .dead
  }

  // MARK: TCP (hop 0)

  /// Resolves the endpoint and starts a non-blocking connect. Resolution blocks briefly (getaddrinfo).
  func beginTCPConnect() -> Step {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    // off-pool: runs on the tunnel's I/O thread
    let rc = getaddrinfo(endpoint.address.host, String(endpoint.address.port), &hints, &result)
    guard rc == 0, let first = result else {
      return .failed(
        SSHError(
          .sshConnection, "\(label): cannot resolve \(endpoint.address.host): \(String(cString: gai_strerror(rc)))",
          fix: "check the host name in [ssh] and your DNS"))
    }
    defer { freeaddrinfo(result) }
    var node: UnsafeMutablePointer<addrinfo>? = first
    while let n = node {
      var storage = sockaddr_storage()
      memcpy(&storage, n.pointee.ai_addr, Int(n.pointee.ai_addrlen))
      addresses.append(storage)
      node = n.pointee.ai_next
    }
    addressIndex = 0
    return connectNextAddress()
  }

  private func connectNextAddress() -> Step {
    while addressIndex < addresses.count {
      var address = addresses[addressIndex]
      addressIndex += 1
      let family = Int32(address.ss_family)
      let fd = socket(
        family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
      guard fd >= 0 else { continue }
      var one: Int32 = 1
      setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
      let length = socklen_t(family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
      let rc = withUnsafePointer(to: &address) {
        // off-pool: runs on the tunnel's I/O thread, on a non-blocking socket
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
      }
      if rc == 0 || errno == EINPROGRESS {
        transport.adopt(fd)
        phase = .tcpConnecting
        return .progressed
      }
      lastConnectError = errno
      close(fd)
    }
    return .failed(connectError())
  }

  private func connectError() -> SSHError {
    let reason = lastConnectError == 0 ? "no usable address" : String(cString: strerror(lastConnectError))
    return SSHError(
      .sshConnection, "\(label): cannot connect to \(endpoint.address): \(reason)",
      fix: "check that the host is up and that port \(endpoint.address.port) is reachable from here")
  }

  /// Called when the connecting socket reports writable (or an error).
  private func finishTCPConnect() -> Step {
    var error: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
    if error == EINPROGRESS || error == EALREADY { return .blocked }
    if error != 0 {
      lastConnectError = error
      transport.closeSocket()
      return connectNextAddress()
    }
    // Confirm the connection is really up (SO_ERROR is 0 before the handshake completes too).
    var peer = sockaddr_storage()
    var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let connected = withUnsafeMutablePointer(to: &peer) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &peerLength) == 0 }
    }
    guard connected else { return .blocked }
    return beginHandshake()
  }

  // MARK: transport over the previous hop (hop > 0)

  /// Takes ownership of `fd`, one end of a socketpair bridged to hop k−1's channel.
  func attachTransport(_ fd: Int32) -> Step {
    transport.adopt(fd)
    return beginHandshake()
  }

  // MARK: SSH handshake, host key and login

  /// The ciphers and MACs offered, most preferred first (libssh2_session_method_pref).
  static let ciphers =
    "aes128-ctr,aes256-ctr,aes192-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com"
  static let macs =
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512,"
    + "hmac-sha1-etm@openssh.com,hmac-sha1"

  private func beginHandshake() -> Step {
    let session: SessionHandle
    do {
      session = try SessionHandle(abstract: transport.abstract)
    } catch {
      return .failed(error)
    }
    self.session = session
    transport.install(on: session)
    libssh2_session_set_blocking(session.raw, 0)
    // AES-CTR first: AES-NI through OpenSSL, one cipher call per packet (the vendored libssh2's
    // patch; GCM and ChaCha20 still go a block or a packet at a time through slower code), with
    // an encrypt-then-MAC SHA-2 MAC. GCM and ChaCha20 after it, for servers that offer only those.
    // CBC and RC4 are left out.
    _ = libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_CRYPT_CS, Self.ciphers)
    _ = libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_CRYPT_SC, Self.ciphers)
    _ = libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_MAC_CS, Self.macs)
    _ = libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_MAC_SC, Self.macs)
    if let algorithms = verifier.preferredAlgorithms(for: hostKeyName, session: session) {
      _ = libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_HOSTKEY, algorithms)
    }
    libssh2_keepalive_config(session.raw, 1, 1)
    phase = .handshaking
    return .progressed
  }

  /// Makes whatever progress the current phase allows. Call again after the socket is ready.
  func advance() -> Step {
    switch phase {
    case .tcpConnecting: return finishTCPConnect()
    case .handshaking: return handshake()
    case .authenticating: return authenticate()
    case .awaitingTransport, .ready, .dead: return .blocked
    }
  }

  private func handshake() -> Step {
    guard let session else { return .blocked }
    let rc = libssh2_session_handshake(session.raw, descriptor)
    if rc == libssh2EAGAIN { return .blocked }
    guard rc == 0 else {
      return .failed(
        SSHError(
          .sshConnection, "\(label): SSH handshake failed", session: session,
          fix: "check that \(endpoint.address) is an SSH server and that its algorithms are not too old or too new"))
    }
    do {
      hostKey = try verifier.verify(session: session, address: hostKeyName, hop: label)
    } catch {
      return .failed(error)
    }
    phase = .authenticating
    authenticator = HopAuthenticator(
      label: label, user: user, host: endpoint.address.host, credentials: credentials)
    return .progressed
  }

  private func authenticate() -> Step {
    guard let session, let authenticator else { return .blocked }
    switch authenticator.advance(session: session) {
    case .blocked: return .blocked
    case .progressed: return .progressed
    case .failed(let error): return .failed(error)
    case .authenticated:
      self.authenticator = nil
      phase = .ready
      transport.resetReceiveClock()
      return .becameReady
    }
  }

  // MARK: polling

  /// poll() events for this hop's socket. `wantsInput` is false when nothing on this session
  /// would consume input (no channels, no pending operations): then the socket is drained into
  /// `prefetch` instead, which still notices a closed connection and keepalive replies.
  func pollEvents(hasWork: Bool) -> Int16 {
    guard descriptor >= 0 else { return 0 }
    switch phase {
    case .tcpConnecting: return Int16(POLLOUT)
    case .awaitingTransport, .dead: return 0
    case .handshaking, .authenticating, .ready:
      var events = Int16(POLLIN)
      if phase == .ready && !hasWork && transport.prefetchFull { events = mcp_tunnel_pollrdhup }
      if transport.outputPending > 0 { events |= Int16(POLLOUT) }
      return events
    }
  }

  /// Sends a keepalive (want_reply) when `interval` passed without input; reports the leg dead after
  /// `countMax` unanswered ones, like OpenSSH's ServerAliveInterval/ServerAliveCountMax.
  /// Returns the reason when the leg is dead.
  func checkKeepalive(now: ContinuousClock.Instant, interval: Duration, countMax: Int) -> String? {
    guard phase == .ready, interval > .zero, let session else { return nil }
    let lastReceive = transport.lastReceive
    if let sent = lastKeepaliveSent, lastReceive > sent { unansweredKeepalives = 0 }
    let quietSince = max(lastReceive, lastKeepaliveSent ?? lastReceive)
    guard now - quietSince >= interval else { return nil }
    if unansweredKeepalives >= countMax {
      return "\(label): no answer to \(countMax) keepalives in \(DurationText.format(interval * countMax))"
    }
    var next: Int32 = 0
    let rc = libssh2_keepalive_send(session.raw, &next)
    if rc == 0 {
      unansweredKeepalives += 1
      lastKeepaliveSent = now
    }
    return nil
  }

  /// When the next keepalive check is due.
  func nextKeepaliveCheck(interval: Duration) -> ContinuousClock.Instant? {
    guard phase == .ready, interval > .zero else { return nil }
    let lastReceive = transport.lastReceive
    return max(lastReceive, lastKeepaliveSent ?? lastReceive) + interval
  }

  static func currentUser() -> String {
    if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
    return ProcessInfo.processInfo.environment["USER"] ?? "root"
  }
}
