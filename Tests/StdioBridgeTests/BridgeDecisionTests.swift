import Foundation
import Testing

@testable import StdioBridge

@Suite("stdio bridge: messages, session, error responses")
struct BridgeDecisionTests {
  private func message(_ text: String) -> JSONRPCMessage { JSONRPCMessage(Array(text.utf8)) }

  @Test("requests, notifications, responses and batches are told apart; ids keep their JSON text")
  func classification() {
    let request = message(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}"#)
    #expect(request.kind == .request && request.idJSON == "7" && request.method == "tools/call")
    #expect(message(#"{"jsonrpc":"2.0","id":"a-1","method":"ping"}"#).idJSON == #""a-1""#)
    #expect(message(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).kind == .notification)
    #expect(message(#"{"jsonrpc":"2.0","id":null,"method":"x"}"#).kind == .notification)
    #expect(message(#"{"jsonrpc":"2.0","id":3,"result":{}}"#).kind == .response)
    #expect(message(#"{"jsonrpc":"2.0","id":3,"result":{}}"#).requestIDs.isEmpty, "a response is never answered")
    let batch = message(#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#)
    #expect(batch.kind == .batch && batch.requestIDs == ["1"])
    #expect(message("not json").kind == .invalid)
  }

  @Test("server messages: which id they answer, and an initialize result's protocol version")
  func serverMessages() {
    let result = ServerMessage(Array(#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25"}}"#.utf8))
    #expect(result.responseID == "0" && result.protocolVersion == "2025-11-25")
    let progress = ServerMessage(Array(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#.utf8))
    #expect(progress.responseID == nil)
    #expect(ServerMessage(Array(#"{"jsonrpc":"2.0","id":5,"method":"sampling/createMessage"}"#.utf8)).responseID == nil)
  }

  @Test("session: headers appear once known; the initialize answer's id wins; a 404 expires only the current session")
  func session() {
    var session = BridgeSession()
    #expect(session.headers.isEmpty)
    session.observe(sessionIDHeader: "bad id", answeringInitialize: true)
    #expect(session.sessionID == nil, "only visible ASCII is a session id")
    session.observe(sessionIDHeader: "s1", answeringInitialize: true)
    session.observe(protocolVersion: "2025-06-18")
    #expect(session.headers.map(\.0) == ["Mcp-Session-Id", "MCP-Protocol-Version"])
    #expect(session.headers.map(\.1) == ["s1", "2025-06-18"])
    session.observe(sessionIDHeader: "other", answeringInitialize: false)
    #expect(session.sessionID == "s1", "a later response does not replace the session")
    let withoutInitialize = session.sessionExpired("s1")
    #expect(!withoutInitialize, "no initialize to replay: no re-initialization")
    session.sessionID = "s1"
    session.initialize = Array("{}".utf8)
    let older = session.sessionExpired("s0")
    #expect(!older, "a 404 for an older session is not this one's")
    let current = session.sessionExpired("s1")
    #expect(current)
    #expect(session.sessionID == nil)
    let generation = session.generation
    session.observe(sessionIDHeader: "s2", answeringInitialize: true)
    #expect(session.generation == generation + 1)
  }

  @Test("error responses echo the id, keep the proxy's words and fix, and are one line")
  func errorResponses() throws {
    let line = BridgeErrorResponse.line(
      id: #""x""#, message: "mcp-tunnel: not logged in; run: mcp-tunnel login --profile p", httpStatus: 503)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
    #expect(object["id"] as? String == "x")
    let error = try #require(object["error"] as? [String: Any])
    #expect(error["code"] as? Int == -32603)
    #expect((error["message"] as? String)?.contains("mcp-tunnel login --profile p") == true)
    #expect((error["data"] as? [String: Any])?["http_status"] as? Int == 503)

    let proxy503 = Array(
      #"{"error":"login_required","message":"not logged in","fix":"run: mcp-tunnel login --profile p"}"#.utf8)
    #expect(
      BridgeErrorResponse.message(status: 503, body: proxy503, fallbackFix: "check")
        == "mcp-tunnel: not logged in; run: mcp-tunnel login --profile p")
    #expect(
      BridgeErrorResponse.message(status: 500, body: Array("oops".utf8), fallbackFix: "check: mcp-tunnel doctor")
        .contains("HTTP 500; check: mcp-tunnel doctor"))
    let rpc = Array(#"{"jsonrpc":"2.0","id":4,"error":{"code":-32600,"message":"bad"}}"#.utf8)
    #expect(BridgeErrorResponse.isResponse(rpc, for: "4"))
    #expect(!BridgeErrorResponse.isResponse(rpc, for: "5"))
  }

  @Test("a pretty-printed answer becomes exactly one line")
  func oneLine() {
    let line = singleLine(Array("{\n  \"a\": \"b\\nc\"\r\n}".utf8))
    #expect(line.filter { $0 == 0x0A }.count == 1 && line.last == 0x0A)
    #expect(!line.contains(0x0D))
  }
}
