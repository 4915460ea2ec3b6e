import Foundation
import Synchronization

// off-pool-file: synchronous lab helpers; lab suites call them on OffPoolExecutor (.offPool) or inside offPool {}, every other caller uses a thread of its own

/// Starts child processes with `posix_spawn` and reaps them with `waitpid` — deliberately not with
/// Foundation's `Process`. Two problems with `Process` on Linux, both seen in this lab:
///
/// 1. Every `Process` in the test binary is reaped by one shared manager thread, which runs a
///    *blocking* `waitpid(pid)` as soon as the child's end of a private socketpair closes. A peer
///    that closes inherited descriptors at start-up (sshd does `closefrom`) makes that thread block
///    until the peer exits; meanwhile no other `Process` is ever seen to finish (`isRunning` stays
///    true, zombies pile up), so unrelated tests hang.
/// 2. Children inherit the spawning thread's signal mask, and the threads tests run on block almost
///    every signal, SIGTERM included: peers then ignore SIGTERM.
///
/// Here each child gets an empty signal mask and default handlers, its own process group, stdio as
/// given and no other inherited descriptors (`closefrom(3)`), and is reaped by whoever asks for its
/// status (`LabChild`), without any shared thread.
enum LabSpawn {
  /// SIGPIPE is ignored in the test process so writing a child's stdin after it exited returns EPIPE
  /// instead of killing the test binary. Children get default handlers again (`SETSIGDEF`).
  private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

  static func spawn(
    executable: String, arguments: [String], environment: [String: String]?, workingDirectory: URL? = nil,
    stdin: Int32, stdout: Int32, stderr: Int32
  ) throws -> pid_t {
    try LabTierGuard.check(starting: executable)
    _ = ignoreSIGPIPE
    var env = environment ?? ProcessInfo.processInfo.environment
    if environment != nil, env["PATH"] == nil {
      env["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    // dup2 onto 0/1/2 first; when a source is itself 0/1/2 it is duplicated before being replaced.
    let sources = [stdin, stdout, stderr].map { $0 <= 2 ? dup($0) : $0 }
    defer { for (index, fd) in sources.enumerated() where fd != [stdin, stdout, stderr][index] { close(fd) } }
    for (target, source) in sources.enumerated() {
      posix_spawn_file_actions_adddup2(&actions, source, Int32(target))
    }
    guard try GNU.addClosefrom(&actions, 3) == 0 else {
      throw LabError("posix_spawn_file_actions_addclosefrom_np failed")
    }
    if let workingDirectory {
      guard try GNU.addChdir(&actions, workingDirectory.path) == 0 else {
        throw LabError("posix_spawn_file_actions_addchdir_np failed")
      }
    }

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var emptyMask = sigset_t()
    sigemptyset(&emptyMask)
    posix_spawnattr_setsigmask(&attributes, &emptyMask)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setpgroup(&attributes, 0)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for pointer in argv { free(pointer) }
      for pointer in envp { free(pointer) }
    }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard status == 0 else {
      throw LabError("cannot start \(executable): \(String(cString: strerror(status))) — run: make deps")
    }
    return pid
  }

  /// glibc (≥ 2.34) functions that Swift's Glibc module does not import (they need _GNU_SOURCE),
  /// looked up once at run time. Debian 12 has glibc 2.36.
  private enum GNU {
    typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias AddChdir =
      @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    static let addClosefromSymbol: AddClosefrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    static let addChdirSymbol: AddChdir? = symbol("posix_spawn_file_actions_addchdir_np")
    static let pipe2Symbol: Pipe2? = symbol("pipe2")

    static func addClosefrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ fd: Int32) throws -> Int32 {
      try require(addClosefromSymbol, "posix_spawn_file_actions_addclosefrom_np")(actions, fd)
    }
    static func addChdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) throws -> Int32 {
      try require(addChdirSymbol, "posix_spawn_file_actions_addchdir_np")(actions, path)
    }
    static func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) throws -> Int32 {
      try require(pipe2Symbol, "pipe2")(fds, flags)
    }

    private static func require<F>(_ function: F?, _ name: String) throws -> F {
      guard let function else { throw LabError("glibc lacks \(name); the lab needs glibc >= 2.34 (Debian 12)") }
      return function
    }

    private static func symbol<F>(_ name: String) -> F? {
      dlsym(nil, name).map { unsafeBitCast($0, to: F.self) }
    }
  }

  /// A pipe whose both ends are close-on-exec (the child gets its end through dup2 only).
  static func pipe() throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard try GNU.pipe2(&fds, O_CLOEXEC) == 0 else { throw LabError("pipe2 failed: errno \(errno)") }
    return (fds[0], fds[1])
  }

  /// Writes all of `data` to `fd` (EPIPE when the reader is gone is ignored), then closes it.
  static func writeAndClose(_ fd: Int32, _ data: Data) {
    data.withUnsafeBytes { buffer in
      var offset = 0
      while offset < buffer.count {
        let written = write(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
        if written < 0 {
          if errno == EINTR { continue }
          break
        }
        offset += written
      }
    }
    close(fd)
  }
}

/// One spawned child and its exit status. Reaping happens here only (`waitpid` on this pid), from
/// whichever thread asks first; the Mutex makes sure the pid is waited for exactly once.
final class LabChild: Sendable {
  let pid: pid_t
  private let exitStatus = Mutex<Int32?>(nil)

  init(pid: pid_t) { self.pid = pid }

  /// Non-blocking: reaps the child if it has exited.
  var isRunning: Bool { poll() == nil }

  /// The raw wait status once the child has exited, else nil. Never blocks.
  func poll() -> Int32? {
    exitStatus.withLock { known in
      if let known { return known }
      var status: Int32 = 0
      let result = waitpid(pid, &status, WNOHANG)
      if result == pid {
        known = status
      } else if result < 0 && errno == ECHILD {
        known = -1  // reaped by someone else; treat as gone
      }
      return known
    }
  }

  /// Polls until the child exits or `timeout` passes; returns whether it exited.
  @discardableResult
  func wait(timeout: Duration) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while poll() == nil {
      if ContinuousClock.now >= deadline { return false }
      usleep(5_000)
    }
    return true
  }

  /// The exit code (0–255), or 128 + signal number when killed by a signal; nil while running.
  var terminationStatus: Int32? {
    guard let status = poll() else { return nil }
    if status == -1 { return -1 }
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
  }
}
