import Foundation
import LabSupport
import TestTiers
import Testing
import TunnelCore

/// Issue 20 item 5, end to end: the built `up` with `audit.journal = true` against the whole lab,
/// sending to a real `systemd-journald` (`Tests/Lab/journal/with-journald.sh` runs both in a private
/// mount namespace, so journald listens on the default /run/systemd/journal/socket and nothing of
/// the host's is touched). What journald stored is read back with `journalctl` in that namespace.
@Suite(
  "audit.journal = true: up's audit records in a real journald (built binary, whole lab)",
  .tags(.lab), .wholeLab, .offPool, .serialized, .timeLimit(.minutes(6)))
struct AuditJournalLabTests {
  /// `journalctl -D /run/log/journal -o json` inside the namespace of `pid`: every stored entry.
  private func journal(of pid: Int32) throws -> [[String: Any]] {
    let result = try LabCommand.run(
      try LabPaths.requireExecutable("nsenter"),
      ["--mount", "--target", "\(pid)", "journalctl", "-D", "/run/log/journal", "-o", "json", "--no-pager"],
      timeout: .seconds(60))
    guard result.status == 0 else { throw LabError("journalctl exited \(result.status): \(result.stderr)") }
    return LabJSONLines.parse(result.stdout)
  }

  @Test(
    "every audit record up writes is in journald with its structured fields and chain hash, sent by up itself (_PID, _COMM)"
  )
  func recordsReachJournald() async throws {
    let lab = try CLILab(peers: [.ssh])
    defer { lab.stop() }
    try "\n[profiles.lab.audit]\njournal = true\n".appendLine(toFile: lab.config)
    try await lab.logIn()
    let up = try RunningCommand(
      LabPaths.script("journal/with-journald.sh"),
      [BuiltBinary.mcpTunnel, "up", "--json", "--config", lab.config], environment: lab.environment)
    try waitUntil(timeout: .seconds(90), "the ready event") { up.stdout.contains("\"ready\"") || !up.isRunning }
    defer { up.kill() }
    #expect(up.isRunning, "\(up.stdout)\n\(up.stderr)")
    #expect(!up.stderr.contains("audit.journal is on but"), "a journal is there: no warning. \(up.stderr)")

    let call = try await offPool {
      try lab.lab.mcpClient.run(url: lab.url, token: nil, headers: [:], ["call", "whoami"])
    }
    #expect(call.ok, "\(call)")
    // Every record up wrote since it started (the file is written first, then the journal), and
    // then each of them in the journal with the same sequence number and chain.
    // (The suite runs off the cooperative pool: these waits block a thread of its own.)
    var fromUp: [[String: Any]] = []
    try waitUntil(timeout: .seconds(60), "the whoami call in the audit file") {
      fromUp = Array(((try? lab.auditTrail().records) ?? []).drop { $0["event"] as? String != "tunnel_up" })
      return fromUp.contains { $0["tool"] as? String == "whoami" }
    }
    let sequences = fromUp.compactMap { $0["seq"] as? Int }
    #expect(sequences.count == fromUp.count && sequences.count >= 3, "\(fromUp)")
    var mine: [[String: Any]] = []
    try waitUntil(timeout: .seconds(60), "records \(sequences) in the journal") {
      mine = ((try? journal(of: up.pid)) ?? []).filter { $0["SYSLOG_IDENTIFIER"] as? String == "mcp-tunnel" }
      let stored = Set(mine.compactMap { ($0["MCP_TUNNEL_SEQ"] as? String).flatMap(Int.init) })
      return sequences.allSatisfy(stored.contains)
    }
    // journald fills _PID, _COMM and _TRANSPORT itself, from the sending socket's credentials
    // (with-journald.sh execs up, so up has the pid the test started).
    #expect(
      mine.allSatisfy {
        $0["_TRANSPORT"] as? String == "journal" && $0["_PID"] as? String == "\(up.pid)"
          && $0["_COMM"] as? String == "mcp-tunnel"
      }, "\(mine)")
    func entry(_ seq: Int) -> [String: Any]? { mine.first { $0["MCP_TUNNEL_SEQ"] as? String == "\(seq)" } }
    for (index, record) in fromUp.enumerated() {
      let seq = try #require(record["seq"] as? Int)
      let stored = try #require(entry(seq))
      #expect(stored["MCP_TUNNEL_EVENT"] as? String == record["event"] as? String, "\(stored)")
      #expect(stored["MCP_TUNNEL_PREV"] as? String == record["prev"] as? String, "\(stored)")
      let line = try #require(stored["MCP_TUNNEL_RECORD"] as? String)
      let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      #expect(parsed?["seq"] as? Int == seq, "MCP_TUNNEL_RECORD is the file's line")
      // The chain: the next record's prev is this entry's hash.
      if index + 1 < fromUp.count {
        #expect(stored["MCP_TUNNEL_HASH"] as? String == fromUp[index + 1]["prev"] as? String, "\(stored)")
      }
    }
    let whoami = try #require(mine.first { $0["MCP_TUNNEL_TOOL"] as? String == "whoami" })
    #expect(whoami["MCP_TUNNEL_EVENT"] as? String == "call")
    #expect(whoami["MCP_TUNNEL_TENANT"] as? String == "acme")
    #expect(whoami["MCP_TUNNEL_PROFILE"] as? String == "lab")
    #expect(whoami["MCP_TUNNEL_METHOD"] as? String == "tools/call")
    #expect(whoami["PRIORITY"] as? String == "6", "an ok call is informational: \(whoami)")
    #expect((whoami["MESSAGE"] as? String)?.contains("whoami") == true, "\(whoami)")

    // No token reaches the journal (it holds what the file holds, which is redacted).
    let tenantToken = try lab.run(["token"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    let refresh = try lab.storedRefreshToken()
    let everything = try journal(of: up.pid)
    let text = String(decoding: try JSONSerialization.data(withJSONObject: everything), as: UTF8.self)
    for secret in [tenantToken, refresh].compactMap({ $0 }) where secret.count > 20 {
      #expect(!text.contains(secret), "a token in the journal")
    }

    up.signal(SIGTERM)
    let status = try? up.waitForExit(timeout: .seconds(30))
    #expect(status == 0, "\(up.stdout)\n\(up.stderr)")
    #expect(try lab.run(["audit", "verify"]).status == 0)
  }
}

extension String {
  fileprivate func appendLine(toFile path: String) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(utf8))
  }
}
