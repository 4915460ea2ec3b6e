import Foundation

/// Where the lab's scripts and Python live, and checks that the machine has what the lab needs.
///
/// Tests never skip because something is missing: a missing tool or venv is a failure whose message
/// says `run: make deps` (CI runs it first).
public enum LabPaths {
  /// The repository root, found from this file's location (`Tests/LabSupport/LabPaths.swift`).
  public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// `Tests/Lab`: scripts, templates and Python peers shared by Swift tests and `lab.sh`.
  public static let scripts: URL = repositoryRoot.appendingPathComponent("Tests/Lab", isDirectory: true)

  public static func script(_ relativePath: String) -> String {
    scripts.appendingPathComponent(relativePath).path
  }

  /// The lab venv's python, created or refreshed by `Tests/Lab/setup-venv.sh` on first use.
  /// Computed once per test process (a `static let` initialiser runs exactly once, so suites
  /// running in parallel never race to build the venv).
  public static func python() throws -> String {
    try venvPython.get()
  }

  private static let venvPython: Result<String, LabError> = {
    do {
      let result = try LabCommand.run("/bin/bash", [script("setup-venv.sh")], timeout: .seconds(600))
      let path = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
      guard result.status == 0, FileManager.default.isExecutableFile(atPath: path) else {
        return .failure(
          LabError("Tests/Lab/setup-venv.sh failed (\(result.status)) — run: make deps\n\(labTail(result.stderr))"))
      }
      return .success(path)
    } catch {
      return .failure(LabError("cannot run Tests/Lab/setup-venv.sh: \(error) — run: make deps"))
    }
  }()

  /// The absolute path of `tool`, searched in the usual system directories; throws `run: make deps`.
  public static func requireExecutable(_ tool: String) throws -> String {
    let directories =
      ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"]
      + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    for directory in directories {
      let candidate = URL(fileURLWithPath: directory).appendingPathComponent(tool).path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw LabError("\(tool) is not installed — run: make deps")
  }
}
