import Foundation
import LabSupport
import MCPTunnelTestSupport
import Synchronization
import TestTiers
import Testing
import TokenProxy
import TunnelCore

/// The proxy in front of the REAL lab MCP server (official `mcp` SDK 2.3.0, bearer JWTs from the
/// token-exchange fixture), driven by the official SDK client. Streams ride
/// `InMemoryPortForwarder` pumped to the server's TCP port, as the SSH forwarder will carry them.
@Suite(
  "HTTPTokenProxy against the lab MCP server (mcp 2.3.0)", .tags(.lab), .offPool, .serialized, .timeLimit(.minutes(5)))
struct ProxyLabTests {
  final class Rig: Sendable {
    let lab: LabEnvironment
    let mcp: MCPServerLab
    let forwarder: InMemoryPortForwarder
    let tokens: InMemoryTenantTokenSource
    let proxy: HTTPTokenProxy
    let log: RecordLog
    let url: String

    init(initialToken: (LabEnvironment) async throws -> String) async throws {
      let lab = try await offPool { try LabEnvironment.start(.mcpServer) }
      do {
        let mcp = try lab.mcp()
        let forwarder = InMemoryPortForwarder(serve: pumpToTCP(port: mcp.port))
        try await forwarder.start()
        let tokens = InMemoryTenantTokenSource(tenant: "acme", token: try await initialToken(lab))
        let log = RecordLog()
        let proxy = HTTPTokenProxy { log.append($0) }
        let address = try await proxy.start(
          listen: HostPort(host: "127.0.0.1", port: 0), forwarder: forwarder, tokens: tokens,
          upstreamHost: mcp.address)
        (self.lab, self.mcp, self.forwarder, self.tokens, self.log, self.proxy) = (
          lab, mcp, forwarder, tokens, log, proxy
        )
        url = "http://127.0.0.1:\(address.port)/mcp"
      } catch {
        lab.stop()
        throw error
      }
    }

    /// Runs `body` with a fresh rig and always stops it (the lab's processes included) before
    /// returning, so nothing outlives the test process.
    static func with(
      initialToken: (LabEnvironment) async throws -> String, _ body: (Rig) async throws -> Void
    ) async throws {
      let rig = try await Rig(initialToken: initialToken)
      do {
        try await body(rig)
      } catch {
        await rig.stop()
        throw error
      }
      await rig.stop()
    }

    /// Runs the SDK client against the proxy. It sends its own `Authorization` (a bogus token read
    /// from stdin), which the proxy must replace.
    func client(_ command: [String]) async throws -> MCPClientResult {
      let (lab, url) = (lab, url)
      return try await offPool { try lab.mcpClient.run(url: url, token: "client-supplied-bogus", command) }
    }

    func stop() async {
      await proxy.stop()
      await forwarder.stop()
      let lab = self.lab
      _ = try? await offPool { lab.stop() }
    }
  }

  @Test(
    "USE-01/02: the SDK client lists tools and calls whoami through the proxy; the server saw only the injected token")
  func sdkClientThroughProxy() async throws {
    try await Rig.with(initialToken: { try await $0.tenantToken("acme") }) { rig in
      let acmeJTI = try LabJWT.claims(rig.tokens.current.token.revealedForTransmission)["jti"] as? String

      let tools = try await rig.client(["tools"])
      #expect(tools.ok, "\(tools)\n\(labTail(rig.mcp.process.log()))")
      #expect(
        tools.object["tools"] as? [String] == ["admin_echo", "echo", "recent_login_echo", "slow_stream", "whoami"])
      let whoami = try await rig.client(["call", "whoami"])
      #expect(whoami.ok, "\(whoami)")
      #expect(whoami.result["tenant"] as? String == "acme")

      let log = rig.mcp.requestLog()
      #expect(log.count >= 4, "\(log)")
      for entry in log {
        #expect(entry["rejected"] == nil, "\(entry)")
        #expect(entry["authorization"] as? Bool == true)
        #expect((entry["token"] as? [String: Any])?["jti"] as? String == acmeJTI, "\(entry)")
        #expect((entry["token"] as? [String: Any])?["tenant"] as? String == "acme")
        #expect(entry["host"] as? String == rig.mcp.address)
      }
      #expect(log.contains { $0["rpc_method"] as? String == "tools/call" })
      let logText = try String(contentsOf: rig.mcp.logFile, encoding: .utf8)
      #expect(!logText.contains("client-supplied-bogus"))

      let records = rig.log.all
      let call = records.first { $0.rpcMethod == "tools/call" }
      #expect(call?.rpcName == "whoami")
      #expect(call?.status == 200 && call?.tenant?.rawValue == "acme" && call?.rpcID != nil)
      // Every request was relayed from the server with a success status. (The SDK client hangs up a
      // POST's SSE stream once it has its answer, and its GET stream ends with the session, so
      // `completed` may be false for those: the client closed them, not the proxy.)
      #expect(records.filter { $0.method == "POST" }.count >= 5)
      #expect(
        records.allSatisfy { $0.answeredBy == .upstream && ($0.status ?? 0) < 300 },
        "\(records.filter { $0.answeredBy != .upstream || ($0.status ?? 0) >= 300 })")

