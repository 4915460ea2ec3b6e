import Foundation
import Synchronization

// off-pool-file: synchronous lab helpers; lab suites call them on OffPoolExecutor (.offPool) or inside offPool {}, every other caller uses a thread of its own

/// A real peer process started by a test (sshd, glewlwyd, a Python server…).
///
/// Its stdout and stderr go to `logFile`; its PID is written to `<lab dir>/pids/<name>.pid` so
/// `Tests/Lab/reap.sh` can stop it even if the test process dies. `stop()` sends SIGTERM, waits,
/// then SIGKILL; `deinit` stops it too, so a failing test never leaves a server behind.
///
/// Started with `posix_spawn` and reaped with `waitpid` by this object alone (see `LabSpawn` for why
/// not Foundation's `Process`): the child has an empty signal mask, default signal handlers, its
/// own process group, and no inherited descriptors besides stdio.
public final class LabProcess: Sendable {
  public let name: String
  public let logFile: URL
  public let pid: Int32
  private let child: LabChild
  private let pidFile: URL
  private let stopped = Mutex(false)

  /// Starts `executable` with `arguments`. `environment` replaces the inherited one when given
  /// (plus `PATH`), so peers never see the developer's real HOME, bus or agent by accident.
  public init(
    name: String,
    executable: String,
    arguments: [String],
    environment: [String: String]? = nil,
    workingDirectory: URL? = nil,
    directory: LabDirectory,
    stdin: FileHandle? = nil
  ) throws {
    self.name = name
    let logs = directory.url.appendingPathComponent("logs", isDirectory: true)
    let pids = directory.url.appendingPathComponent("pids", isDirectory: true)
    try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: pids, withIntermediateDirectories: true)
    logFile = logs.appendingPathComponent("\(name).log")
    pidFile = pids.appendingPathComponent("\(name).pid")

    let log = open(logFile.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard log >= 0 else { throw LabError("cannot open \(logFile.path): errno \(errno)") }
    defer { close(log) }
    let devNull = stdin == nil ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1
    defer { if devNull >= 0 { close(devNull) } }
    let spawned = try LabSpawn.spawn(
      executable: executable, arguments: arguments, environment: environment, workingDirectory: workingDirectory,
      stdin: stdin?.fileDescriptor ?? devNull, stdout: log, stderr: log)
    child = LabChild(pid: spawned)
    pid = spawned
    try "\(pid)\n".write(to: pidFile, atomically: true, encoding: .utf8)
  }

  public var isRunning: Bool { child.isRunning }

  /// The log so far, for assertions and for failure messages.
  public func log() -> String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

  /// SIGTERM, up to `grace` to exit, then SIGKILL. Idempotent.
  public func stop(grace: Duration = .seconds(3)) {
    let already = stopped.withLock { s -> Bool in
      defer { s = true }
      return s
    }
    if already { return }
    if child.isRunning {
      kill(pid, SIGTERM)
      if !child.wait(timeout: grace) {
        kill(pid, SIGKILL)
        child.wait(timeout: .seconds(10))
      }
    }
    try? FileManager.default.removeItem(at: pidFile)
  }

  /// Waits until this peer accepts connections on `port`; stops it if it does not, so a failed
  /// start never leaves a half-started server behind.
  public func waitUntilListening(port: Int, timeout: Duration = .seconds(120)) throws {
    do {
      try LabNetwork.waitForListening(port: port, timeout: timeout, process: self)
    } catch {
      stop()
      throw error
    }
  }

  /// SIGKILL now, with no grace: for crash and fault tests.
  public func kill9() {
    if child.isRunning {
      kill(pid, SIGKILL)
      child.wait(timeout: .seconds(10))
    }
    stopped.withLock { $0 = true }
    try? FileManager.default.removeItem(at: pidFile)
  }

  deinit { stop(grace: .milliseconds(500)) }
}

/// A private directory for one lab run, under `$MCP_TUNNEL_LAB_ROOT` or the system temp dir.
public final class LabDirectory: Sendable {
  public let url: URL
  private let keep: Bool

