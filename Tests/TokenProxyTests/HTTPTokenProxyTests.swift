import Foundation
import LabSupport
import MCPTunnelTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import TestTiers
import Testing
import TokenProxy
import TunnelCore

/// The http proxy end to end: a NIO client → `HTTPTokenProxy` → `InMemoryPortForwarder` stream →
/// a pump thread → `TestUpstream` (a NIO HTTP server playing the MCP server).
@Suite("HTTPTokenProxy end to end", .offPool, .timeLimit(.minutes(3)))
struct HTTPTokenProxyTests {
  static let rpcBody = #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#
  static let invalidToken = #"Bearer error="invalid_token", error_description="The access token expired""#

  // MARK: headers

  @Test("USE-01/02/07: client credentials are stripped, the tenant bearer injected, MCP headers unchanged")
  func headerRewrite() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    let response = try await request(
      port: h.port, .POST, "/mcp?x=1",
      headers: [
        ("Authorization", "Bearer client-supplied"), ("Proxy-Authorization", "Basic eDp5"), ("Cookie", "sid=1"),
        ("DPoP", "eyJ.proof"), ("Connection", "X-Hop"), ("X-Hop", "secret"), ("Mcp-Session-Id", "session-1"),
        ("MCP-Protocol-Version", "2025-11-25"), ("Last-Event-ID", "evt-9"),
        ("Accept", "application/json, text/event-stream"), ("Content-Type", "application/json"),
        ("X-Custom", "kept"),
      ], body: Self.rpcBody)
    #expect(response?.status == 200)
    let seen = try #require(h.upstream.requests.first)
    #expect(seen.headers["authorization"] == ["Bearer acme-token-1"])
    #expect(seen.headers["host"] == [ProxyHarness.upstreamHost])
    for gone in ["proxy-authorization", "cookie", "dpop", "x-hop", "connection"] {
      #expect(!seen.headers.contains(name: gone), "\(gone) reached the upstream")
    }
    #expect(seen.headers["mcp-session-id"] == ["session-1"])
    #expect(seen.headers["mcp-protocol-version"] == ["2025-11-25"])
    #expect(seen.headers["last-event-id"] == ["evt-9"])
    #expect(seen.headers["accept"] == ["application/json, text/event-stream"])
    #expect(seen.headers["content-type"] == ["application/json"])
    #expect(seen.headers["x-custom"] == ["kept"])
    #expect(seen.uri == "/mcp?x=1")
    #expect(seen.bodyText == Self.rpcBody)

