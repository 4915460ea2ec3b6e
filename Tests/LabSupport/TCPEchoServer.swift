import Foundation
import Synchronization

// off-pool-file: synchronous lab helpers; lab suites call them on OffPoolExecutor (.offPool) or inside offPool {}, every other caller uses a thread of its own

/// A loopback TCP server inside the test process, used as the service behind SSH forwards.
///
/// One thread accepts; each connection gets its own thread with blocking I/O (tests open at most a
/// few hundred connections). `stop()` closes the listener and every open connection.
///
/// Thread safety: all shared state is behind `Mutex`es; any thread may call.
public final class TCPEchoServer: Sendable {
  public enum Behavior: Sendable {
    /// Echoes every byte; on EOF from the client, finishes echoing, then shuts down its write side
    /// (so a client half-close is answered with all data followed by EOF).
    case echo
    /// Sends `bytes` of `PatternStream(seed:)` data, shuts down its write side, then reads until the
    /// client's EOF and records what it received in `drained` (the other half-close direction).
    case sendThenDrain(bytes: Int, seed: UInt64)
  }

  /// What a `.sendThenDrain` connection received before the client's EOF.
  public struct Drained: Sendable, Equatable {
    public var count: Int
    public var checksum: UInt64
    public init(count: Int, checksum: UInt64) {
      self.count = count
      self.checksum = checksum
    }
  }

  public let port: Int
  public var address: String { "127.0.0.1:\(port)" }
  private let listenFD: Int32
  private let behavior: Behavior
  /// Each descriptor is closed by the thread that uses it (the accept thread its listener, a
  /// connection's thread its socket), under this lock; `stop()` only shuts them down, under the
  /// same lock, so it never touches a number that was closed and handed out again.
  private let state = Mutex<(open: Set<Int32>, stopped: Bool, accepted: Int, listenerClosed: Bool)>(
    ([], false, 0, false))
  private let drainedResults = Mutex<[Drained]>([])

  public init(behavior: Behavior = .echo) throws {
    self.behavior = behavior
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw LabError("socket: errno \(errno)") }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok, listen(fd, 1024) == 0 else {
      close(fd)
      throw LabError("bind/listen 127.0.0.1:0: errno \(errno)")
    }
    listenFD = fd
    port = Int(UInt16(bigEndian: addr.sin_port))
    let thread = Thread { [self] in acceptLoop() }
    thread.name = "echo-accept-\(port)"
    thread.start()
  }

  /// Connections accepted so far.
  public var acceptedCount: Int { state.withLock { $0.accepted } }
  /// Results of finished `.sendThenDrain` connections, in completion order.
  public var drained: [Drained] { drainedResults.withLock { $0 } }

  private func acceptLoop() {
    defer {
      state.withLock { s in
        s.listenerClosed = true
        close(listenFD)
      }
    }
    while true {
      let client = accept(listenFD, nil, nil)
      if client < 0 {
        if errno == EINTR { continue }
        return  // shut down by stop()
      }
      let keep = state.withLock { s -> Bool in
        if s.stopped { return false }
        s.open.insert(client)
        s.accepted += 1
        return true
      }
      guard keep else {
        close(client)
        return
      }
      var one: Int32 = 1
      setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
      let thread = Thread { [self] in
        serve(client)
        state.withLock { s in
          s.open.remove(client)
          close(client)
        }
      }
      thread.stackSize = 256 * 1024
      thread.start()
    }
  }

  private func serve(_ fd: Int32) {
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    switch behavior {
    case .echo:
      while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        guard writeAll(fd, buffer, count: n) else { return }
      }
      shutdown(fd, Int32(SHUT_WR))
    case .sendThenDrain(let bytes, let seed):
      var pattern = PatternStream(seed: seed)
      var remaining = bytes
      while remaining > 0 {
        let n = min(remaining, buffer.count)
        buffer.withUnsafeMutableBytes { pattern.fill(UnsafeMutableRawBufferPointer(rebasing: $0[0..<n])) }
        guard writeAll(fd, buffer, count: n) else { return }
        remaining -= n
      }
      shutdown(fd, Int32(SHUT_WR))
      var checksum = FNV1a64()
      var count = 0
      while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        buffer.withUnsafeBytes { checksum.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        count += n
      }
      let result = Drained(count: count, checksum: checksum.value)
      drainedResults.withLock { $0.append(result) }
    }
  }

  private func writeAll(_ fd: Int32, _ buffer: [UInt8], count: Int) -> Bool {
    var offset = 0
    while offset < count {
      let w = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + offset, count - offset) }
      if w < 0 && errno == EINTR { continue }
      if w <= 0 { return false }
      offset += w
    }
    return true
  }

  /// Stops accepting and ends every open connection (both directions shut down, which wakes the
  /// threads blocked on them; each then closes its own descriptor). Idempotent.
  public func stop() {
    state.withLock { s in
      guard !s.stopped else { return }
      s.stopped = true
      if !s.listenerClosed { shutdown(listenFD, Int32(SHUT_RDWR)) }
      for fd in s.open { shutdown(fd, Int32(SHUT_RDWR)) }
    }
  }

  deinit { stop() }
}