      // Switching tenant: the old connections are retired and the next calls serve globex.
      let globex = try await rig.lab.tenantToken("globex")
      let generation = rig.tokens.switchTenant(to: TenantID("globex")!, token: globex)
      rig.proxy.retireConnections(before: generation)
      let switched = try await rig.client(["call", "whoami"])
      #expect(switched.ok, "\(switched)")
      #expect(switched.result["tenant"] as? String == "globex")
    }
  }

  @Test(
    "audit records: the SDK's initialize, tools/list, tools/call, resources/read and prompts/get with their targets")
  func sdkRequestRecords() async throws {
    try await Rig.with(initialToken: { try await $0.tenantToken("acme") }) { rig in
      let commands = [
        ["tools"], ["call", "whoami"], ["read", "lab://tenant-info"],
        ["prompt", "greeting", #"{"name":"secret-visitor"}"#],
      ]
      for command in commands {
        let result = try await rig.client(command)
        #expect(result.ok, "\(command): \(result)")
        if command != ["tools"] { #expect(result.stdout.contains("acme"), "\(command): \(result.stdout)") }
      }
      // The server's error for an unknown resource comes back as a JSON-RPC error in an SSE event.
      let missing = try await rig.client(["read", "lab://missing"])
      #expect(!missing.ok, "\(missing)")

      typealias Message = ProxyRequestRecord.RPCMessage
      let wanted: [(String, Message.Target?)] = [
        ("initialize", nil), ("notifications/initialized", nil), ("tools/list", nil), ("tools/call", .tool("whoami")),
        ("resources/read", .resource("lab://tenant-info")), ("prompts/get", .prompt("greeting")),
        ("resources/read", .resource("lab://missing")),
      ]
      func seen(_ records: [ProxyRequestRecord]) -> Bool {
        let messages = records.flatMap(\.rpcMessages)
        return wanted.allSatisfy { method, target in messages.contains { $0.method == method && $0.target == target } }
      }
      // GET streams and session DELETEs are reported when the client hangs up: wait for them too.
      var records = rig.log.all
      for _ in 0..<300 where !seen(records) || records.count(where: { $0.method == "DELETE" }) < 5 {
        try await Task.sleep(for: .milliseconds(20))
        records = rig.log.all
      }
      #expect(seen(records), "\(records.flatMap(\.rpcMessages))")
      #expect(records.flatMap(\.rpcMessages).count(where: { $0.method == "initialize" }) == 5)

      let posts = records.filter { $0.method == "POST" }
      #expect(posts.allSatisfy { $0.bodyKind == .jsonRPC && $0.rpcMessages.count == 1 && $0.requestBytes > 0 })
      #expect(records.filter { $0.method != "POST" }.allSatisfy { $0.bodyKind == .empty && $0.requestBytes == 0 })
      for record in posts where record.rpcID != nil {
        #expect(record.responseBytes > 0, "\(record)")
        // mcp 2.3.0 answers POSTs with SSE, and an unknown resource with -32602 (SEP-2164).
        let failed = record.rpcMessages.first?.target == .resource("lab://missing")
        #expect(record.rpcErrorCode == (failed ? -32602 : nil), "\(record)")
      }
      #expect(!String(describing: records).contains("secret-visitor"))
      // Five client processes, each on connections of its own.
      #expect(Set(records.map(\.connectionID)).count >= 5)
    }
  }

  @Test("SSE: slow_stream progress notifications arrive at the SDK client one by one through the proxy")
  func streamsIncrementally() async throws {
    try await Rig.with(initialToken: { try await $0.tenantToken("globex") }) { rig in
      let run = try await rig.client(["stream", "4", "400"])
      let problem = run.streamedIncrementally(count: 4)
      #expect(problem == nil, "\(problem ?? "")")
    }
  }

  @Test("USE-05: the real server's 401 invalid_token makes the proxy re-mint once and retry; the client never sees it")
  func realInvalidTokenIsRetried() async throws {
    try await Rig.with(initialToken: { _ in "not-a-valid-jwt" }) { rig in
      rig.tokens.queueReplacements([try await rig.lab.tenantToken("acme")])
      let whoami = try await rig.client(["call", "whoami"])
      #expect(whoami.ok, "\(whoami)")
      #expect(whoami.result["tenant"] as? String == "acme")
      #expect(rig.tokens.replaceRejectedCalls == 1)
      #expect(rig.proxy.counters.remints == 1)
      let log = rig.mcp.requestLog()
      #expect(log.filter { $0["rejected"] != nil }.count == 1, "\(log)")
    }
  }
}
