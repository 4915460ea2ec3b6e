import ArgumentParser
import AuditLog
import TunnelCore

struct AuditTail: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tail",
    abstract: "Print the last records of the audit log, and follow it with -f.",
    discussion: """
      Prints the last N records (default 10), one per line: time, tenant, actor, method, tool, \
      outcome, HTTP status and duration, with - for absent fields; when the current file holds \
      fewer, the rest come from the rotated files (<profile>.jsonl.1 …). With --json each record \
      is printed as the exact JSON line stored in the log. With -f it keeps running and prints \
      records as they are appended (checking every 200 ms), follows the log across rotations, \
      waits for the log if it does not exist yet, and stops on Ctrl-C. Lines that are not \
      records (a torn write) are skipped with a warning on stderr; `audit verify` checks them. \
      --profile names the log directly.

      Example:
        $ mcp-tunnel audit tail -n 2
        2026-11-21T10:00:00.123Z acme dev1 tools/call search ok 200 12ms
        2026-11-21T10:00:01.456Z acme dev1 resources/read - ok 200 3ms
        $ mcp-tunnel audit tail -f --json | jq -c 'select(.outcome != "ok")'
      """
  )

  @OptionGroup var global: GlobalOptions

  @Flag(name: [.customShort("f"), .long], help: "Keep running and print records as they are appended.")
  var follow = false

  @Option(
    name: [.customShort("n"), .long], help: ArgumentHelp("How many past records to print first.", valueName: "N"))
  var lines = 10

  func validate() throws {
    if lines < 0 { throw ValidationError("--lines must be 0 or more") }
  }

  func run() async throws {
    let env = AppEnvironment.current
    let profile = try AuditProfileName.resolve(global, env)
    let path = env.paths.auditFile(profile: profile)
    let reader = AuditFileReader(path: path)
    var tail: AuditFileTail?
    if reader.exists {
      tail = try reader.tail(records: lines)
      for line in tail?.lines ?? [] { show(line, env.output) }
    } else if follow {
      env.output.writeDiagnostic("waiting for \(path) to be created\n")
    } else {
      throw AuditError(
        .usage, "no audit log for profile \"\(profile)\" at \(path)",
        fix: "check --profile; the log is created by the first recorded event (e.g. `mcp-tunnel login`)")
    }
    guard follow else { return }
    let follower = AuditFileFollower(path: path)
    for try await line in tail.map({ follower.lines(after: $0) }) ?? follower.lines() {
      show(line, env.output)
    }
  }

  /// Prints one stored line; the chain-start line is bookkeeping and never shown.
  private func show(_ bytes: [UInt8], _ output: any OutputSink) {
    guard let line = AuditLine.decode(bytes) else {
      output.writeDiagnostic(
        "warning: skipped a line that is not an audit record; run `mcp-tunnel audit verify` to check the log\n")
      return
    }
    guard line.event != nil else { return }
    if global.json {
      output.writeResult(String(decoding: bytes, as: UTF8.self) + "\n")
    } else if let text = AuditLineRendering.human(line) {
      output.writeResult(text + "\n")
    }
  }
}
