import Foundation
import LabSupport
import Synchronization
import TestTiers
import Testing
import TunnelCore

/// Hardening: faults injected into the real lab while the built `mcp-tunnel up` serves MCP calls.
/// Each test ends with the tunnel serving again (a successful call) or a clear answer (an exit code
/// and message with a fix, or a `503` JSON body with one). Recovery times are printed, not asserted,
/// except the deadlines the issue states, with generous bounds for this loaded machine.
@Suite(
  "faults: bastion, IdP, token exchange (built binary, whole lab)", .tags(.lab), .wholeLab, .offPool, .serialized,
  .timeLimit(.minutes(6)))
struct FaultTests {
  @Test(
    "bastion sshd killed, restarted under continuous calls: listener stays bound, calls recover, SSE call fails cleanly"
  )
  func bastionKilledAndRestarted() async throws {
    try await CLILab.withTunnel { lab, up in
      let ssh = try lab.lab.sshLab()
      let mcp = try lab.lab.mcp()
      let port = try #require(lab.listen?.port)
      let baseline = await offPoolCall(port)
      #expect(baseline.ok, "\(baseline)")

      // A slow SSE tool call (400 × 250 ms: 100 s, far longer than anything before the kill, so that
      // it is still streaming when the bastion dies however slow this machine is): wait until its
      // session is set up (the server logs a request once answered), then give the call a moment.
      let sessionsBefore = mcp.requestLog().filter { $0["rpc_method"] as? String == "notifications/initialized" }.count
      let inFlightStart = Date()
      let inFlight = Task {
        let result = try await offPool {
          try lab.lab.mcpClient.run(url: lab.url, ["stream", "400", "250"], timeout: .seconds(150))
        }
        return (result, Date())
      }
      try await offPool {
        try waitUntil(timeout: .seconds(30), "the streaming client's session") {
          mcp.requestLog().filter { $0["rpc_method"] as? String == "notifications/initialized" }.count > sessionsBefore
        }
      }
      try await Task.sleep(for: .milliseconds(1500))

      let calls = CallLoop(port: port)
      calls.start()
      try await Task.sleep(for: .seconds(2))
      let killedAt = Date()
      ssh.killBastion()
      // The path is dead once up says it reconnects; only then does the outage start to count.
      try await offPool {
        try waitUntil(timeout: .seconds(60), "up to report the lost SSH path") {
          up.events.contains { $0["event"] as? String == "reconnecting" }
        }
      }
      // Down for 12 s more (long enough for the reconnect backoff to grow past 5 s): the listener
      // must stay bound the whole time. The next attempt the backoff has scheduled is noted as each
      // `reconnecting` event is seen (a little late, which only favours the backoff below).
      var unbound = 0
      var seenReconnecting = 0
      var backoffAttemptAt = Date.distantPast
      for _ in 0..<60 {
        if !LabNetwork.isListening(port: port) { unbound += 1 }
        let reconnecting = up.events.filter { $0["event"] as? String == "reconnecting" }
        if reconnecting.count > seenReconnecting, let delay = (reconnecting.last?["delay_ms"] as? NSNumber)?.doubleValue
        {
          seenReconnecting = reconnecting.count
          backoffAttemptAt = Date().addingTimeInterval(delay / 1000)
        }
        try await Task.sleep(for: .milliseconds(200))
      }
      let returnedAt = Date()
      try ssh.startBastion()
      try await offPool {
        try waitUntil(timeout: .seconds(60), "a successful call after the bastion returned") {
          calls.firstSuccess(startedAfter: returnedAt) != nil
        }
      }
      try await Task.sleep(for: .seconds(1))
      try calls.stop()
      let (slow, slowEnded) = try await inFlight.value

      #expect(unbound == 0, "the listener unbound during the outage (\(unbound) of 60 probes refused)")
      let recovered = try #require(calls.firstSuccess(startedAfter: returnedAt))
      let recovery = recovered.ended.timeIntervalSince(returnedAt)
      // Calls made while the bastion was down: they wait for the path (up to 20 s), or get a 502.
      let outage = calls.snapshot.filter { $0.started >= killedAt && $0.started < returnedAt }
      print(
        "fault bastion: down \(Self.seconds(returnedAt.timeIntervalSince(killedAt))), bastion return → first successful call "
          + "\(Self.seconds(recovery)) (target 2 s, limit 5 s); \(outage.count) calls started during the outage: "
          + "\(Self.histogram(outage.map { $0.ok ? "ok" : $0.status.map(String.init) ?? "no answer" })), slowest "
          + "\(Self.seconds(outage.map(\.duration).max() ?? 0)); in-flight SSE call: \(slow.ok ? "ok" : "failed") "
          + "\(Self.seconds(slowEnded.timeIntervalSince(killedAt))) after the kill (client started "
          + "\(Self.seconds(killedAt.timeIntervalSince(inFlightStart))) before it): \(slow.object["error"] ?? "")")
      // Issue: within 5 s of the bastion's return, whatever the outage's length, because a waiting
      // client makes the forwarder retry within a second instead of at the end of its backoff. The
      // time is printed above; what is asserted is the order of events that makes it short: when
      // the backoff's next attempt was still more than 2 s away at the return, the first successful
      // call came before it.
      if backoffAttemptAt > returnedAt.addingTimeInterval(2) {
        #expect(
          recovered.ended < backoffAttemptAt,
          """
          the first successful call (\(recovery) s after the return) waited for the backoff, which was due \
          \(backoffAttemptAt.timeIntervalSince(returnedAt)) s after the return
          """)
      }
      // Calls during the outage are answered (502 JSON or a closed connection), never left hanging.
      for call in outage where !call.ok {
        #expect(call.status == 502 || call.status == 503, "\(call)")
        #expect(call.jsonBody?["fix"] is String, "\(call)")
      }
      #expect(outage.allSatisfy { $0.duration < 35 }, "no call hangs: \(outage.map(\.duration))")
      #expect(slowEnded.timeIntervalSince(killedAt) < 30, "the in-flight call ended soon after the kill")
      // The in-flight SSE call ends with an error the client sees, not a hang and not a fake success.
      #expect(!slow.ok, "the slow call cannot have completed over a dead SSH path: \(slow)")
      #expect(up.isRunning, "up keeps running: \(up.stderr)")
      #expect(up.events.contains { $0["event"] as? String == "reconnected" }, "\(up.stdout)")
      let after = await offPoolCall(port)
      #expect(after.ok, "\(after)")
    }
  }

  @Test(
    "IdP down while the tenant token is valid: calls keep working until expiry, then 503 with the fix; service resumes by itself",
    arguments: ["killed", "frozen"])
  func identityProviderDown(fault: String) async throws {
    // glewlwyd access tokens of 30 s: every tenant mint needs a refresh at the IdP.
    try await CLILab.withTunnel(sessionTokenTTL: 20, idpAccessTokenTTL: 30) { lab, up in
      let port = try #require(lab.listen?.port)
      let ready = try #require(up.events.first { $0["event"] as? String == "ready" })
      var expiresAt = try #require(Self.date(ready["token_expires_at"]))
      #expect(await offPoolCall(port).ok)
      // The token most recently minted before the fault is the one that must carry the calls.
      if let latest = up.events.last(where: { $0["event"] as? String == "token_minted" }),
        let date = Self.date(latest["expires_at"])
      {
        expiresAt = max(expiresAt, date)
      }
      let downAt = Date()
      if fault == "killed" { lab.idp.kill() } else { lab.idp.freeze() }
      defer { if fault == "frozen" { lab.idp.thaw() } }

      // Until 3 s before expiry every call works with the token in hand.
      var beforeExpiry: [RawMCP.Outcome] = []
      while Date() < expiresAt.addingTimeInterval(-3) {
        beforeExpiry.append(await offPoolCall(port))
        try await Task.sleep(for: .milliseconds(700))
      }
      #expect(!beforeExpiry.isEmpty)
      #expect(beforeExpiry.allSatisfy { $0.ok }, "\(beforeExpiry.filter { !$0.ok })")

      // After expiry: 503 with error/message/fix, answered in bounded time even with a hung IdP.
      while Date() < expiresAt.addingTimeInterval(1) { try await Task.sleep(for: .milliseconds(200)) }
      let refused = await offPoolCall(port)
      #expect(refused.status == 503, "\(refused)")
      let body = try #require(refused.jsonBody, "\(refused)")
      #expect(body["error"] is String && body["message"] is String, "\(body)")
      #expect((body["fix"] as? String)?.isEmpty == false, "\(body)")
      #expect(refused.duration < 40, "answered within the IdP timeouts: \(refused.duration) s")
      // The re-mint fails when its own IdP timeout runs out, which may be after this 503 (a frozen
      // IdP): wait for the event itself.
      try await offPool {
        try waitUntil(timeout: .seconds(120), "the token_error event") {
          up.stdout.contains(#""event":"token_error""#) || !up.isRunning
        }
      }
      let tokenError = try #require(
        up.events.first { $0["event"] as? String == "token_error" }, "the failed re-mint is reported: \(up.stdout)")
      #expect(tokenError["fix"] is String, "\(tokenError)")
      #expect(up.isRunning)

      let backAt = Date()
      if fault == "killed" { try lab.idp.restart() } else { lab.idp.thaw() }
      // Recovery by itself, or — when a refresh whose answer was lost reached the IdP (a hung IdP
      // works through its backlog when it resumes) — glewlwyd's reuse detection revokes the grant:
      // then a clear 503 naming `mcp-tunnel login`, and a login heals `up` without a restart.
      var recovered: RawMCP.Outcome?
      var loginLost: RawMCP.Outcome?
      var afterReturn: [RawMCP.Outcome] = []
      while recovered == nil, loginLost == nil, Date().timeIntervalSince(backAt) < 60 {
        let call = await offPoolCall(port)
        afterReturn.append(call)
        if call.ok {
          recovered = call
        } else if (call.jsonBody?["fix"] as? String)?.contains("mcp-tunnel login") == true {
          loginLost = call
        } else {
          try await Task.sleep(for: .milliseconds(500))
        }
      }
      for call in afterReturn where !call.ok {
        #expect(call.status == 503 && call.jsonBody?["fix"] is String, "\(call)")
      }
      var outcome = "recovered by itself"
      if let lost = loginLost {
        outcome = "login lost (\(lost.jsonBody?["error"] ?? "")), healed by a new login"
        #expect(fault == "frozen", "only a hung IdP can have a refresh answer lost: \(lost)\n\(up.stderr)")
        #expect(try lab.storedRefreshToken() == nil, "the revoked entry is deleted")
        try await lab.logIn()
        try await Task.sleep(for: .milliseconds(1100))  // past the broker's failure cooldown
        let call = await offPoolCall(port)
        #expect(call.ok, "no restart needed after login: \(call)")
        recovered = call.ok ? call : nil
      }
      let first = try #require(recovered, "service did not resume within 60 s: \(afterReturn.suffix(3))\n\(up.stderr)")
      print(
        "fault IdP \(fault): token expired \(Self.seconds(expiresAt.timeIntervalSince(downAt))) after the fault, "
          + "\(beforeExpiry.count) calls ok before expiry, after expiry \(refused.status.map(String.init) ?? "-") in "
          + "\(Self.seconds(refused.duration)); IdP back → \(outcome); first successful call "
          + "\(Self.seconds(first.ended.timeIntervalSince(backAt))) after the IdP's return (\(afterReturn.count) calls)"
      )
      #expect(
        up.events.contains {
          $0["event"] as? String == "token_minted" && Self.date($0["expires_at"]) ?? .distantPast > backAt
        })
      #expect(up.isRunning)
      // The login is valid at the end: the stored refresh token still works.
      #expect(try await offPool { try lab.run(["status", "--verify"]) }.status == 0)
    }
  }

  @Test("token exchange failing, then stalled: clear errors with exit 5, bounded waits, backoff, recovery")
  func tokenExchangeFailingAndStalled() async throws {
    try await CLILab.withTunnel(sessionTokenTTL: 20) { lab, up in
      let sts = try lab.lab.sts()
      let port = try #require(lab.listen?.port)
      let ready = try #require(up.events.first)
      let expiresAt = try #require(Self.date(ready["token_expires_at"]))
      #expect(await offPoolCall(port).ok)

      // Failing (503): a tenant switch fails at once with exit 5 and changes nothing.
      let failingSince = Date()
      try await sts.setMode(.fail(status: 503))
      let switchFailed = try await offPool { try lab.run(["tenant", "use", "globex"]) }
      #expect(switchFailed.status == 5, "\(switchFailed.output)")
      #expect(switchFailed.output.contains("fix"), "\(switchFailed.output)")
      #expect(try lab.json(["tenant", "current"])["tenant"] as? String == "acme")
      // The token in hand keeps serving until it expires; then 503 with a fix.
      let whileValid = await offPoolCall(port)
      #expect(whileValid.ok, "\(whileValid)")
      while Date() < expiresAt.addingTimeInterval(1) { try await Task.sleep(for: .milliseconds(250)) }
      let refused = await offPoolCall(port)
      #expect(refused.status == 503, "\(refused)")
      #expect((refused.jsonBody?["fix"] as? String)?.isEmpty == false, "\(refused)")
      let tokenError = try #require(
        up.events.first { $0["event"] as? String == "token_error" && $0["tenant"] as? String == "acme" }, "\(up.stdout)"
      )
      #expect(tokenError["retry_in_ms"] is Int, "the scheduled re-mint says when it retries: \(tokenError)")
      #expect(tokenError["fix"] is String)
      try await Task.sleep(for: .seconds(6))
      // Backoff: the scheduler's retries spread out (1 s doubling), the exchange is not hammered.
      let failed = sts.requestLog().filter { $0["event"] as? String == "token" && $0["mode"] as? String == "fail" }
      let times = failed.compactMap { ($0["ts"] as? NSNumber)?.doubleValue }
      let gaps = zip(times, times.dropFirst()).map { $1 - $0 }
      let failingFor = Date().timeIntervalSince(failingSince)
      #expect(failed.count >= 3, "the re-mint is retried: \(failed.count) requests")
      #expect(Double(failed.count) <= failingFor / 2 + 3, "\(failed.count) requests in \(failingFor) s: \(gaps)")

      let normalAt = Date()
      try await sts.setMode(.normal)
      var recovered: RawMCP.Outcome?
      while recovered == nil, Date().timeIntervalSince(normalAt) < 45 {
        let call = await offPoolCall(port)
        if call.ok { recovered = call } else { try await Task.sleep(for: .milliseconds(300)) }
      }
      let first = try #require(recovered, "no recovery after the exchange came back: \(up.stderr)")

      // Stalled: a mint waits at most the HTTP timeout, then fails with exit 5; calls carrying the
      // valid token are not held up meanwhile.
      try await sts.setMode(.stall(seconds: 120))
      let stalledStart = Date()
      let stalledSwitch = try await offPool { try lab.run(["tenant", "use", "globex"]) }
      let stalledFor = Date().timeIntervalSince(stalledStart)
      let duringStall = await offPoolCall(port)
      try await sts.setMode(.normal)
      #expect(stalledSwitch.status == 5, "a stalled exchange is an IdP/token endpoint error: \(stalledSwitch.output)")
      #expect(stalledSwitch.output.contains("fix"), "\(stalledSwitch.output)")
      #expect(stalledFor < 60, "bounded by the HTTP timeouts: \(stalledFor) s")
      #expect(duringStall.ok, "\(duringStall)")

      let switched = try await offPool { try lab.run(["tenant", "use", "globex"]) }
      #expect(switched.status == 0, "\(switched.output)")
      let whoami = await offPoolCall(port)
      #expect(whoami.ok && whoami.detail.contains("globex"), "\(whoami)")
      print(
        "fault token exchange: fail(503) → tenant use exit \(switchFailed.status); after expiry \(refused.status.map(String.init) ?? "-"); "
          + "\(failed.count) exchange attempts in \(Self.seconds(failingFor)) (gaps \(gaps.map { Self.seconds($0) })); "
          + "back → first successful call \(Self.seconds(first.ended.timeIntervalSince(normalAt))); "
          + "stall → tenant use exit \(stalledSwitch.status) after \(Self.seconds(stalledFor)), calls meanwhile ok: \(duringStall.ok)"
      )
    }
  }

  // MARK: helpers

  static func date(_ value: Any?) -> Date? {
    guard let text = value as? String else { return nil }
    return ISO8601DateFormatter().date(from: text)
  }

  static func seconds(_ value: TimeInterval) -> String { String(format: "%.2f s", value) }

  static func histogram(_ values: [String]) -> String {
    Dictionary(grouping: values, by: { $0 }).map { "\($0.key)×\($0.value.count)" }.sorted().joined(separator: ", ")
  }
}

