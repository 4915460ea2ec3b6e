import Glibc
import Logging
import NIOCore
import NIOPosix
import Synchronization
import TunnelCore

/// The byte transport of `up`'s control socket (SPEC: `$XDG_RUNTIME_DIR/mcp-tunnel/<profile>.sock`):
/// per connection one request line in, one response line out, then the connection closes. What
/// the lines mean is the caller's business; this type never looks at, nor logs, their bytes (a
/// response may carry a token).
///
/// Who may talk to it: the socket file is 0600 in a 0700 directory of the effective user, and each
/// accepted connection is checked with `SO_PEERCRED` (same uid or root, else closed unread), so a
/// misconfigured directory cannot let another user in. A request line longer than 64 KiB, or 30 s
/// without a byte before the line is complete, closes the connection without calling `handler`.
///
/// Startup takes the socket path over from a crashed run (a socket file nobody answers on) but
/// refuses when another `up` answers there (`.addressInUse`). Two `up`s starting at the same
/// moment are serialized by an `flock` on the directory, so one of them sees the other's socket.
///
/// Threading: one `MultiThreadedEventLoopGroup` with one thread, owned by the server, runs every
/// connection; `handler` runs in a task of its own, so slow answers do not hold up other clients.
/// Any thread may call `stop()`. Call it before dropping a started server: it owns that thread.
public final class ControlSocketServer: Sendable {
  /// The longest request line accepted (without its `\n`).
  static let requestLimit = 64 * 1024
  /// How long a connection may stay silent before its request line is complete. Generous: a
  /// local client on a loaded machine can be descheduled for seconds between connect and write
  /// (seen in CI with 5 s), and a silent local connection costs next to nothing.
  static let idleTimeout = TimeAmount.seconds(30)

  /// The socket file, as given to `start`.
  public let path: String
  private let group: MultiThreadedEventLoopGroup
  private let listener: any Channel
  private let boundFile: FileIdentity
  private let shared: ControlServerShared
  private let logger: Logger
  private let stopped = Atomic<Bool>(false)

  private init(
    path: String, group: MultiThreadedEventLoopGroup, listener: any Channel, boundFile: FileIdentity,
    shared: ControlServerShared, logger: Logger
  ) {
    self.path = path
    self.group = group
    self.listener = listener
    self.boundFile = boundFile
    self.shared = shared
    self.logger = logger
  }

  /// Binds `path` and serves until `stop()`. `handler` gets the request line (without `\n`) and
  /// returns the response line (the server appends the `\n`); it may be called concurrently.
  ///
  /// Creates the parent directory (0700) when missing; its own parent must exist. Throws
  /// `ProxyError`: `.addressInUse` when another `up` answers on `path`; `.usage` for a directory
  /// that is not the user's own with mode 0700, a path that is not a socket, or a path too long.
  public static func start(
    path: String, logger: Logger = Logger(label: "mcp-tunnel.control"),
    handler: @escaping @Sendable ([UInt8]) async -> [UInt8]
  ) async throws(ProxyError) -> ControlSocketServer {
    try await start(
      path: path, logger: logger, requestLimit: requestLimit, idleTimeout: idleTimeout, handler: handler)
  }

