import ArgumentParser
import AuditLog
import TunnelCore

/// `audit verify`: recomputes the chain (SPEC §7).
///
/// Exit status when the chain is broken: 2, the SPEC §8 "usage or configuration error" class,
/// carried as an `AuditError` with category `.usage`. Reasons: it is not 1 — nothing in
/// mcp-tunnel failed, and 1 tells people to report a bug; none of 3–9 is about local data. A log
/// that fails verification is, like a configuration file with a bad value, local input that a
/// person must look at — and 2 keeps `audit verify || alert` scripts working while the message
/// (stderr, or the `--json` object on stdout) says exactly which line broke and what to do. The
/// same code is used when there is no log to verify, which `--json` distinguishes by `ok`.
struct AuditVerify: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify",
    abstract: "Check that the audit log was not edited, truncated or reordered.",
    discussion: """
      Recomputes the SHA-256 chain of the whole log — the current file and its rotated files \
      (<profile>.jsonl.N … .1), oldest first, as one chain — and prints "ok: N records, chain \
      intact", or exits with status 2 naming FILE:LINE of the first line whose link fails: an \
      edit of line m shows at m, or at m+1 when only the content of m changed; removed or \
      reordered lines show at the first line out of place; a removed or changed rotated file shows \
      at line 1 of the file after it; a cut last line is reported as incomplete. A line torn by a \
      crash and sealed by the next record is listed on stderr and does not fail the check. The \
      oldest rotated files are deleted by rotation, so the oldest file present may continue one \
      that is gone: that is accepted and said on stderr, with the first seq that could be checked. \
      Removing whole lines from the end cannot be seen in the files alone: keep the last seq \
      elsewhere to check that. With --json prints {"ok":…,"records":…,"path":…,"files":[…]} and, \
      on failure, "file", "line" and "problem". --profile names the log directly.

      Example:
        $ mcp-tunnel audit verify
        ok: 1284 records, chain intact
        $ mcp-tunnel audit verify --profile lab --json
        {"files":["lab.jsonl"],"ok":true,"path":"/home/alice/.local/state/mcp-tunnel/audit/lab.jsonl",\
      "records":42,"torn_lines":[]}
      """
  )

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    let env = AppEnvironment.current
    let profile = try AuditProfileName.resolve(global, env)
    let path = env.paths.auditFile(profile: profile)
    guard AuditFileReader(path: path).exists else {
      throw AuditError(
        .usage, "no audit log for profile \"\(profile)\" at \(path)",
        fix: "check --profile; the log is created by the first recorded event (e.g. `mcp-tunnel up`)")
    }
    let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
    let directory = env.paths.auditDirectory
    let verified = AuditVerifyResult(result, path: path)
    if global.json {
      env.output.writeResult(verified.jsonLine + "\n")
    } else {
      if result.isIntact { env.output.writeResult(verified.text + "\n") }
      for notice in Self.notices(result) { env.output.writeDiagnostic("note: \(notice)\n") }
    }
    if let failure = result.failure {
      let location = failure.file.map { "\(directory)/\($0):\(failure.line)" } ?? path
      throw AuditError(.usage, "\(location): \(failure.description)", fix: failure.fix)
    }
  }

  /// What a person should know about a chain that verified (or up to its failure).
  static func notices(_ result: AuditVerification) -> [String] {
    var notices: [String] = []
    if let continuation = result.continuation {
      let before = continuation.previousFile.map { " (\($0) when it was rotated)" } ?? ""
      notices.append(
        "the chain starts in \(continuation.file ?? "the oldest file") after seq \(continuation.sequence): the file "
          + "before it\(before) is no longer present — rotation deletes the oldest files beyond its keep limit — "
          + "so records up to seq \(continuation.sequence) cannot be checked")
    }
    for name in result.absentNames {
      notices.append(
        "\(name) is absent, but the chain links across it (a rotation was interrupted); no record is missing")
    }
    for torn in result.tornLines {
      notices.append("\(torn) is a write torn by an interrupted writer and sealed by the next record")
    }
    return notices
  }
}
