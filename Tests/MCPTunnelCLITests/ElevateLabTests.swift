import Foundation
import LabSupport
import TestTiers
import Testing
import TunnelCore

/// Issue 19 item 2 through the built binary and the whole lab: `up --json` (tenant acme), then
/// `mcp-tunnel elevate --tenant acme --scope mcp-admin --flow device`, approved by the lab user at
/// glewlwyd with the TOTP code its scope `mcp-admin` requires, exchanged at the RFC 8693 fixture (which
/// passes `mcp-admin` into the tenant token only because the IdP token carries it), handed to `up`
/// over the control socket; the MCP server's `whoami` then shows the scope for acme only, a
/// tenant switch drops it, and a short `--for` ends it by itself.
@Suite(
  "elevate (built binary, whole lab)", .tags(.lab), .wholeLab, .offPool, .serialized, .timeLimit(.minutes(6)))
struct ElevateLabTests {
  func whoami(_ lab: CLILab) async throws -> (tenant: String?, scopes: [String]) {
    let run = try await offPool {
      try lab.lab.mcpClient.run(url: lab.url, token: nil, headers: [:], ["call", "whoami"])
    }
    try #require(run.ok, "\(run)")
    return (run.result["tenant"] as? String, run.result["scopes"] as? [String] ?? [])
  }

