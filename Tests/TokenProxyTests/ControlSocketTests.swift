import Foundation
import Glibc
import NIOCore
import Synchronization
import TestTiers
import Testing
import TunnelCore

@testable import TokenProxy

/// `ControlSocketServer` and `ControlSocketClient` over real Unix sockets, each test in a directory
/// of its own under /tmp (short: `sun_path` holds 107 bytes).
@Suite("Control socket transport", .offPool, .timeLimit(.minutes(5)))
struct ControlSocketTests {
  /// Turns a hang into a failure; generous, as a loaded machine may starve the test for a while
  /// (the client's own default, 10 s, failed once with three test processes on two cores).
  static let answerDeadline = Duration.seconds(120)

  // MARK: exchanges

  @Test("one request line in, one response line out; the handler sees the line without its newline")
  func roundTrip() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let seen = Guarded<[[UInt8]]>([])
    let server = try await ControlSocketServer.start(path: dir.socketPath) { request in
      seen.withLock { $0.append(request) }
      return Array("answer:".utf8) + request
    }
    #expect(server.path == dir.socketPath)
    let request = Array(#"{"op":"tenant.use","tenant":"acme"}"#.utf8)
    let response = try await ControlSocketClient.exchange(
      path: dir.socketPath, request: request, timeout: Self.answerDeadline)
    #expect(response == Array("answer:".utf8) + request)
    let empty = try await ControlSocketClient.exchange(path: dir.socketPath, request: [], timeout: Self.answerDeadline)
    #expect(empty == Array("answer:".utf8))
    #expect(seen.withLock { $0 } == [request, []])
    await server.stop()
  }

