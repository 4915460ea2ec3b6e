import Foundation
import NIOHTTP1
import Testing
import TunnelCore

@testable import TokenProxy

/// The pure parts of the proxy: request screening (LP-01, framing, discovery paths) and header
/// rewriting (USE-01/02/06/07), without sockets.
@Suite("Request screening and header rewriting")
struct RequestScreeningTests {
  let requestGuard = LoopbackRequestGuard(listen: HostPort(host: "127.0.0.1", port: 7700))

  func head(_ headers: [(String, String)], uri: String = "/mcp") -> HTTPRequestHead {
    HTTPRequestHead(version: .http1_1, method: .POST, uri: uri, headers: HTTPHeaders(headers))
  }

  @Test(
    "LP-01: Host must be the listen address or a loopback name with its port",
    arguments: [
      ("127.0.0.1:7700", nil), ("localhost:7700", nil), ("LOCALHOST:7700", nil), ("[::1]:7700", nil),
      ("127.0.0.1:7701", 403), ("localhost", 403), ("evil.example:7700", 403), ("evil.example", 403),
      ("127.0.0.1.evil.example:7700", 403), ("[::1]:80", 403),
    ] as [(String, Int?)])
  func hostMatrix(host: String, status: Int?) {
    let answer = requestGuard.screen(head([("Host", host)]))
    #expect(answer.map { Int($0.status.code) } == status)
    if status != nil {
      #expect(answer?.code == "forbidden_host")
      #expect(answer?.closeConnection == true)
    }
  }

  @Test("LP-01: a missing or repeated Host is a 400")
  func hostCount() {
    #expect(requestGuard.screen(head([]))?.status == .badRequest)
    #expect(requestGuard.screen(head([("Host", "127.0.0.1:7700"), ("Host", "127.0.0.1:7700")]))?.status == .badRequest)
  }