  public init(prefix: String = "mcp-tunnel-lab") throws {
    let root =
      ProcessInfo.processInfo.environment["MCP_TUNNEL_LAB_ROOT"].map { URL(fileURLWithPath: $0) }
      ?? FileManager.default.temporaryDirectory
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    url = root.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))", isDirectory: true)
    try FileManager.default.createDirectory(
      at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    keep = ProcessInfo.processInfo.environment["MCP_TUNNEL_LAB_KEEP"] == "1"
  }

  public func path(_ component: String) -> String { url.appendingPathComponent(component).path }

  deinit {
    if !keep { try? FileManager.default.removeItem(at: url) }
  }
}

public enum LabNetwork {
  /// Every port `freePort()` has handed out in this process.
  private static let handedOut = Mutex<Set<Int>>([])

  /// A TCP port on 127.0.0.1 that was free a moment ago and that this process has never handed out
  /// before, picked at random *below the kernel's ephemeral range*
  /// (`/proc/sys/net/ipv4/ip_local_port_range`). Between `freePort()` and the peer's own bind the
  /// port is unheld; a port from the ephemeral range could meanwhile be given to any `bind(:0)` or
  /// outgoing `connect` in the machine (seen in CI twice: two glewlwyds got one port; a doctor twin
  /// test's listen port was taken by a concurrent proxy test's `bind(:0)`, and doctor said "in
  /// use"). Below the range, only another explicit pick can take it, and within this process the
  /// set above rules that out.
  public static func freePort() throws -> Int {
    let (low, high) = pickRange()
    for _ in 0..<2000 {
      let port = Int.random(in: low...high)
      guard handedOut.withLock({ !$0.contains(port) }), canBind(port) else { continue }
      if handedOut.withLock({ $0.insert(port).inserted }) { return port }
    }
    throw LabError("no free port on 127.0.0.1 in \(low)...\(high) after 2000 tries")
  }

  /// `[10000, ephemeral low - 1]`; `ip_local_port_range` unreadable or odd → the Linux default's.
  static func pickRange() -> (Int, Int) {
    let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
    let ephemeralLow = fields.first ?? 32768
    return ephemeralLow > 12000 ? (10000, ephemeralLow - 1) : (61001, 65535)
  }

  private static func canBind(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
  }

  /// Whether something accepts TCP connections on 127.0.0.1:`port` right now.
  public static func isListening(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
  }

  /// Polls until `port` accepts connections; throws with `process`'s log when it does not in time.
  public static func waitForListening(port: Int, timeout: Duration = .seconds(120), process: LabProcess? = nil) throws {
    try waitUntil(timeout: timeout, "port \(port) to listen", process: process) { isListening(port: port) }
  }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
public func waitUntil(
  timeout: Duration, _ what: String, process: LabProcess? = nil, _ condition: () throws -> Bool
) throws {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if try condition() { return }
    if let process, !process.isRunning {
      throw LabError("\(process.name) exited while waiting for \(what); log:\n\(process.log())")
    }
    usleep(20_000)
  }
  throw LabError(
    "timed out after \(timeout) waiting for \(what)" + (process.map { "; \($0.name) log:\n\($0.log())" } ?? ""))
}

public struct LabError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// Runs a short command to completion and returns its exit status and combined output.
/// (Spawned like `LabProcess`; see `LabSpawn`. For a timeout and separate stderr use `LabCommand`.)
@discardableResult
public func runTool(
  _ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil
) throws -> (status: Int32, output: String) {
  let output = try LabSpawn.pipe()
  let input = try LabSpawn.pipe()
  let pid: pid_t
  do {
    pid = try LabSpawn.spawn(
      executable: executable, arguments: arguments, environment: environment,
      stdin: input.read, stdout: output.write, stderr: output.write)
  } catch {
    for fd in [output.read, output.write, input.read, input.write] { close(fd) }
    throw error
  }
  close(output.write)
  close(input.read)
  LabSpawn.writeAndClose(input.write, Data((stdin ?? "").utf8))
  let data = FileHandle(fileDescriptor: output.read, closeOnDealloc: true).readDataToEndOfFile()
  let child = LabChild(pid: pid)
  child.wait(timeout: .seconds(3600))
  return (child.terminationStatus ?? -1, String(decoding: data, as: UTF8.self))
}
