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
      Recomputes the SHA-256 chain of the whole log and prints "ok: N records, chain intact", or \
      exits with status 2 naming the first line whose link fails: an edit of line m shows at m, \
      or at m+1 when only the content of m changed; removed or reordered lines show at the first \
      line out of place; a cut last line is reported as incomplete. A line torn by a crash and \
      sealed by the next record is listed on stderr and does not fail the check. Removing whole \
      lines from the end cannot be seen in the file alone: keep the last seq elsewhere to check \
      that. With --json prints {"ok":…,"records":…,"path":…} and, on failure, "line" and \
      "problem". --profile names the log directly.

      Example:
        $ mcp-tunnel audit verify
        ok: 1284 records, chain intact
        $ mcp-tunnel audit verify --profile lab --json
        {"ok":true,"path":"/home/alice/.local/state/mcp-tunnel/audit/lab.jsonl","records":42,"torn_lines":[]}
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
    let result = try AuditChainVerifier.verify(path: path)
    if global.json {
      var object: [String: Any] = [
        "ok": result.isIntact, "path": path, "records": result.records, "torn_lines": result.tornLines,
      ]
      if let failure = result.failure {
        object["line"] = failure.line
        object["problem"] = failure.description
      }
      env.output.writeResult(JSONLine.encode(object) + "\n")
    } else if result.isIntact {
      env.output.writeResult("ok: \(result.records) records, chain intact\n")
    }
    for line in result.tornLines where !global.json {
      env.output.writeDiagnostic(
        "note: line \(line) is a write torn by an interrupted writer and sealed by the next record\n")
    }
    if let failure = result.failure {
      throw AuditError(.usage, "\(path): \(failure.description)", fix: failure.fix)
    }
  }
}