  /// `start` with the limits open to tests.
  static func start(
    path: String, logger: Logger = Logger(label: "mcp-tunnel.control"), requestLimit: Int, idleTimeout: TimeAmount,
    handler: @escaping @Sendable ([UInt8]) async -> [UInt8]
  ) async throws(ProxyError) -> ControlSocketServer {
    let directory = try UnixSocketFile.parentDirectory(of: path)
    let lock = try await UnixSocketFile.lockOwnDirectory(directory)
    defer { Glibc.close(lock) }
    try UnixSocketFile.removeStaleSocket(at: path)

    let shared = ControlServerShared(
      handler: handler, logger: logger, requestLimit: requestLimit, idleTimeout: idleTimeout)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let listener: any Channel
    do {
      listener = try await ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 64)
        // Nothing is read before the peer check of the initializer passed.
        .childChannelOption(.autoRead, value: false)
        .childChannelInitializer { channel in shared.admit(channel) }
        .bind(unixDomainSocketPath: path)
        .get()
    } catch {
      try? await group.shutdownGracefully()
      if let error = error as? IOError, error.errnoCode == EADDRINUSE {
        throw UnixSocketFile.anotherUpIsRunning(path)
      }
      throw ProxyError(.internalError, "cannot listen on the control socket \(path): \(error)")
    }
    // The socket file is created with the process umask; between bind and chmod it may be wider
    // than 0600 for a moment, which is harmless because the directory was checked to be 0700 and
    // ours (and the peer check would refuse other users anyway).
    guard chmod(path, 0o600) == 0, let boundFile = FileIdentity(path: path) else {
      let error = UnixSocketFile.errorText(errno)
      try? await listener.close()
      try? await group.shutdownGracefully()
      unlink(path)
      throw ProxyError(.internalError, "cannot restrict the control socket \(path) to mode 0600: \(error)")
    }
    logger.debug("control socket listening", metadata: ["path": "\(path)"])
    return ControlSocketServer(
      path: path, group: group, listener: listener, boundFile: boundFile, shared: shared, logger: logger)
  }

  /// Stops listening, closes every open connection, removes the socket file when it is still the
  /// one this server bound (a newer `up` may have taken the path over), and waits for the event
  /// loop to finish. Handlers still running are not waited for; their answers are dropped.
  /// Idempotent.
  public func stop() async {
    guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
    let open = shared.stop()
    if FileIdentity(path: path) == boundFile { unlink(path) }
    try? await listener.close()
    for channel in open { try? await channel.close() }
    try? await group.shutdownGracefully()
    logger.debug("control socket stopped", metadata: ["path": "\(path)"])
  }
}

/// What tells "the socket file this server bound" from a file that replaced it at the same path.
///
/// Device and inode alone are not enough: a freed inode is commonly handed to the very next file
/// created on the same file system, so a replacement made right after ours was removed can carry
/// our inode. The file type and the status-change time (which no one but a writer of the inode
/// moves) tell those apart; when they differ by mistake, `stop()` merely leaves a stale file,
/// which the next `start` replaces.
struct FileIdentity: Equatable, Sendable {
  var device: UInt64
  var inode: UInt64
  var type: UInt32
  var changedSeconds: Int
  var changedNanoseconds: Int

  /// The identity of the file at `path` itself (symlinks not followed); nil when there is none.
  init?(path: String) {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    device = UInt64(info.st_dev)
    inode = UInt64(info.st_ino)
    type = UInt32(info.st_mode & S_IFMT)
    changedSeconds = Int(info.st_ctim.tv_sec)
    changedNanoseconds = Int(info.st_ctim.tv_nsec)
  }
}

/// The peer of a Unix socket as `SO_PEERCRED` reports it: glibc's `struct ucred`, which Swift
/// does not import (it is behind `_GNU_SOURCE`). Same layout: three 32-bit fields.
struct PeerCredentials: Sendable {
  var pid: Int32 = 0
  var uid: UInt32 = 0
  var gid: UInt32 = 0

  /// Whether a peer with `uid` may use the control socket of a process running as `ownUID`:
  /// the same user, or root (who could read the token out of the process anyway).
  static func mayConnect(uid: UInt32, ownUID: UInt32) -> Bool { uid == ownUID || uid == 0 }
}

/// What the connections of one `ControlSocketServer` share: the handler, the limits and the set of
/// open connections, which `stop()` closes. Any thread may call.
final class ControlServerShared: Sendable {
  let handler: @Sendable ([UInt8]) async -> [UInt8]
  let logger: Logger
  let requestLimit: Int
  let idleTimeout: TimeAmount

  private struct State {
    var open: [ObjectIdentifier: any Channel] = [:]
    var stopped = false
  }

  private let state = Mutex(State())

  init(
    handler: @escaping @Sendable ([UInt8]) async -> [UInt8], logger: Logger, requestLimit: Int, idleTimeout: TimeAmount
  ) {
    self.handler = handler
    self.logger = logger
    self.requestLimit = requestLimit
    self.idleTimeout = idleTimeout
  }

