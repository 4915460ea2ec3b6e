import Foundation
import LabSupport
import MCPTunnelTestSupport
import NIOCore
import NIOHTTP1
import TestTiers
import Testing
import TokenProxy
import TunnelCore

/// A smoke set of hostile HTTP/1.1 input on real sockets: the cases that exercise what only a
/// socket has (bytes written below the HTTP codec, an upstream stream aborted for real, a close
/// that is a FIN, not a reset). Every case, these included, runs in process in
/// `EmbeddedHostileHTTPTests`, which the tables come from. The size limits are small and the
/// timeouts long, so that a loaded machine never trips one by accident; `idleTimeout` uses `quick`.
/// Serialized: each case starts its own proxy and upstream.
@Suite("Hostile HTTP input to the http listener, on sockets", .offPool, .serialized, .timeLimit(.minutes(5)))
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

  /// Cases of `EmbeddedHostileHTTPTests`' tables, by name.
  static func cases(_ table: [HostileCase], _ names: String...) -> [HostileCase] {
    names.map { name in
      guard let found = table.first(where: { $0.name == name }) else { preconditionFailure("no case \(name)") }
      return found
    }
  }

  // MARK: one bad request

  @Test(
    "framing: CL+TE in both orders → 400 + close",
    arguments: Self.cases(EmbeddedHostileHTTPTests.framingCases, "CL then TE", "TE then CL"))
  func framing(_ hostile: HostileCase) async throws { try await expectRefusedAlone(hostile) }

  @Test(
    "sizes: head over Limits.requestHead → 431, written below the HTTP codec",
    arguments: Self.cases(EmbeddedHostileHTTPTests.sizesCases, "request target over the head limit"))
  func sizes(_ hostile: HostileCase) async throws { try await expectRefusedAlone(hostile) }

  /// Sends `hostile` on its own connection and checks the refusal, that nothing reached the
  /// upstream, the error count, and that a good request on a new connection is still served.
  func expectRefusedAlone(_ hostile: HostileCase) async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let received = try await withTimeout(120, hostile.name) {
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

  /// A good request on a new connection is answered by the upstream: no crash, no wedged loop.
  func expectStillServes(_ h: ProxyHarness, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let before = h.upstream.requests.count
    let served = try await request(port: h.port, .POST, "/mcp", body: #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
    #expect(served?.status == 200, sourceLocation: sourceLocation)
    #expect(h.upstream.requests.count == before + 1, sourceLocation: sourceLocation)
    #expect(h.upstream.requests.last?.bodyText == #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
  }

  // MARK: pipelining and smuggling

  @Test(
    "smuggling by pipelining: a good request and a bad one in one packet → the first answered, the second refused, upstream sees only the first",
    arguments: Self.cases(EmbeddedHostileHTTPTests.smuggledCases, "CL+TE"))
  func pipelinedSmuggling(_ hostile: HostileCase) async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let good = Array("GET /one HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\n\r\n".utf8)
    let received = try await withTimeout(120, hostile.name) {
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

  // MARK: bodies over the limit

  @Test(
    "a chunked body that grows past Limits.requestBody after its head was forwarded → 413, close, upstream stream aborted"
  )
  func chunkedBodyTooLarge() async throws {
    let h = try await ProxyHarness(limits: Self.limits)
    defer { Task { await h.stop() } }
    let received = try await withTimeout(120, "chunked 413") {
      try await RawHTTPClient.with(port: h.port) { client in
        await client.send("POST /upload HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\nTransfer-Encoding: chunked\r\n\r\n")
        await client.send("400\r\n" + String(repeating: "a", count: 1024) + "\r\n")
        // Wait until the head and the first KiB are upstream: the request is being streamed.
        _ = try await eventually { h.upstream.bodyBytesReceived >= 1024 }
        let piece = "1000\r\n" + String(repeating: "b", count: 4096) + "\r\n"
        for _ in 0..<8 { await client.send(piece) }
        return await client.waitForClose()
      }
    }
    #expect(h.upstream.headsReceived == ["POST /upload"])
    try expectRefusal(received, 413, "body_too_large")
    _ = try await eventually { h.upstream.connectionsClosed >= 1 }
    #expect(h.upstream.connectionsClosed == 1, "the upstream stream must be aborted")
    #expect(h.upstream.requests.isEmpty, "the upstream never sees a complete request")
    #expect(h.upstream.bodyBytesReceived <= Self.limits.requestBody)
    #expect(h.proxy.counters.errors == 1)
    try await expectStillServes(h)
  }

  // MARK: idle clients

  @Test("an idle keep-alive connection is closed after Limits.idleTimeout, without an answer; a silent new one too")
  func idleTimeout() async throws {
    let h = try await ProxyHarness(limits: Self.quick)
    defer { Task { await h.stop() } }
    let (afterRequest, silent) = try await withTimeout(120, "idle") {
      async let afterRequest = RawHTTPClient.with(port: h.port) { client in
        await client.send("GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:\(h.port)\r\n\r\n")
        return await client.waitForClose()
      }
      async let silent = RawHTTPClient.with(port: h.port) { client in await client.waitForClose() }
      return try await (afterRequest, silent)
    }
    #expect(afterRequest.responses.map(\.status) == [200])
    #expect(afterRequest.closed && !afterRequest.reset)
    #expect(silent.closed && silent.bytes.isEmpty)
    #expect(h.proxy.counters.errors == 0, "closing an idle connection is no error")
  }
}
