import CLibSSH2
import Foundation

/// The byte path between one hop's socket and its libssh2 session: libssh2's send/recv callbacks
/// come here (through the session's `abstract` pointer), and the buffers behind them.
///
/// * Output: libssh2's packets are collected in `output` and written by `flushOutput` (the send
///   callback never reports a short write or EAGAIN; see `output`).
/// * Input: one big `recv` into `inbound` serves libssh2's small reads; an idle session's socket is
///   drained into `prefetch` (`drainIdleSocket`) so poll() does not spin and a close is noticed.
///
/// Owns the socket descriptor (hop 0's TCP socket, or hop k's end of the socketpair bridged to hop
/// k−1): `HopConnection` frees the session first, then calls `closeSocket`. Confined to the
/// thread that owns its `HopConnection` (see `HopRelay`). Its owner (`HopConnection`) keeps it alive longer than the session whose
/// callbacks point at it.
final class HopTransport {
  private(set) var descriptor: Int32 = -1
  /// Hop 0 runs over TCP: re-arm TCP_QUICKACK after each read (see `acknowledgeQuickly`).
  private let overTCP: Bool

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
  /// it on POLLOUT. libssh2 allows only one half-sent packet per session and fails every other
  /// send meanwhile (LIBSSH2_ERROR_BAD_USE), which would drop window adjustments and channel
  /// CLOSEs of other channels; with this buffer that state never arises. Pumps stop writing to
  /// channels of this hop while `hasOutputBacklog` (flow control).
  private var output: [UInt8] = []
  /// Socket input read ahead in one big recv, served to libssh2's small reads. Owned here,
  /// deallocated in deinit.
  private let inbound = UnsafeMutableRawBufferPointer.allocate(byteCount: HopTransport.readChunk, alignment: 16)
  private var inboundStart = 0
  private var inboundEnd = 0
  private var outputOffset = 0
  private(set) var sendFailed = false

  init(overTCP: Bool) {
    self.overTCP = overTCP
  }

  deinit {
    closeSocket()
    inbound.deallocate()
  }

  // MARK: the socket

  /// Takes ownership of `fd`.
  func adopt(_ fd: Int32) {
    descriptor = fd
  }

  /// Makes any further send fail at once (so freeing the session never blocks or sees EAGAIN).
  func shutDownSocket() {
    if descriptor >= 0 { shutdown(descriptor, Int32(SHUT_RDWR)) }
  }

  func closeSocket() {
    if descriptor >= 0 {
      close(descriptor)
      descriptor = -1
    }
  }

  /// Installs this transport's send/recv callbacks on `session`, whose `abstract` must be this
  /// object (see `SessionHandle.init(abstract:)`).
  func install(on session: SessionHandle) {
    // libssh2 stores one generic function pointer per callback type and calls it with the type's
    // real signature (`libssh2_session_callback_set2`).
    typealias Generic = @convention(c) () -> Void
    _ = libssh2_session_callback_set2(session.raw, LIBSSH2_CALLBACK_RECV, unsafeBitCast(hopReceive, to: Generic.self))
    _ = libssh2_session_callback_set2(session.raw, LIBSSH2_CALLBACK_SEND, unsafeBitCast(hopSend, to: Generic.self))
  }

  /// The `abstract` pointer for the session this transport carries (unretained: the owner keeps
  /// this object alive longer than the session).
  var abstract: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

  // MARK: input

  var prefetchFull: Bool { prefetch.count - prefetchOffset >= 256 * 1024 }

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

  /// Treats the session as just heard from (it became ready: keepalive counts from here).
  func resetReceiveClock() {
    lastReceive = .now
  }

  // MARK: output

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

  // MARK: libssh2's callbacks

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

  private func noteReceived(_ n: Int) {
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
    if overTCP { Self.acknowledgeQuickly(fd) }
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
}

private let hopReceive:
  @convention(c) (Int32, UnsafeMutableRawPointer?, Int, Int32, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int =
    { fd, buffer, length, flags, abstract in
      guard let buffer, let context = abstract?.pointee else { return -Int(EINVAL) }
      return Unmanaged<HopTransport>.fromOpaque(context).takeUnretainedValue().receive(fd, buffer, length, flags)
    }

private let hopSend:
  @convention(c) (Int32, UnsafeRawPointer?, Int, Int32, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int = {
    fd, buffer, length, flags, abstract in
    guard let buffer, let context = abstract?.pointee else { return -Int(EINVAL) }
    return Unmanaged<HopTransport>.fromOpaque(context).takeUnretainedValue().transmit(fd, buffer, length, flags)
  }
