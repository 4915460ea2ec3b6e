import Foundation
import Testing

@testable import StdioBridge

#if canImport(Glibc)
  import Glibc
#endif

/// A server that takes connections (the kernel completes them: the socket listens) and never
/// reads or answers: what an MCP server hung in its initialize looks like from the client.
private final class SilentListener: Sendable {
  let descriptor: Int32
  let port: Int

  init() throws {
    (descriptor, port) = try listeningLoopbackSocket()
  }

  func stop() { close(descriptor) }
}

@Suite("stdio bridge: deadlines", .timeLimit(.minutes(1)))
struct BridgeDeadlineTests {
  @Test("an initialize whose answer never comes gets one JSON-RPC error after the deadline, naming the fix")
  func initializeDeadline() async throws {
    let server = try SilentListener()
    defer { server.stop() }
    var pipeEnds: [Int32] = [0, 0]
    #expect(pipe(&pipeEnds) == 0)
    let output = LineWriter(descriptor: pipeEnds[1])
    let written = StdinLines.stream(descriptor: pipeEnds[0])
    let bridge = StreamableHTTPBridge(
      upstream: .url("http://127.0.0.1:\(server.port)/mcp"), unreachableFix: "check: mcp-tunnel doctor",
      output: output, initializeDeadline: .milliseconds(300), log: { _ in })
    let (input, feed) = AsyncStream.makeStream(of: [UInt8].self)
    let running = Task { await bridge.run(input: input) }
    feed.yield(Array(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#.utf8))

    var lines = written.makeAsyncIterator()
    let line = try #require(await lines.next())
    feed.finish()
    await running.value
    await output.close()
    close(pipeEnds[1])
    let rest = await lines.next()
    close(pipeEnds[0])

    let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
    #expect(object["id"] as? Int == 0)
    let error = try #require(object["error"] as? [String: Any])
    #expect(error["code"] as? Int == BridgeErrorResponse.code)
    let message = error["message"] as? String ?? ""
    #expect(message.contains("did not answer initialize") && message.contains("check: mcp-tunnel doctor"), "\(message)")
    #expect(rest == nil, "exactly one answer")
  }

  @Test("input ending right after an initialize, with no tunnel: the initialize is still answered, once")
  func endOfInputStillAnswers() async throws {
    var pipeEnds: [Int32] = [0, 0]
    #expect(pipe(&pipeEnds) == 0)
    let output = LineWriter(descriptor: pipeEnds[1])
    let written = StdinLines.stream(descriptor: pipeEnds[0])
    let bridge = StreamableHTTPBridge(
      upstream: .unavailable("mcp-tunnel: the session ended before the tunnel was ready"),
      unreachableFix: "check: mcp-tunnel doctor", output: output, log: { _ in })
    let (input, feed) = AsyncStream.makeStream(of: [UInt8].self)
    feed.yield(Array(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#.utf8))
    feed.finish()
    await bridge.run(input: input)
    await output.close()
    close(pipeEnds[1])
    var lines = written.makeAsyncIterator()
    let line = await lines.next()
    let rest = await lines.next()
    close(pipeEnds[0])
    let answer = try #require(line)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])
    #expect(object["id"] as? Int == 0 && object["error"] != nil, "\(object)")
    #expect(rest == nil, "exactly one answer")
  }

  @Test("an answer gate lets exactly one answer through")
  func answerGate() {
    let gate = AnswerGate()
    #expect(gate.claim())
    #expect(!gate.claim())
  }
}