/// A deterministic byte stream (xorshift64*), so a receiver can check every byte of a transfer
/// without keeping a copy of what was sent.
public struct PatternStream: Sendable {
  private var state: UInt64
  private var pending: UInt64 = 0
  private var pendingCount = 0

  public init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

  public mutating func nextByte() -> UInt8 {
    if pendingCount == 0 {
      state ^= state >> 12
      state ^= state << 25
      state ^= state >> 27
      pending = state &* 0x2545_F491_4F6C_DD1D
      pendingCount = 8
    }
    let b = UInt8(truncatingIfNeeded: pending)
    pending >>= 8
    pendingCount -= 1
    return b
  }

  public mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    var i = 0
    let count = buffer.count
    // Finish a partly used word byte by byte, then whole words, then the tail.
    while i < count && pendingCount > 0 {
      buffer[i] = nextByte()
      i += 1
    }
    while count - i >= 8 {
      state ^= state >> 12
      state ^= state << 25
      state ^= state >> 27
      buffer.storeBytes(of: (state &* 0x2545_F491_4F6C_DD1D).littleEndian, toByteOffset: i, as: UInt64.self)
      i += 8
    }
    while i < count {
      buffer[i] = nextByte()
      i += 1
    }
  }

  public mutating func bytes(_ count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { fill($0) }
    return out
  }

  /// Whether `buffer` is the next `buffer.count` bytes of the stream (consumes them either way).
  public mutating func matches(_ buffer: UnsafeRawBufferPointer) -> Bool {
    let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: max(buffer.count, 1), alignment: 8)
    defer { expected.deallocate() }
    fill(UnsafeMutableRawBufferPointer(rebasing: expected[0..<buffer.count]))
    return buffer.count == 0 || memcmp(expected.baseAddress!, buffer.baseAddress!, buffer.count) == 0
  }
}

/// FNV-1a, 64 bit: a cheap checksum for test transfers.
public struct FNV1a64: Sendable {
  public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
  public init() {}
  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    for b in bytes {
      value ^= UInt64(b)
      value &*= 0x0000_0100_0000_01B3
    }
  }
  public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }
}

/// A blocking loopback TCP client for tests. Every read is bounded by `SO_RCVTIMEO`, so a test that
/// waits for bytes that never come fails instead of hanging.
public final class LabTCPClient: Sendable {
  public let fd: Int32
  /// Whether `deinit` closes `fd` (false when the descriptor belongs to someone else).
  private let ownsDescriptor: Bool

  /// Blocking, bounded I/O on a connected socket owned elsewhere (e.g. a forwarder's stream).
  public init(borrowing descriptor: Int32, timeout: Duration = .seconds(30)) {
    fd = descriptor
    ownsDescriptor = false
    Self.setTimeouts(fd, timeout)
  }

  private static func setTimeouts(_ fd: Int32, _ timeout: Duration) {
    var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
  }

  public init(port: Int, timeout: Duration = .seconds(20)) throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw LabError("socket: errno \(errno)") }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard rc == 0 else {
      let e = errno
      close(fd)
      throw LabError("connect 127.0.0.1:\(port): \(String(cString: strerror(e)))")
    }
    Self.setTimeouts(fd, timeout)
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    self.fd = fd
    ownsDescriptor = true
  }

  public func send(_ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
      let w = bytes.withUnsafeBytes {
        Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
      }
      if w < 0 && errno == EINTR { continue }
      guard w > 0 else { throw LabError("send: \(String(cString: strerror(errno)))") }
      offset += w
    }
  }

  /// Reads exactly `count` bytes; throws on EOF, error or timeout before that.
  public func receive(exactly count: Int) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var offset = 0
    while offset < count {
      let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
      if n < 0 && errno == EINTR { continue }
      if n == 0 { throw LabError("EOF after \(offset) of \(count) bytes") }
      guard n > 0 else { throw LabError("recv after \(offset) of \(count) bytes: \(String(cString: strerror(errno)))") }
      offset += n
    }
    return out
  }

  /// Reads until EOF (or throws on error/timeout), returning everything read.
  public func receiveUntilEOF(limit: Int = 1 << 30) throws -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while out.count < limit {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n < 0 && errno == EINTR { continue }
      if n == 0 { return out }
      guard n > 0 else { throw LabError("recv after \(out.count) bytes: \(String(cString: strerror(errno)))") }
      out += buffer[0..<n]
    }
    return out
  }

  /// Half-close: no more bytes from us, but we keep reading.
  public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

  deinit { if ownsDescriptor { close(fd) } }
}