/// One whoami call off the cooperative pool.
func offPoolCall(_ port: Int, seconds: Int = 45) async -> RawMCP.Outcome {
  (try? await offPool { RawMCP.whoami(port: port, seconds: seconds) })
    ?? RawMCP.Outcome(started: Date(), ended: Date(), status: nil, ok: false, detail: "offPool failed")
}

/// An MCP call as raw HTTP/1.1 through the proxy, one connection per request (`Connection: close`):
/// `initialize`, `notifications/initialized`, `tools/call whoami`. Cheaper than the SDK client (no
/// Python start-up), so recovery times measure the tunnel, not the client.
enum RawMCP {
  struct Outcome: Sendable, CustomStringConvertible {
    var started: Date
    var ended: Date
    /// The HTTP status of the last request made (nil: no HTTP answer at all).
    var status: Int?
    var ok: Bool
    /// The failing step and what came back, or the tool result.
    var detail: String
    var duration: TimeInterval { ended.timeIntervalSince(started) }
    /// The body of a JSON error answer (`{"error","message","fix"}`).
    var jsonBody: [String: Any]? {
      guard let start = detail.firstIndex(of: "{") else { return nil }
      return (try? JSONSerialization.jsonObject(with: Data(detail[start...].utf8))) as? [String: Any]
    }
    var description: String {
      "\(ok ? "ok" : "failed") \(status.map(String.init) ?? "-") in \(String(format: "%.2f", duration)) s: \(detail.prefix(400))"
    }
  }

