import Foundation
import TunnelCore

// The events `up --json` prints on stdout, one per line (SPEC §2), each beside its text line.
// `UpEventReporter` picks the stream: text goes to stderr, except `ready`'s, a result.

/// The listener accepts connections. http mode has the URL, the tenant ("" while none) and the
/// session; tcp mode has neither (their keys left out) and `null` tenant and token expiry.
struct ReadyEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "ready"
  var listen: String
  var url: String?
  var mode: String
  @NullWhenAbsent var tenant: String?
  var hops: [String]
  var target: String
  @NullWhenAbsent var tokenExpiresAt: String?
  var session: String?
  /// Where each hop came from (`~/.ssh/config:3: Host bastion`, `ssh.host`), parallel to `hops`.
  var hopOrigins: [String]?
  /// When `session.max_duration` ends the run (left out when it is "0s").
  var endsAt: String?
  /// When `session.idle_timeout` ends the run unless a call comes first (left out when "0s").
  var idleEndsAt: String?

  var text: String {
    let path = hops.joined(separator: " → ")
    let ends =
      (endsAt.map { ", session ends at \($0)" } ?? "")
      + (idleEndsAt.map { ", or at \($0) if idle" } ?? "")
    guard mode == ListenMode.http.rawValue else {
      return "ready: tcp://\(listen) → \(target) via \(path)\(ends) (Ctrl-C to stop)"
    }
    return "ready: \(url ?? "") → tenant \(tenant ?? "")"
      + (tokenExpiresAt.map { ", token valid until \($0)" } ?? ", no token yet")
      + " via \(path)\(ends) (Ctrl-C to stop)"
  }
}

extension ReadyEvent {
  init(_ ready: TunnelRuntime.Ready) {
    switch ready.mode {
    case .http:
      self.init(
        listen: ready.listen.description, url: ready.url ?? "http://\(ready.listen)/mcp", mode: "http",
        tenant: ready.tenant?.rawValue ?? "", hops: ready.hops, target: ready.target.description,
        tokenExpiresAt: ready.tokenExpiresAt.map(Timestamp.string), session: ready.session,
        hopOrigins: ready.hopOrigins.isEmpty ? nil : ready.hopOrigins, endsAt: ready.endsAt.map(Timestamp.string),
        idleEndsAt: ready.idleEndsAt.map(Timestamp.string))
    case .tcp:
      self.init(
        listen: ready.listen.description, url: nil, mode: "tcp", tenant: nil, hops: ready.hops,
        target: ready.target.description, tokenExpiresAt: nil, session: nil,
        hopOrigins: ready.hopOrigins.isEmpty ? nil : ready.hopOrigins, endsAt: ready.endsAt.map(Timestamp.string),
        idleEndsAt: ready.idleEndsAt.map(Timestamp.string))
    }
  }
}

/// The SSH path was lost; attempt `attempt` starts in `delay_ms`.
struct ReconnectingEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "reconnecting"
  var attempt: Int
  var delayMs: Int64
  var reason: String

  var text: String {
    "SSH path lost (\(reason)); reconnecting in \(DurationText.format(.milliseconds(delayMs))) (attempt \(attempt))"
  }
}

/// The SSH path is back.
struct ReconnectedEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "reconnected"
  var hops: [String]
  var attempts: Int

  var text: String { "SSH path is back after \(attempts) attempt(s)" }
}

/// A token was minted after `ready`: its expiry only, never the token. No text line.
struct TokenMintedEvent: JSONOutputLine, Equatable {
  let event = "token_minted"
  var tenant: String
  var expiresAt: String
  var reason: String
}

/// A mint failed. The warning goes to stderr with and without `--json`.
struct TokenErrorEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "token_error"
  var tenant: String
  var category: String
  var message: String
  var fix: String?
  /// When the next attempt starts. `retry_in_ms` carries its whole seconds; the text, all of it.
  var retryIn: Duration?

  var retryInMs: Int64? { retryIn.map { $0.components.seconds * 1000 } }

  var text: String {
    "warning: cannot mint a token for tenant \(tenant): \(message)"
      + (retryIn.map { " (retrying in \(DurationText.format($0)))" } ?? "") + "\n"
      + (fix.map { "  fix: \($0)\n" } ?? "")
  }

  private enum CodingKeys: String, CodingKey {
    case event, tenant, category, message, fix, retryInMs
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(event, forKey: .event)
    try container.encode(tenant, forKey: .tenant)
    try container.encode(category, forKey: .category)
    try container.encode(message, forKey: .message)
    try container.encodeIfPresent(fix, forKey: .fix)
    try container.encodeIfPresent(retryInMs, forKey: .retryInMs)
  }
}

/// `tenant use` switched the tenant; connections of the old one were closed.
struct TenantSwitchedEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "tenant_switched"
  var from: String
  var tenant: String

  var text: String { "tenant switched: \(from) → \(tenant); connections opened under \(from) were closed" }
}

/// A session limit ends the run at `ends_at` (SPEC §10); stderr in both output modes.
struct SessionEndingEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "session_ending"
  /// `max_duration` or `idle_timeout`.
  var limit: String
  var endsAt: String

  var text: String {
    limit == SessionLimit.idleTimeout.rawValue
      ? "warning: no call for a while: up stops at \(endsAt) (session.idle_timeout) unless a call comes first"
      : "warning: the session ends at \(endsAt) (session.max_duration): up stops then; start it again to go on"
  }
}

/// The MCP server refused a call for want of a stronger token (SPEC §10); stderr in both output
/// modes. `scope` and `acr_values` are space-separated as in the challenge; absent ones are `null`.
/// `run` is the command that satisfies it.
struct StepUpRequiredEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "step_up_required"
  var tenant: String
  /// `insufficient_scope` or `insufficient_user_authentication`.
  var error: String
  var status: Int
  @NullWhenAbsent var scope: String?
  @NullWhenAbsent var acrValues: String?
  @NullWhenAbsent var maxAge: Int?
  var run: String
  /// The sentence on stderr.
  var message: String

  var text: String { "warning: \(message)" }

  private enum CodingKeys: String, CodingKey {
    case event, tenant, error, status, scope, acrValues, maxAge, run
  }
}

extension StepUpRequiredEvent {
  init(_ advice: StepUpAdvice) {
    let challenge = advice.challenge
    self.init(
      tenant: advice.tenant.rawValue, error: challenge.kind.rawValue, status: challenge.status,
      scope: challenge.scopes.isEmpty ? nil : challenge.scopes.joined(separator: " "),
      acrValues: challenge.acrValues.isEmpty ? nil : challenge.acrValues.joined(separator: " "),
      maxAge: challenge.maxAge, run: advice.command, message: advice.message)
  }
}

/// The run is over: the signal's name, `max_duration`, `idle_timeout`, or `failed`.
struct StoppedEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "stopped"
  var reason: String

  var text: String {
    switch reason {
    case "failed": "stopped: the SSH path failed"
    case SessionLimit.maxDuration.rawValue: "stopped: the session reached session.max_duration"
    case SessionLimit.idleTimeout.rawValue: "stopped: no call within session.idle_timeout"
    default: "stopped (\(reason))"
    }
  }
}
