import Foundation

/// What the secret-hygiene scan (`scripts/secret-scan.sh`, run by `make test` after the suite)
/// needs from the tests: every token value the lab issued or a test saw, and what every
/// `mcp-tunnel` process printed. Both live under `MCP_TUNNEL_LAB_ROOT`, which `make test` keeps
/// (`MCP_TUNNEL_LAB_KEEP=1`) until the scan has run; without a lab root nothing is written.
///
/// The ledger (`<root>/token-ledger`, 0600, one value per line) is the list of needles; the
/// scan excludes it and the peers' own state, and looks everywhere else: the HOME/XDG/TMPDIR
/// trees the binary ran with, its audit logs and config files, and its archived output.
public enum TokenLedger {
  static var root: URL? {
    ProcessInfo.processInfo.environment["MCP_TUNNEL_LAB_ROOT"].map { URL(fileURLWithPath: $0) }
  }

  /// `<root>/token-ledger`, for peers that record what they issue themselves (the RFC 8693 fixture).
  public static var path: String? { root?.appendingPathComponent("token-ledger").path }

  /// Appends `values` (empty ones skipped) to the ledger.
  public static func record(_ values: [String?]) {
    let lines = values.compactMap { $0?.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    guard let path, !lines.isEmpty else { return }
    append(path, lines.joined(separator: "\n") + "\n")
  }

  /// Keeps what one run of the built `mcp-tunnel` printed, under `<root>/cli-output/`. Stdout of
  /// `mcp-tunnel token` is left out: printing the token there is that command's job.
  public static func archive(executable: String, arguments: [String], stdout: String, stderr: String) {
    guard let root, executable.hasSuffix("/mcp-tunnel") else { return }
    let directory = root.appendingPathComponent("cli-output", isDirectory: true)
    try? FileManager.default.createDirectory(
      at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let shownStdout = arguments.first == "token" ? "(stdout of `token` not kept)\n" : stdout
    let text = "# mcp-tunnel \(arguments.joined(separator: " "))\n## stdout\n\(shownStdout)\n## stderr\n\(stderr)\n"
    append(directory.appendingPathComponent("\(UUID().uuidString).log").path, text)
  }

  private static func append(_ path: String, _ text: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
  }
}