  /// Runs `elevate --flow device --json` with `extra`, approves its code as the lab user with the
  /// step-up scope consented and (unless `secondFactor` is false) the TOTP code glewlwyd requires
  /// for it entered, and returns its exit status and stdout/stderr.
  func elevate(
    _ lab: CLILab, _ extra: [String], secondFactor: Bool = true
  ) async throws -> (status: Int32, stdout: String, stderr: String) {
    let command = try RunningCommand(
      BuiltBinary.mcpTunnel, ["elevate", "--flow", "device", "--json", "--config", lab.config] + extra,
      environment: lab.environment)
    defer { command.kill() }
    try await offPool {
      try waitUntil(timeout: .seconds(20), "the device_authorization event") {
        command.stdout.contains("device_authorization") || !command.isRunning
      }
    }
    let event = try #require(
      command.events.first { $0["event"] as? String == "device_authorization" }, "\(command.stdout)\n\(command.stderr)")
    let userCode = try #require(event["user_code"] as? String)
    try await lab.idp.approveDevice(userCode: userCode, scope: "openid mcp mcp-admin", secondFactor: secondFactor)
    let status = try await offPool { try command.waitForExit(timeout: .seconds(60)) }
    return (status, command.stdout, command.stderr)
  }

  func waitForEvent(_ up: RunningCommand, _ name: String, count: Int = 1) async throws {
    try await offPool {
      try waitUntil(timeout: .seconds(60), "\(count) \(name) event(s) from up") {
        up.events.filter { $0["event"] as? String == name }.count >= count || !up.isRunning
      }
    }
    try #require(up.isRunning, "up ended: \(up.stdout)\n\(up.stderr)")
  }

  /// `admin_echo` through `up`: nil when it answered, else the refusal's HTTP status and message.
  func adminEcho(_ lab: CLILab, _ text: String) async throws -> (status: Int?, message: String)? {
    let run = try await offPool {
      try lab.lab.mcpClient.run(url: lab.url, ["call", "admin_echo", #"{"text":"\#(text)"}"#])
    }
    if run.ok {
      #expect(run.result["text"] as? String == text, "\(run)")
      return nil
    }
    return (run.httpStatus, run.rpcError["message"] as? String ?? "\(run)")
  }

  /// An ordinary call: must work before, during and after every elevation.
  func echo(_ lab: CLILab) async throws {
    let run = try await offPool {
      try lab.lab.mcpClient.run(url: lab.url, ["call", "echo", #"{"text":"plain"}"#])
    }
    #expect(run.ok && run.result["text"] as? String == "plain", "\(run)")
  }

  @Test(
    "issue 19 done-when: admin_echo refused naming elevate; after elevate it works for acme only; refused again once the window ends; no restart"
  )
  func roundTrip() async throws {
    try await CLILab.withTunnel { lab, up in
      let before = try await whoami(lab)
      #expect(before.tenant == "acme" && !before.scopes.contains("mcp-admin"), "\(before)")
      let refused = try await adminEcho(lab, "before")
      #expect(refused?.status == 403, "\(String(describing: refused))")
      #expect(
        refused?.message.contains("mcp-tunnel elevate --tenant acme --scope mcp-admin") == true,
        "\(String(describing: refused))")
      try await echo(lab)

      let run = try await elevate(lab, ["--tenant", "acme", "--scope", "mcp-admin"])
      #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
      let result = try #require(LabJSONLines.parse(run.stdout).last)
      #expect(result["event"] as? String == "elevated" && result["tenant"] as? String == "acme", "\(run.stdout)")
      try await waitForEvent(up, "elevated")

      let elevated = try await whoami(lab)
      #expect(elevated.tenant == "acme" && elevated.scopes.contains("mcp-admin"), "\(elevated)")
      let allowed = try await adminEcho(lab, "elevated")
      #expect(allowed == nil, "admin_echo with the elevated token: \(String(describing: allowed))")
      try await echo(lab)
      let status = try lab.json(["status"])
      let elevation = (status["tunnel"] as? [String: Any])?["elevation"] as? [String: Any]
      #expect(elevation?["tenant"] as? String == "acme" && elevation?["ends_at"] is String, "\(status)")

      // A tenant switch drops it at once: the other tenant is refused, and switching back does
      // not bring it back.
      #expect(try lab.run(["tenant", "use", "globex"]).status == 0)
      try await waitForEvent(up, "elevation_ended")
      #expect(
        up.events.last { $0["event"] as? String == "elevation_ended" }?["reason"] as? String == "tenant_switch")
      let globex = try await whoami(lab)
      #expect(globex.tenant == "globex" && !globex.scopes.contains("mcp-admin"), "\(globex)")
      let otherTenant = try await adminEcho(lab, "globex")
      #expect(otherTenant?.status == 403, "not for another tenant: \(String(describing: otherTenant))")
      #expect(otherTenant?.message.contains("--tenant globex") == true, "\(String(describing: otherTenant))")
      try await echo(lab)
      #expect(try lab.run(["tenant", "use", "acme"]).status == 0)
      let back = try await whoami(lab)
      #expect(back.tenant == "acme" && !back.scopes.contains("mcp-admin"), "\(back)")
      #expect(try await adminEcho(lab, "back")?.status == 403)

      // A short --for: admin_echo works, then the window ends by itself (wait for the event) and
      // it is refused again, while ordinary calls never fail.
      let short = try await elevate(lab, ["--scope", "mcp-admin", "--for", "8s"])
      #expect(short.status == 0, "\(short.stdout)\n\(short.stderr)")
      try await waitForEvent(up, "elevated", count: 2)
      let rfc3339 = ISO8601DateFormatter()  // up's timestamps: seconds, UTC
      let endsAt = (up.events.last { $0["event"] as? String == "elevated" }?["ends_at"] as? String)
        .flatMap { rfc3339.date(from: $0) }
      let inWindow = try await adminEcho(lab, "window")
      // Refused only if the window was already over when the answer came (a very slow machine).
      #expect(inWindow == nil || endsAt.map { Date() >= $0 } == true, "\(String(describing: inWindow))")
      try await waitForEvent(up, "elevation_ended", count: 2)
      #expect(up.events.last { $0["event"] as? String == "elevation_ended" }?["reason"] as? String == "window")
      let ended = try await whoami(lab)
      #expect(ended.tenant == "acme" && !ended.scopes.contains("mcp-admin"), "\(ended)")
      let after = try await adminEcho(lab, "after")
      #expect(after?.status == 403, "refused again once the window is over: \(String(describing: after))")
      try await echo(lab)
      #expect(up.isRunning, "the same up all along")

      // The audit log has the elevation and the calls made with it, and no token.
      let (records, _) = try lab.auditTrail(last: 300)
      #expect(records.contains { $0["event"] as? String == "elevated" && $0["tenant"] as? String == "acme" })
      #expect(
        records.filter { $0["event"] as? String == "elevation_ended" }.compactMap { $0["detail"] as? String }
          == ["tenant_switch", "window"])
      let calls = records.filter { $0["event"] as? String == "call" && $0["tool"] as? String == "admin_echo" }
      // The SDK client may hang up once it has the answer's event, before the stream's closing
      // chunk: the proxy records that as completed (`client_closed_after_answer`), outcome ok.
      #expect(
        calls.contains {
          $0["elevated"] as? Bool == true && $0["status"] as? Int == 200 && $0["outcome"] as? String == "ok"
        },
        "\(calls)")
      let echoes = records.filter { $0["event"] as? String == "call" && $0["tool"] as? String == "echo" }
      #expect(echoes.count >= 4 && echoes.allSatisfy { $0["status"] as? Int == 200 }, "\(echoes)")
      #expect(try lab.run(["audit", "verify"]).status == 0)
    }
  }

  @Test("without the TOTP code glewlwyd silently drops mcp-admin: elevate exits 9 naming it, up stays ordinary")
  func withoutSecondFactor() async throws {
    try await CLILab.withTunnel { lab, up in
      let run = try await elevate(lab, ["--scope", "mcp-admin"], secondFactor: false)
      #expect(run.status == 9, "\(run.stdout)\n\(run.stderr)")
      #expect(run.stderr.contains("did not grant mcp-admin"), "\(run.stderr)")
      #expect(!up.events.contains { $0["event"] as? String == "elevated" })
      let after = try await whoami(lab)
      #expect(after.tenant == "acme" && !after.scopes.contains("mcp-admin"), "\(after)")
    }
  }

  @Test("without up: exit 2 naming mcp-tunnel up, before any prompt")
  func withoutUp() async throws {
    let lab = try await offPool { try CLILab(peers: [.ssh]) }
    defer { lab.stop() }
    let run = try lab.run(["elevate", "--scope", "mcp-admin", "--flow", "device"])
    #expect(run.status == 2, "\(run.output)")
    #expect(run.output.contains("mcp-tunnel up") && !run.output.contains("enter the code"), "\(run.output)")
  }
}