  @Test("20 concurrent clients each get their own answer, and handlers overlap")
  func concurrentClients() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let inFlight = Guarded((now: 0, most: 0))
    let server = try await ControlSocketServer.start(path: dir.socketPath) { request in
      inFlight.withLock {
        $0.now += 1
        $0.most = max($0.most, $0.now)
      }
      // Each answer waits until two handlers have been in flight at once: one slow handler must not
      // hold up the others (if it did, the clients' deadline would end the test).
      while inFlight.withLock({ $0.most < 2 }) { try? await Task.sleep(for: .milliseconds(5)) }
      inFlight.withLock { $0.now -= 1 }
      return Array("for ".utf8) + request
    }
    let answers = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
      for client in 0..<20 {
        group.addTask {
          (
            client,
            try await ControlSocketClient.exchange(
              path: dir.socketPath, request: Array("client-\(client)".utf8), timeout: Self.answerDeadline)
          )
        }
      }
      var answers: [Int: [UInt8]] = [:]
      for try await (client, answer) in group { answers[client] = answer }
      return answers
    }
    #expect(answers.count == 20)
    for client in 0..<20 {
      #expect(answers[client] == Array("for client-\(client)".utf8))
    }
    #expect(inFlight.withLock { $0.most } > 1, "handlers ran one after another")
    await server.stop()
  }

  @Test("a response up to 1 MiB arrives whole; a longer one is an error")
  func responseLimit() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let server = try await ControlSocketServer.start(path: dir.socketPath) { request in
      [UInt8](repeating: UInt8(ascii: "x"), count: request == Array("big".utf8) ? (1 << 20) + 1 : 1 << 20)
    }
    let fits = try await ControlSocketClient.exchange(
      path: dir.socketPath, request: Array("fits".utf8), timeout: Self.answerDeadline)
    #expect(fits.count == 1 << 20)
    let error = await #expect(throws: ProxyError.self) {
      try await ControlSocketClient.exchange(
        path: dir.socketPath, request: Array("big".utf8), timeout: Self.answerDeadline)
    }
    #expect(error?.category == .internalError)
    #expect(error?.kind == .answerTooLarge)
    #expect(error?.summary.contains("longer than") == true)
    await server.stop()
  }

  // MARK: files and permissions

  @Test("the socket file is 0600 and a directory it creates is 0700")
  func modes() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let server = try await ControlSocketServer.start(path: dir.socketPath) { $0 }
    let socketInfo = try #require(fileInfo(dir.socketPath))
    #expect(socketInfo.st_mode & S_IFMT == S_IFSOCK)
    #expect(socketInfo.st_mode & 0o7777 == 0o600)
    let directoryInfo = try #require(fileInfo(dir.runDirectory))
    #expect(directoryInfo.st_mode & S_IFMT == S_IFDIR)
    #expect(directoryInfo.st_mode & 0o7777 == 0o700)
    #expect(directoryInfo.st_uid == geteuid())
    await server.stop()
  }

  @Test("a directory of ours with group or other permission bits is tightened to 0700 (PrivateDirectory's one policy)")
  func looseDirectory() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    try dir.makeRunDirectory(mode: 0o750)
    let server = try await ControlSocketServer.start(path: dir.socketPath) { $0 }
    #expect(fileInfo(dir.runDirectory).map { $0.st_mode & 0o7777 } == 0o700)
    #expect(fileInfo(dir.socketPath) != nil)
    await server.stop()
  }

  @Test("a symlink in place of the directory is refused, and nothing is created behind it")
  func symlinkDirectory() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let elsewhere = dir.root + "/elsewhere"
    #expect(mkdir(elsewhere, 0o700) == 0)
    #expect(symlink(elsewhere, dir.runDirectory) == 0)
    let error = await #expect(throws: ProxyError.self) {
      try await ControlSocketServer.start(path: dir.socketPath) { $0 }
    }
    #expect(error?.category == .usage)
    #expect(error?.summary.contains("symlink") == true)
    #expect(fileInfo(elsewhere + "/p.sock") == nil)
  }

  @Test("a directory of another user is refused", .enabled(if: geteuid() == 0, "needs root to chown"))
  func foreignDirectory() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    try dir.makeRunDirectory(mode: 0o700)
    #expect(chown(dir.runDirectory, 65534, 65534) == 0)
    let error = await #expect(throws: ProxyError.self) {
      try await ControlSocketServer.start(path: dir.socketPath) { $0 }
    }
    #expect(error?.category == .usage)
    #expect(error?.summary.contains("uid 65534") == true)
  }

  @Test("missing directory components are created 0700; a path too long for sun_path is a usage error")
  func pathProblems() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let server = try await ControlSocketServer.start(path: dir.root + "/no/run/p.sock") { $0 }
    #expect(fileInfo(dir.root + "/no").map { $0.st_mode & 0o7777 } == 0o700)
    #expect(fileInfo(dir.root + "/no/run").map { $0.st_mode & 0o7777 } == 0o700)
    await server.stop()

    let long = dir.root + "/" + String(repeating: "x", count: 108 - dir.root.utf8.count) + ".sock"
    let tooLong = await #expect(throws: ProxyError.self) {
      try await ControlSocketServer.start(path: long) { $0 }
    }
    #expect(tooLong?.category == .usage)
    let clientTooLong = await #expect(throws: ProxyError.self) {
      try await ControlSocketClient.exchange(path: long, request: [], timeout: Self.answerDeadline)
    }
    #expect(clientTooLong?.category == .usage)
    #expect(tooLong?.kind == .socketPathTooLong)
    #expect(clientTooLong?.kind == .socketPathTooLong)
    #expect(clientTooLong?.summary.contains(long) == true)
    #expect(clientTooLong?.fix?.contains("XDG_RUNTIME_DIR") == true)
  }

  // MARK: an existing socket path

  @Test("a second start on a path where an `up` answers is .addressInUse, and the first keeps serving")
  func secondStartWhileRunning() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let first = try await ControlSocketServer.start(path: dir.socketPath) { _ in Array("first".utf8) }
    let bound = FileIdentity(path: dir.socketPath)
    let error = await #expect(throws: ProxyError.self) {
      try await ControlSocketServer.start(path: dir.socketPath) { _ in Array("second".utf8) }
    }
    #expect(error?.category == .addressInUse)
    #expect(error?.summary.contains("another `mcp-tunnel up` is already running") == true)
    #expect(FileIdentity(path: dir.socketPath) == bound)
    #expect(
      try await ControlSocketClient.exchange(path: dir.socketPath, request: [], timeout: Self.answerDeadline)
        == Array("first".utf8))
    await first.stop()
  }

  @Test("a stale socket file from a crashed run is replaced")
  func staleSocketReplaced() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    try dir.makeRunDirectory(mode: 0o700)
    try bindAndAbandon(dir.socketPath)
    #expect(fileInfo(dir.socketPath).map { $0.st_mode & S_IFMT == S_IFSOCK } == true)
    #expect(UnixSocketFile.probe(dir.socketPath) == .nobodyListens)
    let refused = await #expect(throws: ProxyError.self) {
      try await ControlSocketClient.exchange(path: dir.socketPath, request: [], timeout: Self.answerDeadline)
    }
    #expect(refused?.category == .usage)
    #expect(refused?.kind == .noListener)
    #expect(refused?.summary.contains("no `mcp-tunnel up` is running") == true)

    let server = try await ControlSocketServer.start(path: dir.socketPath) { _ in Array("fresh".utf8) }
    #expect(
      try await ControlSocketClient.exchange(path: dir.socketPath, request: [], timeout: Self.answerDeadline)
        == Array("fresh".utf8))
    await server.stop()
  }

  @Test("a regular file at the socket path is a usage error and is left alone")
  func regularFileAtPath() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    try dir.makeRunDirectory(mode: 0o700)
    try Data("keep".utf8).write(to: URL(fileURLWithPath: dir.socketPath))
    let error = await #expect(throws: ProxyError.self) {
      try await ControlSocketServer.start(path: dir.socketPath) { $0 }
    }
    #expect(error?.category == .usage)
    #expect(error?.summary.contains(dir.socketPath) == true)
    #expect(try Data(contentsOf: URL(fileURLWithPath: dir.socketPath)) == Data("keep".utf8))
  }

  // MARK: limits

  @Test("a request line over 64 KiB closes the connection without calling the handler; 64 KiB passes")
  func requestOverCap() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let calls = Guarded(0)
    let server = try await ControlSocketServer.start(path: dir.socketPath) { _ in
      calls.withLock { $0 += 1 }
      return Array("ok".utf8)
    }
    let over = [UInt8](repeating: UInt8(ascii: "a"), count: 64 * 1024 + 1)
    let error = await #expect(throws: ProxyError.self) {
      try await ControlSocketClient.exchange(path: dir.socketPath, request: over, timeout: Self.answerDeadline)
    }
    #expect(error?.summary.contains("without answering") == true)
    #expect(calls.withLock { $0 } == 0)

    let atCap = [UInt8](repeating: UInt8(ascii: "a"), count: 64 * 1024)
    #expect(
      try await ControlSocketClient.exchange(path: dir.socketPath, request: atCap, timeout: Self.answerDeadline)
        == Array("ok".utf8))
    #expect(calls.withLock { $0 } == 1)
    await server.stop()
  }

  @Test("a connection that goes quiet before its line is complete is closed without calling the handler")
  func idleConnectionClosed() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let calls = Guarded(0)
    let server = try await ControlSocketServer.start(
      path: dir.socketPath, requestLimit: 64 * 1024, idleTimeout: .milliseconds(100)
    ) { _ in
      calls.withLock { $0 += 1 }
      return []
    }
    let client = try RawClient(path: dir.socketPath)
    client.send(Array("half a line".utf8))
    // The server's 100 ms idle timeout closes it; the 20 s wait is only there so that a server that
    // kept the connection open (the default idle timeout is 30 s) fails instead of passing late.
    #expect(client.waitForEndOfStream(timeoutMilliseconds: 20_000), "the server kept the connection open")
    #expect(calls.withLock { $0 } == 0)
    await server.stop()
  }

  @Test("a handler slower than the client's timeout gives the timeout error")
  func slowHandlerTimesOut() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let (gate, open) = AsyncStream<Void>.makeStream()
    let server = try await ControlSocketServer.start(path: dir.socketPath) { _ in
      for await _ in gate {}
      return Array("late".utf8)
    }
    let started = ContinuousClock.now
    let error = await #expect(throws: ProxyError.self) {
      try await ControlSocketClient.exchange(path: dir.socketPath, request: [], timeout: .milliseconds(200))
    }
    let waited = ContinuousClock.now - started
    #expect(error?.category == .internalError)
    #expect(error?.kind == .noAnswer)
    #expect(error?.summary.contains(dir.socketPath) == true)
    #expect(error?.summary.contains("did not answer") == true)
    // Only the lower bound: a wall-clock ceiling fails on a loaded CI machine (6.5 s seen with every
    // suite running at once); a client that never timed out would hang until the suite's time limit.
    #expect(waited >= .milliseconds(200))
    open.finish()
    await server.stop()
  }

  // MARK: stop

  @Test("stop() removes the socket file; a client then hears that no `up` is running")
  func stopUnlinks() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let server = try await ControlSocketServer.start(path: dir.socketPath) { $0 }
    await server.stop()
    #expect(fileInfo(dir.socketPath) == nil)
    let error = await #expect(throws: ProxyError.self) {
      try await ControlSocketClient.exchange(path: dir.socketPath, request: [], timeout: Self.answerDeadline)
    }
    #expect(error?.category == .usage)
    #expect(error?.kind == .noListener)
    #expect(error?.summary == "no `mcp-tunnel up` is running (no control socket at \(dir.socketPath))")
    #expect(error?.fix == "start one with: mcp-tunnel up")
    await server.stop()  // idempotent
  }

  @Test("stop() closes connections that are still waiting for their line")
  func stopClosesOpenConnections() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let server = try await ControlSocketServer.start(path: dir.socketPath) { $0 }
    let client = try RawClient(path: dir.socketPath)
    client.send(Array("no newline yet".utf8))
    await server.stop()
    #expect(client.waitForEndOfStream(timeoutMilliseconds: 3000))
  }

  @Test("stop() leaves a file alone that replaced its socket")
  func stopKeepsReplacement() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let server = try await ControlSocketServer.start(path: dir.socketPath) { $0 }
    #expect(unlink(dir.socketPath) == 0)
    try Data("newer".utf8).write(to: URL(fileURLWithPath: dir.socketPath))
    await server.stop()
    #expect(try Data(contentsOf: URL(fileURLWithPath: dir.socketPath)) == Data("newer".utf8))
  }

  // MARK: peers

  @Test(
    "each connect failure gets its kind: nothing listens, permission denied, path too long; others stay unclassified",
    arguments: [
      (ENOENT, ProxyError.Kind.noListener, FailureCategory.usage),
      (ECONNREFUSED, .noListener, .usage),
      (EACCES, .permissionDenied, .usage),
      (EPERM, .permissionDenied, .usage),
      (ENAMETOOLONG, .socketPathTooLong, .usage),
      (ENOTDIR, .unclassified, .internalError),
      (EMFILE, .unclassified, .internalError),
    ])
  func connectErrnoKinds(errno code: Int32, kind: ProxyError.Kind, category: FailureCategory) {
    let error = ControlSocketClient.failure(
      IOError(errnoCode: code, reason: "connect"), path: "/run/user/1000/mcp-tunnel/p.sock", timeout: .seconds(10))
    #expect(error.kind == kind, "errno \(code): \(error.summary)")
    #expect(error.category == category, "errno \(code)")
    #expect(error.summary.contains("/run/user/1000/mcp-tunnel/p.sock"), "errno \(code)")
  }

  @Test("the exchange's own failures get their kinds: no answer, hung up, too large, cancelled")
  func exchangeFailureKinds() {
    let cases: [(any Error, ProxyError.Kind, FailureCategory)] = [
      (ControlResponseReader.Failure.timedOut, .noAnswer, .internalError),
      (ChannelError.connectTimeout(.seconds(10)), .noAnswer, .internalError),
      (ControlResponseReader.Failure.closedWithoutAnswer, .closedWithoutAnswer, .internalError),
      (ControlResponseReader.Failure.tooLarge, .answerTooLarge, .internalError),
      (CancellationError(), .interrupted, .interrupted),
    ]
    for (cause, kind, category) in cases {
      let error = ControlSocketClient.failure(cause, path: "/p.sock", timeout: .seconds(10))
      #expect(error.kind == kind, "\(cause)")
      #expect(error.category == category, "\(cause)")
    }
  }

  @Test("the peer rule: the same user or root")
  func peerRule() {
    #expect(PeerCredentials.mayConnect(uid: 1000, ownUID: 1000))
    #expect(PeerCredentials.mayConnect(uid: 0, ownUID: 1000))
    #expect(!PeerCredentials.mayConnect(uid: 1001, ownUID: 1000))
    #expect(!PeerCredentials.mayConnect(uid: 1000, ownUID: 0))
  }

  @Test(
    "a peer of another uid is closed unread (SO_PEERCRED)",
    .enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: python), "needs root and python3"))
  func foreignPeerRefused() async throws {
    let dir = try ScratchDirectory()
    defer { dir.remove() }
    let calls = Guarded(0)
    let server = try await ControlSocketServer.start(path: dir.socketPath) { _ in
      calls.withLock { $0 += 1 }
      return Array("hello".utf8)
    }
    // The same script as root first, so a refusal below cannot be the script's own failure.
    #expect(try runPeer(path: dir.socketPath, asUID: nil) == "answer:hello")
    #expect(calls.withLock { $0 } == 1)
    #expect(try runPeer(path: dir.socketPath, asUID: 65534) == "closed")
    #expect(calls.withLock { $0 } == 1)
    await server.stop()
  }
}

