import Foundation
import LabSupport
import MCPTunnelTestSupport
import NIOCore
import NIOHTTP1
import TestTiers
import Testing
import TokenProxy
import TunnelCore

/// One hostile request: raw bytes (`HOST` stands for the listen address) and the answer due.
struct HostileCase: Sendable, CustomTestStringConvertible {
  var name: String
  var raw: String
  var status: Int
  var code: String

  init(_ name: String, _ raw: String, _ status: Int, _ code: String) {
    self.name = name
    self.raw = raw
    self.status = status
    self.code = code
  }

  var testDescription: String { name }
  func bytes(port: Int) -> [UInt8] { Array(raw.replacingOccurrences(of: "HOST", with: "127.0.0.1:\(port)").utf8) }
}

/// Hostile HTTP/1.1 input to the local listener, as raw bytes: each bad request gets a JSON 4xx
/// (`error`, `message`, `fix`) or a clean close, its connection closes when the framing is
/// ambiguous, the upstream receives nothing of it, and the proxy goes on serving new connections.
/// The size limits are small here so that each case is quick, and the timeouts long, so that a
/// loaded machine (the whole suite runs at once in CI) never trips one by accident; the tests about
/// timeouts use `quick`. `HTTPTokenProxy.Limits` documents the defaults. Serialized: each case
/// starts its own proxy and upstream, and seventy of them at once only add load.
@Suite("Hostile HTTP input to the http listener", .offPool, .serialized, .timeLimit(.minutes(5)))
struct HostileHTTPTests {
  static let limits = HTTPTokenProxy.Limits(
    requestHead: 4096, headerFields: 32, requestBody: 16 * 1024, headTimeout: .seconds(60), idleTimeout: .seconds(60),
    bodyTimeout: .seconds(60))

  /// `limits` with timeouts of a second or two, for the tests about timeouts.
  static var quick: HTTPTokenProxy.Limits {
    var limits = Self.limits
    limits.headTimeout = .seconds(1)
    limits.idleTimeout = .seconds(2)
    limits.bodyTimeout = .seconds(1)
    return limits
  }

  static let post = "POST /mcp HTTP/1.1\r\nHost: HOST\r\n"
  static let chunked = post + "Transfer-Encoding: chunked\r\n\r\n"