  /// The child channel initializer: checks the peer and, when it may talk, registers the
  /// connection and installs the request reader. A failed future makes NIO close the connection
  /// before anything was read.
  func admit(_ channel: any Channel) -> EventLoopFuture<Void> {
    guard let options = channel as? any SocketOptionProvider else {
      return channel.eventLoop.makeFailedFuture(ControlConnectionRefused())
    }
    let peer: EventLoopFuture<PeerCredentials> = options.unsafeGetSocketOption(
      level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
    return peer.flatMapThrowing { [self] peer in
      guard PeerCredentials.mayConnect(uid: peer.uid, ownUID: geteuid()) else {
        logger.warning(
          "control socket: refused a connection from another user",
          metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)"])
        throw ControlConnectionRefused()
      }
      guard register(channel) else { throw ControlConnectionRefused() }
      channel.closeFuture.whenComplete { [self] _ in unregister(channel) }
      try channel.pipeline.syncOperations.addHandler(ControlRequestReader(shared: self))
    }
  }

  private func register(_ channel: any Channel) -> Bool {
    state.withLock { state in
      guard !state.stopped else { return false }
      state.open[ObjectIdentifier(channel)] = channel
      return true
    }
  }

  private func unregister(_ channel: any Channel) {
    _ = state.withLock { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
  }

  /// Runs `body` unless the server has stopped: its event loop may then be gone, and a late
  /// answer must not be scheduled on a dead loop.
  func unlessStopped(_ body: () -> Void) {
    state.withLock { state in
      if !state.stopped { body() }
    }
  }

  /// Refuses new connections from now on and returns the open ones, for the caller to close.
  func stop() -> [any Channel] {
    state.withLock { state in
      state.stopped = true
      defer { state.open = [:] }
      return Array(state.open.values)
    }
  }
}

/// Why the server closed a connection without answering; never leaves the module.
struct ControlConnectionRefused: Error {}

/// Reads one request line from an accepted connection, hands it to the handler in a task of its
/// own and writes the answer back. Bytes after the first `\n` are ignored. Runs on the event loop.
final class ControlRequestReader: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer

  private let shared: ControlServerShared
  private var request: [UInt8] = []
  private var idleTimer: Scheduled<Void>?
  private var lineComplete = false

  init(shared: ControlServerShared) { self.shared = shared }

  func channelActive(context: ChannelHandlerContext) {
    armIdleTimer(context)
    context.read()
    context.fireChannelActive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !lineComplete else { return }
    var chunk = unwrapInboundIn(data)
    let view = chunk.readableBytesView
    let newline = view.firstIndex(of: UInt8(ascii: "\n")).map { $0 - view.startIndex }
    guard request.count + (newline ?? chunk.readableBytes) <= shared.requestLimit else {
      shared.logger.notice(
        "control socket: request line over the limit, connection closed",
        metadata: ["limit": "\(shared.requestLimit)"])
      finish(context)
      return
    }
    request += chunk.readBytes(length: newline ?? chunk.readableBytes) ?? []
    guard newline != nil else {
      armIdleTimer(context)
      return
    }
    lineComplete = true
    idleTimer?.cancel()
    idleTimer = nil
    answer(request, on: context.channel)
    request = []
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    if !lineComplete { context.read() }
    context.fireChannelReadComplete()
  }

  func channelInactive(context: ChannelHandlerContext) {
    idleTimer?.cancel()
    idleTimer = nil
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    finish(context)
  }

  private func answer(_ request: [UInt8], on channel: any Channel) {
    let shared = self.shared
    Task {
      let response = await shared.handler(request)
      var buffer = channel.allocator.buffer(capacity: response.count + 1)
      buffer.writeBytes(response)
      buffer.writeInteger(UInt8(ascii: "\n"))
      shared.unlessStopped {
        channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
      }
    }
  }

  private func armIdleTimer(_ context: ChannelHandlerContext) {
    idleTimer?.cancel()
    let channel = context.channel
    idleTimer = context.eventLoop.scheduleTask(in: shared.idleTimeout) { channel.close(promise: nil) }
  }

  private func finish(_ context: ChannelHandlerContext) {
    lineComplete = true
    idleTimer?.cancel()
    idleTimer = nil
    context.close(promise: nil)
  }
}

/// The POSIX side of the control socket that NIO does not cover: the directory checks, the
/// lock, the stale-file probe. Every C pointer stays in here.
enum UnixSocketFile {
  /// `sizeof(sockaddr_un.sun_path)` less the terminating NUL.
  static let maximumPathBytes = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

