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
      let line = ReadyEvent(ready)
      if json { output.writeResult(line.jsonLine + "\n") } else { output.writeResult(line.text + "\n") }
    case .reconnecting(let attempt, let delay, let reason):
      report(ReconnectingEvent(attempt: attempt, delayMs: Self.milliseconds(delay), reason: reason))
    case .reconnected(let hops, let attempts):
      report(ReconnectedEvent(hops: hops, attempts: attempts))
    case .channelFailed(let reason):
      if verbose { output.writeDiagnostic("channel failed: \(reason)\n") }
    case .tokenPending(let tenant, let summary, let fix):
      output.writeDiagnostic(
        "warning: no token for tenant \(tenant) yet: \(summary)\n" + (fix.map { "  fix: \($0)\n" } ?? "")
          + "  until then every request gets 503 with this fix; the tunnel keeps running and retries by itself\n")
    case .tokenMinted(let tenant, let expiresAt, let reason):
      if json {
        let line = TokenMintedEvent(
          tenant: tenant.rawValue, expiresAt: Timestamp.string(expiresAt), reason: reason.rawValue)
        output.writeResult(line.jsonLine + "\n")
      }
    case .tokenError(let tenant, let category, let summary, let fix, let retryIn):
      let line = TokenErrorEvent(
        tenant: tenant.rawValue, category: category.rawValue, message: summary, fix: fix, retryIn: retryIn)
      if json { output.writeResult(line.jsonLine + "\n") }
      output.writeDiagnostic(line.text)
    case .tenantSwitched(let from, let to):
      report(TenantSwitchedEvent(from: from.rawValue, tenant: to.rawValue))
    case .stopped(let reason):
      report(StoppedEvent(reason: reason))
    case .peerDenied(let denial):
      output.writeDiagnostic(Self.peerDeniedText(denial))
    case .elevated(let elevation):
      report(ElevatedEvent(tenant: elevation.tenant, scope: elevation.scope, endsAt: elevation.endsAt))
    case .elevationEnded(let tenant, let reason):
      report(ElevationEndedEvent(tenant: tenant.rawValue, reason: reason.rawValue))
    case .sessionEnding(let limit, let endsAt):
      let line = SessionEndingEvent(limit: limit.rawValue, endsAt: Timestamp.string(endsAt))
      if json { output.writeResult(line.jsonLine + "\n") }
      output.writeDiagnostic(line.text + "\n")
    case .stepUpRequired(let advice):
      let line = StepUpRequiredEvent(advice)
      if json { output.writeResult(line.jsonLine + "\n") }
      output.writeDiagnostic(line.text + "\n")
    }
  }

  /// A refused connection (`listen.peers`), on stderr in both output modes: `up` says it once per
  /// peer uid (or kind of failure); the audit log and `status` have every one.
  static func peerDeniedText(_ denial: ListenerPeerCheck.Denial) -> String {
    let listen = denial.connection.local
    let hatch =
      "  if other local users should be served: listen.peers = \"any-local-user\" or up --peers any-local-user\n"
    switch denial.reason {
    case .otherUser(let uid):
      let name = userName(uid).map { " (\($0))" } ?? ""
      return "warning: refused a connection to \(listen) from uid \(uid)\(name): only the user who runs up may use "
        + "this listener (listen.peers = \"same-user\"); further connections of uid \(uid) are refused silently "
        + "and recorded in the audit log\n" + hatch
    case .peerNotFound:
      return "warning: refused a connection to \(listen) from \(denial.connection.remote): its client socket could "
        + "not be found, so its owner is unknown; connections like it are refused and recorded in the audit log\n"
        + hatch
    case .lookupFailed(let why):
      return "warning: refused a connection to \(listen): the owner of its client socket cannot be looked up: "
        + "\(why); every connection is refused until that works\n" + hatch
    }
  }

  static func userName(_ uid: UInt32) -> String? {
    guard let pw = getpwuid(uid), let name = pw.pointee.pw_name else { return nil }
    return String(cString: name)
  }

  /// One `--json` event on stdout, or its line of text on stderr.
  private func report(_ line: some JSONOutputLine & TextRenderable) {
    if json {
      output.writeResult(line.jsonLine + "\n")
    } else {
      output.writeDiagnostic(line.text + "\n")
    }
  }

  static func milliseconds(_ d: Duration) -> Int64 {
    d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
  }

  /// Each hop as `user@host:port`, the local user standing in where the config names none.
  static func hopLabels(_ route: SSHRoute) -> [String] { route.hopNames(localUser: currentUser()) }

  static func currentUser() -> String {
    if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
    return ProcessInfo.processInfo.environment["USER"] ?? "root"
  }
}
