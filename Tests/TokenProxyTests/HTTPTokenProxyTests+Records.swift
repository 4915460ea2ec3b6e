import Foundation
import LabSupport
import MCPTunnelTestSupport
import NIOCore
import NIOHTTP1
import Testing
import TokenProxy
import TunnelCore

/// What `onRequest` reports for the audit log (issue 7), on real sockets: a large body streamed
/// through real streams and connection ids across real connections. Every records case, these
/// included, runs in process in `EmbeddedRecordsTests`.
extension HTTPTokenProxyTests {
  typealias Message = ProxyRequestRecord.RPCMessage

  static let json = [("Content-Type", "application/json")]

  /// A `tools/call` JSON-RPC request whose arguments hold `size` bytes in all.
  static func largeCall(size: Int) -> String {
    let prefix = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"big","arguments":{"blob":""#
    let suffix = #""}}}"#
    return prefix + String(repeating: "x", count: size - prefix.utf8.count - suffix.utf8.count) + suffix
  }

  // MARK: streaming

  @Test("records: a 100 KiB JSON body, with Content-Length or chunked, streams whole and is too large to summarize")
  func recordTooLarge() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    let size = 100 * 1024
    let body = Self.largeCall(size: size)
    #expect(try await request(port: h.port, .POST, "/mcp", headers: Self.json, body: body)?.status == 200)

    // Chunked: the first 80 KiB must reach the upstream before the client sends the rest, so the
    // summary copy never holds the body back.
    let bytes = Array(body.utf8)
    try await withTimeout(120, "chunked upload") {
      try await TestConnection.with(port: h.port) { (connection: TestConnection) async throws in
        try await connection.outbound.write(
          .head(
            HTTPRequestHead(
              version: .http1_1, method: .POST, uri: "/mcp",
              headers: HTTPHeaders([
                ("Host", connection.defaultHost), ("Transfer-Encoding", "chunked"),
                ("Content-Type", "application/json"),
              ]))))
        let firstPart = 80 * 1024
        try await connection.outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes[..<firstPart]))))
        _ = try await eventually { h.upstream.bodyBytesReceived >= size + firstPart }
        #expect(h.upstream.bodyBytesReceived == size + firstPart, "the first part was held back")
        try await connection.outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes[firstPart...]))))
        try await connection.outbound.write(.end(nil))
        #expect(try await connection.response()?.status == 200)
      }
    }
    #expect(h.upstream.requests.map(\.bodyCount) == [size, size])
    #expect(h.upstream.requests.allSatisfy { $0.bodyPrefix == Array(bytes.prefix(64 * 1024)) })
    let records = try await h.waitForRecords(2)
    #expect(records.map(\.bodyKind) == [.tooLargeToSummarize, .tooLargeToSummarize])
    #expect(records.allSatisfy { $0.rpcMessages.isEmpty })
    #expect(records.map(\.requestBytes) == [size, size])
  }

  // MARK: connections

  @Test("records: requests on one keep-alive connection share a connectionID; another connection gets another")
  func recordConnectionIDs() async throws {
    let h = try await ProxyHarness()
    defer { Task { await h.stop() } }
    try await withTimeout {
      try await TestConnection.with(port: h.port) { (connection: TestConnection) async throws in
        #expect(try await connection.exchange(.POST, "/mcp", body: "{}")?.status == 200)
        #expect(try await connection.exchange(.POST, "/mcp", body: "{}")?.status == 200)
      }
    }
    #expect(try await request(port: h.port, .POST, "/mcp", body: "{}")?.status == 200)
    let records = try await h.waitForRecords(3)
    #expect(records.count == 3)
    #expect(records[0].connectionID == records[1].connectionID)
    #expect(records[2].connectionID > records[1].connectionID)
    #expect(records[0].connectionID >= 1)
  }
}