  @Test(
    "LP-01: Origin, when present, must be a loopback origin",
    arguments: [
      ("http://localhost:6274", true), ("http://127.0.0.1:7700", true), ("https://localhost", true),
      ("http://[::1]:3000", true), ("http://127.5.6.7", true), ("http://evil.example", false),
      ("https://localhost.evil.example", false), ("null", false), ("file://", false),
      ("http://localhost:6274/path", false), ("http://user@localhost", false), ("", false),
    ])
  func originMatrix(origin: String, allowed: Bool) {
    let answer = requestGuard.screen(head([("Host", "127.0.0.1:7700"), ("Origin", origin)]))
    #expect((answer == nil) == allowed)
    if !allowed { #expect(answer?.status == .forbidden && answer?.code == "forbidden_origin") }
  }

  @Test(
    "framing that could smuggle a request is refused with 400 and a close",
    arguments: [
      [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
      [("Content-Length", "5"), ("Content-Length", "6")],
      [("Content-Length", "5, 6")],
      [("Content-Length", "-1")],
      [("Content-Length", "0x10")],
      [("Transfer-Encoding", "gzip, chunked")],
      [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
    ])
  func smuggling(_ fields: [(String, String)]) {
    let answer = requestGuard.screen(head([("Host", "127.0.0.1:7700")] + fields))
    #expect(answer?.status == .badRequest)
    #expect(answer?.closeConnection == true)
  }

  @Test("repeated equal Content-Lengths and plain chunked are fine")
  func acceptableFraming() {
    #expect(
      requestGuard.screen(head([("Host", "127.0.0.1:7700"), ("Content-Length", "5"), ("Content-Length", "5")])) == nil)
    #expect(requestGuard.screen(head([("Host", "127.0.0.1:7700"), ("Transfer-Encoding", "Chunked")])) == nil)
  }

  @Test(
    "USE-06: OAuth discovery paths are answered locally with 404",
    arguments: [
      "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/mcp?x=1",
      "/.well-known/openid-configuration", "/mcp/.well-known/openid-configuration",
    ])
  func discoveryPaths(path: String) {
    let answer = requestGuard.screen(head([("Host", "127.0.0.1:7700")], uri: path))
    #expect(answer?.status == .notFound)
    #expect(answer?.countsAsError == false)
    #expect(answer?.closeConnection == false)
  }

  @Test("only origin-form request targets are forwarded")
  func requestTargets() {
    #expect(
      requestGuard.screen(head([("Host", "127.0.0.1:7700")], uri: "http://evil.example/mcp"))?.status == .badRequest)
    #expect(requestGuard.screen(head([("Host", "127.0.0.1:7700")], uri: "*"))?.status == .badRequest)
    #expect(requestGuard.screen(head([("Host", "127.0.0.1:7700")], uri: "/mcp?session=1")) == nil)
  }

  @Test("USE-01/02/07: client credentials and hop-by-hop fields go, the bearer comes, MCP headers stay")
  func requestRewrite() {
    let client = head([
      ("Host", "127.0.0.1:7700"), ("Authorization", "Bearer client-supplied"), ("proxy-authorization", "Basic eA=="),
      ("Cookie", "a=b"), ("DPoP", "proof"), ("Connection", "keep-alive, X-Hop"), ("X-Hop", "1"),
      ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Upgrade", "websocket"), ("Expect", "100-continue"),
      ("Mcp-Session-Id", "s-1"), ("MCP-Protocol-Version", "2025-11-25"), ("Last-Event-ID", "42"),
      ("Accept", "application/json, text/event-stream"), ("Content-Type", "application/json"),
      ("Content-Length", "12"),
    ])
    let upstream = AuthorizationRewriter.upstreamRequestHead(
      from: client, token: AccessToken(revealing: "tenant-token"), upstreamHost: "10.0.0.5:8080", chunkedBody: false)
    let h = upstream.headers
    #expect(h["authorization"] == ["Bearer tenant-token"])
    #expect(h["host"] == ["10.0.0.5:8080"])
    for gone in [
      "proxy-authorization", "cookie", "dpop", "connection", "x-hop", "keep-alive", "te", "upgrade", "expect",
    ] {
      #expect(!h.contains(name: gone), "\(gone) must be stripped")
    }
    #expect(h["Mcp-Session-Id"] == ["s-1"])
    #expect(h["MCP-Protocol-Version"] == ["2025-11-25"])
    #expect(h["Last-Event-ID"] == ["42"])
    #expect(h["Accept"] == ["application/json, text/event-stream"])
    #expect(h["Content-Type"] == ["application/json"])
    #expect(h["Content-Length"] == ["12"])
    #expect(upstream.version == .http1_1)

    let chunked = AuthorizationRewriter.upstreamRequestHead(
      from: head([("Host", "x"), ("Transfer-Encoding", "chunked")]), token: AccessToken(revealing: "t"),
      upstreamHost: "u:1", chunkedBody: true)
    #expect(chunked.headers["transfer-encoding"] == ["chunked"])
  }

  @Test("USE-06: responses lose challenges and hop-by-hop fields, keep the rest")
  func responseRewrite() {
    let upstream = HTTPResponseHead(
      version: .http1_1, status: .forbidden,
      headers: HTTPHeaders([
        ("WWW-Authenticate", #"Bearer error="insufficient_scope""#), ("Proxy-Authenticate", "Basic"),
        ("Connection", "X-Internal"), ("X-Internal", "1"), ("Transfer-Encoding", "chunked"),
        ("Mcp-Session-Id", "s-2"), ("Content-Type", "text/event-stream"),
      ]))
    let relayed = AuthorizationRewriter.clientResponseHead(from: upstream, clientVersion: .http1_1, closing: true)
    #expect(!relayed.headers.contains(name: "www-authenticate"))
    #expect(!relayed.headers.contains(name: "proxy-authenticate"))
    #expect(!relayed.headers.contains(name: "x-internal"))
    #expect(!relayed.headers.contains(name: "transfer-encoding"))
    #expect(relayed.headers["connection"] == ["close"])
    #expect(relayed.headers["Mcp-Session-Id"] == ["s-2"])
    #expect(relayed.status == .forbidden)
  }

  @Test("the 503 body of a token failure carries the error's summary and fix, never more")
  func tokenFailureAnswer() throws {
    let answer = LocalAnswer.tokenUnavailable(CoreError(.loginRequired, "not logged in", fix: "run: mcp-tunnel login"))
    #expect(answer.status == .serviceUnavailable)
    let json = try #require(try JSONSerialization.jsonObject(with: answer.body) as? [String: String])
    #expect(json == ["error": "login_required", "message": "not logged in", "fix": "run: mcp-tunnel login"])
    let bare = LocalAnswer.tokenUnavailable(CoreError(.loginRequired, "no refresh token"))
    #expect(bare.fix == "run: mcp-tunnel login")
  }

  @Test("JSON-RPC summary: method, params.name, id as text; batches use the first message")
  func jsonRPCSummary() {
    let call = JSONRPCSummary.parse(
      Array(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami"}}"#.utf8))
    #expect(call == JSONRPCSummary(method: "tools/call", name: "whoami", id: "7"))
    let text = JSONRPCSummary.parse(Array(#"[{"jsonrpc":"2.0","id":"a-1","method":"tools/list"}]"#.utf8))
    #expect(text == JSONRPCSummary(method: "tools/list", name: nil, id: "a-1"))
    #expect(JSONRPCSummary.parse(Array("not json".utf8)) == nil)
    #expect(JSONRPCSummary.isJSON(contentType: "Application/JSON; charset=utf-8"))
    #expect(!JSONRPCSummary.isJSON(contentType: "text/plain"))
  }
}
