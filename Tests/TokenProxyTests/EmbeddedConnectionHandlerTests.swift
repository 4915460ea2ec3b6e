import Foundation
import MCPTunnelTestSupport
import NIOCore
import NIOHTTP1
import Testing
import TunnelCore

@testable import TokenProxy

/// `ProxyConnectionHandler` performs what `ProxyExchangeStateMachine` decides, on the proxy's own
/// pipeline in process (`EmbeddedProxyHarness`): the link kept between requests, the `100` sent
/// upstream's turn, the tenant binding, and results that come back for an exchange that is gone.
@Suite("Proxy connection handler, in process", .timeLimit(.minutes(5)))
struct EmbeddedConnectionHandlerTests {
  @Test("keep-alive: two requests on one connection share one upstream stream")
  func oneStreamPerConnection() async throws {
    let h = EmbeddedProxyHarness()
    let client = try await h.connect()
    let request = EmbeddedProxyHarness.requestText("POST", "/mcp", host: h.host, body: "{}")
    await client.send(request)
    #expect(await client.wait { $0.responses.count == 1 || $0.closed }.responses.last?.status == 200)
    await client.send(request)
    #expect(await client.wait { $0.responses.count == 2 || $0.closed }.responses.last?.status == 200)
    #expect(h.upstream.openedCount == 1 && h.upstream.requests.count == 2)
    #expect(h.counters.upstreamStreams == 1)
  }

  @Test("Expect: 100-continue: the 100 comes once the head went upstream, then the body and the answer")
  func expectContinue() async throws {
    let h = EmbeddedProxyHarness()
    let client = try await h.connect()
    await client.send(
      EmbeddedProxyHarness.requestText(
        "POST", "/mcp", host: h.host, headers: [("Expect", "100-continue"), ("Content-Length", "2")]))
    let interim = await client.wait { $0.text.contains("100 Continue") || $0.closed }
    #expect(interim.text.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(interim.text)")
    await client.send("{}")
    let received = await client.wait { $0.text.contains("200 OK") || $0.closed }
    #expect(received.text.components(separatedBy: "100 Continue").count == 2, "\(received.text)")
    #expect(h.upstream.requests.first?.bodyText == "{}")
  }

  @Test("a tenant switch between two requests: 503 tenant_switched and a close, nothing forwarded")
  func tenantSwitchOnConnection() async throws {
    let h = EmbeddedProxyHarness()
    let client = try await h.connect()
    let request = EmbeddedProxyHarness.requestText("POST", "/mcp", host: h.host, body: "{}")
    await client.send(request)
    #expect(await client.wait { $0.responses.count == 1 || $0.closed }.responses.last?.status == 200)
    _ = h.tokens.switchTenant(to: TenantID("globex")!, token: "globex-token-1")
    await client.send(request)
    let received = await client.waitForClose()
    let answer = try #require(received.responses.last)
    #expect(answer.status == 503 && answer.errorCode == "tenant_switched", "\(received.text)")
    #expect(h.upstream.requests.count == 1)
    let records = await h.waitForRecords(2)
    #expect(records.last?.detail == "tenant_switched" && records.last?.tenant == nil)
  }

  @Test("a token that comes after the client left is dropped: no stream is opened for it")
  func staleTokenDropped() async throws {
    let h = EmbeddedProxyHarness()
    h.heldTokens.hold()
    let gone = try await h.connect()
    await gone.send(EmbeddedProxyHarness.requestText("POST", "/mcp", host: h.host, body: "{}"))
    await h.waitUntil { h.heldTokens.currentTokenCalls == 1 }
    await gone.close()
    let first = await h.waitForRecords(1)
    #expect(first.first?.detail == "client_closed" && first.first?.completed == false)
    h.heldTokens.release()
    // The next request gets its token after the stale one was handed back.
    #expect(try await h.request("POST", "/mcp", body: "{}")?.status == 200)
    #expect(h.upstream.openedCount == 1 && h.upstream.requests.count == 1)
    #expect(await h.waitForRecords(2).count == 2)
  }
}

/// Step-up challenges (SPEC §10) through the proxy's own pipeline in process, against the upstream
/// twin: what the client receives, and that nothing is retried.
@Suite("Proxy connection handler: step-up, in process", .timeLimit(.minutes(5)))
struct EmbeddedStepUpTests {
  static let challenge = [
    (
      "WWW-Authenticate",
      #"Bearer error="insufficient_scope", scope="mcp mcp-admin", resource_metadata="http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp""#
    ),
    ("Content-Type", "application/json"),
  ]
  static let admin = #"{"jsonrpc":"2.0","id":"a1","method":"tools/call","params":{"name":"admin_echo"}}"#
  static let echo = #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}}"#

  @Test("403 insufficient_scope: the client gets 403 + a JSON-RPC error, no challenge; the connection goes on")
  func scopeChallenge() async throws {
    let h = EmbeddedProxyHarness { seen in
      seen.bodyText.contains("admin_echo")
        ? .text(.forbidden, headers: Self.challenge, body: #"{"error":"insufficient_scope"}"#) : .ok()
    }
    let client = try await h.connect()
    await client.send(EmbeddedProxyHarness.requestText("POST", "/mcp", host: h.host, body: Self.admin))
    let first = try #require(await client.wait { $0.responses.count == 1 || $0.closed }.responses.first)
    #expect(first.status == 403 && first.header("www-authenticate") == nil, "USE-06")
    #expect(first.json["id"] as? String == "a1")
    let error = try #require(first.json["error"] as? [String: Any])
    #expect(error["code"] as? Int == -32003)
    #expect(
      (error["message"] as? String)?.contains("mcp-tunnel elevate --tenant acme --scope mcp --scope mcp-admin") == true)
    await client.send(EmbeddedProxyHarness.requestText("POST", "/mcp", host: h.host, body: Self.echo))
    let received = await client.wait { $0.responses.count == 2 || $0.closed }
    #expect(received.responses.last?.status == 200 && !received.closed)
    #expect(h.upstream.requests.count == 2, "the refused call was not retried")
    #expect(h.tokens.replaceRejectedCalls == 0, "nor re-minted")
    let records = await h.waitForRecords(2)
    #expect(records[0].stepUp?.scopes == ["mcp", "mcp-admin"] && records[0].tenant == TenantID("acme"))
    #expect(records[1].stepUp == nil && records[1].status == 200)
    #expect(h.counters.errors == 0)
  }

  @Test("401 invalid_token is re-minted once; the retry's 403 challenge is answered, not tried a third time")
  func challengeAfterRemint() async throws {
    let h = EmbeddedProxyHarness { seen in
      seen.authorization == "Bearer acme-token-1"
        ? .text(.unauthorized, headers: [("WWW-Authenticate", #"Bearer error="invalid_token""#)], body: "")
        : .text(.forbidden, headers: Self.challenge, body: "")
    }
    let answer = try #require(try await h.request("POST", "/mcp", body: Self.admin))
    #expect(answer.status == 403 && (answer.json["error"] as? [String: Any])?["code"] as? Int == -32003)
    #expect(h.tokens.replaceRejectedCalls == 1)
    #expect(h.upstream.requests.map(\.authorization) == ["Bearer acme-token-1", "Bearer acme-token-1.remint1"])
    let record = try #require(await h.waitForRecords(1).first)
    #expect(record.retried && record.stepUp != nil && record.status == 403)
  }
}
