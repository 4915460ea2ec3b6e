import Foundation
import TunnelCore

/// How both modes of `up` tell the user what happens: with `--json` one event object per line on
/// stdout (the contract), else a line of text — on stderr, except the `ready` line, a result.
struct UpEventReporter: Sendable {
  var output: any OutputSink
  var json: Bool

  func report(_ object: [String: Any], text: String, diagnostic: Bool = true) {
    if json {
      output.writeResult(JSONLine.encode(object) + "\n")
    } else if diagnostic {
      output.writeDiagnostic(text + "\n")
    } else {
      output.writeResult(text + "\n")
    }
  }

  /// The SSH path's `reconnecting`/`reconnected` events, the same in both modes.
  func reconnecting(attempt: Int, delay: Duration, reason: String) {
    report(
      ["event": "reconnecting", "attempt": attempt, "delay_ms": Self.milliseconds(delay), "reason": reason],
      text: "SSH path lost (\(reason)); reconnecting in \(DurationText.format(delay)) (attempt \(attempt))")
  }

  func reconnected(hops: [String], attempts: Int) {
    report(
      ["event": "reconnected", "hops": hops, "attempts": attempts],
      text: "SSH path is back after \(attempts) attempt(s)")
  }

  static func milliseconds(_ d: Duration) -> Int64 {
    d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
  }

  /// Each hop as `user@host:port`, the local user standing in where the config names none.
  static func hopLabels(_ ssh: SSHSettings) -> [String] {
    ssh.hops.map { SSHEndpoint(user: $0.user ?? currentUser(), address: $0.address).description }
  }

  static func currentUser() -> String {
    if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
    return ProcessInfo.processInfo.environment["USER"] ?? "root"
  }
}
