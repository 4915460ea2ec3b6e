import CLibSSH2
import Foundation
import TunnelCore

/// How hops log in; shared by every hop of a forwarder and owned by its I/O thread.
final class HopCredentials {
  /// Expanded path of `ssh.identity`, or nil for agent-only.
  let identityPath: String?
  /// `SSH_AUTH_SOCK` to use, or nil for no agent.
  let agentSocket: String?
  let passphraseProvider: PassphraseProvider
  /// Asked once, then kept in memory for reconnects. Zeroed on `forget()`.
  private(set) var passphrase: [UInt8]?

  init(identityPath: String?, agentSocket: String?, passphraseProvider: @escaping PassphraseProvider) {
    self.identityPath = identityPath
    self.agentSocket = agentSocket
    self.passphraseProvider = passphraseProvider
  }

  func passphrase(for path: String) -> [UInt8]? {
    if passphrase == nil { passphrase = passphraseProvider(path) }
    return passphrase
  }

  func forget() {
    if passphrase != nil {
      for i in passphrase!.indices { passphrase![i] = 0 }
      passphrase = nil
    }
  }

  deinit { forget() }
}

/// One SSH hop: its socket, its libssh2 session, and the non-blocking steps that bring it up
/// (TCP connect → handshake → host key check → authentication → ready).
///
/// Hop 0 runs over a TCP socket it connects itself. Hop k > 0 runs over one end of a socketpair
/// whose other end `ForwardingLoop` pumps into a `direct-tcpip` channel of hop k−1.
///
/// Confined to the tunnel's I/O thread. The session's send/recv callbacks come back into this
/// object through libssh2's `abstract` pointer (unretained: this object owns the session, so it
/// outlives it). The socket descriptor is owned here and closed after the session is freed.
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
  private(set) var descriptor: Int32 = -1
  private(set) var hostKey: HostKey?

  // I/O accounting, written by the send/recv callbacks.
  private(set) var bytesReceived: UInt64 = 0
  private(set) var lastReceive: ContinuousClock.Instant = .now
  /// Bytes read from the socket while no libssh2 call wanted them (an idle session), served to
  /// libssh2 first by the recv callback. Keeps an idle socket drained so poll() does not spin.
  private var prefetch: [UInt8] = []
  private var prefetchOffset = 0
  /// The peer closed the connection (seen while prefetching).
  private(set) var peerClosed = false
  /// Bytes libssh2 handed to the send callback that the socket has not taken yet. The callback
  /// never reports a short write or EAGAIN to libssh2: it keeps the rest here and the loop flushes
  /// it on POLLOUT. libssh2 1.10 allows only one half-sent packet per session and fails every other
  /// send meanwhile (LIBSSH2_ERROR_BAD_USE), which would drop window adjustments and channel
  /// CLOSEs of other channels; with this buffer that state never arises. Pumps stop writing to
  /// channels of this hop while `hasOutputBacklog` (flow control).
  private var output: [UInt8] = []
  /// Socket input read ahead in one big recv, served to libssh2's small reads. Owned here,
  /// deallocated in deinit.
  private let inbound = UnsafeMutableRawBufferPointer.allocate(byteCount: HopConnection.readChunk, alignment: 16)
  private var inboundStart = 0
  private var inboundEnd = 0
  private var outputOffset = 0
  private(set) var sendFailed = false

  // Keepalive.
  private(set) var unansweredKeepalives = 0
  private var lastKeepaliveSent: ContinuousClock.Instant?

  private let verifier: KnownHostsVerifier
  private let credentials: HopCredentials
  private var addresses: [sockaddr_storage] = []
  private var addressIndex = 0
  private var lastConnectError: Int32 = 0

  // Authentication state.
  private var agent: AgentHandle?
  private var agentIdentity: UnsafeMutablePointer<libssh2_agent_publickey>?
  private var agentKeysTried = 0
  private var authStage: AuthStage = .listMethods
  private var serverMethods: [String] = []
  private var attempts: [String] = []

  private enum AuthStage {
    case listMethods
    case agentNextIdentity
    case agentTrying
    case keyFile
    case exhausted
  }

  init(index: Int, count: Int, endpoint: SSHEndpoint, verifier: KnownHostsVerifier, credentials: HopCredentials) {
    self.index = index
    self.endpoint = endpoint
    self.user = endpoint.user ?? HopConnection.currentUser()
    self.label = "hop \(index + 1)/\(count) \(endpoint.user == nil ? "\(HopConnection.currentUser())@" : "")\(endpoint)"
    self.verifier = verifier
    self.credentials = credentials
    phase = index == 0 ? .tcpConnecting : .awaitingTransport
  }

  deinit {
    tearDown()
    inbound.deallocate()
  }

  /// Frees the session, then closes the socket. Shutting the socket down first makes any send
  /// libssh2 attempts while freeing fail at once instead of blocking or returning EAGAIN.
  func tearDown() {
    if descriptor >= 0 { shutdown(descriptor, Int32(SHUT_RDWR)) }
    agentIdentity = nil
    agent = nil
    session = nil
    if descriptor >= 0 {
      close(descriptor)
      descriptor = -1
    }
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
        descriptor = fd
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
      close(descriptor)
      descriptor = -1
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
    descriptor = fd
    return beginHandshake()
  }

  // MARK: SSH handshake and login

  private func beginHandshake() -> Step {
    let session: SessionHandle
    do {
      session = try SessionHandle(abstract: Unmanaged.passUnretained(self).toOpaque())
    } catch {
      return .failed(error)
    }
    self.session = session
    _ = libssh2_session_callback_set(
      session.raw, LIBSSH2_CALLBACK_RECV, unsafeBitCast(hopReceive, to: UnsafeMutableRawPointer.self))
    _ = libssh2_session_callback_set(
      session.raw, LIBSSH2_CALLBACK_SEND, unsafeBitCast(hopSend, to: UnsafeMutableRawPointer.self))
    libssh2_session_set_blocking(session.raw, 0)
    // AES-CTR uses AES-NI through OpenSSL; libssh2 1.10 has no GCM or ChaCha20. CBC and RC4 are left out.
    _ = libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_CRYPT_CS, "aes128-ctr,aes256-ctr,aes192-ctr")
    _ = libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_CRYPT_SC, "aes128-ctr,aes256-ctr,aes192-ctr")
    _ = libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_MAC_CS, "hmac-sha2-256,hmac-sha2-512,hmac-sha1")
    _ = libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_MAC_SC, "hmac-sha2-256,hmac-sha2-512,hmac-sha1")
    if let algorithms = verifier.preferredAlgorithms(for: endpoint.address, session: session) {
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
      hostKey = try verifier.verify(session: session, address: endpoint.address, hop: label)
    } catch {
      return .failed(error)
    }
    phase = .authenticating
    authStage = .listMethods
    return .progressed
  }

  private func authenticate() -> Step {
    guard let session else { return .blocked }
    while true {
      switch authStage {
      case .listMethods:
        let list = user.withCString { libssh2_userauth_list(session.raw, $0, UInt32(strlen($0))) }
        if let list {
          serverMethods = String(cString: list).split(separator: ",").map(String.init)
        } else if libssh2_userauth_authenticated(session.raw) != 0 {
          return becomeReady()
        } else if session.lastErrno == libssh2EAGAIN {
          return .blocked
        } else {
          return .failed(SSHError(.sshConnection, "\(label): the server ended the login", session: session))
        }
        guard serverMethods.contains("publickey") else {
          return .failed(
            SSHError(
              .sshConnection,
              "\(label): authentication failed: the server accepts only \(serverMethods.joined(separator: ", ")), "
                + "and mcp-tunnel logs in with public keys (ssh-agent or ssh.identity)",
              fix: "ask the server's administrator to allow publickey logins for \(user)", retryable: false))
        }
        authStage = .agentNextIdentity
        if let socket = credentials.agentSocket {
          let handle = try? AgentHandle(session: session)
          // off-pool: runs on the tunnel's I/O thread
          if let handle, handle.connect(path: socket), libssh2_agent_list_identities(handle.raw) == 0 {
            agent = handle
          } else {
            attempts.append("ssh-agent at \(socket) (could not connect or list keys)")
          }
        } else {
          attempts.append("ssh-agent (none: SSH_AUTH_SOCK is not set)")
        }

      case .agentNextIdentity:
        guard let agent else {
          authStage = .keyFile
          continue
        }
        var next: UnsafeMutablePointer<libssh2_agent_publickey>?
        let rc = libssh2_agent_get_identity(agent.raw, &next, agentIdentity)
        if rc == 0, let next {
          agentIdentity = next
          agentKeysTried += 1
          authStage = .agentTrying
        } else {
          attempts.append(
            agentKeysTried == 0 ? "ssh-agent (no keys loaded)" : "ssh-agent (\(agentKeysTried) key(s), all refused)")
          self.agent = nil
          agentIdentity = nil
          authStage = .keyFile
        }

      case .agentTrying:
        guard let agent, let identity = agentIdentity else {
          authStage = .keyFile
          continue
        }
        // off-pool: runs on the tunnel's I/O thread
        let rc = user.withCString { libssh2_agent_userauth(agent.raw, $0, identity) }
        if rc == libssh2EAGAIN { return .blocked }
        if rc == 0 { return becomeReady() }
        authStage = .agentNextIdentity

      case .keyFile:
        authStage = .exhausted
        guard let path = credentials.identityPath else {
          attempts.append("identity file (none configured: ssh.identity is empty)")
          continue
        }
        switch IdentityFile.inspect(path) {
        case .missing:
          attempts.append("identity file \(path) (does not exist)")
          continue
        case .unreadable(let why):
          attempts.append("identity file \(path) (\(why))")
          continue
        case .plain, .encrypted:
          authStage = .keyFile
          return tryKeyFile(path: path, session: session)
        }

      case .exhausted:
        return .failed(
          SSHError(
            .sshConnection,
            "\(label): authentication failed for \(user) (server accepts: \(serverMethods.joined(separator: ", "))); "
              + "tried: \(attempts.joined(separator: "; "))",
            fix: "load an authorized key into ssh-agent (ssh-add), or set ssh.identity to a key listed in "
              + "~\(user)/.ssh/authorized_keys on \(endpoint.address.host)",
            retryable: false))
      }
    }
  }

  private func tryKeyFile(path: String, session: SessionHandle) -> Step {
    var passphrase: [CChar]?
    if IdentityFile.inspect(path) == .encrypted {
      guard let secret = credentials.passphrase(for: path) else {
        attempts.append("identity file \(path) (encrypted, and there is no terminal to ask for its passphrase)")
        authStage = .exhausted
        return .progressed
      }
      passphrase = secret.map { CChar(bitPattern: $0) } + [0]
    }
    defer {
      if passphrase != nil { for i in passphrase!.indices { passphrase![i] = 0 } }
    }
    let rc = user.withCString { u in
      path.withCString { p in
        libssh2_userauth_publickey_fromfile_ex(session.raw, u, UInt32(strlen(u)), nil, p, passphrase)
      }
    }
    if rc == libssh2EAGAIN { return .blocked }
    if rc == 0 { return becomeReady() }
    switch rc {
    case Int32(LIBSSH2_ERROR_FILE):
      attempts.append(
        "identity file \(path) (cannot load it: \(passphrase == nil ? "unsupported format" : "wrong passphrase or unsupported format"))"
      )
      if passphrase != nil { credentials.forget() }
    default:
      if IdentityFile.keyType(path) == "ssh-rsa" {
        // libssh2 1.10 signs RSA user keys only as ssh-rsa (SHA-1); rsa-sha2-256/512 came in 1.11.
        attempts.append(
          "identity file \(path) (refused by the server: libssh2 1.10 can sign RSA keys only with SHA-1 "
            + "(ssh-rsa), which OpenSSH 8.8 and later refuse; use an ed25519 or ECDSA key)")
      } else {
        attempts.append("identity file \(path) (refused by the server)")
      }
    }
    authStage = .exhausted
    return .progressed
  }

  private func becomeReady() -> Step {
    agent = nil
    agentIdentity = nil
    phase = .ready
    lastReceive = .now
    return .becameReady
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
      if phase == .ready && !hasWork && prefetchFull { events = mcp_tunnel_pollrdhup }
      if output.count > outputOffset { events |= Int16(POLLOUT) }
      return events
    }
  }

  private var prefetchFull: Bool { prefetch.count - prefetchOffset >= 256 * 1024 }

  /// Reads whatever the socket has into `prefetch` (for an idle ready session). Returns false when
  /// the peer closed the connection or it failed.
  func drainIdleSocket() -> Bool {
    guard descriptor >= 0, !prefetchFull else { return !peerClosed }
    if prefetchOffset > 0 && prefetchOffset == prefetch.count {
      prefetch.removeAll(keepingCapacity: true)
      prefetchOffset = 0
    }
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    while !prefetchFull {
      let n = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
      if n > 0 {
        prefetch.append(contentsOf: buffer[0..<n])
        noteReceived(n)
        continue
      }
      if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { peerClosed = true }
      break
    }
    return !peerClosed
  }

  /// Sends a keepalive (want_reply) when `interval` passed without input; reports the leg dead after
  /// `countMax` unanswered ones, like OpenSSH's ServerAliveInterval/ServerAliveCountMax.
  /// Returns the reason when the leg is dead.
  func checkKeepalive(now: ContinuousClock.Instant, interval: Duration, countMax: Int) -> String? {
    guard phase == .ready, interval > .zero, let session else { return nil }
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
    return max(lastReceive, lastKeepaliveSent ?? lastReceive) + interval
  }

  // MARK: send/recv callbacks

  /// More than this many unsent bytes: channels of this hop wait before writing more.
  static let outputBacklogLimit = 1 << 20

  var hasOutputBacklog: Bool { output.count - outputOffset >= Self.outputBacklogLimit }
  var outputPending: Int { output.count - outputOffset }

  /// Writes buffered output until the socket is full. Returns false when the socket failed.
  @discardableResult
  func flushOutput() -> Bool {
    while outputOffset < output.count {
      let n = output.withUnsafeBytes {
        // off-pool: runs on the tunnel's I/O thread, with MSG_DONTWAIT
        Glibc.send(
          descriptor, $0.baseAddress! + outputOffset, $0.count - outputOffset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
      }
      if n > 0 {
        outputOffset += n
        continue
      }
      if n < 0 && errno == EINTR { continue }
      if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
      sendFailed = true
      return false
    }
    if outputOffset == output.count {
      output.removeAll(keepingCapacity: output.capacity <= 4 << 20)
      outputOffset = 0
    } else if outputOffset > 1 << 20 {
      output.removeFirst(outputOffset)
      outputOffset = 0
    }
    return true
  }

  /// libssh2's send callback. Small writes are collected and sent together at the end of the
  /// loop's pass (one syscall per pass instead of one per SSH packet); a large backlog is pushed
  /// out at once. Always reports the whole length as taken (see `output`).
  fileprivate func transmit(_ fd: Int32, _ buffer: UnsafeRawPointer, _ length: Int, _ flags: Int32) -> Int {
    // libssh2 also talks to ssh-agent through these callbacks (LIBSSH2_SEND_FD with the agent's
    // socket): anything not for our session socket goes straight through.
    guard fd == descriptor else {
      // off-pool: libssh2's callback, on the tunnel's I/O thread
      let n = Glibc.send(fd, buffer, length, flags | Int32(MSG_NOSIGNAL))
      return n < 0 ? -Int(errno) : n
    }
    if sendFailed { return -Int(EPIPE) }
    output.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
    if output.count - outputOffset >= Self.flushThreshold, !flushOutput() { return -Int(EPIPE) }
    return length
  }

  static let flushThreshold = 256 * 1024
  static let readChunk = 128 * 1024

  fileprivate func noteReceived(_ n: Int) {
    bytesReceived &+= UInt64(n)
    lastReceive = .now
  }

  fileprivate func receive(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ length: Int, _ flags: Int32) -> Int {
    guard fd == descriptor else {  // the ssh-agent socket (see `transmit`)
      // off-pool: libssh2's callback, on the tunnel's I/O thread
      let n = recv(fd, buffer, length, flags)
      return n < 0 ? -Int(errno) : n
    }
    // Oldest first: `inbound` is refilled only when both are empty, and the idle drain only ever
    // appends to `prefetch`, so anything left in `inbound` predates `prefetch`.
    if inboundStart < inboundEnd {
      let n = min(inboundEnd - inboundStart, length)
      memcpy(buffer, inbound.baseAddress! + inboundStart, n)
      inboundStart += n
      return n
    }
    let buffered = prefetch.count - prefetchOffset
    if buffered > 0 {
      let n = min(buffered, length)
      _ = prefetch.withUnsafeBytes { memcpy(buffer, $0.baseAddress! + prefetchOffset, n) }
      prefetchOffset += n
      if prefetchOffset == prefetch.count {
        prefetch.removeAll(keepingCapacity: true)
        prefetchOffset = 0
      }
      return n
    }
    if peerClosed { return 0 }
    // libssh2 asks for at most 16 KiB at a time: read a big chunk once and serve it from memory.
    let direct = length >= inbound.count
    // off-pool: libssh2's callback, on the tunnel's I/O thread
    let n = direct ? recv(fd, buffer, length, flags) : recv(fd, inbound.baseAddress, inbound.count, flags)
    guard n > 0 else { return n < 0 ? -Int(errno) : 0 }
    noteReceived(n)
    if index == 0 { Self.acknowledgeQuickly(fd) }
    if direct { return n }
    let served = min(n, length)
    memcpy(buffer, inbound.baseAddress!, served)
    inboundStart = served
    inboundEnd = n
    return served
  }

  /// Re-arms TCP_QUICKACK (Linux clears it again after a while) so the server's small packets
  /// (window adjustments) are acknowledged at once. OpenSSH's sshd does not set TCP_NODELAY on
  /// non-interactive sessions: with our delayed ACK, its next packet would wait for the ACK of the
  /// previous small one (Nagle) — a 40 ms stall on the reply path.
  static func acknowledgeQuickly(_ fd: Int32) {
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &one, socklen_t(MemoryLayout<Int32>.size))
  }

  static func currentUser() -> String {
    if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
    return ProcessInfo.processInfo.environment["USER"] ?? "root"
  }
}

private let hopReceive:
  @convention(c) (Int32, UnsafeMutableRawPointer?, Int, Int32, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int =
    { fd, buffer, length, flags, abstract in
      guard let buffer, let context = abstract?.pointee else { return -Int(EINVAL) }
      return Unmanaged<HopConnection>.fromOpaque(context).takeUnretainedValue().receive(fd, buffer, length, flags)
    }

private let hopSend:
  @convention(c) (Int32, UnsafeRawPointer?, Int, Int32, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int = {
    fd, buffer, length, flags, abstract in
    guard let buffer, let context = abstract?.pointee else { return -Int(EINVAL) }
    return Unmanaged<HopConnection>.fromOpaque(context).takeUnretainedValue().transmit(fd, buffer, length, flags)
  }