// MARK: - helpers

private let python = "/usr/bin/python3"

/// A fresh `/tmp/cs-XXXXXX` (0700, from `mkdtemp`); the socket goes into `run/` below it, which
/// the server creates unless a test made it first.
private struct ScratchDirectory {
  let root: String

  init() throws {
    var template = Array("/tmp/cs-XXXXXX".utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
    root = String(cString: template)
  }

  var runDirectory: String { root + "/run" }
  var socketPath: String { runDirectory + "/p.sock" }

  func makeRunDirectory(mode: mode_t) throws {
    guard mkdir(runDirectory, mode) == 0, chmod(runDirectory, mode) == 0 else {
      throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
  }

  func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// A value behind a lock that `@Sendable` handlers can capture (a `Mutex` itself cannot be).
private final class Guarded<Value: Sendable>: Sendable {
  private let mutex: Mutex<Value>
  init(_ value: Value) { mutex = Mutex(value) }
  func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}

private func fileInfo(_ path: String) -> stat? {
  var info = stat()
  return lstat(path, &info) == 0 ? info : nil
}

/// What a crashed `up` leaves behind: a socket file bound by a process that is gone.
private func bindAndAbandon(_ path: String) throws {
  let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
  #expect(descriptor >= 0)
  defer { close(descriptor) }
  guard UnixSocketFile.withAddress(path, { bind(descriptor, $0, $1) }) == 0, listen(descriptor, 1) == 0 else {
    throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
  }
}

/// A blocking client socket for what `ControlSocketClient` will not do: send half a line.
private final class RawClient {
  let descriptor: Int32

  init(path: String) throws {
    descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    // off-pool: the suite runs on OffPoolExecutor (.offPool)
    guard descriptor >= 0, UnixSocketFile.withAddress(path, { connect(descriptor, $0, $1) }) == 0 else {
      throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
  }

  deinit { close(descriptor) }

  func send(_ bytes: [UInt8]) {
    #expect(bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } == bytes.count)
  }

  /// Whether the server closed the connection within the timeout (no data expected before).
  func waitForEndOfStream(timeoutMilliseconds: Int32) -> Bool {
    var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    // off-pool: the suite runs on OffPoolExecutor (.offPool)
    guard poll(&entry, 1, timeoutMilliseconds) == 1 else { return false }
    var byte: UInt8 = 0
    let count = read(descriptor, &byte, 1)  // off-pool: the suite runs on OffPoolExecutor (.offPool)
    return count == 0 || (count < 0 && errno == ECONNRESET)
  }
}

/// Connects to `path` from a python3 child, optionally as `asUID` (effective uid; the filesystem
/// uid stays 0 so the 0700 directory does not stop it before the server's own check), sends
/// `hello\n` and prints what came back: `answer:…` or `closed`.
private func runPeer(path: String, asUID uid: UInt32?) throws -> String {
  let script = """
    import ctypes, os, socket, sys
    uid = int(sys.argv[2])
    if uid >= 0:
        os.setresuid(0, uid, 0)
        ctypes.CDLL(None).setfsuid(0)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    try:
        s.sendall(b"hello\\n")
        data = s.recv(100)
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    print("answer:" + data.decode().strip() if data else "closed")
    """
  let process = Process()
  process.executableURL = URL(fileURLWithPath: python)
  process.arguments = ["-c", script, path, String(uid.map(Int.init) ?? -1)]
  let output = Pipe()
  process.standardOutput = output
  try process.run()
  // off-pool: the suite runs on OffPoolExecutor (.offPool)
  let data = output.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()  // off-pool: the suite runs on OffPoolExecutor (.offPool)
  #expect(process.terminationStatus == 0)
  return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
