import Foundation
import LabSupport
import TestTiers
import Testing

/// The lab MCP server, driven by the official MCP client: it serves the tenant of a fixture-minted
/// token, refuses everything else with 401, streams notifications incrementally, and logs requests
/// without tokens.
@Suite("Lab MCP server + client (mcp 2.3.0)", .tags(.lab), .offPool, .serialized)
struct MCPServerLabTests {
  @Test("whoami returns the tenant of a fixture-minted token; no token or the raw IdP token gets 401")
  func tenantAndRefusals() async throws {
    let lab = try LabEnvironment.start(.mcpServer)
    defer { lab.stop() }
    let mcp = try lab.mcp()
    let sts = try lab.sts()
    let login = try await lab.idp().deviceLogin()
    let acme = try await sts.mint(subjectToken: login.accessToken, tenant: "acme")

    let whoami = try lab.mcpClient.whoami(url: mcp.url, token: acme)
    #expect(whoami.ok, "\(whoami)\n\(labTail(mcp.process.log()))")
    #expect(whoami.result["tenant"] as? String == "acme")
    #expect(whoami.result["sub"] as? String == (try LabJWT.claims(login.accessToken)["sub"] as? String))
    #expect(whoami.result["iss"] as? String == sts.issuer)
    #expect(whoami.result["aud"] as? String == sts.audience)
    #expect(whoami.result["scopes"] as? [String] == ["mcp"])

    let anonymous = try lab.mcpClient.whoami(url: mcp.url, token: nil)
    #expect(anonymous.status == 1)
    #expect(anonymous.httpStatus == 401, "\(anonymous)")
    let rawIdPToken = try lab.mcpClient.whoami(url: mcp.url, token: login.accessToken)
    #expect(rawIdPToken.status == 1)
    #expect(rawIdPToken.httpStatus == 401, "\(rawIdPToken)")

    let log = mcp.requestLog()
    #expect(log.contains { $0["authorization"] as? Bool == false && ($0["status"] as? NSNumber)?.intValue == 401 })
    #expect(log.contains { $0["rejected"] != nil && ($0["status"] as? NSNumber)?.intValue == 401 })
    let served = log.first { $0["rpc_method"] as? String == "tools/call" }
    #expect((served?["token"] as? [String: Any])?["tenant"] as? String == "acme")
    let logText = try String(contentsOf: mcp.logFile, encoding: .utf8)
    #expect(!logText.contains(acme))
    #expect(!logText.contains(login.accessToken))
  }

  @Test("slow_stream: progress notifications arrive one by one, spaced in time, before the result")
  func streamsIncrementally() async throws {
    let lab = try LabEnvironment.start(.mcpServer)
    defer { lab.stop() }
    let token = try await lab.tenantToken("globex")

    let run = try lab.mcpClient.run(url: try lab.mcp().url, token: token, ["stream", "4", "400"])
    #expect(run.ok, "\(run)")
    let events = run.object["events"] as? [[String: Any]] ?? []
    let progress = events.filter { $0["kind"] as? String == "progress" }.compactMap {
      ($0["t"] as? NSNumber)?.doubleValue
    }
    let logs = events.filter { $0["kind"] as? String == "log" }
    #expect(progress.count == 4, "\(run.stdout)")
    #expect(logs.count == 4, "\(run.stdout)")
    for (earlier, later) in zip(progress, progress.dropFirst()) {
      #expect(later - earlier >= 0.25, "events must arrive spaced, got \(progress)")
    }
    let elapsed = (run.object["elapsed"] as? NSNumber)?.doubleValue ?? 0
    #expect((progress.first ?? elapsed) < elapsed - 0.8, "the first event must arrive long before the result")
    #expect(run.result["tenant"] as? String == "globex")
  }

  @Test(
    "step-up fixture: admin_echo → 403 insufficient_scope, recent_login_echo → 401 RFC 9470, bad token → 401")
  func stepUpChallenges() async throws {
    let lab = try LabEnvironment.start(.mcpServer)
    defer { lab.stop() }
    let mcp = try lab.mcp()
    let token = try await lab.tenantToken("acme")
    func call(_ tool: String, token: String) async throws -> LabHTTPResponse {
      try await LabHTTPClient().sendJSON(
        "POST", URL(string: mcp.url)!,
        ["jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["name": tool, "arguments": ["text": "x"]]],
        headers: ["Authorization": "Bearer \(token)", "Accept": "application/json, text/event-stream"])
    }
    let admin = try await call("admin_echo", token: token)
    #expect(admin.status == 403, "\(admin.text)")
    let scope = admin.headers["www-authenticate"] ?? ""
    #expect(scope.hasPrefix(#"Bearer error="insufficient_scope", scope="mcp mcp-admin""#), "\(scope)")
    #expect(
      scope.contains(#"resource_metadata="http://127.0.0.1:\#(mcp.port)/.well-known/oauth-protected-resource/mcp""#))
    let recent = try await call("recent_login_echo", token: token)
    #expect(recent.status == 401, "\(recent.text)")
    let rfc9470 = recent.headers["www-authenticate"] ?? ""
    #expect(rfc9470.hasPrefix(#"Bearer error="insufficient_user_authentication""#), "\(rfc9470)")
    #expect(rfc9470.contains(#"acr_values="phr", max_age="300""#), "\(rfc9470)")
    let forged = try await call("admin_echo", token: "not-a-token")
    #expect(forged.status == 401 && forged.headers["www-authenticate"]?.contains("invalid_token") == true)
  }

  @Test("tools, echo, a resource and a prompt work; any Host 127.0.0.1:<port> passes, others get 421")
  func surfaceAndHosts() async throws {
    let lab = try LabEnvironment.start(.mcpServer)
    defer { lab.stop() }
    let mcp = try lab.mcp()
    let token = try await lab.tenantToken("acme")
    let client = lab.mcpClient

    let tools = try client.run(url: mcp.url, token: token, ["tools"])
    #expect(
      tools.object["tools"] as? [String] == ["admin_echo", "echo", "recent_login_echo", "slow_stream", "whoami"],
      "\(tools)")
    let echo = try client.run(url: mcp.url, token: token, ["call", "echo", #"{"text":"hello"}"#])
    #expect(echo.result["text"] as? String == "hello")
    let resource = try client.run(url: mcp.url, token: token, ["read", "lab://tenant-info"])
    #expect((resource.object["contents"] as? [String])?.first?.contains("acme") == true, "\(resource)")
    let prompt = try client.run(url: mcp.url, token: token, ["prompt", "greeting", #"{"name":"Ann"}"#])
    #expect((prompt.object["messages"] as? [String])?.first?.contains("Ann") == true, "\(prompt)")
    #expect(mcp.requestLog().contains { $0["rpc_method"] as? String == "resources/read" })
    #expect(mcp.requestLog().contains { $0["rpc_method"] as? String == "prompts/get" })

    // What a tunnel on 127.0.0.1:7700 sends is accepted (DNS-rebinding protection allows 127.0.0.1:*).
    let tunnelHost = try client.run(
      url: mcp.url, token: token, headers: ["Host": "127.0.0.1:7700"], ["call", "whoami"])
    #expect(tunnelHost.ok, "\(tunnelHost)")
    let foreignHost = try client.run(url: mcp.url, token: token, headers: ["Host": "evil.example"], ["tools"])
    #expect(foreignHost.httpStatus == 421, "\(foreignHost)")
  }
}
