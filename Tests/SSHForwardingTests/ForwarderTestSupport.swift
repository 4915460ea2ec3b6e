import Foundation
import LabSupport
import SSHForwarding
import Synchronization
import TunnelCore

/// A lab (echo server + OpenSSH bastion and target) and helpers shared by the forwarder tests.
final class ForwarderLab {
  let directory: LabDirectory
  let echo: TCPEchoServer
  let lab: SSHLab

  init(echo behavior: TCPEchoServer.Behavior = .echo, variant: SSHLab.Variant = .bastionAndTarget) throws {
    directory = try LabDirectory(prefix: "sshfwd")
    echo = try TCPEchoServer(behavior: behavior)
    do {
      lab = try SSHLab.start(
        in: directory, forwardTarget: HostPort(host: "127.0.0.1", port: echo.port), variant: variant)
    } catch {
      echo.stop()
      throw error
    }
  }

  func stop() {
    lab.stop()
    echo.stop()
  }

  deinit { stop() }

  static var options: BastionPortForwarder.Options {
    var options = BastionPortForwarder.Options()
    options.agent = .none
    options.connectTimeout = .seconds(15)
    options.randomSeed = 42
    options.backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1))
    return options
  }

  func forwarder(
    _ settings: SSHSettings? = nil, options: BastionPortForwarder.Options = ForwarderLab.options,
    passphrase: String? = nil
  ) throws -> BastionPortForwarder {
    let bytes = passphrase.map { Array($0.utf8) }
    return try BastionPortForwarder(
      settings: settings ?? lab.settings(), options: options, environment: ["HOME": directory.url.path],
      passphraseProvider: { _ in bytes })
  }
}

/// Blocking I/O on a `StreamSocket`, bounded by SO_RCVTIMEO/SO_SNDTIMEO.
struct StreamIO {
  let fd: Int32
  init(_ socket: StreamSocket, timeout: Int = 30) {
    fd = socket.descriptor
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
  }

  func send(_ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
      let n = bytes.withUnsafeBytes {
        Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
      }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { throw LabError("send failed: \(String(cString: strerror(errno)))") }
      offset += n
    }
  }

  func receive(exactly count: Int) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var offset = 0
    while offset < count {
      let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
      if n < 0 && errno == EINTR { continue }
      if n == 0 { throw LabError("EOF after \(offset) of \(count) bytes") }
      guard n > 0 else {
        throw LabError("recv failed after \(offset) of \(count) bytes: \(String(cString: strerror(errno)))")
      }
      offset += n
    }
    return out
  }

  func receiveUntilEOF() throws -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n < 0 && errno == EINTR { continue }
      if n == 0 { return out }
      guard n > 0 else { throw LabError("recv failed after \(out.count) bytes: \(String(cString: strerror(errno)))") }
      out += buffer[0..<n]
    }
  }

  func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
}

/// Runs `body` with a deadline: fails instead of hanging when the forwarder never answers. The
/// body is not awaited past the deadline (a structured task group would wait for it forever).
func withDeadline<T: Sendable>(
  _ limit: Duration = .seconds(60), _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
  let once = ResumeOnce<T>()
  return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
    once.install(continuation)
    Task {
      do { once.resume(.success(try await body())) } catch { once.resume(.failure(error)) }
    }
    Task {
      try? await Task.sleep(for: limit)
      once.resume(.failure(LabError("timed out after \(limit): \(what)")))
    }
  }
}

final class ResumeOnce<T: Sendable>: Sendable {
  private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, result: Result<T, any Error>?)>(
    (nil, nil))

  func install(_ continuation: CheckedContinuation<T, any Error>) {
    let early = state.withLock { s -> Result<T, any Error>? in
      if let r = s.result { return r }
      s.continuation = continuation
      return nil
    }
    if let early { continuation.resume(with: early) }
  }

  func resume(_ result: Result<T, any Error>) {
    let c = state.withLock { s -> CheckedContinuation<T, any Error>? in
      guard s.result == nil else { return nil }
      s.result = result
      defer { s.continuation = nil }
      return s.continuation
    }
    c?.resume(with: result)
  }
}
