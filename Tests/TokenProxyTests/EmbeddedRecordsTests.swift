import Foundation
import MCPTunnelTestSupport
import NIOCore
import NIOHTTP1
import Testing
import TokenProxy
import TunnelCore

/// What `onRequest` reports for the audit log (issue 7), in process on NIOEmbedded's testing
/// channels (`EmbeddedProxyHarness`): the JSON-RPC envelope of every message, the body kind, the
/// bytes relayed each way, the JSON-RPC error code of the response, and the client connection.
/// `HTTPTokenProxyTests` keeps two of these on real sockets.
@Suite("Request records, in process", .timeLimit(.minutes(5)))
struct EmbeddedRecordsTests {
  typealias Message = ProxyRequestRecord.RPCMessage

  static let json = HTTPTokenProxyTests.json
  static let rpcBody = HTTPTokenProxyTests.rpcBody

  // MARK: envelope

  @Test("records: a batch of three messages gives three entries, in order, without the arguments")
  func recordBatch() async throws {
    let h = EmbeddedProxyHarness()
    let body =
      #"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},"#
      + #"{"jsonrpc":"2.0","id":"b-2","method":"tools/call","params":{"name":"echo","arguments":{"text":"secret-arg"}}},"#
      + #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"secret-reason"}}]"#
    #expect(try await h.request("POST", "/mcp", headers: Self.json, body: body)?.status == 200)
    #expect(h.upstream.requests.first?.bodyText == body)
    let record = try #require(await h.waitForRecords(1).first)
    #expect(record.bodyKind == .jsonRPC)
    #expect(
      record.rpcMessages == [
        Message(method: "tools/list", id: "1"), Message(method: "tools/call", id: "b-2", target: .tool("echo")),
        Message(method: "notifications/cancelled"),
      ])
    #expect(record.rpcMethod == "tools/list" && record.rpcID == "1" && record.rpcName == nil)
    let text = String(describing: record)
    #expect(!text.contains("secret-arg") && !text.contains("secret-reason"), "\(text)")
  }

  @Test(
    "records: the target is the tool of tools/call, the resource URI of resources/read, the prompt of prompts/get",
    arguments: [
      (
        #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{"a":"secret-arg"}}}"#,
        Message(method: "tools/call", id: "7", target: .tool("whoami")), "whoami"
      ),
      (
        #"{"jsonrpc":"2.0","id":"r1","method":"resources/read","params":{"uri":"lab://tenant-info"}}"#,
        Message(method: "resources/read", id: "r1", target: .resource("lab://tenant-info")), nil
      ),
      (
        #"{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"greeting","arguments":{"name":"secret-arg"}}}"#,
        Message(method: "prompts/get", id: "3", target: .prompt("greeting")), "greeting"
      ),
    ] as [(String, Message, String?)])
  func recordTarget(body: String, expected: Message, rpcName: String?) async throws {
    let h = EmbeddedProxyHarness()
    #expect(try await h.request("POST", "/mcp", headers: Self.json, body: body)?.status == 200)
    let record = try #require(await h.waitForRecords(1).first)
    #expect(record.bodyKind == .jsonRPC)
    #expect(record.rpcMessages == [expected])
    #expect(record.rpcName == rpcName)
    #expect(!String(describing: record).contains("secret-arg"))
  }

  @Test("records: a body that is not JSON-RPC streams through unchanged and is recorded as such")
  func recordNotJSON() async throws {
    let h = EmbeddedProxyHarness()
    let bodies: [(headers: [(String, String)], body: String)] = [
      ([("Content-Type", "text/plain")], "plain text, not json {\"jsonrpc\":\"2.0\",\"method\":\"tools/call\"}"),
      (Self.json, #"{"jsonrpc":"2.0","id":1,"method":"tools/call""#),  // cut short
      (Self.json, #"{"method":"tools/call","params":{"name":"whoami"}}"#),  // no "jsonrpc":"2.0"
    ]
    for (headers, body) in bodies {
      #expect(try await h.request("POST", "/mcp", headers: headers, body: body)?.status == 200)
    }
    #expect(h.upstream.requests.map(\.bodyText) == bodies.map(\.body))
    let records = await h.waitForRecords(3)
    #expect(records.map(\.bodyKind) == [.notJSONRPC, .notJSONRPC, .notJSONRPC])
    #expect(records.allSatisfy { $0.rpcMessages.isEmpty && $0.rpcMethod == nil && $0.status == 200 })
    #expect(records.map(\.requestBytes) == bodies.map(\.body.utf8.count))
  }

  @Test("records: GET and DELETE have an empty body")
  func recordEmpty() async throws {
    let h = EmbeddedProxyHarness()
    #expect(try await h.request("GET", "/mcp")?.status == 200)
    #expect(try await h.request("DELETE", "/mcp")?.status == 200)
    let records = await h.waitForRecords(2)
    #expect(records.map(\.bodyKind) == [.empty, .empty])
    #expect(records.map(\.requestBytes) == [0, 0])
  }

  @Test("records: a 100 KiB JSON body, with Content-Length or chunked, streams whole and is too large to summarize")
  func recordTooLarge() async throws {
    let h = EmbeddedProxyHarness()
    let size = 100 * 1024
    let body = HTTPTokenProxyTests.largeCall(size: size)
    #expect(try await h.request("POST", "/mcp", headers: Self.json, body: body)?.status == 200)

    // Chunked: the first 80 KiB must reach the upstream before the client sends the rest, so the
    // summary copy never holds the body back.
    let bytes = Array(body.utf8)
    let firstPart = 80 * 1024
    let client = try await h.connect()
    await client.send(
      "POST /mcp HTTP/1.1\r\nHost: \(h.host)\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
    await client.send(Self.chunk(bytes[..<firstPart]))
    await h.waitUntil { h.upstream.bodyBytesReceived >= size + firstPart }
    #expect(h.upstream.bodyBytesReceived == size + firstPart, "the first part was held back")
    await client.send(Self.chunk(bytes[firstPart...]) + Array("0\r\n\r\n".utf8))
    #expect(await client.wait { $0.responses.count == 1 || $0.closed }.responses.first?.status == 200)

    #expect(h.upstream.requests.map(\.bodyCount) == [size, size])
    #expect(h.upstream.requests.allSatisfy { $0.bodyPrefix == Array(bytes.prefix(64 * 1024)) })
    let records = await h.waitForRecords(2)
    #expect(records.map(\.bodyKind) == [.tooLargeToSummarize, .tooLargeToSummarize])
    #expect(records.allSatisfy { $0.rpcMessages.isEmpty })
    #expect(records.map(\.requestBytes) == [size, size])
  }

  static func chunk(_ data: ArraySlice<UInt8>) -> [UInt8] {
    Array("\(String(data.count, radix: 16))\r\n".utf8) + data + Array("\r\n".utf8)
  }

  @Test("records: a body that never arrives in full is incomplete")
  func recordIncomplete() async throws {
    let h = EmbeddedProxyHarness()
    let client = try await h.connect()
    await client.send("POST /mcp HTTP/1.1\r\nHost: \(h.host)\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":\"2.0\"")
    await h.waitUntil { h.upstream.bodyBytesReceived == 16 }
    await client.close()
    let record = try #require(await h.waitForRecords(1).first)
    #expect(record.bodyKind == .incomplete && record.rpcMessages.isEmpty)
    #expect(!record.completed)
  }

  // MARK: response side

  @Test(
    "records: rpcErrorCode from a JSON error response, a batch's first error, or an SSE error event; nil for results",
    arguments: [
      (
        #"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"Method not found"}}"#, "application/json",
        -32601
      ),
      (
        #"[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"bad"}},"#
          + #"{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"later"}}]"#,
        "application/json; charset=utf-8", -32602
      ),
      (#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"isError":true}}"#, "application/json", nil),
      (
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n"
          + "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32603,\"message\":\"x\"}}\r\n\r\n",
        "text/event-stream", -32603
      ),
      ("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n", "text/event-stream", nil),
      (#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"Method not found"}}"#, "text/plain", nil),
    ] as [(String, String, Int?)])
  func recordErrorCode(responseBody: String, contentType: String, code: Int?) async throws {
    // The body goes out in 7-byte writes, so events and JSON arrive split across reads.
    let h = EmbeddedProxyHarness { _ in
      .custom { writer in
        try await writer.head(.ok, [("Content-Type", contentType)])
        let bytes = Array(responseBody.utf8)
        for start in stride(from: 0, to: bytes.count, by: 7) {
          try await writer.body(ByteBuffer(bytes: bytes[start..<min(start + 7, bytes.count)]))
        }
        try await writer.end()
      }
    }
    let response = try #require(try await h.request("POST", "/mcp", headers: Self.json, body: Self.rpcBody))
    #expect(String(decoding: response.body, as: UTF8.self) == responseBody)
    let record = try #require(await h.waitForRecords(1).first)
    #expect(record.rpcErrorCode == code)
    #expect(record.responseBytes == responseBody.utf8.count)
  }

  @Test("records: an error past the first 64 KiB of a JSON response is not looked for")
  func recordErrorCodeBeyondLimit() async throws {
    let padding = String(repeating: " ", count: 64 * 1024)
    let body = #"{"jsonrpc":"2.0","id":7,"# + padding + #""error":{"code":-32601,"message":"x"}}"#
    let h = EmbeddedProxyHarness { _ in .text(.ok, headers: Self.json, body: body) }
    #expect(try await h.request("POST", "/mcp", body: Self.rpcBody)?.body.count == body.utf8.count)
    let record = try #require(await h.waitForRecords(1).first)
    #expect(record.rpcErrorCode == nil)
    #expect(record.responseBytes == body.utf8.count)
  }

  @Test("records: requestBytes and responseBytes are exact, a replay counts once, a local answer counts its body")
  func recordByteCounts() async throws {
    let responseBody = String(repeating: "r", count: 12_345)
    let h = EmbeddedProxyHarness(token: "stale") { seen in
      seen.authorization == "Bearer stale"
        ? .text(
          .unauthorized, headers: [("WWW-Authenticate", HTTPTokenProxyTests.invalidToken)],
          body: "expired, 22 bytes long")
        : .text(.ok, headers: [("Content-Type", "text/plain")], body: responseBody)
    }
    h.tokens.queueReplacements(["fresh"])
    let requestBody = String(repeating: "q", count: 5_432)
    // Re-minted and replayed: the body went upstream twice, the record counts it once.
    let replayed = try #require(try await h.request("POST", "/mcp", body: requestBody))
    #expect(replayed.body.count == responseBody.utf8.count)
    #expect(try await h.request("POST", "/mcp", body: requestBody)?.status == 200)
    let refused = try #require(
      try await h.request("POST", "/mcp", headers: [("Host", "evil.example")], body: Self.rpcBody))
    #expect(refused.status == 403)
    #expect(h.upstream.requests.map(\.bodyCount) == [5_432, 5_432, 5_432])

    let records = await h.waitForRecords(3)
    #expect(records.map(\.requestBytes) == [5_432, 5_432, 0])
    #expect(records.map(\.responseBytes) == [12_345, 12_345, refused.body.count])
    #expect(records.map(\.retried) == [true, false, false])
    // The refused request's body was still summarized, for the denied audit event.
    #expect(records.last?.rpcMessages == [Message(method: "tools/call", id: "7", target: .tool("whoami"))])
  }

  // MARK: via

  @Test(
    "records: MCP-Tunnel-Via: stdio is recorded as via and never forwarded; other values and plain requests have none"
  )
  func recordVia() async throws {
    let h = EmbeddedProxyHarness()
    let cases: [[(String, String)]] = [
      Self.json + [("MCP-Tunnel-Via", "stdio")],
      Self.json + [("mcp-tunnel-via", "stdio")],
      Self.json + [("MCP-Tunnel-Via", "up")],
      Self.json + [("MCP-Tunnel-Via", "stdio"), ("MCP-Tunnel-Via", "stdio")],
      Self.json,
    ]
    for headers in cases {
      #expect(try await h.request("POST", "/mcp", headers: headers, body: Self.rpcBody)?.status == 200)
    }
    // A refused request keeps its label too (a denied record says which path it came by).
    let refused = try await h.request(
      "POST", "/mcp", headers: [("Host", "evil.example"), ("MCP-Tunnel-Via", "stdio")], body: Self.rpcBody)
    #expect(refused?.status == 403)
    let records = await h.waitForRecords(6)
    #expect(records.map(\.via) == ["stdio", "stdio", nil, nil, nil, "stdio"])
    #expect(h.upstream.requests.count == 5)
    #expect(h.upstream.requests.allSatisfy { $0.headers["mcp-tunnel-via"].isEmpty })
    #expect(h.upstream.requests.allSatisfy { $0.authorization != nil })
  }

  @Test("records: via reaches the audit record as via; a plain request's audit record has none")
  func auditVia() {
    let record = ProxyRequestRecord(
      method: "POST", path: "/mcp", status: 200, duration: .milliseconds(3), bodyKind: .jsonRPC,
      rpcMessages: [Message(method: "tools/call", id: "1", target: .tool("whoami"))], answeredBy: .upstream,
      completed: true, via: "stdio")
    var plain = record
    plain.via = nil
    let events = TunnelRuntime.auditEvents(for: record, profile: "dev", actor: "u", session: "s")
    #expect(events.map(\.via) == ["stdio"])
    #expect(TunnelRuntime.auditEvents(for: plain, profile: "dev", actor: "u", session: "s").map(\.via) == [nil])
  }

  // MARK: connections

  @Test("records: requests on one keep-alive connection share a connectionID; another connection gets another")
  func recordConnectionIDs() async throws {
    let h = EmbeddedProxyHarness()
    let client = try await h.connect()
    let request = EmbeddedProxyHarness.requestText("POST", "/mcp", host: h.host, body: "{}")
    await client.send(request)
    #expect(await client.wait { $0.responses.count == 1 || $0.closed }.responses.last?.status == 200)
    await client.send(request)
    #expect(await client.wait { $0.responses.count == 2 || $0.closed }.responses.last?.status == 200)
    #expect(try await h.request("POST", "/mcp", body: "{}")?.status == 200)
    let records = await h.waitForRecords(3)
    #expect(records.count == 3)
    #expect(records[0].connectionID == records[1].connectionID)
    #expect(records[2].connectionID > records[1].connectionID)
    #expect(records[0].connectionID >= 1)
  }
}
