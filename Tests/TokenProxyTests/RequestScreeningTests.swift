import Foundation
import NIOCore
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
    #expect(answer?.abortRequest == true, "a body of untrusted framing must not be read on")
  }

  @Test("a Content-Length over Limits.requestBody is a 413 that closes without reading the body")
  func declaredBodyLimit() {
    let limited = LoopbackRequestGuard(listen: HostPort(host: "127.0.0.1", port: 7700), maxRequestBody: 100)
    let over = limited.screen(head([("Host", "127.0.0.1:7700"), ("Content-Length", "101")]))
    #expect(over?.status == .payloadTooLarge && over?.code == "body_too_large")
    #expect(over?.abortRequest == true && over?.closeConnection == true)
    #expect(limited.screen(head([("Host", "127.0.0.1:7700"), ("Content-Length", "100")])) == nil)
    #expect(limited.screen(head([("Host", "127.0.0.1:7700"), ("Transfer-Encoding", "chunked")])) == nil)
    #expect(requestGuard.screen(head([("Host", "127.0.0.1:7700"), ("Content-Length", "\(Int.max)")])) == nil)
  }

  @Test("an answer written below the HTTP codec is a complete HTTP/1.1 response with Connection: close")
  func serializedAnswer() throws {
    let answer = LocalAnswer(.requestTimeout, "request_timeout", "too slow", fix: "hurry", abort: true)
    let text = String(decoding: answer.serializedClosingResponse, as: UTF8.self)
    let parts = text.components(separatedBy: "\r\n\r\n")
    #expect(parts.count == 2)
    let lines = parts[0].components(separatedBy: "\r\n")
    #expect(lines.first == "HTTP/1.1 408 Request Timeout")
    #expect(lines.contains("Connection: close") && lines.contains("Content-Type: application/json"))
    #expect(lines.contains("Content-Length: \(parts[1].utf8.count)"))
    let json = try #require(try JSONSerialization.jsonObject(with: Data(parts[1].utf8)) as? [String: String])
    #expect(json == ["error": "request_timeout", "message": "too slow", "fix": "hurry"])
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

  // MARK: JSON-RPC envelope

  typealias Message = ProxyRequestRecord.RPCMessage

  typealias Summary = (kind: ProxyRequestRecord.BodyKind, messages: [Message])

  func summarize(_ parts: [String], limit: Int = 64 * 1024, chunked: Bool = false) -> Summary {
    var summarizer = RequestBodySummarizer(
      limit: limit, declaredLength: chunked ? nil : parts.reduce(0) { $0 + $1.utf8.count })
    for part in parts { summarizer.append(ByteBuffer(string: part)) }
    let summary = summarizer.finish()
    return (summary.kind, summary.messages)
  }

  @Test("JSON-RPC envelope: method, id as text and the target of tools/call, prompts/get and resources/*")
  func envelopeTargets() {
    let call = summarize([
      #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{"q":"secret-arg"}}}"#
    ])
    #expect(call.kind == .jsonRPC)
    #expect(call.messages == [Message(method: "tools/call", id: "7", target: .tool("whoami"))])
    #expect(!String(describing: call.messages).contains("secret-arg"))
    let prompt = summarize([#"{"jsonrpc":"2.0","id":"p-1","method":"prompts/get","params":{"name":"greeting"}}"#])
    #expect(prompt.messages == [Message(method: "prompts/get", id: "p-1", target: .prompt("greeting"))])
    for method in ["resources/read", "resources/subscribe", "resources/unsubscribe"] {
      let read = summarize([#"{"jsonrpc":"2.0","id":2,"method":"\#(method)","params":{"uri":"lab://x","name":"n"}}"#])
      #expect(read.messages == [Message(method: method, id: "2", target: .resource("lab://x"))])
    }
    // params.name of other methods is no target; a non-string name is none either.
    let other = summarize([#"{"jsonrpc":"2.0","id":3,"method":"completion/complete","params":{"name":"x"}}"#])
    #expect(other.messages == [Message(method: "completion/complete", id: "3")])
    let odd = summarize([#"{"jsonrpc":"2.0","id":4.5,"method":"tools/call","params":{"name":17}}"#])
    #expect(odd.messages == [Message(method: "tools/call", id: "4.5")])
    let notification = summarize([#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#])
    #expect(notification.messages == [Message(method: "notifications/initialized")])
    // A response the client sends to a server request has an id and no method.
    let reply = summarize([#"{"jsonrpc":"2.0","id":9,"result":{}}"#])
    #expect(reply.messages == [Message(method: nil, id: "9")])
  }

  @Test("JSON-RPC envelope: a batch gives one entry per message; elements that are no message are left out")
  func envelopeBatch() {
    let batch = summarize([
      #"  [{"jsonrpc":"2.0","id":1,"method":"tools/list"},"#,
      #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"t"}}},"#,
      #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}, 42, {"id":5}]"#,
    ])
    #expect(batch.kind == .jsonRPC)
    #expect(
      batch.messages == [
        Message(method: "tools/list", id: "1"), Message(method: "tools/call", id: "2", target: .tool("echo")),
        Message(method: "notifications/cancelled"),
      ])
  }

  @Test(
    "body kinds: empty, not JSON-RPC, too large (declared or chunked) and at the limit",
    arguments: [false, true])
  func bodyKinds(chunked: Bool) {
    #expect(summarize([], chunked: chunked).kind == .empty)
    #expect(summarize([""], chunked: chunked).kind == .empty)
    for notRPC in [
      "not json", "\"a string\"", "[]", "[1,2]", #"{"method":"tools/list"}"#, #"{"jsonrpc":"1.0"}"#, "{trunc",
    ] {
      let summary = summarize([notRPC], chunked: chunked)
      #expect(summary.kind == .notJSONRPC && summary.messages.isEmpty, "\(notRPC)")
    }
    let message = #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#
    let size = message.utf8.count
    #expect(summarize([message], limit: size, chunked: chunked).kind == .jsonRPC)
    #expect(summarize([message], limit: size - 1, chunked: chunked).kind == .tooLargeToSummarize)
    // Split across parts, the over-limit part comes last.
    let half = message.utf8.count / 2
    let parts = [String(message.prefix(half)), String(message.dropFirst(half)), " "]
    #expect(summarize(parts, limit: size, chunked: chunked).kind == .tooLargeToSummarize)
    #expect(summarize(Array(parts.prefix(2)), limit: size, chunked: chunked).kind == .jsonRPC)
  }

  @Test("content types: application/json and text/event-stream with any case and parameters")
  func contentTypes() {
    #expect(JSONRPCEnvelope.isJSON(contentType: "Application/JSON; charset=utf-8"))
    #expect(!JSONRPCEnvelope.isJSON(contentType: "text/plain"))
    #expect(!JSONRPCEnvelope.isJSON(contentType: nil))
    #expect(JSONRPCEnvelope.isEventStream(contentType: " text/event-stream ;charset=utf-8"))
    #expect(!JSONRPCEnvelope.isEventStream(contentType: "application/json"))
  }

  func errorCode(contentType: String, _ parts: [String], limit: Int = 64 * 1024) -> Int? {
    var reader = ResponseErrorCodeReader(contentType: contentType, limit: limit)
    for part in parts { reader.append(ByteBuffer(string: part)) }
    reader.end()
    return reader.errorCode
  }

  @Test("rpcErrorCode of a JSON response: the error's code, a batch's first error, nil for results and past the limit")
  func jsonErrorCodes() {
    let error = #"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#
    #expect(errorCode(contentType: "application/json", [error]) == -32601)
    #expect(
      errorCode(contentType: "application/json", [String(error.prefix(20)), String(error.dropFirst(20))]) == -32601)
    let batch =
      #"[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"a"}},"#
      + #"{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"b"}}]"#
    #expect(errorCode(contentType: "application/json", [batch]) == -32602)
    #expect(errorCode(contentType: "application/json", [#"{"jsonrpc":"2.0","id":1,"result":{"isError":true}}"#]) == nil)
    #expect(errorCode(contentType: "application/json", [error], limit: error.utf8.count) == -32601)
    #expect(errorCode(contentType: "application/json", [error], limit: error.utf8.count - 1) == nil)
    #expect(errorCode(contentType: "text/plain", [error]) == nil)
  }

  @Test("rpcErrorCode of an SSE response: the first error event after notifications, at any chunk boundary")
  func eventStreamErrorCodes() {
    let notification =
      ": keep-alive comment\r\nevent: message\r\nid: a\r\n"
      + #"data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"# + "\r\n\r\n"
    let error = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":4,\ndata: \"error\":{\"code\":-32603}}\n\n"
    let later = "data:{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-1,\"message\":\"later\"}}\r\r"
    let stream = notification + error + later
    #expect(errorCode(contentType: "text/event-stream", [stream]) == -32603)
    let bytes = Array(stream.utf8)
    for cut in 1..<bytes.count {
      let parts = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
      #expect(errorCode(contentType: "text/event-stream", parts) == -32603, "cut at \(cut)")
    }
    var byByte = ResponseErrorCodeReader(contentType: "text/event-stream", limit: 64 * 1024)
    for byte in bytes { byByte.append(ByteBuffer(bytes: [byte])) }
    #expect(byByte.errorCode == -32603)
    // CR-only line ends, and a result event yields nil.
    let ok = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\r"
    #expect(errorCode(contentType: "text/event-stream", [ok]) == nil)
    let okThenError = ok + "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":7}}\r\r"
    #expect(errorCode(contentType: "text/event-stream", [okThenError]) == 7)
    // An event that ends past the limit is not looked at.
    let errorEnd = (notification + error).utf8.count
    #expect(errorCode(contentType: "text/event-stream", [stream], limit: errorEnd) == -32603)
    #expect(errorCode(contentType: "text/event-stream", [stream], limit: errorEnd - 1) == nil)
  }
}
