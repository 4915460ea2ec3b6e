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

  @Test("elevate → whoami has mcp-admin for acme; tenant use globex drops it; --for 3s ends it by itself")
  func roundTrip() async throws {
    try await CLILab.withTunnel { lab, up in
      let before = try await whoami(lab)
      #expect(before.tenant == "acme" && !before.scopes.contains("mcp-admin"), "\(before)")

      let run = try await elevate(lab, ["--tenant", "acme", "--scope", "mcp-admin"])
      #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
      let result = try #require(LabJSONLines.parse(run.stdout).last)
      #expect(result["event"] as? String == "elevated" && result["tenant"] as? String == "acme", "\(run.stdout)")
      try await waitForEvent(up, "elevated")

      let elevated = try await whoami(lab)
      #expect(elevated.tenant == "acme" && elevated.scopes.contains("mcp-admin"), "\(elevated)")
      let status = try lab.json(["status"])
      let elevation = (status["tunnel"] as? [String: Any])?["elevation"] as? [String: Any]
      #expect(elevation?["tenant"] as? String == "acme" && elevation?["ends_at"] is String, "\(status)")

      // A tenant switch drops it at once, and switching back does not bring it back.
      #expect(try lab.run(["tenant", "use", "globex"]).status == 0)
      try await waitForEvent(up, "elevation_ended")
      #expect(
        up.events.last { $0["event"] as? String == "elevation_ended" }?["reason"] as? String == "tenant_switch")
      let globex = try await whoami(lab)
      #expect(globex.tenant == "globex" && !globex.scopes.contains("mcp-admin"), "\(globex)")
      #expect(try lab.run(["tenant", "use", "acme"]).status == 0)
      let back = try await whoami(lab)
      #expect(back.tenant == "acme" && !back.scopes.contains("mcp-admin"), "\(back)")

      // A short --for ends it by itself: wait for the event, then the ordinary token is back.
      let short = try await elevate(lab, ["--scope", "mcp-admin", "--for", "3s"])
      #expect(short.status == 0, "\(short.stdout)\n\(short.stderr)")
      try await waitForEvent(up, "elevation_ended", count: 2)
      #expect(up.events.last { $0["event"] as? String == "elevation_ended" }?["reason"] as? String == "window")
      let ended = try await whoami(lab)
      #expect(ended.tenant == "acme" && !ended.scopes.contains("mcp-admin"), "\(ended)")

      // The audit log has the elevation and the calls made with it, and no token.
      let (records, _) = try lab.auditTrail(last: 300)
      #expect(records.contains { $0["event"] as? String == "elevated" && $0["tenant"] as? String == "acme" })
      #expect(
        records.filter { $0["event"] as? String == "elevation_ended" }.compactMap { $0["detail"] as? String }
          == ["tenant_switch", "window"])
      let calls = records.filter { $0["event"] as? String == "call" && $0["tool"] as? String == "whoami" }
      #expect(calls.filter { $0["elevated"] as? Bool == true }.count == 1, "\(calls)")
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
