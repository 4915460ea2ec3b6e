import Foundation
import LabSupport
import Testing
import TunnelCore

/// Issue 17 item 4 against the whole lab: a client process of another local user (uid 65534, made
/// with `setpriv`) gets nothing from `up --mode http` — the connection is closed before a byte is
/// read, so the MCP server never sees the request — while the owner's SDK client keeps working;
/// `status` counts the refusal, stderr names the uid once, the audit log has it with the uid.
extension UpHTTPCommandTests {
  /// Runs `arguments` as uid/gid 65534 with no supplementary groups (needs root).
  static func asNobody(_ arguments: [String]) throws -> LabCommandResult {
    try LabCommand.run(
      "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups"] + arguments,
      environment: ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent"], timeout: .seconds(60))
  }

  @Test(
    "issue 17: another local user's curl is refused before the proxy reads a byte; the owner's calls go on; denied + peer_uid in the audit log",
    .enabled(if: geteuid() == 0, "setpriv --reuid needs root"))
  func otherLocalUserRefused() async throws {
    try await CLILab.withTunnel { lab, up in
      let port = try #require(lab.listen?.port)
      #expect(try await client(lab, ["call", "whoami"]).ok, "the owner's call before")
      let seenBefore = try lab.lab.mcp().requestLog().count
      let body = #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
      let curl = try await offPool {
        try Self.asNobody([
          "/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30", "-X", "POST",
          "-H", "Content-Type: application/json", "-H", "Accept: application/json, text/event-stream",
          "--data", body, "http://127.0.0.1:\(port)/mcp",
        ])
      }
      // 52: empty reply from server; 56: connection reset — never an HTTP answer.
      #expect([52, 56].contains(curl.status) && curl.stdout == "000", "\(curl.status) \(curl.stdout) \(curl.stderr)")
      _ = try await offPool {
        try Self.asNobody(["/usr/bin/curl", "-sS", "--max-time", "30", "http://127.0.0.1:\(port)/mcp"])
      }

      let whoami = try await client(lab, ["call", "whoami"])
      #expect(whoami.ok && whoami.result["tenant"] as? String == "acme", "the owner's call after: \(whoami)")
      let log = try lab.lab.mcp().requestLog()
      #expect(
        log.dropFirst(seenBefore).allSatisfy { ($0["token"] as? [String: Any])?["tenant"] as? String == "acme" },
        "only the owner's requests reached the MCP server")

      let tunnel = try #require(try lab.json(["status"])["tunnel"] as? [String: Any])
      #expect((tunnel["counters"] as? [String: Any])?["denied"] as? Int == 2, "\(tunnel)")
      #expect(tunnel["peers"] as? String == "same-user")
      let warnings = up.stderr.components(separatedBy: "\n").filter { $0.contains("from uid 65534") }
      #expect(warnings.count == 1, "once per uid, not per connection: \(up.stderr)")

      up.signal(SIGTERM)
      #expect(try up.waitForExit(timeout: .seconds(15)) == 0, "\(up.stderr)")
      let (records, _) = try lab.auditTrail(last: 200)
      let denied = records.filter { $0["event"] as? String == "denied" && $0["peer_uid"] != nil }
      #expect(denied.count == 2, "\(records)")
      #expect(denied.allSatisfy { $0["peer_uid"] as? Int == 65534 && $0["outcome"] as? String == "denied" })
      #expect(try lab.run(["audit", "verify"]).status == 0)
    }
  }
}
