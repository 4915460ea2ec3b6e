import Foundation
import LabSupport
import TestTiers
import Testing
import TunnelCore

/// Issue 19 item 1 (SPEC §10): the lab MCP server's step-up tools through the built binary and the
/// whole lab. `admin_echo` answers `403 insufficient_scope` (the lab's tenant tokens never carry
/// `mcp-admin` without `elevate`) and `recent_login_echo` `401 insufficient_user_authentication`
/// (glewlwyd issues no `acr`). `up` answers each with the server's status and a JSON-RPC error
/// naming `mcp-tunnel elevate`, says so once on stdout (`--json`) and stderr, audits every call,
/// and retries nothing.
@Suite(
  "step-up challenges through up (built binary, whole lab)", .tags(.lab), .wholeLab, .offPool, .serialized,
  .timeLimit(.minutes(6)))
struct StepUpLabTests {
  static let elevateScope = "mcp-tunnel elevate --tenant acme --scope mcp-admin"

  func client(_ lab: CLILab, _ command: [String]) async throws -> MCPClientResult {
    try await offPool { try lab.lab.mcpClient.run(url: lab.url, command) }
  }

  /// The `step_up_required` audit records, waiting until there are at least `count`.
  func stepUpRecords(_ lab: CLILab, atLeast count: Int) async throws -> [[String: Any]] {
    @Sendable func read() -> [[String: Any]] {
      ((try? lab.auditTrail(last: 500).records) ?? []).filter { $0["event"] as? String == "step_up_required" }
    }
    try await offPool {
      try waitUntil(timeout: .seconds(30), "\(count) step_up_required audit records") { read().count >= count }
    }
    return read()
  }

  func stepUpEvents(_ up: RunningCommand) -> [[String: Any]] {
    up.events.filter { $0["event"] as? String == "step_up_required" }
  }