    let record = try #require(try await h.waitForRecords(1).first)
    #expect(record.method == "POST" && record.path == "/mcp" && record.status == 200)
    #expect(record.rpcMethod == "tools/call" && record.rpcName == "whoami" && record.rpcID == "7")
    #expect(record.tenant?.rawValue == "acme" && record.generation == 1)
    #expect(record.answeredBy == .upstream && record.completed)
    #expect(h.proxy.counters.requests == 1 && h.proxy.counters.errors == 0)
  }

  @Test("USE-01: GET (SSE) and DELETE carry the bearer too; a response challenge never reaches the client")
  func everyMethodCarriesTheBearer() async throws {
    let h = try await ProxyHarness { _ in
      .text(.ok, headers: [("WWW-Authenticate", #"Bearer realm="mcp""#), ("Mcp-Session-Id", "s")], body: "ok")
    }
    defer { Task { await h.stop() } }
    for method in [HTTPMethod.GET, .DELETE, .POST] {
      let response = try await request(port: h.port, method, "/mcp", body: method == .POST ? "{}" : nil)
      #expect(response?.status == 200)
      #expect(response?.head.headers.contains(name: "www-authenticate") == false)
      #expect(response?.head.headers["mcp-session-id"] == ["s"])
    }
    #expect(h.upstream.requests.map(\.authorization) == Array(repeating: "Bearer acme-token-1", count: 3))
  }

  // MARK: local answers

  @Test(
    "LP-01: a foreign Host or Origin gets 403 JSON and is never forwarded",
    arguments: [
      [("Host", "evil.example:7700")], [("Host", "127.0.0.1:1")], [("Origin", "http://evil.example")],
      [("Origin", "null")], [("Origin", "http://localhost.evil.example:80")],
    ])
  func rebinding(_ headers: [(String, String)]) async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    let response = try #require(try await request(port: h.port, .POST, "/mcp", headers: headers, body: "{}"))
    #expect(response.status == 403)
    #expect(response.head.headers["content-type"] == ["application/json"])
    #expect((response.json["error"] as? String)?.hasPrefix("forbidden_") == true, "\(response.text)")
    #expect(h.upstream.requests.isEmpty)
    #expect(h.forwarder.openedCount == 0)
    #expect(h.proxy.counters.errors == 1)
  }

  @Test("LP-01: localhost, 127.0.0.1 and [::1] with the listen port, and loopback origins, are served")
  func loopbackNamesServed() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    for host in ["localhost:\(h.port)", "127.0.0.1:\(h.port)", "[::1]:\(h.port)"] {
      let response = try await request(
        port: h.port, .POST, "/mcp", headers: [("Host", host), ("Origin", "http://localhost:6274")], body: "{}")
      #expect(response?.status == 200, "Host \(host)")
    }
    #expect(h.upstream.requests.count == 3)
  }

  @Test("USE-06: OAuth discovery requests get a local 404 JSON; the upstream sees nothing; keep-alive holds")
  func discoveryNotForwarded() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    try await withTimeout {
      try await TestConnection.with(port: h.port) { (connection: TestConnection) async throws in
        for path in [
          "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server",
          "/.well-known/openid-configuration",
        ] {
          let response = try #require(try await connection.exchange(.GET, path))
          #expect(response.status == 404, "\(path)")
          #expect(response.json["error"] as? String == "not_found")
        }
        let served = try await connection.exchange(.POST, "/mcp", body: "{}")
        #expect(served?.status == 200)
      }
    }
    #expect(h.upstream.requests.map(\.uri) == ["/mcp"])
    #expect(h.proxy.counters.errors == 0)
  }

  @Test(
    "request smuggling: both Content-Length and Transfer-Encoding, or differing Content-Lengths, get 400 and a close",
    arguments: [
      "POST /mcp HTTP/1.1\r\nHost: HOST\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /mcp HTTP/1.1\r\nHost: HOST\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
      "POST /mcp HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    ])
  func smuggling(_ raw: String) async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    let text =
      raw.replacingOccurrences(of: "HOST", with: "127.0.0.1:\(h.port)")
      + "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\n\r\n"
    let (response, closed) = try await rawExchange(port: h.port, text)
    #expect(response.hasPrefix("HTTP/1.1 400"), "\(response)")
    #expect(closed)
    #expect(h.upstream.requests.isEmpty, "nothing may reach the upstream, not even the smuggled GET")
  }

  @Test("pipelined requests are answered in order; an HTTP/1.0 request gets its answer and a close")
  func pipeliningAndHTTP10() async throws {
    let h = try await ProxyHarness { seen in .ok(#"{"uri":"\#(seen.uri)"}"#) }
    defer { Task { await h.stop() } }
    let host = "127.0.0.1:\(h.port)"
    let (pipelined, closed) = try await rawExchange(
      port: h.port,
      "GET /one HTTP/1.1\r\nHost: \(host)\r\n\r\nGET /two HTTP/1.1\r\nHost: \(host)\r\n\r\n"
        + "GET /three HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
    #expect(closed)
    #expect(pipelined.components(separatedBy: "HTTP/1.1 200 OK").count == 4, "\(pipelined)")
    let order = ["/one", "/two", "/three"].compactMap { pipelined.range(of: #""uri":"\#($0)""#)?.lowerBound }
    #expect(order.count == 3 && order == order.sorted())
    #expect(h.upstream.requests.map(\.uri) == ["/one", "/two", "/three"])
    #expect(h.forwarder.openedCount == 1)

    let (old, oldClosed) = try await rawExchange(port: h.port, "GET /old HTTP/1.0\r\nHost: \(host)\r\n\r\n")
    #expect(old.hasPrefix("HTTP/1.0 200"), "\(old)")
    #expect(old.contains(#""uri":"/old""#))
    #expect(oldClosed)
  }

  @Test("SPEC §5: a token source failure is a 503 whose JSON names `mcp-tunnel login`, not a reset")
  func loginRequired() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    h.tokens.fail(with: CoreError(.loginRequired, "not logged in to the IdP", fix: "run: mcp-tunnel login"))
    let response = try #require(
      try await request(
        port: h.port, .POST, "/mcp", headers: [("Content-Type", "application/json")], body: Self.rpcBody))
    #expect(response.status == 503)
    #expect(response.json["error"] as? String == "login_required")
    #expect(response.json["message"] as? String == "not logged in to the IdP")
    #expect(response.json["fix"] as? String == "run: mcp-tunnel login")
    #expect(h.upstream.requests.isEmpty)
    #expect(h.forwarder.openedCount == 0)

    h.tokens.fail(with: nil)
    #expect(try await request(port: h.port, .POST, "/mcp", body: "{}")?.status == 200)
    let records = try await h.waitForRecords(2)
    #expect(records.first?.answeredBy == .proxy && records.first?.detail == "login_required")
    #expect(records.first?.rpcMethod == "tools/call")
  }

  @Test("a failed openStream() is a 502 JSON naming the SSH problem")
  func sshDown() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    h.forwarder.failStreams(
      with: CoreError(
        .sshConnection, "cannot reach hop bastion.example:22: connection refused", fix: "check the bastion"))
    let response = try #require(try await request(port: h.port, .POST, "/mcp", body: "{}"))
    #expect(response.status == 502)
    #expect(response.json["error"] as? String == "ssh_unavailable")
    #expect((response.json["message"] as? String)?.contains("bastion.example:22") == true)
    #expect(response.json["fix"] as? String == "check the bastion")
  }

  // MARK: 401 and re-mint

  @Test("USE-05: 401 invalid_token → exactly one re-mint and one retry on a fresh stream, then success")
  func remintAndRetry() async throws {
    let h = try await ProxyHarness(token: "stale") { seen in
      seen.authorization == "Bearer stale"
        ? .text(.unauthorized, headers: [("WWW-Authenticate", Self.invalidToken)], body: "expired")
        : .ok(#"{"answer":42}"#)
    }
    defer { Task { await h.stop() } }
    h.tokens.queueReplacements(["fresh"])
    let response = try #require(try await request(port: h.port, .POST, "/mcp", body: Self.rpcBody))
    #expect(response.status == 200)
    #expect(response.text == #"{"answer":42}"#)
    #expect(!response.head.headers.contains(name: "www-authenticate"))
    #expect(h.upstream.requests.map(\.authorization) == ["Bearer stale", "Bearer fresh"])
    #expect(h.upstream.requests.map(\.bodyText) == [Self.rpcBody, Self.rpcBody])
    #expect(h.tokens.replaceRejectedCalls == 1)
    #expect(h.tokens.rejectedTokens.first?.token.revealedForTransmission == "stale")
    #expect(h.forwarder.openedCount == 2)
    #expect(h.proxy.counters.remints == 1)
    #expect(try await h.waitForRecords(1).first?.retried == true)

    // The next request uses the fresh token straight away.
    #expect(try await request(port: h.port, .POST, "/mcp", body: "{}")?.status == 200)
    #expect(h.upstream.requests.last?.authorization == "Bearer fresh")
    #expect(h.tokens.replaceRejectedCalls == 1)
  }

  @Test("USE-05/06: 401 twice → one re-mint only, and the client gets a 503 JSON, not the upstream challenge")
  func secondRejection() async throws {
    let h = try await ProxyHarness(token: "stale") { _ in
      .text(
        .unauthorized,
        headers: [("WWW-Authenticate", Self.invalidToken + #", resource_metadata="https://mcp.example/prm""#)],
        body: "no")
    }
    defer { Task { await h.stop() } }
    let response = try #require(try await request(port: h.port, .POST, "/mcp", body: Self.rpcBody))
    #expect(response.status == 503)
    #expect(!response.head.headers.contains(name: "www-authenticate"))
    #expect(response.json["error"] as? String == "token_rejected")
    #expect(!response.text.contains("resource_metadata"))
    #expect(h.tokens.replaceRejectedCalls == 1)
    #expect(h.upstream.requests.count == 2)
  }

  @Test("USE-06: a 401 without invalid_token is not retried and not relayed")
  func otherUnauthorized() async throws {
    let h = try await ProxyHarness { _ in
      .text(.unauthorized, headers: [("WWW-Authenticate", #"Bearer resource_metadata="https://x/prm""#)], body: "")
    }
    defer { Task { await h.stop() } }
    let response = try #require(try await request(port: h.port, .GET, "/mcp"))
    #expect(response.status == 503)
    #expect(!response.head.headers.contains(name: "www-authenticate"))
    #expect(h.tokens.replaceRejectedCalls == 0)
    #expect(h.upstream.requests.count == 1)
  }

  @Test("USE-05: a body too large to replay is not retried: 503 JSON, but the token is still re-minted")
  func largeBodyNotReplayed() async throws {
    let h = try await ProxyHarness(token: "stale", limits: .init(replayableBody: 1024)) { seen in
      seen.authorization == "Bearer stale"
        ? .text(.unauthorized, headers: [("WWW-Authenticate", Self.invalidToken)], body: "") : .ok()
    }
    defer { Task { await h.stop() } }
    let big = String(repeating: "x", count: 4096)
    let response = try #require(try await request(port: h.port, .POST, "/mcp", body: big))
    #expect(response.status == 503)
    #expect(response.json["error"] as? String == "token_rejected")
    #expect(h.tokens.replaceRejectedCalls == 1)
    #expect(h.upstream.requests.count == 1)
    #expect(try await request(port: h.port, .POST, "/mcp", body: big)?.status == 200)
    #expect(h.upstream.requests.last?.authorization == "Bearer stale.remint1")
  }

  // MARK: streaming

  @Test("SSE: the first event reaches the client before the upstream sends the last one")
  func sseIncremental() async throws {
    let firstSeen = Gate()
    let h = try await ProxyHarness { _ in
      .custom { writer in
        try await writer.head(.ok, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        try await writer.body("event: message\ndata: {\"n\":1}\n\n")
        await firstSeen.wait()  // held until the client has the first event
        try await writer.body("event: message\ndata: {\"n\":2}\n\n")
        try await writer.end()
      }
    }
    defer { Task { await h.stop() } }
    let events = try await withTimeout(120, "SSE exchange") {
      try await TestConnection.with(port: h.port) { connection -> [String] in
        try await connection.send(.GET, "/mcp", headers: [("Accept", "text/event-stream")])
        var received: [String] = []
        while let part = try await connection.nextPart() {
          switch part {
          case .head(let head):
            #expect(head.status == .ok)
            #expect(head.headers["content-type"] == ["text/event-stream"])
          case .body(let buffer):
            received.append(String(buffer: buffer))
            if received.joined().contains("\"n\":1") && !firstSeen.isOpen {
              #expect(!received.joined().contains("\"n\":2"), "the second event was not sent yet")
              firstSeen.open()
            }
          case .end:
            return received
          }
        }
        return received
      }
    }
    #expect(firstSeen.isOpen, "the first event never arrived on its own")
    #expect(events.joined() == "event: message\ndata: {\"n\":1}\n\nevent: message\ndata: {\"n\":2}\n\n")
  }

  @Test("32 MiB streamed both ways with backpressure: every byte checked on the other side")
  func largeBodies() async throws {
    let size = 32 << 20
    let h = try await ProxyHarness { seen in
      if seen.method == .POST {
        return .ok(#"{"received":\#(seen.bodyCount),"matched":\#(seen.patternMatched ?? false)}"#)
      }
      return .custom { writer in
        try await writer.head(.ok, [("Content-Type", "application/octet-stream"), ("Content-Length", "\(size)")])
        var pattern = PatternStream(seed: 99)
        var sent = 0
        while sent < size {
          let n = min(256 * 1024, size - sent)
          var buffer = ByteBuffer()
          buffer.writeBytes(pattern.bytes(n))
          try await writer.body(buffer)
          sent += n
        }
        try await writer.end()
      }
    }
    defer { Task { await h.stop() } }
    try await withTimeout(120, "32 MiB up and down") {
      try await TestConnection.with(port: h.port) { (connection: TestConnection) async throws in
        // Upload, chunked (no Content-Length), in 64 KiB pieces.
        try await connection.outbound.write(
          .head(
            HTTPRequestHead(
              version: .http1_1, method: .POST, uri: "/upload",
              headers: HTTPHeaders([
                ("Host", connection.defaultHost), ("Transfer-Encoding", "chunked"), ("X-Pattern-Seed", "7"),
              ]))))
        var pattern = PatternStream(seed: 7)
        var sent = 0
        while sent < size {
          let n = min(64 * 1024, size - sent)
          var buffer = ByteBuffer()
          buffer.writeBytes(pattern.bytes(n))
          try await connection.outbound.write(.body(.byteBuffer(buffer)))
          sent += n
        }
        try await connection.outbound.write(.end(nil))
        let uploaded = try #require(try await connection.response())
        #expect(uploaded.status == 200)
        #expect(uploaded.json["received"] as? Int == size)
        #expect(uploaded.json["matched"] as? Bool == true)

        // Download on the same connection.
        try await connection.send(.GET, "/download")
        var expected = PatternStream(seed: 99)
        var received = 0
        var matched = true
        loop: while let part = try await connection.nextPart() {
          switch part {
          case .head(let head): #expect(head.status == .ok)
          case .body(let buffer):
            received += buffer.readableBytes
            buffer.withUnsafeReadableBytes { if !expected.matches($0) { matched = false } }
          case .end: break loop
          }
        }
        #expect(received == size)
        #expect(matched)
      }
    }
    #expect(h.forwarder.openedCount == 1)
  }

  // MARK: connections and generations

  @Test("keep-alive: requests on one client connection reuse one upstream stream")
  func keepAlive() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    try await withTimeout {
      try await TestConnection.with(port: h.port) { (connection: TestConnection) async throws in
        for i in 0..<5 {
          let response = try await connection.exchange(.POST, "/mcp", body: #"{"id":\#(i)}"#)
          #expect(response?.status == 200)
        }
      }
    }
    #expect(h.forwarder.openedCount == 1)
    #expect(h.upstream.connectionsAccepted == 1)
    #expect(h.upstream.requests.count == 5)
    #expect(h.proxy.counters.upstreamStreams == 1)
  }

  @Test("an upstream that closes after a response is replaced by a fresh stream for the next request")
  func upstreamClosesAfterResponse() async throws {
    let h = try await ProxyHarness { _ in .text(.ok, headers: [("Connection", "close")], body: "bye") }
    defer { Task { await h.stop() } }
    try await withTimeout {
      try await TestConnection.with(port: h.port) { (connection: TestConnection) async throws in
        for _ in 0..<3 {
          let response = try await connection.exchange(.POST, "/mcp", body: "{}")
          #expect(response?.status == 200)
          #expect(response?.head.headers.contains(name: "connection") == false)
        }
      }
    }
    #expect(h.forwarder.openedCount == 3)
  }

  @Test("SPEC §4: retireConnections closes idle old-generation connections; a new connection gets the new tenant")
  func retireIdle() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    try await withTimeout {
      try await TestConnection.with(port: h.port) { (old: TestConnection) async throws in
        #expect(try await old.exchange(.POST, "/mcp", body: "{}")?.status == 200)
        let generation = h.tokens.switchTenant(to: TenantID("globex")!, token: "globex-token-1")
        h.proxy.retireConnections(before: generation)
        #expect(await old.isClosedByPeer(), "the idle acme connection must be closed")
      }
    }
    #expect(try await request(port: h.port, .POST, "/mcp", body: "{}")?.status == 200)
    #expect(h.upstream.requests.map(\.authorization) == ["Bearer acme-token-1", "Bearer globex-token-1"])
    let records = try await h.waitForRecords(2)
    #expect(records.map { $0.tenant?.rawValue } == ["acme", "globex"])
  }

  @Test("SPEC §4: after a generation change, a request on an old connection gets 503 + close, never the new token")
  func oldConnectionNeverCarriesNewToken() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    try await withTimeout {
      try await TestConnection.with(port: h.port) { (old: TestConnection) async throws in
        #expect(try await old.exchange(.POST, "/mcp", body: "{}")?.status == 200)
        h.tokens.switchTenant(to: TenantID("globex")!, token: "globex-token-1")  // not retired yet
        let refused = try #require(try await old.exchange(.POST, "/mcp", body: "{}"))
        #expect(refused.status == 503)
        #expect(refused.json["error"] as? String == "tenant_switched")
        #expect(refused.head.headers["connection"] == ["close"])
        #expect(await old.isClosedByPeer())
      }
    }
    #expect(h.upstream.requests.map(\.authorization) == ["Bearer acme-token-1"])
  }

  @Test("SPEC §4: retireConnections closes a connection in the middle of a streamed response")
  func retireMidResponse() async throws {
    let release = Gate()
    let h = try await ProxyHarness { _ in
      .custom { writer in
        try await writer.head(.ok, [("Content-Type", "text/event-stream")])
        try await writer.body("data: first\n\n")
        await release.wait()
        try? await writer.body("data: after the switch\n\n")
        try? await writer.end()
      }
    }
    defer {
      release.open()
      Task { await h.stop() }
    }
    let outcome = try await withTimeout(120, "retire mid-response") {
      try await TestConnection.with(port: h.port) { connection -> (sawFirst: Bool, sawEnd: Bool, sawLater: Bool) in
        try await connection.send(.GET, "/mcp")
        var (sawFirst, sawLater) = (false, false)
        do {
          while let part = try await connection.nextPart() {
            switch part {
            case .head: continue
            case .body(let buffer):
              if String(buffer: buffer).contains("after the switch") { sawLater = true }
              if String(buffer: buffer).contains("first") && !sawFirst {
                sawFirst = true
                let generation = h.tokens.switchTenant(to: TenantID("globex")!, token: "globex-token-1")
                h.proxy.retireConnections(before: generation)
              }
            case .end: return (sawFirst, true, sawLater)
            }
          }
        } catch {
          // NIO's decoder reports the truncated chunked body as an error: the response broke off.
        }
        return (sawFirst, false, sawLater)
      }
    }
    #expect(outcome.sawFirst)
    #expect(!outcome.sawEnd, "the response must break off, not complete after the switch")
    #expect(!outcome.sawLater)
    release.open()
    let records = try await h.waitForRecords(1)
    #expect(records.first?.completed == false)
    #expect(records.first?.detail == "tenant_switched")
    #expect(records.first?.tenant?.rawValue == "acme")
  }

  @Test("a tenant switch that lands while a request waits for its token is refused, not sent with an old token")
  func retiredWhileWaitingForToken() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    try await withTimeout {
      try await TestConnection.with(port: h.port) { (connection: TestConnection) async throws in
        #expect(try await connection.exchange(.POST, "/mcp", body: "{}")?.status == 200)
        // The token is held far longer than the test runs: the switch lands while the request waits.
        h.tokens.delayCurrentToken(by: .seconds(600))
        try await connection.send(.POST, "/mcp", body: "{}")
        #expect(try await eventually { h.tokens.currentTokenCalls >= 2 }, "the request never asked for its token")
        h.proxy.retireConnections(before: 2)  // generation 1 is retired before its token arrives
        #expect(await connection.isClosedByPeer())
      }
    }
    #expect(h.upstream.requests.count == 1)
  }

  // MARK: lifecycle

  @Test("start refuses a non-loopback address (usage) and names the holder of a taken port (address in use)")
  func bindErrors() async throws {
    let forwarder = InMemoryPortForwarder()
    let tokens = InMemoryTenantTokenSource(tenant: "acme", token: "t")
    let proxy = HTTPTokenProxy()
    await #expect(throws: ProxyError.self) {
      try await proxy.start(
        listen: HostPort(host: "0.0.0.0", port: 0), forwarder: forwarder, tokens: tokens, upstreamHost: "x:1")
    }
    do {
      try await proxy.start(
        listen: HostPort(host: "10.1.2.3", port: 7700), forwarder: forwarder, tokens: tokens, upstreamHost: "x:1")
    } catch let error as ProxyError {
      #expect(error.category == .usage)
    }

    let holder = HTTPTokenProxy()
    let taken = try await holder.start(
      listen: HostPort(host: "127.0.0.1", port: 0), forwarder: forwarder, tokens: tokens, upstreamHost: "x:1")
    defer { Task { await holder.stop() } }
    do {
      try await proxy.start(listen: taken, forwarder: forwarder, tokens: tokens, upstreamHost: "x:1")
      Issue.record("binding a taken port must fail")
    } catch let error as ProxyError {
      #expect(error.category == .addressInUse)
      #expect(error.summary.contains("already in use"))
      #expect(error.summary.contains("pid \(getpid())"), "\(error.summary)")
    }
  }

  @Test("stop() closes open connections and the listener")
  func stopCloses() async throws {
    let h = try await ProxyHarness()
    try await withTimeout {
      try await TestConnection.with(port: h.port) { (connection: TestConnection) async throws in
        #expect(try await connection.exchange(.POST, "/mcp", body: "{}")?.status == 200)
        #expect(h.proxy.counters.openConnections == 1)
        await h.proxy.stop()
        #expect(await connection.isClosedByPeer())
      }
    }
    await #expect(throws: (any Error).self) { try await request(port: h.port, .GET, "/mcp") }
    await h.stop()
  }
}
