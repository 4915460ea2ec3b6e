import Foundation
import Synchronization
import TunnelCore

/// A TCP listener on a loopback address (SPEC §5: never anything else), with plain POSIX calls.
///
/// `bind` refuses non-loopback addresses (`.usage`, exit 2) and reports a taken port as
/// `.addressInUse` (exit 8) naming the process that holds it when `/proc` tells. Accepted sockets
/// get `TCP_NODELAY` (interactive MCP traffic must not wait for Nagle).
///
/// Thread safety: `accept()` may block one thread while another calls `close()`, which wakes it.
/// The descriptor is closed only when no `accept()` is inside the system call any more (by
/// `close()`, or else by the last `accept()` to return), so an accept never runs on a number that
/// was closed and handed out again by the process — it would take another listener's connection.
public final class LoopbackListener: Sendable {
  /// The bound address, with the real port when 0 was asked for.
  public let address: HostPort
  private let descriptor: Int32
  private let state = Mutex(State())

  private struct State {
    enum Phase {
      /// Ours, listening.
      case listening
      /// `close()` was called; the descriptor is closed once `accepting` is 0.
      case closed
      /// Moved out by `takeDescriptor()`: someone else closes it.
      case taken
    }

    var phase = Phase.listening
    /// Threads inside `accept(2)` on the descriptor right now.
    var accepting = 0
  }

  init(descriptor: Int32, address: HostPort) {
    self.descriptor = descriptor
    self.address = address
  }

  public static func bind(_ requested: HostPort, backlog: Int32 = 512) throws(ProxyError) -> LoopbackListener {
    guard requested.isLoopback else {
      throw ProxyError(
        .usage, "listen address \(requested) is not a loopback address; mcp-tunnel listens on loopback only",
        fix: "use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT")
    }
    let v6 = requested.host.contains(":")
    let host = requested.host.lowercased() == "localhost" ? "127.0.0.1" : requested.host
    let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw ProxyError(.internalError, "socket() failed: \(String(cString: strerror(errno)))") }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var storage = sockaddr_storage()
    var length: socklen_t
    if v6 {
      var a = sockaddr_in6()
      a.sin6_family = sa_family_t(AF_INET6)
      a.sin6_port = in_port_t(UInt16(requested.port).bigEndian)
      _ = inet_pton(AF_INET6, host, &a.sin6_addr)
      length = socklen_t(MemoryLayout<sockaddr_in6>.size)
      memcpy(&storage, &a, Int(length))
    } else {
      var a = sockaddr_in()
      a.sin_family = sa_family_t(AF_INET)
      a.sin_port = in_port_t(UInt16(requested.port).bigEndian)
      guard inet_pton(AF_INET, host, &a.sin_addr) == 1 else {
        Glibc.close(fd)
        throw ProxyError(.usage, "listen address \(requested) is not an IP literal", fix: "use 127.0.0.1:PORT")
      }
      length = socklen_t(MemoryLayout<sockaddr_in>.size)
      memcpy(&storage, &a, Int(length))
    }
    let bound = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
    }
    if bound != 0 {
      let error = errno
      Glibc.close(fd)
      if error == EADDRINUSE {
        let holder = PortHolder.find(port: requested.port)
        throw ProxyError(
          .addressInUse,
          "\(requested) is already in use"
            + (holder.map { " by \($0)" } ?? " (the holding process could not be identified)"),
          fix: holder == nil
            ? "pick another port with --listen 127.0.0.1:PORT, or find the holder with: ss -ltnp 'sport = :\(requested.port)'"
            : "stop that process, or pick another port with --listen 127.0.0.1:PORT")
      }
      throw ProxyError(.usage, "cannot listen on \(requested): \(String(cString: strerror(error)))")
    }
    guard listen(fd, backlog) == 0 else {
      let error = errno
      Glibc.close(fd)
      throw ProxyError(.internalError, "listen(\(requested)) failed: \(String(cString: strerror(error)))")
    }
    var actual = storage
    var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
    _ = withUnsafeMutablePointer(to: &actual) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
    }
    let port: Int = withUnsafePointer(to: &actual) {
      v6
        ? $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
        : $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
    }
    return LoopbackListener(descriptor: fd, address: HostPort(host: host, port: port))
  }

  /// Blocks until a client connects; nil once `close()` was called. Call it on a thread of its
  /// own, never on the cooperative pool.
  public func accept() -> StreamSocket? {
    while true {
      let entered = state.withLock { state -> Bool in
        guard state.phase == .listening else { return false }
        state.accepting += 1
        return true
      }
      guard entered else { return nil }
      // off-pool: accept() runs on the accept thread (TCPForwardSession)
      let client = Glibc.accept(descriptor, nil, nil)
      let error = errno
      let open = state.withLock { state -> Bool in
        state.accepting -= 1
        guard state.phase == .listening else {
          // close() came while we were in accept(2) and left the descriptor to the last one out.
          if state.phase == .closed && state.accepting == 0 { Glibc.close(descriptor) }
          return false
        }
        return true
      }
      if client >= 0 {
        let accepted = StreamSocket(adopting: client)
        guard open else { return nil }  // closes the late client
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return accepted
      }
      guard open else { return nil }
      if error == EINTR || error == ECONNABORTED || error == EMFILE || error == ENFILE {
        // off-pool: accept() runs on the accept thread
        if error == EMFILE || error == ENFILE { usleep(10_000) }
        continue
      }
      return nil
    }
  }

  /// Moves the listening socket out of this object (for NIO's `ServerBootstrap.withBoundSocket`):
  /// from then on the caller closes it, and `accept()`/`close()` here do nothing. Nil when it was
  /// already taken or closed, or while an `accept()` is using it.
  func takeDescriptor() -> Int32? {
    state.withLock { state -> Int32? in
      guard state.phase == .listening, state.accepting == 0 else { return nil }
      state.phase = .taken
      return descriptor
    }
  }

  /// Stops listening and wakes a blocked `accept()` (`shutdown` makes it fail with `EINVAL`).
  /// Closes the descriptor now, or leaves that to the last `accept()` still inside the call.
  /// Idempotent.
  public func close() {
    state.withLock { state in
      guard state.phase == .listening else { return }
      state.phase = .closed
      shutdown(descriptor, Int32(SHUT_RDWR))
      if state.accepting == 0 { Glibc.close(descriptor) }
    }
  }

  deinit { close() }
}