  static func post(
    port: Int, _ body: String, session: String?, seconds: Int
  ) throws -> (
    status: Int, session: String?, body: String
  ) {
    let text = try RawHTTP.exchange(
      port: port,
      "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
        + "Accept: application/json, text/event-stream\r\n" + (session.map { "Mcp-Session-Id: \($0)\r\n" } ?? "")
        + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)", seconds: seconds)
    guard let split = text.range(of: "\r\n\r\n") else { throw LabError("no HTTP answer: \(text.prefix(200))") }
    let head = text[..<split.lowerBound].split(separator: "\r\n")
    let fields = head.first?.split(separator: " ") ?? []
    guard fields.count >= 2, let status = Int(fields[1]) else { throw LabError("bad status line: \(text.prefix(200))") }
    let session = head.dropFirst().first { $0.lowercased().hasPrefix("mcp-session-id:") }.map {
      $0.dropFirst("mcp-session-id:".count).trimmingCharacters(in: .whitespaces)
    }
    return (status, session, String(text[split.upperBound...]))
  }

  static func whoami(port: Int, seconds: Int = 30) -> Outcome {
    let started = Date()
    var status: Int?
    func outcome(_ ok: Bool, _ detail: String) -> Outcome {
      Outcome(started: started, ended: Date(), status: status, ok: ok, detail: detail)
    }
    do {
      let initialize = try post(
        port: port,
        #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fault-tests","version":"1"}}}"#,
        session: nil, seconds: seconds)
      status = initialize.status
      guard initialize.status == 200, let session = initialize.session else {
        return outcome(false, "initialize: \(initialize.body)")
      }
      let initialized = try post(
        port: port, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, session: session, seconds: seconds)
      status = initialized.status
      guard initialized.status == 202 else { return outcome(false, "notifications/initialized: \(initialized.body)") }
      let call = try post(
        port: port, #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#,
        session: session, seconds: seconds)
      status = call.status
      let ok = call.status == 200 && call.body.contains("\"result\"") && !call.body.contains("\"isError\":true")
      return outcome(ok, "tools/call: \(call.body)")
    } catch {
      return outcome(false, "\(error)")
    }
  }
}

/// Whoami calls one after another on a thread of their own until `stop()`, each recorded.
final class CallLoop: Sendable {
  let port: Int
  private let state = Mutex<(calls: [RawMCP.Outcome], stop: Bool, running: Bool)>(([], false, false))

  init(port: Int) { self.port = port }

  func start(pause: Duration = .milliseconds(200)) {
    state.withLock { $0.running = true }
    let micros = useconds_t(pause.components.seconds * 1_000_000 + pause.components.attoseconds / 1_000_000_000_000)
    Thread { [self] in
      while !state.withLock({ $0.stop }) {
        let outcome = RawMCP.whoami(port: port, seconds: 40)
        state.withLock { $0.calls.append(outcome) }
        usleep(micros)  // off-pool: the call loop's own thread
      }
      state.withLock { $0.running = false }
    }.start()
  }

  func stop() throws {
    state.withLock { $0.stop = true }
    try waitUntil(timeout: .seconds(60), "the call loop to stop") { !state.withLock { $0.running } }
  }

  var snapshot: [RawMCP.Outcome] { state.withLock { $0.calls } }

  func firstSuccess(startedAfter date: Date) -> RawMCP.Outcome? {
    snapshot.first { $0.ok && $0.started >= date }
  }
}
