import Foundation
import Synchronization
import Testing

@testable import StdioBridge

#if canImport(Glibc)
  import Glibc
#endif

/// A minimal Streamable HTTP server on loopback for the bridge's connection handling: every POST
/// of a request is answered with an SSE event carrying `{"result":{}}` for its id (keep-alive,
/// chunked, as uvicorn answers), a notification with 202, GET and DELETE with 405. It counts the
/// TCP connections it accepted. Each connection is served by a thread of its own (blocking socket
/// I/O off the cooperative pool).
private final class CountingMCPServer: Sendable {
  let descriptor: Int32
  let port: Int
  private let accepted = Atomic<Int>(0)

  var connections: Int { accepted.load(ordering: .acquiring) }

  init() throws {
    (descriptor, port) = try listeningLoopbackSocket()
    let thread = Thread { [self] in acceptLoop() }
    thread.start()
  }

  func stop() { shutdown(descriptor, Int32(SHUT_RDWR)) }

  private func acceptLoop() {
    while true {
      // off-pool: the test server's own thread
      let connection = accept(descriptor, nil, nil)
      if connection < 0 {
        if errno == EINTR { continue }
        close(descriptor)
        return
      }
      accepted.add(1, ordering: .releasing)
      let thread = Thread { Self.serve(connection) }
      thread.start()
    }
  }

  private static func serve(_ connection: Int32) {
    defer { close(connection) }
    var pending: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16384)
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    while true {
      var headEnd: Int?
      while headEnd == nil {
        if pending.count >= 4 {
          headEnd = (0...(pending.count - 4)).first { Array(pending[$0..<($0 + 4)]) == separator }
        }
        if headEnd != nil { break }
        // off-pool: the test server's connection thread
        let count = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
        if count <= 0 { return }
        pending.append(contentsOf: buffer[..<count])
      }
      let head = String(decoding: pending[..<headEnd!], as: UTF8.self).lowercased()
      pending.removeSubrange(..<(headEnd! + 4))
      let length =
        head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
        .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
      while pending.count < length {
        // off-pool: the test server's connection thread
        let count = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
        if count <= 0 { return }
        pending.append(contentsOf: buffer[..<count])
      }
      let body = Array(pending[..<length])
      pending.removeSubrange(..<length)
      let answer: String
      if head.hasPrefix("post") {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        if let id = object?["id"] as? Int {
          let event = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":\(id),\"result\":{}}\r\n\r\n"
          answer =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nmcp-session-id: s1\r\n"
            + "transfer-encoding: chunked\r\n\r\n"
            + String(event.utf8.count, radix: 16) + "\r\n" + event + "\r\n0\r\n\r\n"
        } else {
          answer = "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
        }
      } else {
        answer = "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n"
      }
      let bytes = Array(answer.utf8)
      var offset = 0
      while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
        if written <= 0 { return }
        offset += written
      }
    }
  }
}

@Suite("stdio bridge: connections", .timeLimit(.minutes(1)))
struct BridgeConnectionTests {
  @Test("sequential calls reuse keep-alive connections to the tunnel (no new connection, no peer look-up, per call)")
  func sequentialCallsShareAConnection() async throws {
    let server = try CountingMCPServer()
    defer { server.stop() }
    var pipeEnds: [Int32] = [0, 0]
    #expect(pipe(&pipeEnds) == 0)
    let output = LineWriter(descriptor: pipeEnds[1])
    let written = StdinLines.stream(descriptor: pipeEnds[0])
    let bridge = StreamableHTTPBridge(
      upstream: .url("http://127.0.0.1:\(server.port)/mcp"), unreachableFix: "check: mcp-tunnel doctor",
      output: output, log: { _ in })
    let (input, feed) = AsyncStream.makeStream(of: [UInt8].self)
    let running = Task { await bridge.run(input: input) }
    var lines = written.makeAsyncIterator()

    feed.yield(Array(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#.utf8))
    let first = try #require(await lines.next())
    #expect(String(decoding: first, as: UTF8.self).contains(#""id":0"#))
    feed.yield(Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8))
    let calls = 20
    for id in 1...calls {
      feed.yield(Array(#"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"echo"}}"#.utf8))
      let line = try #require(await lines.next())
      let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
      #expect(object["id"] as? Int == id)
      #expect(object["result"] != nil)
    }
    feed.finish()
    await running.value
    await output.close()
    close(pipeEnds[1])
    #expect(await lines.next() == nil, "one answer per request, nothing else")
    close(pipeEnds[0])

    // The POSTs share one connection; the GET stream (answered 405 here) and the final DELETE
    // may take one more each. One connection per call would be 22 or more.
    #expect(server.connections <= 3, "\(server.connections) connections for \(calls + 2) POSTs")
  }

  @Test("stdin lines reach the callback in order, CR and empty lines dropped, then the end once")
  func stdinLinesCallback() async throws {
    var pipeEnds: [Int32] = [0, 0]
    #expect(pipe(&pipeEnds) == 0)
    let (events, sink) = AsyncStream.makeStream(of: String.self)
    StdinLines.read(
      descriptor: pipeEnds[0], line: { sink.yield(String(decoding: $0, as: UTF8.self)) },
      end: {
        sink.yield("<end>")
        sink.finish()
      })
    let text = Array("a\r\n\n  \nb\nc".utf8)
    #expect(text.withUnsafeBytes { write(pipeEnds[1], $0.baseAddress, $0.count) } == text.count)
    close(pipeEnds[1])
    var seen: [String] = []
    for await event in events { seen.append(event) }
    close(pipeEnds[0])
    #expect(seen == ["a", "b", "c", "<end>"])
  }
}