  @Test(
    "1: admin_echo/recent_login_echo → 403/401 + JSON-RPC error naming elevate, one event each, audited, no retry")
  func challenges() async throws {
    try await CLILab.withTunnel { lab, up in
      // Two identical refused calls with the SDK client: the error it surfaces is the proxy's.
      for _ in 0..<2 {
        let refused = try await client(lab, ["call", "admin_echo", #"{"text":"x"}"#])
        #expect(!refused.ok && refused.httpStatus == 403, "\(refused)")
        let error = refused.rpcError
        #expect(error["code"] as? Int == -32003, "\(refused)")
        let message = error["message"] as? String ?? ""
        #expect(message.contains("scope mcp-admin") && message.contains("run: \(Self.elevateScope)"), "\(message)")
        let data = error["data"] as? [String: Any] ?? [:]
        #expect(data["error"] as? String == "insufficient_scope" && data["scope"] as? String == "mcp mcp-admin")
        #expect(data["tenant"] as? String == "acme" && (data["run"] as? String)?.hasPrefix(Self.elevateScope) == true)
      }
      _ = try await stepUpRecords(lab, atLeast: 2)

      // An ordinary call right after works on the same tunnel.
      let echo = try await client(lab, ["call", "echo", #"{"text":"after"}"#])
      #expect(echo.ok && echo.result["text"] as? String == "after", "\(echo)")

      // RFC 9470: the 401 comes through as a 401 with what the server wants.
      let recent = try await client(lab, ["call", "recent_login_echo", #"{"text":"y"}"#])
      #expect(!recent.ok && recent.httpStatus == 401, "\(recent)")
      let recentData = recent.rpcError["data"] as? [String: Any] ?? [:]
      #expect(recentData["acr_values"] as? String == "phr" && recentData["max_age"] as? Int == 300, "\(recent)")
      #expect((recent.rpcError["message"] as? String)?.contains("acr phr and no older than 300 s") == true)

      // A raw request: the status is the server's, its challenge is not relayed (USE-06).
      let port = try #require(lab.listen?.port)
      let body = #"{"jsonrpc":"2.0","id":"raw-1","method":"tools/call","params":{"name":"admin_echo","arguments":{}}}"#
      let raw = try await offPool {
        try RawHTTP.exchange(
          port: port,
          "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
            + "Accept: application/json, text/event-stream\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n\(body)")
      }
      #expect(raw.hasPrefix("HTTP/1.1 403"), "\(raw)")
      #expect(!raw.lowercased().contains("www-authenticate"), "\(raw)")
      let rawJSON = raw.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
      let rawObject = try #require(
        try JSONSerialization.jsonObject(with: Data(rawJSON.utf8)) as? [String: Any], "\(raw)")
      #expect(rawObject["id"] as? String == "raw-1" && rawObject["jsonrpc"] as? String == "2.0")

      // Events: one per distinct challenge, though admin_echo was refused three times.
      let records = try await stepUpRecords(lab, atLeast: 4)
      try await offPool {
        try waitUntil(timeout: .seconds(120), "the recent_login_echo event") {
          stepUpEvents(up).contains { $0["error"] as? String == "insufficient_user_authentication" }
        }
        // stderr is read by a thread of its own: its line may trail the stdout events.
        try? waitUntil(timeout: .seconds(120), "the step-up line on stderr") { up.stderr.contains(Self.elevateScope) }
      }
      let events = stepUpEvents(up)
      #expect(events.count == 2, "\(events)")
      let scopeEvent = try #require(events.first)
      #expect(scopeEvent["tenant"] as? String == "acme" && scopeEvent["scope"] as? String == "mcp mcp-admin")
      #expect(
        scopeEvent["acr_values"] is NSNull && scopeEvent["max_age"] is NSNull && scopeEvent["status"] as? Int == 403)
      #expect((scopeEvent["run"] as? String)?.hasPrefix(Self.elevateScope) == true)
      let recentEvent = try #require(events.last)
      #expect(recentEvent["acr_values"] as? String == "phr" && recentEvent["max_age"] as? Int == 300)
      #expect(recentEvent["scope"] is NSNull && recentEvent["status"] as? Int == 401)
      #expect(up.stderr.components(separatedBy: Self.elevateScope).count == 2, "one stderr line: \(up.stderr)")

      // Audit: every refused call, with the challenge; no call record for them; the chain verifies.
      let admin = records.filter { $0["tool"] as? String == "admin_echo" }
      #expect(admin.count == 3, "\(records)")
      #expect(
        admin.allSatisfy {
          $0["status"] as? Int == 403 && $0["outcome"] as? String == "denied" && $0["tenant"] as? String == "acme"
            && ($0["detail"] as? String)?.contains(#"scope="mcp mcp-admin""#) == true
        }, "\(admin)")
      let recentRecord = try #require(records.first { $0["tool"] as? String == "recent_login_echo" })
      #expect((recentRecord["detail"] as? String)?.contains(#"acr_values="phr"; max_age=300"#) == true)
      let (trail, _) = try lab.auditTrail(last: 500)
      #expect(!trail.contains { $0["event"] as? String == "call" && $0["tool"] as? String == "admin_echo" })
      #expect(trail.contains { $0["event"] as? String == "call" && $0["tool"] as? String == "echo" })
      #expect(try lab.run(["audit", "verify"]).status == 0)

      // No retry: the MCP server saw each refused call once, and never a rejected token.
      let log = try lab.lab.mcp().requestLog()
      #expect(log.filter { $0["status"] as? Int == 403 }.count == 3, "\(log)")
      #expect(log.filter { $0["status"] as? Int == 401 }.count == 1, "\(log)")
      #expect(log.allSatisfy { $0["rejected"] == nil })
      #expect(up.isRunning)
    }
  }

  @Test("2: stdio through up: the JSON-RPC error reaches the stdio client unchanged")
  func stdioThroughUp() async throws {
    try await CLILab.withTunnel { lab, up in
      let http = try await client(lab, ["call", "admin_echo", #"{"text":"x"}"#])
      let stdio = try await StdioCommandTests().stdioClient(lab, ["call", "admin_echo", #"{"text":"x"}"#])
      #expect(!stdio.ok, "\(stdio)")
      #expect(stdio.stderr.contains("running up"), "\(labTail(stdio.stderr))")
      let error = stdio.rpcError
      #expect(error["code"] as? Int == -32003, "\(stdio)")
      #expect(error["message"] as? String == http.rpcError["message"] as? String, "the proxy's words, unchanged")
      let data = try #require(error["data"] as? [String: Any], "\(stdio)")
      let httpData = http.rpcError["data"] as? [String: Any] ?? [:]
      #expect(NSDictionary(dictionary: data).isEqual(to: httpData), "\(data) vs \(httpData)")
      let records = try await stepUpRecords(lab, atLeast: 2)
      #expect(records.contains { $0["via"] as? String == "stdio" && $0["tool"] as? String == "admin_echo" })
      #expect(stepUpEvents(up).count == 1, "the same challenge again: no second event")
    }
  }
}