  static let framingCases: [HostileCase] = [
    HostileCase(
      "CL then TE", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad_request"),
    HostileCase(
      "TE then CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, "bad_framing"),
    HostileCase(
      "TE xchunked with CL", post + "Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\nhello", 400, "bad_request"),
    HostileCase("TE xchunked alone", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400, "bad_framing"),
    HostileCase(
      "TE ' chunked' with CL", post + "Content-Length: 5\r\nTransfer-Encoding:  chunked\r\n\r\n0\r\n\r\n", 400,
      "bad_request"),
    HostileCase(
      "TE tab-chunked with CL", post + "Content-Length: 5\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n", 400,
      "bad_request"),
    HostileCase(
      "TE 'chunked, identity'", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, "bad_request"),
    HostileCase(
      "TE chunked twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
      "bad_request"),
    HostileCase(
      "TE name with space before colon", post + "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello", 400,
      "bad_request"),
    HostileCase(
      "duplicate differing CL", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, "bad_framing"),
    HostileCase("CL list '5, 6'", post + "Content-Length: 5, 6\r\n\r\nhello!", 400, "bad_framing"),
    HostileCase("CL -1", post + "Content-Length: -1\r\n\r\n", 400, "bad_framing"),
    HostileCase("CL +5", post + "Content-Length: +5\r\n\r\nhello", 400, "bad_framing"),
    HostileCase("CL 0x10", post + "Content-Length: 0x10\r\n\r\n0123456789abcdef", 400, "bad_framing"),
    HostileCase("CL empty", post + "Content-Length: \r\n\r\n", 400, "bad_framing"),
    HostileCase("CL '1 0'", post + "Content-Length: 1 0\r\n\r\n0123456789", 400, "bad_framing"),
    HostileCase("CL beyond UInt64", post + "Content-Length: 99999999999999999999999\r\n\r\n", 400, "bad_framing"),
  ]

  static let chunksCases: [HostileCase] = [
    HostileCase("chunk size not hex", chunked + "zz\r\nhello\r\n0\r\n\r\n", 400, "bad_framing"),
    HostileCase("chunk size negative", chunked + "-5\r\nhello\r\n0\r\n\r\n", 400, "bad_framing"),
    HostileCase("chunk size overflows", chunked + "1FFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n", 400, "bad_framing"),
    HostileCase("chunk data without its CRLF", chunked + "5\r\nhelloXX0\r\n\r\n", 400, "bad_request"),
    HostileCase("chunk size with a space", chunked + "5 5\r\nhello\r\n0\r\n\r\n", 400, "bad_framing"),
    HostileCase("chunk extension with a control byte", chunked + "5;a=\u{1}\r\nhello\r\n0\r\n\r\n", 400, "bad_request"),
    HostileCase("chunk lines ended by bare LF", chunked + "5\nhello\n0\n\n", 400, "bad_request"),
  ]

  static let fieldsCases: [HostileCase] = [
    HostileCase("obs-fold continuation line", post + "Content-Length: 0\r\nX-A: a\r\n b\r\n\r\n", 400, "bad_request"),
    HostileCase("obs-fold of Host", "GET /mcp HTTP/1.1\r\nHost:\r\n HOST\r\n\r\n", 400, "bad_request"),
    HostileCase("bare CR in a value", post + "X-A: a\rX-B: b\r\nContent-Length: 0\r\n\r\n", 400, "bad_request"),
    HostileCase("bare LF ends a field", post + "X-A: a\nContent-Length: 0\r\n\r\n", 400, "bad_request"),
    HostileCase("bare LF line ends only", "GET /mcp HTTP/1.1\nHost: HOST\n\n", 505, "http_version_not_supported"),
    HostileCase("NUL in a value", post + "X-A: a\u{0}b\r\nContent-Length: 0\r\n\r\n", 400, "bad_request"),
    HostileCase("NUL in a name", post + "X-\u{0}A: a\r\nContent-Length: 0\r\n\r\n", 400, "bad_request"),
    HostileCase("space before the colon", "GET /mcp HTTP/1.1\r\nHost : HOST\r\n\r\n", 400, "bad_request"),
    HostileCase("field without a colon", post + "X-Injected\r\nContent-Length: 0\r\n\r\n", 400, "bad_request"),
    HostileCase("CR LF injected into a value", post + "X-A: a\r\r\nContent-Length: 0\r\n\r\n", 400, "bad_request"),
  ]

  static let requestLinesCases: [HostileCase] = [
    HostileCase("HTTP/0.9 request line", "GET /mcp\r\n\r\n", 505, "http_version_not_supported"),
    HostileCase("HTTP/2.0 request line", "GET /mcp HTTP/2.0\r\nHost: HOST\r\n\r\n", 505, "http_version_not_supported"),
    HostileCase("HTTP/2 prior knowledge", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "http_version_not_supported"),
    HostileCase("invalid method", "G@T /mcp HTTP/1.1\r\nHost: HOST\r\n\r\n", 400, "bad_request"),
    HostileCase("HTTP/1.0 without Host", "GET /mcp HTTP/1.0\r\n\r\n", 400, "bad_host"),
    HostileCase(
      "absolute-form target", "GET http://HOST/mcp HTTP/1.1\r\nHost: HOST\r\n\r\n", 400, "bad_request_target"),
    HostileCase("authority-form target", "CONNECT HOST HTTP/1.1\r\nHost: HOST\r\n\r\n", 405, "method_not_allowed"),
    HostileCase("asterisk-form target", "OPTIONS * HTTP/1.1\r\nHost: HOST\r\n\r\n", 400, "bad_request_target"),
  ]

  static let sizesCases: [HostileCase] = [
    HostileCase(
      "request target over the head limit",
      "GET /" + String(repeating: "a", count: 5000) + " HTTP/1.1\r\nHost: HOST\r\n\r\n",
      431, "request_head_too_large"),
    HostileCase(
      "one value over the head limit",
      "GET /mcp HTTP/1.1\r\nHost: HOST\r\nX-Big: \(String(repeating: "b", count: 5000))\r\n\r\n",
      431, "request_head_too_large"),
    HostileCase(
      "header block over the head limit",
      "GET /mcp HTTP/1.1\r\nHost: HOST\r\n"
        + (0..<8).map { "X-\($0): \(String(repeating: "c", count: 700))\r\n" }.joined() + "\r\n",
      431, "request_head_too_large"),
    HostileCase(
      "too many header fields",
      "GET /mcp HTTP/1.1\r\nHost: HOST\r\n" + (0..<40).map { "X-\($0): 1\r\n" }.joined() + "\r\n",
      431, "request_head_too_large"),
    HostileCase(
      "Content-Length over the body limit", post + "Content-Length: 1000000\r\n\r\nabc", 413, "body_too_large"),
    HostileCase(
      "Content-Length of UInt64.max", post + "Content-Length: 18446744073709551615\r\n\r\n", 413, "body_too_large"),
  ]

  // MARK: one bad request

  @Test(
    "framing: CL+TE in both orders, chunked look-alikes, bad or duplicate Content-Length → 400 + close",
    arguments: Self.framingCases)
  func framing(_ hostile: HostileCase) async throws { try await expectRefusedAlone(hostile) }

  @Test("chunked bodies: invalid chunk sizes, missing CRLF, extension abuse → 400 + close", arguments: Self.chunksCases)
  func chunks(_ hostile: HostileCase) async throws { try await expectRefusedAlone(hostile) }

  @Test("header fields: obs-fold, bare CR/LF, NUL, space before colon → 400 + close", arguments: Self.fieldsCases)
  func fields(_ hostile: HostileCase) async throws { try await expectRefusedAlone(hostile) }

  @Test(
    "request lines: HTTP/0.9, HTTP/2, HTTP/1.0 without Host, non-origin targets → 4xx/505 + close",
    arguments: Self.requestLinesCases)
  func requestLines(_ hostile: HostileCase) async throws { try await expectRefusedAlone(hostile) }

  @Test(
    "sizes: head over Limits.requestHead or headerFields → 431; body over Limits.requestBody → 413",
    arguments: Self.sizesCases)
  func sizes(_ hostile: HostileCase) async throws { try await expectRefusedAlone(hostile) }

  /// Sends `hostile` on its own connection and checks the refusal, that nothing reached the
  /// upstream, the error count, and that a good request on a new connection is still served.
  func expectRefusedAlone(_ hostile: HostileCase) async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let received = try await withTimeout(20, hostile.name) {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send(hostile.bytes(port: h.port))
        return await client.waitForClose()
      }
    }
    try expectRefusal(received, hostile.status, hostile.code)
    #expect(h.forwarder.openedCount == 0, "no upstream stream may be opened for a refused request")
    #expect(h.upstream.headsReceived.isEmpty)
    #expect(h.proxy.counters.errors == 1)
    try await expectStillServes(h)
  }

