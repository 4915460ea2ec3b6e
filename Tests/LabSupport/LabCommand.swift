import Foundation

// off-pool-file: synchronous lab helpers; lab suites call them on OffPoolExecutor (.offPool) or inside offPool {}, every other caller uses a thread of its own

/// The outcome of a short command run by `LabCommand.run`.
public struct LabCommandResult: Sendable {
  public let status: Int32
  public let stdout: String
  public let stderr: String
  /// Whether the command was killed because it ran past its timeout.
  public let timedOut: Bool
}

/// Runs short helper commands (provisioning scripts, `secret-tool`, the MCP client) to completion.
///
/// Unlike `runTool`, stdout and stderr are kept apart (stdout is the result, stderr the diagnostics),
/// and a command that hangs is killed after `timeout` instead of hanging the test. Output goes to
/// files in a private temporary directory rather than pipes, so a chatty command can never block on
/// a full pipe while we wait for it. Secrets are passed on stdin only, never in `arguments`.
/// Spawned and reaped without Foundation's `Process` (see `LabSpawn`).
public enum LabCommand {
  public static func run(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String]? = nil,
    stdin: String? = nil,
    timeout: Duration = .seconds(60)
  ) throws -> LabCommandResult {
    let scratch = FileManager.default.temporaryDirectory
      .appendingPathComponent("lab-cmd-\(UUID().uuidString.prefix(8))", isDirectory: true)
    try FileManager.default.createDirectory(
      at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outURL = scratch.appendingPathComponent("stdout")
    let errURL = scratch.appendingPathComponent("stderr")
    let out = open(outURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let err = open(errURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    defer {
      if out >= 0 { close(out) }
      if err >= 0 { close(err) }
    }
    guard out >= 0, err >= 0 else { throw LabError("cannot create output files in \(scratch.path): errno \(errno)") }
    let input = try LabSpawn.pipe()
    let pid: pid_t
    do {
      pid = try LabSpawn.spawn(
        executable: executable, arguments: arguments, environment: environment, stdin: input.read, stdout: out,
        stderr: err)
    } catch {
      close(input.read)
      close(input.write)
      throw error
    }
    close(input.read)
    LabSpawn.writeAndClose(input.write, Data((stdin ?? "").utf8))

    let child = LabChild(pid: pid)
    let timedOut = !child.wait(timeout: timeout)
    if timedOut {
      kill(pid, SIGKILL)
      child.wait(timeout: .seconds(10))
    }
    let stdout = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
    TokenLedger.archive(executable: executable, arguments: arguments, stdout: stdout, stderr: stderr)
    return LabCommandResult(status: child.terminationStatus ?? -1, stdout: stdout, stderr: stderr, timedOut: timedOut)
  }
}

/// The last `lines` lines of `text`, for error messages that quote a peer's log.
public func labTail(_ text: String, lines: Int = 30) -> String {
  text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
}