  /// The `.addressInUse` error of a second `up` for the same profile.
  static func anotherUpIsRunning(_ path: String) -> ProxyError {
    ProxyError(
      .addressInUse,
      "another `mcp-tunnel up` is already running for this profile (its control socket \(path) answers)",
      fix: "stop it first (Ctrl-C in its terminal), or talk to it: mcp-tunnel status / mcp-tunnel tenant use T")
  }

  /// Checks `path` (absolute, short enough for `sun_path`) and returns its directory.
  static func parentDirectory(of path: String) throws(ProxyError) -> String {
    guard path.hasPrefix("/"), let slash = path.lastIndex(of: "/"), path.index(after: slash) != path.endIndex
    else {
      throw ProxyError(.usage, "control socket path \(path) is not an absolute file path")
    }
    guard path.utf8.count <= maximumPathBytes else {
      throw .socketPathTooLong(path: path, limit: maximumPathBytes)
    }
    let directory = String(path[..<slash])
    return directory.isEmpty ? "/" : directory
  }

  /// Makes `directory` private (`PrivateDirectory`: created 0700, ours, not a symlink, tightened to
  /// 0700) and takes an exclusive `flock` on it, which serializes `up`s starting at the same
  /// moment. Returns the locked descriptor; closing it releases the lock. Waits at most 5 s.
  static func lockOwnDirectory(_ directory: String) async throws(ProxyError) -> Int32 {
    let descriptor: Int32
    do {
      descriptor = try PrivateDirectory.open(directory)
    } catch {
      throw ProxyError(error.category, "control socket directory: \(error.summary)", fix: error.fix)
    }
    let failure: String
    do {
      if try await FileLock.lockExclusive(descriptor, pollEvery: .milliseconds(10), giveUpAfter: .seconds(5)) {
        return descriptor
      }
      failure = "another `mcp-tunnel up` holds it and does not finish starting"
    } catch let error as FileLock.Failure {
      failure = error.text
    } catch {
      failure = "interrupted"
    }
    Glibc.close(descriptor)
    throw ProxyError(.internalError, "cannot lock the control socket directory \(directory): " + failure)
  }

  /// Makes way for a new socket at `path`: nothing there is fine, a socket nobody answers on (the
  /// leftover of a crashed run) is removed; a socket that answers, or any other kind of file, is
  /// an error.
  static func removeStaleSocket(at path: String) throws(ProxyError) {
    var info = stat()
    guard lstat(path, &info) == 0 else {
      guard errno == ENOENT else {
        throw ProxyError(.usage, "cannot inspect the control socket path \(path): \(errorText(errno))")
      }
      return
    }
    guard info.st_mode & S_IFMT == S_IFSOCK else {
      throw ProxyError(
        .usage, "\(path) exists and is not a socket; mcp-tunnel will not replace it",
        fix: "remove it if nothing needs it: rm \(path)")
    }
    switch probe(path) {
    case .answers:
      throw anotherUpIsRunning(path)
    case .nobodyListens:
      guard unlink(path) == 0 || errno == ENOENT else {
        throw ProxyError(.usage, "cannot remove the stale control socket \(path): \(errorText(errno))")
      }
    case .failed(let error):
      throw ProxyError(.usage, "cannot probe the existing control socket \(path): \(errorText(error))")
    }
  }

  enum ProbeResult: Equatable {
    case answers
    case nobodyListens
    case failed(Int32)
  }

  /// Tries a non-blocking `connect()`: a full backlog (`EAGAIN`) counts as answering.
  static func probe(_ path: String) -> ProbeResult {
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue), 0)
    guard descriptor >= 0 else { return .failed(errno) }
    defer { Glibc.close(descriptor) }
    // off-pool: not needed — the socket is SOCK_NONBLOCK, so connect never waits
    if withAddress(path, { connect(descriptor, $0, $1) }) == 0 { return .answers }
    switch errno {
    case EAGAIN, EINPROGRESS: return .answers
    case ECONNREFUSED, ENOENT: return .nobodyListens
    case let error: return .failed(error)
    }
  }

  /// Calls `body` with a `sockaddr_un` for `path`, which must fit (`maximumPathBytes`).
  static func withAddress<Result>(
    _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result
  ) -> Result {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8.prefix(maximumPathBytes))
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
    return withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
  }

  static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