  func expectRefusal(
    _ received: RawHTTPClient.Received, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let responses = received.responses
    #expect(responses.count == 1, "exactly one answer: \(received.text)", sourceLocation: sourceLocation)
    let answer = try #require(responses.last, "no answer: \(received.text)", sourceLocation: sourceLocation)
    #expect(answer.status == status, "\(received.text)", sourceLocation: sourceLocation)
    #expect(answer.errorCode == code, "\(received.text)", sourceLocation: sourceLocation)
    #expect(answer.header("content-type") == "application/json", sourceLocation: sourceLocation)
    #expect((answer.json["message"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    #expect((answer.json["fix"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    #expect(answer.header("connection")?.lowercased() == "close", sourceLocation: sourceLocation)
    #expect(received.closed, "the connection must close after the refusal", sourceLocation: sourceLocation)
  }

  /// A good request on a new connection is answered by the upstream: no crash, no wedged loop.
  func expectStillServes(_ h: ProxyHarness, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let before = h.upstream.requests.count
    let served = try await request(port: h.port, .POST, "/mcp", body: #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
    #expect(served?.status == 200, sourceLocation: sourceLocation)
    #expect(h.upstream.requests.count == before + 1, sourceLocation: sourceLocation)
    #expect(h.upstream.requests.last?.bodyText == #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
  }

  // MARK: pipelining and smuggling

  static let smuggledCases: [HostileCase] = [
    HostileCase(
      "CL+TE",
      "POST /smuggled HTTP/1.1\r\nHost: HOST\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
      "bad_request"),
    HostileCase(
      "TE chunked, identity",
      "POST /smuggled HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400,
      "bad_request"),
    HostileCase(
      "differing CL", "POST /smuggled HTTP/1.1\r\nHost: HOST\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400,
      "bad_framing"),
    HostileCase(
      "invalid chunk size", "POST /smuggled HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
      400, "bad_framing"),
    HostileCase("obs-fold", "GET /smuggled HTTP/1.1\r\nHost: HOST\r\nX-A: a\r\n b\r\n\r\n", 400, "bad_request"),
    HostileCase("bare LF", "GET /smuggled HTTP/1.1\nHost: HOST\n\n", 505, "http_version_not_supported"),
  ]

  @Test(
    "smuggling by pipelining: a good request and a bad one in one packet → the first answered, the second refused, upstream sees only the first",
    arguments: Self.smuggledCases)
  func pipelinedSmuggling(_ hostile: HostileCase) async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let good = Array("GET /one HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\n\r\n".utf8)
    let received = try await withTimeout(20, hostile.name) {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send(good + hostile.bytes(port: h.port) + good)
        return await client.waitForClose()
      }
    }
    let responses = received.responses
    #expect(responses.count == 2, "\(received.text)")
    #expect(responses.first?.status == 200)
    #expect(responses.last?.status == hostile.status, "\(received.text)")
    #expect(responses.last?.errorCode == hostile.code)
    #expect(received.closed)
    #expect(
      h.upstream.headsReceived == ["GET /one"], "neither the smuggled request nor the one after it may be forwarded")
    #expect(h.proxy.counters.errors == 1)
    try await expectStillServes(h)
  }

  @Test(
    "an upgrade request (h2c smuggling) is forwarded without the upgrade and its connection closes; nothing after it is read"
  )
  func upgradeClosesConnection() async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let host = "127.0.0.1:\(h.port)"
    let received = try await withTimeout(20, "h2c upgrade") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send(
          "GET /mcp HTTP/1.1\r\nHost: \(host)\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            + "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: \(host)\r\n\r\n")
        return await client.waitForClose()
      }
    }
    let responses = received.responses
    #expect(responses.map(\.status) == [200], "\(received.text)")
    #expect(responses.first?.header("connection")?.lowercased() == "close")
    #expect(received.closed)
    #expect(h.upstream.headsReceived == ["GET /mcp"])
    let seen = try #require(h.upstream.requests.first)
    #expect(!seen.headers.contains(name: "upgrade") && !seen.headers.contains(name: "http2-settings"))
    try await expectStillServes(h)
  }

  @Test(
    "HTTP/1.0 keep-alive: the request is answered in HTTP/1.0 and the connection closes; a pipelined second one is not read"
  )
  func http10KeepAlive() async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let host = "127.0.0.1:\(h.port)"
    let received = try await withTimeout(20, "HTTP/1.0 keep-alive") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send(
          "GET /old HTTP/1.0\r\nHost: \(host)\r\nConnection: keep-alive\r\n\r\n"
            + "GET /second HTTP/1.0\r\nHost: \(host)\r\nConnection: keep-alive\r\n\r\n")
        return await client.waitForClose()
      }
    }
    let responses = received.responses
    #expect(responses.count == 1, "\(received.text)")
    #expect(responses.first?.version == "HTTP/1.0" && responses.first?.status == 200)
    #expect(received.closed)
    #expect(h.upstream.headsReceived == ["GET /old"])
  }

  // MARK: bodies over the limit

  @Test("a declared body over Limits.requestBody with Expect: 100-continue → 413 at once, no 100, nothing forwarded")
  func declaredBodyTooLarge() async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let received = try await withTimeout(20, "413") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send(
          "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nContent-Length: 17000\r\nExpect: 100-continue\r\n\r\n")
        return await client.waitForClose()
      }
    }
    try expectRefusal(received, 413, "body_too_large")
    #expect(!received.text.contains("100 Continue"))
    #expect(h.forwarder.openedCount == 0)
    let record = try #require(try await h.waitForRecords(1).first)
    #expect(record.status == 413 && record.answeredBy == .proxy && record.detail == "body_too_large")
    #expect(record.completed && record.requestBytes == 0 && record.bodyKind == .incomplete)
    #expect(h.proxy.counters.errors == 1 && h.proxy.counters.requests == 1)
    try await expectStillServes(h)
  }

  @Test(
    "a chunked body that grows past Limits.requestBody after its head was forwarded → 413, close, upstream stream aborted"
  )
  func chunkedBodyTooLarge() async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let received = try await withTimeout(20, "chunked 413") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send("POST /upload HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nTransfer-Encoding: chunked\r\n\r\n")
        await client.send("400\r\n" + String(repeating: "a", count: 1024) + "\r\n")
        // Wait until the head and the first KiB are upstream: the request is being streamed.
        for _ in 0..<500 where h.upstream.bodyBytesReceived < 1024 { try await Task.sleep(for: .milliseconds(10)) }
        let piece = "1000\r\n" + String(repeating: "b", count: 4096) + "\r\n"
        for _ in 0..<8 { await client.send(piece) }
        return await client.waitForClose()
      }
    }
    #expect(h.upstream.headsReceived == ["POST /upload"])
    try expectRefusal(received, 413, "body_too_large")
    for _ in 0..<500 where h.upstream.connectionsClosed < 1 { try await Task.sleep(for: .milliseconds(10)) }
    #expect(h.upstream.connectionsClosed == 1, "the upstream stream must be aborted")
    #expect(h.upstream.requests.isEmpty, "the upstream never sees a complete request")
    #expect(h.upstream.bodyBytesReceived <= Self.limits.requestBody)
    #expect(h.proxy.counters.errors == 1)
    try await expectStillServes(h)
  }

  @Test("a malformed chunk after the head was forwarded → 400, close, and the upstream stream is aborted")
  func badChunkMidStream() async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let received = try await withTimeout(20, "bad chunk mid-stream") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send(
          "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        for _ in 0..<500 where h.upstream.bodyBytesReceived < 5 { try await Task.sleep(for: .milliseconds(10)) }
        await client.send("5\r\nworldXX0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\n\r\n")
        return await client.waitForClose()
      }
    }
    try expectRefusal(received, 400, "bad_request")
    let record = try #require(try await h.waitForRecords(1).first)
    #expect(record.status == 400 && record.detail == "bad_request" && record.answeredBy == .proxy && record.completed)
    #expect(record.tenant == nil && h.proxy.counters.errors == 1)
    for _ in 0..<500 where h.upstream.connectionsClosed < 1 { try await Task.sleep(for: .milliseconds(10)) }
    #expect(h.upstream.connectionsClosed == 1)
    #expect(h.upstream.requests.isEmpty)
    #expect(h.upstream.headsReceived == ["POST /upload"])
    try await expectStillServes(h)
  }

  @Test("chunk extension abuse: a 64 KiB extension is parsed away, never forwarded; the chunk data arrives intact")
  func longChunkExtension() async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let ext = String(repeating: ";a=b", count: 16 * 1024)
    let received = try await withTimeout(20, "long chunk extension") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send(
          "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nTransfer-Encoding: chunked\r\n\r\n5\(ext)\r\nhello\r\n0\r\n\r\n"
        )
        return await client.wait { $0.responses.count == 1 }
      }
    }
    #expect(received.responses.first?.status == 200, "\(received.text.prefix(300))")
    #expect(h.upstream.requests.map(\.bodyText) == ["hello"])
  }

  @Test("chunk extension abuse: an endless extension makes no body progress → 408 + close after Limits.bodyTimeout")
  func endlessChunkExtension() async throws {
    let h = try await ProxyHarness(limits: Self.quick)
    defer { Task { await h.stop() } }
    let received = try await withTimeout(30, "endless chunk extension") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nTransfer-Encoding: chunked\r\n\r\n5")
        for _ in 0..<150 {
          guard await client.send(";a=b"), !client.received.closed else { break }
          try await Task.sleep(for: .milliseconds(100))
        }
        return await client.waitForClose()
      }
    }
    try expectRefusal(received, 408, "request_timeout")
    #expect(h.upstream.requests.isEmpty)
    try await expectStillServes(h)
  }

  // MARK: slow and idle clients

  @Test("slowloris: a head that stops coming → 408 JSON and a close after Limits.headTimeout")
  func headTimeout() async throws {
    let h = try await ProxyHarness(limits: Self.quick)
    defer { Task { await h.stop() } }
    let started = ContinuousClock.now
    let received = try await withTimeout(45, "head timeout") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nContent-Le")
        return await client.waitForClose(seconds: 40)
      }
    }
    let waited = ContinuousClock.now - started
    try expectRefusal(received, 408, "request_timeout")
    // The upper bound only tells "the head timeout fired" from "nothing did" on a loaded machine.
    #expect(waited >= .milliseconds(900) && waited < .seconds(30), "\(waited)")
    #expect(h.upstream.headsReceived.isEmpty && h.forwarder.openedCount == 0)
    #expect(h.proxy.counters.errors == 1)
    #expect(h.proxy.counters.requests == 0 && h.records.isEmpty, "no head, so no request and no record")
    try await expectStillServes(h)
  }

  @Test("slowloris: a head dribbled one byte at a time does not extend Limits.headTimeout")
  func headDribble() async throws {
    let h = try await ProxyHarness(limits: Self.quick)
    defer { Task { await h.stop() } }
    let head = Array(
      "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nX-Slow: \(String(repeating: "s", count: 500))\r\n\r\n".utf8)
    let started = ContinuousClock.now
    let received = try await withTimeout(70, "head dribble") {
      try await RawHTTPClient.with(port: h.port) { client in
        for byte in head {
          guard await client.send([byte]), !client.received.closed else { break }
          try await Task.sleep(for: .milliseconds(100))
        }
        return await client.waitForClose(seconds: 5)
      }
    }
    try expectRefusal(received, 408, "request_timeout")
    #expect(ContinuousClock.now - started < .seconds(40), "the dribble (53 s in full) must be cut short")
    #expect(h.upstream.headsReceived.isEmpty)
    try await expectStillServes(h)
  }

  @Test(
    "a body that stops arriving → 408 and a close after Limits.bodyTimeout; the upstream never gets a complete request")
  func bodyStall() async throws {
    let h = try await ProxyHarness(limits: Self.quick)
    defer { Task { await h.stop() } }
    let received = try await withTimeout(20, "body stall") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":")
        return await client.waitForClose(seconds: 15)
      }
    }
    try expectRefusal(received, 408, "request_timeout")
    #expect(h.upstream.requests.isEmpty)
    let record = try #require(try await h.waitForRecords(1).first)
    #expect(record.status == 408 && record.detail == "request_timeout" && record.answeredBy == .proxy)
    #expect(h.proxy.counters.errors == 1)
    try await expectStillServes(h)
  }

  @Test("a slow but steady body is not cut: Limits.bodyTimeout bounds the pause between parts, not the whole body")
  func slowSteadyBody() async throws {
    var limits = Self.quick
    limits.bodyTimeout = .seconds(5)
    let h = try await ProxyHarness(limits: limits)
    defer { Task { await h.stop() } }
    let parts = (0..<6).map { #"{"part":\#($0)}"# }
    let body = parts.joined()
    let received = try await withTimeout(30, "slow body") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send(
          "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        for part in parts {
          try await Task.sleep(for: .seconds(1))
          await client.send(part)
        }
        return await client.wait { $0.responses.count == 1 }
      }
    }
    #expect(received.responses.first?.status == 200, "\(received.text)")
    #expect(h.upstream.requests.first?.bodyText == body)
  }

  @Test("time the proxy holds reads (a slow token source) does not count against Limits.bodyTimeout")
  func heldReadsNotBlamed() async throws {
    let h = try await ProxyHarness(limits: Self.quick)
    defer { Task { await h.stop() } }
    h.tokens.delayCurrentToken(by: .seconds(3))
    let received = try await withTimeout(30, "slow token") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nContent-Length: 2\r\n\r\n")
        try await Task.sleep(for: .milliseconds(1200))
        await client.send("{}")
        return await client.wait { $0.responses.count == 1 }
      }
    }
    #expect(received.responses.first?.status == 200, "\(received.text)")
    #expect(h.upstream.requests.first?.bodyText == "{}")
  }

  @Test("an idle keep-alive connection is closed after Limits.idleTimeout, without an answer; a silent new one too")
  func idleTimeout() async throws {
    let h = try await ProxyHarness(limits: Self.quick)
    defer { Task { await h.stop() } }
    let (afterRequest, silent) = try await withTimeout(30, "idle") {
      async let afterRequest = RawHTTPClient.with(port: h.port) { client in
        await client.send("GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\n\r\n")
        return await client.waitForClose(seconds: 15)
      }
      async let silent = RawHTTPClient.with(port: h.port) { client in await client.waitForClose(seconds: 15) }
      return try await (afterRequest, silent)
    }
    #expect(afterRequest.responses.map(\.status) == [200])
    #expect(afterRequest.closed && !afterRequest.reset)
    #expect(silent.closed && silent.bytes.isEmpty)
    #expect(h.proxy.counters.errors == 0, "closing an idle connection is no error")
  }

  @Test("an SSE response with pauses longer than every timeout is relayed whole: a response under way is never idle")
  func sseNotIdle() async throws {
    let h = try await ProxyHarness(limits: Self.quick) { _ in
      .custom { writer in
        try await writer.head(.ok, [("Content-Type", "text/event-stream")])
        for n in 1...2 {
          try await Task.sleep(for: .milliseconds(2500))
          try await writer.body("data: {\"n\":\(n)}\n\n")
        }
        try await writer.end()
      }
    }
    defer { Task { await h.stop() } }
    let response = try #require(try await request(port: h.port, .GET, "/mcp"))
    #expect(response.status == 200)
    #expect(response.text == "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n")
  }
}
