import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TunnelCore

@testable import TokenProxy

/// `ProxyExchangeStateMachine` alone: events in, actions out, no channel and no clock. The handler
/// that performs these actions is driven end to end by `EmbeddedHostileHTTPTests` and
/// `EmbeddedRecordsTests`.
@Suite("Proxy exchange state machine")
struct ProxyExchangeStateMachineTests {
  typealias Machine = ProxyExchangeStateMachine
  typealias Action = Machine.Action

  static let host = "127.0.0.1:18080"
  static let token1 = Self.token("acme-token-1", generation: 1)
  static let token2 = Self.token("acme-token-2", generation: 1)
  static let started = ContinuousClock.now
  static let invalidToken: HTTPHeaders = ["WWW-Authenticate": #"Bearer error="invalid_token""#]

  static func token(_ value: String, generation: UInt64) -> TenantSessionToken {
    TenantSessionToken(
      tenant: TenantID("acme")!, token: AccessToken(revealing: value), expiresAt: .distantFuture,
      generation: generation)
  }

  static func head(
    _ method: HTTPMethod = .POST, _ uri: String = "/mcp", body: String? = "{}", _ extra: [(String, String)] = [],
    version: HTTPVersion = .http1_1
  ) -> HTTPRequestHead {
    var headers = HTTPHeaders([("Host", host)] + extra)
    if let body { headers.add(name: "Content-Length", value: "\(body.utf8.count)") }
    return HTTPRequestHead(version: version, method: method, uri: uri, headers: headers)
  }

  static func response(_ status: HTTPResponseStatus, _ headers: HTTPHeaders = [:]) -> HTTPResponseHead {
    HTTPResponseHead(version: .http1_1, status: status, headers: headers)
  }

  static func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

  /// A machine on an active connection (id 7), with what it answered so far.
  struct Driver {
    var machine: Machine
    var log: [Action] = []

    init(limits: HTTPTokenProxy.Limits = .init()) {
      machine = Machine(
        limits: limits,
        requestGuard: LoopbackRequestGuard(
          listen: HostPort(host: "127.0.0.1", port: 18080), maxRequestBody: limits.requestBody),
        upstreamHost: "127.0.0.1:8080")
      let first = on(.channelActive(connectionID: 7))
      #expect(first == [.armDeadline(.idle, .seconds(120))])
    }

    @discardableResult
    mutating func on(_ event: Machine.Event) -> [Action] {
      let actions = machine.handle(event)
      log += actions
      return actions
    }

    /// Head, body and end of a request, and a token for it: returns the attempt's actions once the
    /// upstream link is ready.
    mutating func forward(
      _ head: HTTPRequestHead = ProxyExchangeStateMachineTests.head(), body: String? = "{}", end: Bool = true,
      token: TenantSessionToken = ProxyExchangeStateMachineTests.token1
    ) -> [Action] {
      on(.requestHead(head, started: ProxyExchangeStateMachineTests.started))
      if let body { on(.requestBody(ByteBuffer(string: body))) }
      if end { on(.requestEnd) }
      let id = machine.currentExchange!.id
      #expect(on(.tokenFetched(id, .success(token))) == [.admit(id, token)])
      let connect = on(.admissionChecked(id, token, admitted: true))
      guard case .connectUpstream(let attempt) = connect.last else {
        Issue.record("no connect: \(connect)")
        return []
      }
      let ready = on(.upstreamReady(attempt))
      // The handler reports a request it sent once it is flushed.
      return ready + (ready.contains { if case .sendRequest = $0 { true } else { false } } ? on(.requestSent(id)) : [])
    }

    /// The upstream's response: head, one body part, end.
    @discardableResult
    mutating func respond(_ status: HTTPResponseStatus = .ok, body: String = #"{"ok":1}"#) -> [Action] {
      on(.responseHead(ProxyExchangeStateMachineTests.response(status)))
        + on(.responseBody(ByteBuffer(string: body))) + on(.responseEnd)
    }

    var records: [ProxyRequestRecord] {
      log.compactMap { if case .report(let record, _) = $0 { record } else { nil } }
    }
  }

  static func sentRequest(_ actions: [Action]) -> (head: HTTPRequestHead, body: [ByteBuffer], end: Bool)? {
    for action in actions { if case .sendRequest(_, let head, let body, let end) = action { return (head, body, end) } }
    return nil
  }

  static func localAnswer(_ actions: [Action]) -> (status: HTTPResponseStatus, close: Bool, body: String)? {
    for action in actions {
      if case .writeLocalAnswer(let head, let body) = action {
        return (head.status, head.headers["connection"] == ["close"], String(buffer: body))
      }
    }
    return nil
  }

  // MARK: the normal exchange

  @Test("normal exchange: token, stream, request with the tenant Bearer, relayed response, one record")
  func normalExchange() throws {
    var d = Driver()
    #expect(
      d.on(.requestHead(Self.head(), started: Self.started)) == [
        .count(.request), .armDeadline(.body, .seconds(60)), .fetchToken(1),
      ])
    #expect(d.machine.clientReadGate == .closed)
    #expect(d.on(.requestBody(Self.buffer("{}"))).isEmpty)
    #expect(d.on(.requestEnd) == [.cancelDeadline])
    #expect(d.on(.tokenFetched(1, .success(Self.token1))) == [.admit(1, Self.token1)])
    #expect(d.on(.admissionChecked(1, Self.token1, admitted: true)) == [.connectUpstream(1)])
    #expect(d.on(.streamOpened(1)) == [.adoptStream(1)])
    let ready = d.on(.upstreamReady(1))
    #expect(ready.first == .attachLink(1) && ready.count == 2)
    let sent = try #require(Self.sentRequest(ready))
    #expect(sent.head.headers["authorization"] == ["Bearer acme-token-1"])
    #expect(sent.head.headers["host"] == ["127.0.0.1:8080"])
    #expect(sent.body == [Self.buffer("{}")] && sent.end)
    #expect(d.on(.requestSent(1)) == [.resumeClientRead])
    #expect(d.machine.clientReadGate == .open)  // the request ended

    let head = d.on(.responseHead(Self.response(.ok)))
    guard case .relayResponseHead(let relayed, upstreamKeepAlive: true)? = head.first else {
      Issue.record("\(head)")
      return
    }
    #expect(relayed.status == .ok)
    #expect(d.on(.responseBody(Self.buffer("ok"))) == [.writeResponseBody(Self.buffer("ok"))])
    let end = d.on(.responseEnd)
    #expect(end.count == 5)
    #expect(end.first == .releaseUpstream)
    #expect(
      Array(end.dropFirst(2)) == [
        .writeResponseEnd(thenClose: false), .armDeadline(.idle, .seconds(120)), .resumeClientRead,
      ])
    let record = try #require(d.records.first)
    #expect(record.connectionID == 7 && record.status == 200 && record.completed && record.answeredBy == .upstream)
    #expect(record.requestBytes == 2 && record.responseBytes == 2 && !record.retried && record.detail == nil)
    #expect(record.tenant == TenantID("acme") && record.generation == 1)
    #expect(d.machine.currentExchange == nil)
  }

  @Test("keep-alive: the second request reuses the kept link (a new attempt, nothing abandoned)")
  func keepAliveReuse() throws {
    var d = Driver()
    _ = d.forward()
    d.respond()
    let second = d.forward(Self.head(.POST, "/mcp", body: "[]"), body: "[]")
    #expect(try #require(Self.sentRequest(second)).body == [Self.buffer("[]")])
    #expect(!d.log.contains(.abandonUpstream))
    #expect(d.log.contains(.connectUpstream(2)) && d.log.contains(.fetchToken(2)))
    d.respond()
    #expect(d.records.count == 2 && d.records.allSatisfy { $0.status == 200 && $0.completed })
  }

  @Test("a response with Connection: close drops the link; so does one that came before the request ended")
  func linkNotKept() {
    var d = Driver()
    _ = d.forward()
    _ = d.on(.responseHead(Self.response(.ok, ["Connection": "close"])))
    #expect(d.on(.responseEnd).first == .abandonUpstream)
    _ = d.forward(body: "{}", end: false)
    _ = d.on(.responseHead(Self.response(.ok)))
    #expect(d.on(.responseEnd).first == .abandonUpstream)
  }

  // MARK: 401 and re-mint

  @Test("401 invalid_token: one re-mint, the kept body replayed with the fresh token, retried recorded")
  func remintAndReplay() throws {
    var d = Driver()
    _ = d.forward()
    #expect(
      d.on(.responseHead(Self.response(.unauthorized, Self.invalidToken))) == [
        .abandonUpstream, .count(.remint), .replaceToken(1, rejected: Self.token1),
      ])
    #expect(d.on(.tokenReplaced(1, .success(Self.token2))) == [.admit(1, Self.token2)])
    #expect(d.on(.admissionChecked(1, Self.token2, admitted: true)) == [.connectUpstream(2)])
    let replay = try #require(Self.sentRequest(d.on(.upstreamReady(2))))
    #expect(replay.head.headers["authorization"] == ["Bearer acme-token-2"])
    #expect(replay.body == [Self.buffer("{}")] && replay.end)
    d.respond()
    let record = try #require(d.records.first)
    #expect(record.retried && record.status == 200 && record.requestBytes == 2)
  }

  @Test("a second 401 is a 503 token_rejected of the proxy's, counted once as an error")
  func secondUnauthorized() throws {
    var d = Driver()
    _ = d.forward()
    d.on(.responseHead(Self.response(.unauthorized, Self.invalidToken)))
    d.on(.tokenReplaced(1, .success(Self.token2)))
    d.on(.admissionChecked(1, Self.token2, admitted: true))
    d.on(.upstreamReady(2))
    let second = d.on(.responseHead(Self.response(.unauthorized, Self.invalidToken)))
    #expect(second.first == .abandonUpstream && !second.contains(.count(.remint)))
    let answer = try #require(Self.localAnswer(second))
    #expect(answer.status == .serviceUnavailable && answer.body.contains("freshly minted"))
    #expect(second.filter { $0 == .count(.error) }.count == 1)
    let record = try #require(d.records.first)
    #expect(record.status == 503 && record.detail == "token_rejected" && record.answeredBy == .proxy)
    #expect(record.tenant == nil)
  }

  @Test("a 401 without invalid_token is never re-minted: 503 at once")
  func plainUnauthorized() throws {
    var d = Driver()
    _ = d.forward()
    let actions = d.on(.responseHead(Self.response(.unauthorized, ["WWW-Authenticate": "Bearer"])))
    #expect(!actions.contains(.count(.remint)))
    #expect(try #require(Self.localAnswer(actions)).body.contains("refused the tenant token"))
  }

  @Test("a fresh token with a body too large to replay: 503, no second attempt")
  func remintWithoutReplay() throws {
    var d = Driver(limits: .init(replayableBody: 1))
    _ = d.forward()
    d.on(.responseHead(Self.response(.unauthorized, Self.invalidToken)))
    d.on(.tokenReplaced(1, .success(Self.token2)))
    let actions = d.on(.admissionChecked(1, Self.token2, admitted: true))
    #expect(try #require(Self.localAnswer(actions)).body.contains("too large to replay"))
    #expect(!actions.contains(.connectUpstream(2)))
  }

  // MARK: limits and deadlines

  @Test("a body over the limit: 413, and the connection closes once the answer is written")
  func bodyTooLarge() throws {
    var d = Driver(limits: .init(requestBody: 10))
    d.on(.requestHead(Self.head(body: nil, [("Transfer-Encoding", "chunked")]), started: Self.started))
    #expect(d.on(.requestBody(Self.buffer("0123456789"))).isEmpty)
    let actions = d.on(.requestBody(Self.buffer("x")))
    let answer = try #require(Self.localAnswer(actions))
    #expect(answer.status == .payloadTooLarge && answer.close)
    #expect(Array(actions.suffix(2)) == [.cancelDeadline, .writeResponseEnd(thenClose: true)])
    #expect(d.records.first?.detail == "body_too_large")
    // Whatever follows is ignored: the token that was under way, more body, a parse error.
    #expect(d.on(.tokenFetched(1, .success(Self.token1))).isEmpty)
    #expect(d.on(.requestBody(Self.buffer("y"))).isEmpty)
    #expect(d.on(.clientFailed(.invalidChunkSize)).isEmpty)
  }

  @Test("idle deadline: the connection closes; a deadline that was replaced is ignored")
  func idleDeadline() {
    var d = Driver()
    #expect(d.on(.deadlinePassed(.head, bodyPause: .zero, clientReadable: true)).isEmpty)
    #expect(
      d.on(.deadlinePassed(.idle, bodyPause: .zero, clientReadable: true)) == [.logIdleClose(after: "120 s"), .close])
    #expect(d.on(.clientBytesArrived).isEmpty)
  }

  @Test("head deadline: armed by the first byte, then a 408 written below the codec")
  func headDeadline() {
    var d = Driver(limits: .init(headTimeout: .milliseconds(500)))
    #expect(d.on(.clientBytesArrived) == [.armDeadline(.head, .milliseconds(500))])
    #expect(d.on(.clientBytesArrived).isEmpty)
    let actions = d.on(.deadlinePassed(.head, bodyPause: .zero, clientReadable: true))
    guard case .writeRawAndClose(let bytes)? = actions.last else {
      Issue.record("\(actions)")
      return
    }
    let text = String(decoding: bytes, as: UTF8.self)
    #expect(text.hasPrefix("HTTP/1.1 408 ") && text.contains("within 500 ms"))
    #expect(actions.contains(.count(.error)) && d.records.isEmpty)
  }

  @Test("body deadline: re-armed while reads are held or a part came, 408 after a full pause")
  func bodyDeadline() throws {
    var d = Driver()
    d.on(.requestHead(Self.head(body: "{}"), started: Self.started))
    #expect(
      d.on(.deadlinePassed(.body, bodyPause: .seconds(90), clientReadable: false)) == [
        .armDeadline(.body, .seconds(60))
      ])
    #expect(
      d.on(.deadlinePassed(.body, bodyPause: .seconds(20), clientReadable: true)) == [
        .armDeadline(.body, .seconds(40))
      ])
    let actions = d.on(.deadlinePassed(.body, bodyPause: .seconds(60), clientReadable: true))
    let answer = try #require(Self.localAnswer(actions))
    #expect(answer.status == .requestTimeout && answer.close)
    #expect(answer.body.contains("nothing for 60 s"))
    #expect(actions.last == .writeResponseEnd(thenClose: true))
  }

  @Test("body deadline once the response started: a close, no second response")
  func bodyDeadlineWhileRelaying() {
    var d = Driver()
    _ = d.forward(body: "{}", end: false)
    d.on(.responseHead(Self.response(.ok)))
    let actions = d.on(.deadlinePassed(.body, bodyPause: .seconds(60), clientReadable: true))
    #expect(actions == [.count(.error), .close])
    let closed = d.on(.channelInactive(closedBecause: nil))
    #expect(closed.contains(.abandonUpstream))
    #expect(d.records.first?.detail == "request_timeout" && d.records.first?.completed == false)
  }

  // MARK: stale results

  @Test("stale results are dropped: another exchange's token, another attempt's stream or link")
  func staleResults() {
    var d = Driver()
    d.on(.requestHead(Self.head(), started: Self.started))
    #expect(d.on(.tokenFetched(2, .success(Self.token1))).isEmpty)
    #expect(d.on(.tokenReplaced(1, .success(Self.token1))).isEmpty)  // not re-minting
    #expect(d.on(.admissionChecked(1, Self.token1, admitted: true)).isEmpty)  // not asked
    d.on(.tokenFetched(1, .success(Self.token1)))
    #expect(d.on(.admissionChecked(1, Self.token2, admitted: true)).isEmpty)  // another token
    d.on(.admissionChecked(1, Self.token1, admitted: true))
    #expect(d.on(.streamOpened(5)) == [.discardStream(5)])
    #expect(d.on(.upstreamReady(5)) == [.abandonLink(5)])
    #expect(d.on(.upstreamUnavailable(5, CancellationError())).isEmpty)
    #expect(d.on(.streamOpened(1)) == [.adoptStream(1)])
  }

  @Test("a stream that arrives after the exchange was answered is discarded")
  func streamAfterAnswer() {
    var d = Driver()
    d.on(.requestHead(Self.head(), started: Self.started))
    d.on(.requestBody(Self.buffer("{}")))
    d.on(.requestEnd)
    d.on(.tokenFetched(1, .success(Self.token1)))
    d.on(.admissionChecked(1, Self.token1, admitted: true))
    d.on(.upstreamUnavailable(1, CancellationError()))
    #expect(d.records.first?.status == 502 && d.records.first?.detail == "ssh_unavailable")
    #expect(d.on(.streamOpened(1)) == [.discardStream(1)])
    #expect(d.on(.upstreamReady(1)) == [.abandonLink(1)])
  }

  @Test("a response with no exchange: the link is dropped")
  func responseNobodyAskedFor() {
    var d = Driver()
    _ = d.forward()
    d.respond()
    #expect(d.on(.responseHead(Self.response(.ok))) == [.abandonUpstream])
    #expect(d.on(.responseBody(Self.buffer("x"))).isEmpty)
  }

  // MARK: closes

  @Test("the client closes mid-exchange: the link is dropped and the record says client_closed")
  func clientClosesMidExchange() throws {
    var d = Driver()
    _ = d.forward(body: "{", end: false)
    #expect(d.on(.clientFailed(.invalidEOFState)) == [.close])
    #expect(d.on(.channelInactive(closedBecause: nil)) == [.cancelDeadline, .abandonUpstream, d.log.last!])
    let record = try #require(d.records.first)
    #expect(record.detail == "client_closed" && !record.completed && record.status == nil)
    #expect(d.on(.responseHead(Self.response(.ok))).isEmpty)
  }

  /// A request with `body` relayed upstream, answered with an SSE stream carrying `events` (each
  /// one event's data), and then the client gone (`reset`: a connection reset first) before the
  /// stream's end: the record.
  static func clientGoneDuringStream(body: String, events: [String], reset: Bool = false) throws -> ProxyRequestRecord {
    var d = Driver()
    _ = d.forward(Self.head(body: body), body: body)
    d.on(.responseHead(Self.response(.ok, ["Content-Type": "text/event-stream"])))
    for event in events { d.on(.responseBody(Self.buffer("event: message\r\ndata: \(event)\r\n\r\n"))) }
    if reset { #expect(d.on(.clientFailed(nil)) == [.close]) }
    d.on(.channelInactive(closedBecause: nil))
    return try #require(d.records.first)
  }

  @Test(
    "an SSE answer: a client that hangs up once it has the response event (before the closing chunk) completed the exchange"
  )
  func clientClosesAfterTheAnswer() throws {
    let record = try Self.clientGoneDuringStream(
      body: #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}"#,
      events: [#"{"jsonrpc":"2.0","method":"notifications/progress"}"#, #"{"jsonrpc":"2.0","id":7,"result":{}}"#])
    #expect(record.completed && record.detail == "client_closed_after_answer" && record.status == 200, "\(record)")
    #expect(record.rpcErrorCode == nil)
  }

  @Test("an SSE answer: a client that hangs up before the response event broke the exchange off (client_closed)")
  func clientClosesBeforeTheAnswer() throws {
    // One of the two answers, and one for an id nobody asked for.
    let record = try Self.clientGoneDuringStream(
      body: #"[{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#,
      events: [#"{"jsonrpc":"2.0","id":"a","result":{}}"#, #"{"jsonrpc":"2.0","id":3,"result":{}}"#])
    #expect(!record.completed && record.detail == "client_closed", "\(record)")
  }

  @Test("an SSE answer with an error response: the client resetting after it keeps the error code")
  func clientClosesAfterAnErrorAnswer() throws {
    let record = try Self.clientGoneDuringStream(
      body: #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope"}}"#,
      events: [#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}}"#], reset: true)
    #expect(record.completed && record.detail == "client_closed_after_answer" && record.rpcErrorCode == -32602)
  }

  @Test("a tenant switch closes the connection: its record says why")
  func closedBecause() {
    var d = Driver()
    d.on(.requestHead(Self.head(), started: Self.started))
    d.on(.channelInactive(closedBecause: "tenant_switched"))
    #expect(d.records.first?.detail == "tenant_switched")
  }

  @Test("the upstream closes mid-body: counted, the client connection closes (no forged end)")
  func upstreamClosesMidBody() throws {
    var d = Driver()
    _ = d.forward()
    d.on(.responseHead(Self.response(.ok)))
    d.on(.responseBody(Self.buffer("par")))
    #expect(d.on(.upstreamClosed(wasReused: false)) == [.count(.error), .close])
    #expect(!d.on(.channelInactive(closedBecause: nil)).contains(.abandonUpstream))
    let record = try #require(d.records.first)
    #expect(record.detail == "upstream_closed" && !record.completed && record.responseBytes == 3)
  }

  @Test("a reused link closes before answering: one replay on a fresh stream, then 502")
  func reusedLinkCloses() throws {
    var d = Driver()
    _ = d.forward()
    d.respond()
    _ = d.forward()
    #expect(d.on(.upstreamClosed(wasReused: true)) == [.connectUpstream(3)])
    d.on(.upstreamReady(3))
    let answer = try #require(Self.localAnswer(d.on(.upstreamClosed(wasReused: true))))
    #expect(answer.status == .badGateway && answer.body.contains("upstream_closed"))
  }

  @Test("tenant generation change: 503 tenant_switched with Connection: close, then the close")
  func tenantSwitched() throws {
    var d = Driver()
    d.on(.requestHead(Self.head(), started: Self.started))
    d.on(.requestBody(Self.buffer("{}")))
    d.on(.requestEnd)
    d.on(.tokenFetched(1, .success(Self.token1)))
    let actions = d.on(.admissionChecked(1, Self.token1, admitted: false))
    let answer = try #require(Self.localAnswer(actions))
    #expect(answer.status == .serviceUnavailable && answer.close && answer.body.contains("tenant_switched"))
    #expect(actions.last == .writeResponseEnd(thenClose: true))
    #expect(!actions.contains { if case .connectUpstream = $0 { true } else { false } })
    #expect(d.on(.requestHead(Self.head(), started: Self.started)).isEmpty)
  }

  // MARK: 100-continue, drain, parse errors

  @Test("Expect: 100-continue: one 100 once the request went upstream, not when the body is complete")
  func expectContinue() throws {
    var d = Driver()
    let head = Self.head(body: "{}", [("Expect", "100-continue")])
    let actions = d.forward(head, body: nil, end: false)
    #expect(try #require(Self.sentRequest(actions)).end == false)
    #expect(Array(actions.suffix(2)) == [.writeContinue, .resumeClientRead])
    #expect(d.machine.clientReadGate == .whileUpstreamWritable)
    #expect(d.on(.requestBody(Self.buffer("{}"))) == [.forwardBody(Self.buffer("{}"))])
    #expect(d.on(.requestEnd) == [.cancelDeadline, .forwardEnd])

    var e = Driver()
    #expect(!e.forward(head).contains(.writeContinue))

    // A response that came while the request was being written upstream: no 100 after it.
    var f = Driver()
    f.on(.requestHead(head, started: Self.started))
    f.on(.tokenFetched(1, .success(Self.token1)))
    f.on(.admissionChecked(1, Self.token1, admitted: true))
    f.on(.upstreamReady(1))
    f.on(.responseHead(Self.response(.ok)))
    #expect(f.on(.requestSent(1)) == [.resumeClientRead])
  }

  @Test("answered, then drained: the rest of the body is read and dropped, the record comes at its end")
  func answeredThenDrain() throws {
    var d = Driver(limits: .init(discardedBody: 8))
    let head = Self.head(.POST, "/.well-known/oauth-protected-resource", body: "0123456789")
    let actions = d.on(.requestHead(head, started: Self.started))
    #expect(try #require(Self.localAnswer(actions)).status == .notFound)
    #expect(Array(actions.suffix(2)) == [.writeResponseEnd(thenClose: false), .resumeClientRead])
    #expect(!actions.contains(.count(.error)) && d.records.isEmpty)
    #expect(d.machine.clientReadGate == .open)
    #expect(d.on(.requestBody(Self.buffer("01234"))).isEmpty)
    let end = d.on(.requestEnd)
    #expect(end.first == .cancelDeadline && end.count == 4)
    #expect(Array(end.suffix(2)) == [.armDeadline(.idle, .seconds(120)), .resumeClientRead])
    #expect(d.records.first?.status == 404 && d.records.first?.completed == true)

    var big = Driver(limits: .init(discardedBody: 8))
    big.on(.requestHead(head, started: Self.started))
    #expect(big.on(.requestBody(Self.buffer("0123456789"))) == [.close])
  }

  @Test("a malformed head is answered below the codec; a reset just closes")
  func parseErrors() {
    var d = Driver()
    let actions = d.on(.clientFailed(.headerOverflow))
    guard case .writeRawAndClose(let bytes)? = actions.last else {
      Issue.record("\(actions)")
      return
    }
    #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 431 "))
    #expect(d.on(.clientFailed(nil)).isEmpty)

    var reset = Driver()
    #expect(reset.on(.clientFailed(nil)) == [.close])
  }

  @Test("CONNECT is refused below the codec, and the connection closes")
  func connectRefused() {
    var d = Driver()
    let actions = d.on(.requestHead(Self.head(.CONNECT, "example.com:443", body: nil), started: Self.started))
    guard case .writeRawAndClose(let bytes)? = actions.last else {
      Issue.record("\(actions)")
      return
    }
    #expect(String(decoding: bytes, as: UTF8.self).contains("Connection: close"))
    #expect(d.records.first?.answeredBy == .proxy && d.records.first?.completed == true)
  }
}
