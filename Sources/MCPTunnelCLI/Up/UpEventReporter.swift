import Foundation
import TunnelCore

/// How `up` tells the user what its `TunnelRuntime` does: with `--json` one event object per line
/// on stdout (the contract, SPEC §3), else a line of text — on stderr, except the `ready` line, a
/// result.
struct UpEventReporter: Sendable {
  var output: any OutputSink
  var json: Bool
  var verbose: Bool

  func render(_ event: TunnelRuntime.Event) {
    switch event {
    case .ready(let ready):
      renderReady(ready)
    case .reconnecting(let attempt, let delay, let reason):
      report(
        ["event": "reconnecting", "attempt": attempt, "delay_ms": Self.milliseconds(delay), "reason": reason],
        text: "SSH path lost (\(reason)); reconnecting in \(DurationText.format(delay)) (attempt \(attempt))")
    case .reconnected(let hops, let attempts):
      report(
        ["event": "reconnected", "hops": hops, "attempts": attempts],
        text: "SSH path is back after \(attempts) attempt(s)")
    case .channelFailed(let reason):
      if verbose { output.writeDiagnostic("channel failed: \(reason)\n") }
    case .tokenPending(let tenant, let summary, let fix):
      output.writeDiagnostic(
        "warning: no token for tenant \(tenant) yet: \(summary)\n" + (fix.map { "  fix: \($0)\n" } ?? "")
          + "  until then every request gets 503 with this fix; the tunnel keeps running and retries by itself\n")
    case .tokenMinted(let tenant, let expiresAt, let reason):
      if json {
        report(
          [
            "event": "token_minted", "tenant": tenant.rawValue, "expires_at": Timestamp.string(expiresAt),
            "reason": reason.rawValue,
          ], text: "")
      }
    case .tokenError(let tenant, let category, let summary, let fix, let retryIn):
      var object: [String: Any] = [
        "event": "token_error", "tenant": tenant.rawValue, "category": category.rawValue, "message": summary,
      ]
      if let fix { object["fix"] = fix }
      if let retryIn { object["retry_in_ms"] = retryIn.components.seconds * 1000 }
      if json { output.writeResult(JSONLine.encode(object) + "\n") }
      output.writeDiagnostic(
        "warning: cannot mint a token for tenant \(tenant): \(summary)"
          + (retryIn.map { " (retrying in \(DurationText.format($0)))" } ?? "") + "\n"
          + (fix.map { "  fix: \($0)\n" } ?? ""))
    case .tenantSwitched(let from, let to):
      report(
        ["event": "tenant_switched", "from": from.rawValue, "tenant": to.rawValue],
        text: "tenant switched: \(from) → \(to); connections opened under \(from) were closed")
    case .stopped(let reason):
      report(
        ["event": "stopped", "reason": reason],
        text: reason == "failed" ? "stopped: the SSH path failed" : "stopped (\(reason))")
    }
  }

  private func renderReady(_ ready: TunnelRuntime.Ready) {
    let hops = ready.hops
    switch ready.mode {
    case .http:
      let url = ready.url ?? "http://\(ready.listen)/mcp"
      let tenant = ready.tenant?.rawValue ?? ""
      report(
        [
          "event": "ready", "listen": ready.listen.description, "url": url, "mode": "http", "tenant": tenant,
          "hops": hops, "target": ready.target.description,
          "token_expires_at": ready.tokenExpiresAt.map(Timestamp.string) ?? NSNull(), "session": ready.session,
        ],
        text: "ready: \(url) → tenant \(tenant)"
          + (ready.tokenExpiresAt.map { ", token valid until \(Timestamp.string($0))" } ?? ", no token yet")
          + " via \(hops.joined(separator: " → ")) (Ctrl-C to stop)",
        diagnostic: false)
    case .tcp:
      report(
        [
          "event": "ready", "listen": ready.listen.description, "mode": "tcp", "tenant": NSNull(), "hops": hops,
          "target": ready.target.description, "token_expires_at": NSNull(),
        ],
        text: "ready: tcp://\(ready.listen) → \(ready.target) via \(hops.joined(separator: " → ")) (Ctrl-C to stop)",
        diagnostic: false)
    }
  }

  /// One `--json` event on stdout, or a line of text (stderr unless `diagnostic` is false).
  private func report(_ object: [String: Any], text: String, diagnostic: Bool = true) {
    if json {
      output.writeResult(JSONLine.encode(object) + "\n")
    } else if diagnostic {
      output.writeDiagnostic(text + "\n")
    } else {
      output.writeResult(text + "\n")
    }
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
