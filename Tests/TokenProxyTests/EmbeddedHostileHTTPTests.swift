import Foundation
import NIOCore
import NIOHTTP1
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

/// Hostile HTTP/1.1 input to the local listener, as raw bytes, run in process on NIOEmbedded's
/// testing channels (`EmbeddedProxyHarness`): each bad request gets a JSON 4xx (`error`,
/// `message`, `fix`) or a clean close, its connection closes when the framing is ambiguous, the
/// upstream receives nothing of it, and the proxy goes on serving new connections. The deadlines
/// run on the testing loop's clock, which moves only when a test advances it: the timeout cases
/// take no real time and cannot trip by accident on a loaded machine. `HostileHTTPTests` keeps a
/// few of these cases on real sockets; `HTTPTokenProxy.Limits` documents the defaults.
@Suite("Hostile HTTP input to the http listener, in process", .timeLimit(.minutes(5)))
struct EmbeddedHostileHTTPTests {
  static let limits = HTTPTokenProxy.Limits(requestHead: 4096, headerFields: 32, requestBody: 16 * 1024)

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
    let h = EmbeddedProxyHarness(limits: Self.limits)
    let client = try await h.connect()
    await client.send(hostile.bytes(port: h.port))
    try expectRefusal(await client.waitForClose(), hostile.status, hostile.code)
    #expect(h.upstream.openedCount == 0, "no upstream stream may be opened for a refused request")
    #expect(h.upstream.headsReceived.isEmpty)
    #expect(h.counters.errors == 1)
    try await expectStillServes(h)
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
    let h = EmbeddedProxyHarness(limits: Self.limits)
    let good = Array("GET /one HTTP/1.1\r\nHost: \(h.host)\r\n\r\n".utf8)
    let client = try await h.connect()
    await client.send(good + hostile.bytes(port: h.port) + good)
    let received = await client.waitForClose()
    let responses = received.responses
    #expect(responses.count == 2, "\(received.text)")
    #expect(responses.first?.status == 200)
    #expect(responses.last?.status == hostile.status, "\(received.text)")
    #expect(responses.last?.errorCode == hostile.code)
    #expect(received.closed)
    #expect(
      h.upstream.headsReceived == ["GET /one"], "neither the smuggled request nor the one after it may be forwarded")
    #expect(h.counters.errors == 1)
    try await expectStillServes(h)
  }

  @Test(
    "an upgrade request (h2c smuggling) is forwarded without the upgrade and its connection closes; nothing after it is read"
  )
  func upgradeClosesConnection() async throws {
    let h = EmbeddedProxyHarness(limits: Self.limits)
    let client = try await h.connect()
    await client.send(
      "GET /mcp HTTP/1.1\r\nHost: \(h.host)\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        + "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: \(h.host)\r\n\r\n")
    let received = await client.waitForClose()
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
    let h = EmbeddedProxyHarness(limits: Self.limits)
    let client = try await h.connect()
    await client.send(
      "GET /old HTTP/1.0\r\nHost: \(h.host)\r\nConnection: keep-alive\r\n\r\n"
        + "GET /second HTTP/1.0\r\nHost: \(h.host)\r\nConnection: keep-alive\r\n\r\n")
    let received = await client.waitForClose()
    let responses = received.responses
    #expect(responses.count == 1, "\(received.text)")
    #expect(responses.first?.version == "HTTP/1.0" && responses.first?.status == 200)
    #expect(received.closed)
    #expect(h.upstream.headsReceived == ["GET /old"])
  }

  // MARK: bodies over the limit

  @Test("a declared body over Limits.requestBody with Expect: 100-continue → 413 at once, no 100, nothing forwarded")
  func declaredBodyTooLarge() async throws {
    let h = EmbeddedProxyHarness(limits: Self.limits)
    let client = try await h.connect()
    await client.send(
      "POST /mcp HTTP/1.1\r\nHost: \(h.host)\r\nContent-Length: 17000\r\nExpect: 100-continue\r\n\r\n")
    let received = await client.waitForClose()
    try expectRefusal(received, 413, "body_too_large")
    #expect(!received.text.contains("100 Continue"))
    #expect(h.upstream.openedCount == 0)
    let record = try #require(await h.waitForRecords(1).first)
    #expect(record.status == 413 && record.answeredBy == .proxy && record.detail == "body_too_large")
    #expect(record.completed && record.requestBytes == 0 && record.bodyKind == .incomplete)
    #expect(h.counters.errors == 1 && h.counters.requests == 1)
    try await expectStillServes(h)
  }

  @Test(
    "a chunked body that grows past Limits.requestBody after its head was forwarded → 413, close, upstream stream aborted"
  )
  func chunkedBodyTooLarge() async throws {
    let h = EmbeddedProxyHarness(limits: Self.limits)
    let client = try await h.connect()
    await client.send("POST /upload HTTP/1.1\r\nHost: \(h.host)\r\nTransfer-Encoding: chunked\r\n\r\n")
    await client.send("400\r\n" + String(repeating: "a", count: 1024) + "\r\n")
    // The head and the first KiB are upstream: the request is being streamed.
    await h.waitUntil { h.upstream.bodyBytesReceived >= 1024 }
    let piece = "1000\r\n" + String(repeating: "b", count: 4096) + "\r\n"
    for _ in 0..<8 { await client.send(piece) }
    let received = await client.waitForClose()
    #expect(h.upstream.headsReceived == ["POST /upload"])
    try expectRefusal(received, 413, "body_too_large")
    await h.waitUntil { h.upstream.connectionsClosed >= 1 }
    #expect(h.upstream.connectionsClosed == 1, "the upstream stream must be aborted")
    #expect(h.upstream.requests.isEmpty, "the upstream never sees a complete request")
    #expect(h.upstream.bodyBytesReceived <= Self.limits.requestBody)
    #expect(h.counters.errors == 1)
    try await expectStillServes(h)
  }

  @Test("a malformed chunk after the head was forwarded → 400, close, and the upstream stream is aborted")
  func badChunkMidStream() async throws {
    let h = EmbeddedProxyHarness(limits: Self.limits)
    let client = try await h.connect()
    await client.send("POST /upload HTTP/1.1\r\nHost: \(h.host)\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    await h.waitUntil { h.upstream.bodyBytesReceived >= 5 }
    await client.send("5\r\nworldXX0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: \(h.host)\r\n\r\n")
    try expectRefusal(await client.waitForClose(), 400, "bad_request")
    let record = try #require(await h.waitForRecords(1).first)
    #expect(record.status == 400 && record.detail == "bad_request" && record.answeredBy == .proxy && record.completed)
    #expect(record.tenant == nil && h.counters.errors == 1)
    await h.waitUntil { h.upstream.connectionsClosed >= 1 }
    #expect(h.upstream.connectionsClosed == 1)
    #expect(h.upstream.requests.isEmpty)
    #expect(h.upstream.headsReceived == ["POST /upload"])
    try await expectStillServes(h)
  }

  @Test("chunk extension abuse: a 64 KiB extension is parsed away, never forwarded; the chunk data arrives intact")
  func longChunkExtension() async throws {
    let h = EmbeddedProxyHarness(limits: Self.limits)
    let ext = String(repeating: ";a=b", count: 16 * 1024)
    let client = try await h.connect()
    await client.send(
      "POST /mcp HTTP/1.1\r\nHost: \(h.host)\r\nTransfer-Encoding: chunked\r\n\r\n5\(ext)\r\nhello\r\n0\r\n\r\n")
    let received = await client.wait { $0.responses.count == 1 || $0.closed }
    #expect(received.responses.first?.status == 200, "\(received.text.prefix(300))")
    #expect(h.upstream.requests.map(\.bodyText) == ["hello"])
  }

  @Test("chunk extension abuse: an endless extension makes no body progress → 408 + close after Limits.bodyTimeout")
  func endlessChunkExtension() async throws {
    let h = EmbeddedProxyHarness(limits: Self.quick)
    let client = try await h.connect()
    await client.send("POST /mcp HTTP/1.1\r\nHost: \(h.host)\r\nTransfer-Encoding: chunked\r\n\r\n5")
    // The head is forwarded: from here on the proxy reads, so every pause is the client's.
    await h.waitUntil { h.upstream.headsReceived.count == 1 }
    var sent = 0
    while sent < 150, await client.send(";a=b"), !client.received.closed {
      sent += 1
      await h.advanceTime(by: .milliseconds(100))
    }
    try expectRefusal(await client.waitForClose(), 408, "request_timeout")
    #expect(sent >= 9 && sent < 20, "cut after about Limits.bodyTimeout (1 s) of 100 ms pieces: \(sent)")
    #expect(h.upstream.requests.isEmpty)
    try await expectStillServes(h)
  }

  // MARK: slow and idle clients

  @Test("slowloris: a head that stops coming → 408 JSON and a close after Limits.headTimeout")
  func headTimeout() async throws {
    let h = EmbeddedProxyHarness(limits: Self.quick)
    let client = try await h.connect()
    await client.send("POST /mcp HTTP/1.1\r\nHost: \(h.host)\r\nContent-Le")
    await h.advanceTime(by: .milliseconds(999))
    #expect(!client.received.closed, "closed before Limits.headTimeout")
    await h.advanceTime(by: .milliseconds(1))
    try expectRefusal(await client.waitForClose(), 408, "request_timeout")
    #expect(h.upstream.headsReceived.isEmpty && h.upstream.openedCount == 0)
    #expect(h.counters.errors == 1)
    #expect(h.counters.requests == 0 && h.records.isEmpty, "no head, so no request and no record")
    try await expectStillServes(h)
  }

  @Test("slowloris: a head dribbled one byte at a time does not extend Limits.headTimeout")
  func headDribble() async throws {
    let h = EmbeddedProxyHarness(limits: Self.quick)
    let slow = String(repeating: "s", count: 500)
    let head = Array("GET /mcp HTTP/1.1\r\nHost: \(h.host)\r\nX-Slow: \(slow)\r\n\r\n".utf8)
    let client = try await h.connect()
    var sent = 0
    for byte in head {
      guard await client.send([byte]), !client.received.closed else { break }
      sent += 1
      await h.advanceTime(by: .milliseconds(100))
    }
    try expectRefusal(await client.waitForClose(), 408, "request_timeout")
    #expect(sent <= 11, "the dribble (53 s in full) must be cut after Limits.headTimeout: \(sent) bytes sent")
    #expect(h.upstream.headsReceived.isEmpty)
    try await expectStillServes(h)
  }

  @Test(
    "a body that stops arriving → 408 and a close after Limits.bodyTimeout; the upstream never gets a complete request")
  func bodyStall() async throws {
    let h = EmbeddedProxyHarness(limits: Self.quick)
    let client = try await h.connect()
    await client.send("POST /mcp HTTP/1.1\r\nHost: \(h.host)\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":")
    await h.waitUntil { h.upstream.bodyBytesReceived == 11 }
    await h.advanceTime(by: .milliseconds(999))
    #expect(!client.received.closed, "closed before Limits.bodyTimeout")
    await h.advanceTime(by: .milliseconds(1))
    try expectRefusal(await client.waitForClose(), 408, "request_timeout")
    #expect(h.upstream.requests.isEmpty)
    let record = try #require(await h.waitForRecords(1).first)
    #expect(record.status == 408 && record.detail == "request_timeout" && record.answeredBy == .proxy)
    #expect(h.counters.errors == 1)
    try await expectStillServes(h)
  }

  @Test("a slow but steady body is not cut: Limits.bodyTimeout bounds the pause between parts, not the whole body")
  func slowSteadyBody() async throws {
    var limits = Self.quick
    limits.bodyTimeout = .seconds(5)
    let h = EmbeddedProxyHarness(limits: limits)
    let parts = (0..<6).map { #"{"part":\#($0)}"# }
    let body = parts.joined()
    let client = try await h.connect()
    await client.send("POST /mcp HTTP/1.1\r\nHost: \(h.host)\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
    await h.waitUntil { h.upstream.headsReceived.count == 1 }
    for part in parts {
      await h.advanceTime(by: .seconds(1))
      await client.send(part)
    }
    let received = await client.wait { $0.responses.count == 1 || $0.closed }
    #expect(received.responses.first?.status == 200, "\(received.text)")
    #expect(h.upstream.requests.first?.bodyText == body)
  }

  @Test("time the proxy holds reads (a slow token source) does not count against Limits.bodyTimeout")
  func heldReadsNotBlamed() async throws {
    let h = EmbeddedProxyHarness(limits: Self.quick)
    h.heldTokens.hold()
    let client = try await h.connect()
    await client.send("POST /mcp HTTP/1.1\r\nHost: \(h.host)\r\nContent-Length: 2\r\n\r\n")
    await h.waitUntil { h.heldTokens.currentTokenCalls == 1 }
    await h.advanceTime(by: .milliseconds(1200))
    await client.send("{}")
    await h.advanceTime(by: .milliseconds(1800))
    #expect(!client.received.closed, "the 3 s the token took were blamed on the client")
    h.heldTokens.release()
    let received = await client.wait { $0.responses.count == 1 || $0.closed }
    #expect(received.responses.first?.status == 200, "\(received.text)")
    #expect(h.upstream.requests.first?.bodyText == "{}")
  }

  @Test("an idle keep-alive connection is closed after Limits.idleTimeout, without an answer; a silent new one too")
  func idleTimeout() async throws {
    let h = EmbeddedProxyHarness(limits: Self.quick)
    let afterRequest = try await h.connect()
    let silent = try await h.connect()
    await afterRequest.send("GET /mcp HTTP/1.1\r\nHost: \(h.host)\r\n\r\n")
    await afterRequest.wait { $0.responses.count == 1 }
    await h.advanceTime(by: .milliseconds(1999))
    #expect(!afterRequest.received.closed && !silent.received.closed, "closed before Limits.idleTimeout")
    await h.advanceTime(by: .milliseconds(1))
    let answered = await afterRequest.waitForClose()
    #expect(answered.responses.map(\.status) == [200])
    let quiet = await silent.waitForClose()
    #expect(quiet.bytes.isEmpty)
    #expect(h.counters.errors == 0, "closing an idle connection is no error")
  }

  @Test("an SSE response with pauses longer than every timeout is relayed whole: a response under way is never idle")
  func sseNotIdle() async throws {
    let events = (Gate(), Gate())
    let h = EmbeddedProxyHarness(limits: Self.quick) { _ in
      .custom { writer in
        try await writer.head(.ok, [("Content-Type", "text/event-stream")])
        await events.0.wait()
        try await writer.body("data: {\"n\":1}\n\n")
        await events.1.wait()
        try await writer.body("data: {\"n\":2}\n\n")
        try await writer.end()
      }
    }
    let client = try await h.connect()
    await client.send("GET /mcp HTTP/1.1\r\nHost: \(h.host)\r\n\r\n")
    await client.wait { $0.text.hasPrefix("HTTP/1.1 200") && $0.text.contains("\r\n\r\n") }
    await h.advanceTime(by: .milliseconds(2500))
    events.0.open()
    await client.wait { $0.text.contains("\"n\":1") }
    await h.advanceTime(by: .milliseconds(2500))
    events.1.open()
    let received = await client.wait { $0.responses.count == 1 || $0.closed }
    let response = try #require(received.responses.first, "\(received.text)")
    #expect(response.status == 200)
    #expect(String(decoding: response.body, as: UTF8.self) == "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n")
    #expect(!received.closed)
  }
}

/// Checks that `received` is exactly one JSON refusal (`status`, `error` = `code`, a `message` and a
/// `fix`, `Connection: close`) and that the connection closed after it.
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
func expectStillServes(_ h: EmbeddedProxyHarness, sourceLocation: SourceLocation = #_sourceLocation) async throws {
  let before = h.upstream.requests.count
  let served = try await h.request("POST", "/mcp", body: #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
  #expect(served?.status == 200, sourceLocation: sourceLocation)
  #expect(h.upstream.requests.count == before + 1, sourceLocation: sourceLocation)
  #expect(h.upstream.requests.last?.bodyText == #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
}
