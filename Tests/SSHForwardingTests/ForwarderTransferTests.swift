import Foundation
import LabSupport
import SSHForwarding
import Synchronization
import TestTiers
import Testing
import TunnelCore

/// Bytes through the real OpenSSH bastion + target: intact, both ways, many at once, half-closed.
@Suite("Forwarding through the OpenSSH lab", .tags(.lab), .offPool, .serialized)
struct ForwarderTransferTests {
  /// Sends `count` pattern bytes while a second thread reads the echo and checks every byte.
  private func echoTransfer(_ stream: StreamSocket, count: Int, seed: UInt64, chunk: Int = 256 * 1024) throws {
    let io = streamClient(stream)
    let verdict = Mutex<String?>(nil)
    let reader = Thread {
      var expected = PatternStream(seed: seed)
      var buffer = [UInt8](repeating: 0, count: 256 * 1024)
      var received = 0
      while received < count {
        // off-pool: the reader's own thread
        let n = buffer.withUnsafeMutableBytes { recv(io.fd, $0.baseAddress, min($0.count, count - received), 0) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
          verdict.withLock { $0 = "read ended after \(received) of \(count) bytes (errno \(errno))" }
          return
        }
        let ok = buffer.withUnsafeBytes { expected.matches(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        guard ok else {
          verdict.withLock { $0 = "corrupt data in bytes \(received)..<\(received + n)" }
          return
        }
        received += n
      }
      verdict.withLock { $0 = "ok" }
    }
    reader.start()
    var pattern = PatternStream(seed: seed)
    var sent = 0
    while sent < count {
      let n = min(chunk, count - sent)
      try io.send(pattern.bytes(n))
      sent += n
    }
    try waitUntil(timeout: .seconds(120), "the echo of \(count) bytes") { verdict.withLock { $0 } != nil }
    #expect(verdict.withLock { $0 } == "ok")
  }

  @Test("64 MiB both ways through two hops, every byte checked")
  func largeTransfer() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try await env.startedForwarder()
    let stream = try await withDeadline(.seconds(90), "openStream") { try await forwarder.openStream() }
    try echoTransfer(stream, count: 64 << 20, seed: 7)
    await forwarder.stop()
  }

  @Test("small messages: 1 byte, then 1000 round trips of 1..200 bytes")
  func smallMessages() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try await env.startedForwarder()
    let stream = try await withDeadline(.seconds(90), "openStream") { try await forwarder.openStream() }
    let io = streamClient(stream)
    try io.send([0x42])
    #expect(try io.receive(exactly: 1) == [0x42])
    var pattern = PatternStream(seed: 99)
    for i in 0..<1000 {
      let message = pattern.bytes(1 + i % 200)
      try io.send(message)
      #expect(try io.receive(exactly: message.count) == message)
    }
    await forwarder.stop()
  }

  @Test("64 parallel streams over one session, each checked")
  func parallelStreams() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try await env.startedForwarder()
    let count = 64
    let results = try await withDeadline(.seconds(120), "parallel streams") {
      try await withThrowingTaskGroup(of: Bool.self) { group in
        for i in 0..<count {
          group.addTask {
            let stream = try await forwarder.openStream()
            return try await Task.detached {
              let io = streamClient(stream)
              var pattern = PatternStream(seed: UInt64(1000 + i))
              let payload = pattern.bytes(32 * 1024 + i * 97)
              // Small enough to fit socket buffers: send all, then read all.
              try io.send(payload)
              return try io.receive(exactly: payload.count) == payload
            }.value
          }
        }
        var outcomes: [Bool] = []
        for try await ok in group { outcomes.append(ok) }
        return outcomes
      }
    }
    #expect(results.count == count)
    #expect(results.allSatisfy { $0 })
    #expect(env.echo.acceptedCount == count)
    await forwarder.stop()
  }

  @Test("half-close: the client's EOF reaches the server while the echo still flows back")
  func halfCloseFromClient() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try await env.startedForwarder()
    let stream = try await withDeadline(.seconds(90), "openStream") { try await forwarder.openStream() }
    let io = streamClient(stream)
    var pattern = PatternStream(seed: 5)
    let payload = pattern.bytes(300_000)
    let sender = Thread {
      try? io.send(payload)
      io.shutdownWrite()
    }
    sender.start()
    // The echo server answers EOF only after echoing everything: we must see all bytes, then EOF.
    let echoed = try io.receiveUntilEOF()
    #expect(echoed.count == payload.count)
    #expect(echoed == payload)
    await forwarder.stop()
  }

  @Test("half-close: the server's EOF reaches the client while the client still sends")
  func halfCloseFromServer() async throws {
    let env = try ForwarderLab(echo: .sendThenDrain(bytes: 200_000, seed: 11))
    defer { env.stop() }
    let forwarder = try await env.startedForwarder()
    let stream = try await withDeadline(.seconds(90), "openStream") { try await forwarder.openStream() }
    let io = streamClient(stream)
    var expected = PatternStream(seed: 11)
    let banner = try io.receiveUntilEOF()
    #expect(banner == expected.bytes(200_000))
    // Our write side is still open: send after the server's EOF, then close.
    var pattern = PatternStream(seed: 12)
    let upload = pattern.bytes(500_000)
    try io.send(upload)
    io.shutdownWrite()
    try waitUntil(timeout: .seconds(30), "the server to drain the upload") { !env.echo.drained.isEmpty }
    var checksum = FNV1a64()
    checksum.update(upload)
    #expect(env.echo.drained == [TCPEchoServer.Drained(count: upload.count, checksum: checksum.value)])
    await forwarder.stop()
  }

  @Test("forward(_:) pumps an accepted TCP client directly")
  func forwardAcceptedClient() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try await env.startedForwarder()
    // A loopback TCP pair: `client` is what a user would hold, `accepted` goes to the forwarder.
    let listener = try TCPEchoServerFreeListener()
    let client = try LabTCPClient(port: listener.port)
    let accepted = try listener.acceptOne()
    forwarder.forward(StreamSocket(adopting: accepted))
    var pattern = PatternStream(seed: 3)
    let payload = pattern.bytes(1 << 20)
    let sender = Thread { try? client.send(payload) }
    sender.start()
    #expect(try client.receive(exactly: payload.count) == payload)
    await forwarder.stop()
  }

  @Test("a refused channel fails openStream with the hop and the reason; the tunnel goes on")
  func refusedChannel() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    // The target sshd permits only the echo server; ask for another port.
    var settings = env.lab.settings()
    settings.target = HostPort(host: "127.0.0.1", port: 9)
    let forwarder = try env.forwarder(settings)
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    do {
      _ = try await withDeadline(.seconds(90), "openStream") { try await forwarder.openStream() }
      Issue.record("openStream should have failed")
    } catch let error as SSHError {
      #expect(error.category == .sshConnection)
      #expect(error.summary.contains("hop 2/2"), "\(error)")
      #expect(error.summary.contains("127.0.0.1:9"), "\(error)")
    }
    await forwarder.stop()
  }
}

/// A one-shot loopback listener for building a connected TCP pair in tests.
final class TCPEchoServerFreeListener {
  let fd: Int32
  let port: Int

  init() throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    self.fd = fd
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    port = Int(UInt16(bigEndian: addr.sin_port))
    guard ok, listen(fd, 4) == 0 else { throw LabError("listen failed") }
  }

  func acceptOne() throws -> Int32 {
    let c = accept(fd, nil, nil)  // off-pool: the suite runs on OffPoolExecutor (.offPool)
    guard c >= 0 else { throw LabError("accept failed") }
    return c
  }

  deinit { close(fd) }
}
