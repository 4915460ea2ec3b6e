import Foundation
import Synchronization
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

// off-pool-file: synchronous lab helpers; lab suites call them on OffPoolExecutor (.offPool) or inside offPool {}, every other caller uses a thread of its own

/// A long-running child process with separate stdout/stderr capture and its exit status.
/// `kill()` (also from `deinit`) ends it by PID, so a failing test leaves nothing running.
public final class RunningCommand: @unchecked Sendable {
  // @unchecked: `process` is only read after start; the captured text is behind a Mutex.
  private let process = Process()
  private final class Captured: Sendable {
    let text = Mutex<(stdout: String, stderr: String)>(("", ""))
    /// Whether each pipe has reached its end (every writer closed it).
    let ended = Mutex<(stdout: Bool, stderr: Bool)>((false, false))
  }
  private let captured = Captured()

  public init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
    try LabTierGuard.check(starting: executable)
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    let captured = self.captured
    stdout.fileHandleForReading.readabilityHandler = { handle in
      let data = handle.availableData
      if data.isEmpty {
        handle.readabilityHandler = nil
        captured.ended.withLock { $0.stdout = true }
      }
      let text = String(decoding: data, as: UTF8.self)
      captured.text.withLock { $0.stdout += text }
    }
    stderr.fileHandleForReading.readabilityHandler = { handle in
      let data = handle.availableData
      if data.isEmpty {
        handle.readabilityHandler = nil
        captured.ended.withLock { $0.stderr = true }
      }
      let text = String(decoding: data, as: UTF8.self)
      captured.text.withLock { $0.stderr += text }
    }
    // As the product starts its children: with no signal blocked, whichever thread this runs on
    // (a test's SIGINT/SIGTERM must reach `up` as a user's would).
    try process.runWithNoSignalBlocked()
  }

  public var stdout: String { captured.text.withLock { $0.stdout } }
  public var stderr: String { captured.text.withLock { $0.stderr } }
  public var isRunning: Bool { process.isRunning }
  public var pid: Int32 { process.processIdentifier }

  /// stdout parsed as JSON lines.
  public var events: [[String: Any]] { LabJSONLines.parse(stdout) }

  public func signal(_ number: Int32) { _ = Glibc.kill(process.processIdentifier, number) }

  public func waitForExit(timeout: Duration) throws -> Int32 {
    try waitUntil(timeout: timeout, "mcp-tunnel to exit") { !process.isRunning }
    // Then until both pipes are read to their end, so stdout and stderr are whole. (A grandchild
    // still holding one would keep it open: then go on with what there is.)
    let captured = self.captured
    try? waitUntil(timeout: .seconds(30), "the output pipes to close") {
      captured.ended.withLock { $0.stdout && $0.stderr }
    }
    return process.terminationStatus
  }

  public func kill() {
    if process.isRunning {
      _ = Glibc.kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
  }

  deinit {
    kill()
    TokenLedger.archive(
      executable: process.executableURL?.path ?? "", arguments: process.arguments ?? [], stdout: stdout, stderr: stderr)
  }
}

/// The `mcp-tunnel` executable built next to the test bundle.
public enum BuiltBinary {
  public static var mcpTunnel: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mcp-tunnel").path
  }
}

/// Runs blocking lab calls (process spawns, the Python client) on a thread of their own, so they
/// never hold a cooperative-pool thread that the code under test needs.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    Thread { continuation.resume(with: Result { try body() }) }.start()
  }
}
