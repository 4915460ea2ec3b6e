import Foundation
import NIOCore
import NIOHTTP1
import TunnelCore

/// The decisions of one client connection of the http proxy, without I/O: `ProxyConnectionHandler`
/// feeds it every event (request parts, token and stream results, upstream response parts, passed
/// deadlines, the connection's end) and performs the actions it returns, in order.
///
/// The state says where the connection is: no request (`idle`), one request in progress
/// (`exchange`, whose `Phase` carries what that step needs), closing after a last answer
/// (`closing`), or closed. The armed client deadline is kept beside it (`deadline`), so a deadline
/// that was replaced or cancelled before it fired is ignored here.
///
/// **Stale results.** Asynchronous results carry the id they were asked for: `ExchangeID` for a
/// token, `AttemptID` for an upstream stream. A result whose id is not the one the current phase
/// waits for is dropped (a stream or link is discarded), so the handler needs no guard of its own.
///
/// Every decision the handler used to take inline is here: screening, replay and its limits, the
/// local answers, the tenant binding check (asked of the handler with `.admit`, whose answer comes
/// back as `.admissionChecked`), the record of each exchange, and when to close.
struct ProxyExchangeStateMachine {
  /// Identifies one request/response exchange of the connection.
  typealias ExchangeID = UInt64
  /// Identifies one attempt to get an upstream stream for an exchange (reused or dialled).
  typealias AttemptID = UInt64

  /// The client's waits that a deadline bounds (see `HTTPTokenProxy.Limits`).
  enum Wait: Equatable {
    case idle
    case head
    case body
  }

  /// What the client connection may read now.
  enum ReadGate: Equatable {
    case open
    case closed
    /// Only while the upstream stream can take more bytes.
    case whileUpstreamWritable
  }

  enum Counter: Equatable {
    case request
    case error
    case remint
  }

  enum Event {
    /// The connection became active; nil when the registry refused it (the proxy is stopping).
    case channelActive(connectionID: UInt64?)
    /// The connection closed; `closedBecause` is what closed it on purpose, if anything did.
    case channelInactive(closedBecause: String?)
    /// Raw bytes arrived, before NIO parsed them.
    case clientBytesArrived
    case requestHead(HTTPRequestHead, started: ContinuousClock.Instant)
    case requestBody(ByteBuffer)
    case requestEnd
    /// The client connection failed: a parse error, or (nil) another error such as a reset.
    case clientFailed(HTTPParserError?)
    case tokenFetched(ExchangeID, Result<TenantSessionToken, any Error>)
    case tokenReplaced(ExchangeID, Result<TenantSessionToken, any Error>)
    /// The handler's answer to `.admit`: whether the token may be sent on this connection.
    case admissionChecked(ExchangeID, TenantSessionToken, admitted: Bool)
    /// The stream dialled for an attempt is there (not yet wrapped in a channel).
    case streamOpened(AttemptID)
    /// The upstream link for an attempt is ready: the idle link reused, or a new stream's channel.
    case upstreamReady(AttemptID)
    case upstreamUnavailable(AttemptID, any Error)
    /// The handler performed `.sendRequest` for the exchange.
    case requestSent(ExchangeID)
    case responseHead(HTTPResponseHead)
    case responseBody(ByteBuffer)
    case responseEnd
    /// The current upstream link closed; `wasReused` when it had served an earlier exchange.
    case upstreamClosed(wasReused: Bool)
    /// A deadline fired. `bodyPause`: time since the request body last made progress;
    /// `clientReadable`: whether the handler lets client reads through now.
    case deadlinePassed(Wait, bodyPause: TimeAmount, clientReadable: Bool)
  }

  enum Action: Equatable {
    case close
    /// Replaces the armed deadline, if any.
    case armDeadline(Wait, TimeAmount)
    case cancelDeadline
    case count(Counter)
    case fetchToken(ExchangeID)
    case replaceToken(ExchangeID, rejected: TenantSessionToken)
    /// Check the token against the connection's tenant binding; answer with `.admissionChecked`.
    case admit(ExchangeID, TenantSessionToken)
    /// Reuse the idle upstream link (answer `.upstreamReady`) or drop the current one and dial a
    /// stream (answer `.streamOpened` or `.upstreamUnavailable`).
    case connectUpstream(AttemptID)
    /// Wrap the attempt's stream in a channel (answer `.upstreamReady` or `.upstreamUnavailable`).
    case adoptStream(AttemptID)
    case discardStream(AttemptID)
    /// Make the attempt's new link the connection's upstream link (nothing when it was reused).
    case attachLink(AttemptID)
    case abandonLink(AttemptID)
    /// Close the upstream link and forget it.
    case abandonUpstream
    /// The upstream link served its exchange and is kept for the next one.
    case releaseUpstream
    /// Sends the request on the upstream link; answer `.requestSent` once it is flushed.
    case sendRequest(ExchangeID, HTTPRequestHead, body: [ByteBuffer], end: Bool)
    case forwardBody(ByteBuffer)
    case forwardEnd
    case writeContinue
    case relayResponseHead(HTTPResponseHead, upstreamKeepAlive: Bool)
    case writeResponseBody(ByteBuffer)
    case writeLocalAnswer(HTTPResponseHead, body: ByteBuffer)
    /// Writes the response end (which may deliver the next pipelined request); closes once it is
    /// written when `thenClose`.
    case writeResponseEnd(thenClose: Bool)
    /// Writes a whole response below the HTTP codec, then closes.
    case writeRawAndClose([UInt8])
    /// Let a held client read through, when reads are allowed now.
    case resumeClientRead
    /// The exchange's record; its `duration` is to be measured from `started`.
    case report(ProxyRequestRecord, started: ContinuousClock.Instant)
    case logTokenFailure(String)
    case logRefusedHead(code: String)
    case logIdleClose(after: String)
  }

  enum State {
    /// Before `channelActive`.
    case inactive
    /// No request in progress.
    case idle
    case exchange(Exchange)
    /// The connection closes after its last answer; input is ignored. `pending` is an exchange
    /// broken off by the close, reported when the connection is inactive.
    case closing(pending: Exchange?)
    case closed
  }

  /// Where an exchange is.
  enum Phase: Equatable {
    case awaitingToken
    /// Waiting for the handler's `.admissionChecked` on `token`; `afterRemint` for a fresh one.
    case admitting(TenantSessionToken, afterRemint: Bool)
    case connecting(AttemptID)
    /// Request head sent upstream; waiting for the response head.
    case forwarding
    /// Response head relayed to the client; relaying the body.
    case relaying(upstreamKeepAlive: Bool)
    /// Waiting for `replaceRejected(_:)` after a `401 invalid_token`.
    case reminting
    /// The upstream answered with a step-up challenge (`Exchange.stepUp`) before the request body
    /// ended: the rest is read and dropped, and the answer, which echoes the request ids, is
    /// written at its end.
    case challenged
    /// The client's response is complete; the rest of the request body is read and dropped.
    case answered
  }

  /// The request body while no response was given.
  enum RequestBody {
    /// Every part so far, small enough to replay.
    case kept([ByteBuffer])
    /// Parts not yet sent upstream (a body too large to replay streams through).
    case streamed(pending: [ByteBuffer])
  }

  /// One request/response exchange.
  struct Exchange {
    let id: ExchangeID
    let head: HTTPRequestHead
    let started: ContinuousClock.Instant
    let chunkedBody: Bool
    let expectsContinue: Bool
    /// `MCP-Tunnel-Via` of the request, for its record.
    let via: String?
    var closeAfter: Bool
    var phase = Phase.awaitingToken
    var requestEnded = false
    var body = RequestBody.streamed(pending: [])
    /// The bounded side copy of the body for the JSON-RPC summary, and the summary once the body ended.
    var bodySummarizer: RequestBodySummarizer
    var bodyKind = ProxyRequestRecord.BodyKind.incomplete
    var rpcMessages: [ProxyRequestRecord.RPCMessage] = []
    /// Body bytes handed to the current upstream attempt (reset when a request is replayed).
    var requestBytes = 0
    var responseBytes = 0
    var errorCodeReader = ResponseErrorCodeReader()
    var token: TenantSessionToken?
    var remintUsed = false
    /// The step-up challenge the upstream answered with (SPEC §10), when it did.
    var stepUp: StepUpChallenge?
    /// The shape of a JSON-RPC answer to the request body, known once it ended.
    var replyShape = JSONRPCReplyShape.unknown
    var reconnectUsed = false
    var retried = false
    var continueSent = false
    var status: Int?
    var answeredBy = ProxyRequestRecord.AnsweredBy.upstream
    var detail: String?
    var countedError = false
    var discarded = 0
    /// Request body bytes received from the client so far.
    var bodyReceived = 0
    /// Close once the local answer is written, without reading the rest of the request.
    var abortAfterAnswer = false

    init(
      id: ExchangeID, head: HTTPRequestHead, started: ContinuousClock.Instant, chunkedBody: Bool,
      bodySummarizer: RequestBodySummarizer
    ) {
      self.id = id
      self.head = head
      self.started = started
      self.chunkedBody = chunkedBody
      self.bodySummarizer = bodySummarizer
      expectsContinue = head.headers["expect"].contains { $0.lowercased() == "100-continue" }
      via = AuthorizationRewriter.via(head.headers)
      // NIO's parser stops after a request that asks for an upgrade (it never parses the next
      // one); the proxy forwards it without the upgrade and closes after it.
      closeAfter = !head.isKeepAlive || head.version != .http1_1 || Self.asksForUpgrade(head)
    }

    static func asksForUpgrade(_ head: HTTPRequestHead) -> Bool {
      head.method == .CONNECT
        || (head.headers.contains(name: "upgrade")
          && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" })
    }

    var isReplayable: Bool {
      if case .kept = body { return true }
      return false
    }
  }

  private(set) var state = State.inactive
  /// The armed client deadline, if any.
  private(set) var deadline: Wait?
  /// Whether the handler holds an upstream link (busy or idle).
  private(set) var linked = false
  private var connectionID: UInt64?
  private var nextExchange: ExchangeID = 0
  private var nextAttempt: AttemptID = 0

  let limits: HTTPTokenProxy.Limits
  let requestGuard: LoopbackRequestGuard
  let upstreamHost: String
  /// For the words of a step-up answer: the profile's scopes and name.
  let stepUpContext: StepUpContext

  init(
    limits: HTTPTokenProxy.Limits, requestGuard: LoopbackRequestGuard, upstreamHost: String,
    stepUpContext: StepUpContext = StepUpContext()
  ) {
    self.limits = limits
    self.requestGuard = requestGuard
    self.upstreamHost = upstreamHost
    self.stepUpContext = stepUpContext
  }

  /// What the client connection may read now (further reads after a request's end only buffer the
  /// next pipelined request).
  var clientReadGate: ReadGate {
    let current: Exchange?
    switch state {
    case .exchange(let ex): current = ex
    case .closing(let pending): current = pending
    case .inactive, .idle, .closed: current = nil
    }
    guard let ex = current, !ex.requestEnded else { return .open }
    switch ex.phase {
    case .forwarding, .relaying: return .whileUpstreamWritable
    case .answered, .challenged: return .open
    case .awaitingToken, .admitting, .connecting, .reminting: return .closed
    }
  }

  /// The current exchange, if a request is in progress.
  var currentExchange: Exchange? {
    if case .exchange(let ex) = state { return ex }
    return nil
  }

  mutating func handle(_ event: Event) -> [Action] {
    var actions: [Action] = []
    switch event {
    case .channelActive(let id):
      guard let id else {
        state = .closing(pending: nil)
        return [.close]
      }
      connectionID = id
      state = .idle
      arm(.idle, &actions)
    case .channelInactive(let closedBecause):
      channelInactive(closedBecause: closedBecause, &actions)
    case .clientBytesArrived:
      if case .idle = state, deadline != .head { arm(.head, &actions) }
    case .requestHead(let head, let started):
      requestHead(head, started: started, &actions)
    case .requestBody(let buffer):
      requestBody(buffer, &actions)
    case .requestEnd:
      requestEnd(&actions)
    case .clientFailed(let error):
      clientFailed(error, &actions)
    case .tokenFetched(let id, let result):
      guard var ex = current(id, in: .awaitingToken) else { return [] }
      switch result {
      case .failure(let error):
        actions.append(.logTokenFailure(String(describing: error)))
        answerLocally(&ex, .tokenUnavailable(error), &actions)
      case .success(let token):
        ex.phase = .admitting(token, afterRemint: false)
        actions.append(.admit(id, token))
      }
      store(ex)
    case .tokenReplaced(let id, let result):
      guard var ex = current(id, in: .reminting) else { return [] }
      switch result {
      case .failure(let error): answerLocally(&ex, .tokenUnavailable(error), &actions)
      case .success(let token):
        ex.phase = .admitting(token, afterRemint: true)
        actions.append(.admit(id, token))
      }
      store(ex)
    case .admissionChecked(let id, let token, let admitted):
      admissionChecked(id, token, admitted: admitted, &actions)
    case .streamOpened(let attempt):
      if current(attempt) == nil { return [.discardStream(attempt)] }
      actions.append(.adoptStream(attempt))
    case .upstreamReady(let attempt):
      guard var ex = current(attempt) else { return [.abandonLink(attempt)] }
      actions.append(.attachLink(attempt))
      send(&ex, &actions)
      store(ex)
    case .upstreamUnavailable(let attempt, let error):
      guard var ex = current(attempt) else { return [] }
      answerLocally(&ex, .upstreamUnavailable(error), &actions)
      store(ex)
    case .requestSent(let id):
      requestSent(id, &actions)
    case .responseHead(let head):
      responseHead(head, &actions)
    case .responseBody(let buffer):
      guard var ex = currentExchange else { return abandonUpstream() }
      guard case .relaying = ex.phase else { return [] }
      ex.responseBytes += buffer.readableBytes
      ex.errorCodeReader.append(buffer)
      actions.append(.writeResponseBody(buffer))
      store(ex)
    case .responseEnd:
      responseEnd(&actions)
    case .upstreamClosed(let wasReused):
      upstreamClosed(wasReused: wasReused, &actions)
    case .deadlinePassed(let wait, let bodyPause, let clientReadable):
      deadlinePassed(wait, bodyPause: bodyPause, clientReadable: clientReadable, &actions)
    }
    return actions
  }

  // MARK: the client

  private mutating func channelInactive(closedBecause: String?, _ actions: inout [Action]) {
    let pending: Exchange?
    switch state {
    case .exchange(let ex): pending = ex
    case .closing(let ex): pending = ex
    case .inactive, .idle, .closed: pending = nil
    }
    state = .closed
    if deadline != nil { actions.append(.cancelDeadline) }
    deadline = nil
    if linked { actions.append(.abandonUpstream) }
    linked = false
    if var ex = pending {
      // A client that hangs up on an SSE answer once it holds every response it asked for (the
      // MCP SDK clients do, before the stream's closing chunk) had its exchange completed.
      if ex.detail == nil, closedBecause == nil, Self.hadEveryAnswer(ex) {
        ex.detail = "client_closed_after_answer"
        actions.append(report(ex, completed: true))
        return
      }
      // Broken off by the client, a tenant switch or stop(): not counted as an error (upstream
      // failures were counted where they happened).
      if ex.detail == nil { ex.detail = closedBecause ?? "client_closed" }
      actions.append(report(ex, completed: false))
    }
  }

  private mutating func requestHead(
    _ head: HTTPRequestHead, started: ContinuousClock.Instant, _ actions: inout [Action]
  ) {
    guard case .idle = state else { return }
    actions.append(.count(.request))
    arm(.body, &actions)
    let chunked = !head.headers["transfer-encoding"].isEmpty
    let length = head.headers["content-length"].first.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    nextExchange += 1
    var ex = Exchange(
      id: nextExchange, head: head, started: started, chunkedBody: chunked,
      bodySummarizer: RequestBodySummarizer(
        limit: limits.jsonSummaryBody, declaredLength: chunked ? nil : (length ?? 0)))
    state = .exchange(ex)
    if let answer = requestGuard.screen(head) {
      answerLocally(&ex, answer, &actions)
      store(ex)
      return
    }
    if !chunked, (length ?? 0) <= limits.replayableBody { ex.body = .kept([]) }
    ex.phase = .awaitingToken
    actions.append(.fetchToken(ex.id))
    store(ex)
  }

  private mutating func requestBody(_ buffer: ByteBuffer, _ actions: inout [Action]) {
    guard var ex = currentExchange else { return }
    ex.bodyReceived += buffer.readableBytes
    if ex.bodyReceived > limits.requestBody, ex.phase != .answered {
      refuse(&ex, LoopbackRequestGuard.bodyTooLarge(limit: limits.requestBody), &actions)
      store(ex)
      return
    }
    ex.bodySummarizer.append(buffer)
    switch ex.phase {
    case .answered:
      ex.discarded += buffer.readableBytes
      if ex.discarded > limits.discardedBody { actions.append(.close) }
    case .challenged:
      break  // read for the ids of the answer only (bounded by `Limits.requestBody`)
    case .awaitingToken, .admitting, .connecting, .reminting:
      switch ex.body {
      case .kept(let parts): ex.body = .kept(parts + [buffer])
      case .streamed(let pending): ex.body = .streamed(pending: pending + [buffer])
      }
    case .forwarding, .relaying:
      if case .kept(let parts) = ex.body { ex.body = .kept(parts + [buffer]) }
      if linked {
        ex.requestBytes += buffer.readableBytes
        actions.append(.forwardBody(buffer))
      }
    }
    store(ex)
  }

  private mutating func requestEnd(_ actions: inout [Action]) {
    guard var ex = currentExchange else { return }
    if deadline == .body {
      deadline = nil
      actions.append(.cancelDeadline)
    }
    ex.requestEnded = true
    (ex.bodyKind, ex.rpcMessages, ex.replyShape) = ex.bodySummarizer.finish()
    switch ex.phase {
    case .answered:
      settle(ex, &actions)
      afterFinish(ex, wrote: false, &actions)
      return
    case .challenged:
      answerStepUp(&ex, &actions)
    case .forwarding, .relaying:
      if linked { actions.append(.forwardEnd) }
    case .awaitingToken, .admitting, .connecting, .reminting:
      break  // sent with the head once the upstream is ready
    }
    store(ex)
  }

  private mutating func clientFailed(_ error: HTTPParserError?, _ actions: inout [Action]) {
    // Already answering and closing: more bytes after a parse error (NIO's decoder reports them as
    // errors too) change nothing. Closing right away would drop the answer still being written.
    switch state {
    case .closing, .closed: return
    case .inactive, .idle, .exchange: break
    }
    guard let error, error != .invalidEOFState else {
      // A client resetting its connection is not an error of the proxy's; nor is a client that
      // closed in the middle of a request (nothing to answer).
      if var ex = currentExchange, ex.detail == nil, !Self.hadEveryAnswer(ex) {
        ex.detail = error == nil ? "client_error" : "client_closed"
        store(ex)
      }
      actions.append(.close)
      return
    }
    let answer = LocalAnswer.parseRefusal(error, limits: limits)
    if var ex = currentExchange {
      refuse(&ex, answer, &actions)  // the body's framing broke mid-request
      store(ex)
    } else {
      refuseWithoutRequest(answer, &actions)
    }
  }

  // MARK: token and upstream

  private mutating func admissionChecked(
    _ id: ExchangeID, _ token: TenantSessionToken, admitted: Bool, _ actions: inout [Action]
  ) {
    guard var ex = currentExchange, ex.id == id, case .admitting(token, let afterRemint) = ex.phase else { return }
    defer { store(ex) }
    guard admitted else {
      answerLocally(&ex, .tenantSwitched, &actions)
      return
    }
    ex.token = token
    guard afterRemint else {
      connect(&ex, &actions)
      return
    }
    if ex.isReplayable {
      ex.retried = true
      connect(&ex, &actions)
    } else {
      answerLocally(&ex, .tokenRejectedBodyTooLarge, &actions)
    }
  }

  private mutating func connect(_ ex: inout Exchange, _ actions: inout [Action]) {
    nextAttempt += 1
    ex.phase = .connecting(nextAttempt)
    linked = false  // the handler reuses its idle link (then ready at once) or drops it and dials
    actions.append(.connectUpstream(nextAttempt))
  }

  private mutating func send(_ ex: inout Exchange, _ actions: inout [Action]) {
    guard let token = ex.token else { return }
    ex.phase = .forwarding
    linked = true
    let head = AuthorizationRewriter.upstreamRequestHead(
      from: ex.head, token: token.token, upstreamHost: upstreamHost, chunkedBody: ex.chunkedBody)
    let parts: [ByteBuffer]
    switch ex.body {
    case .kept(let kept): parts = kept
    case .streamed(let pending):
      parts = pending
      ex.body = .streamed(pending: [])
    }
    ex.requestBytes = parts.reduce(0) { $0 + $1.readableBytes }
    actions.append(.sendRequest(ex.id, head, body: parts, end: ex.requestEnded))
  }

  /// The request went upstream: a `100 Continue` when the client waits for one and no response
  /// came meanwhile (writing upstream can deliver one at once), and the client may be read again.
  private mutating func requestSent(_ id: ExchangeID, _ actions: inout [Action]) {
    if var ex = currentExchange, ex.id == id, ex.phase == .forwarding, ex.expectsContinue, !ex.continueSent,
      !ex.requestEnded
    {
      ex.continueSent = true
      actions.append(.writeContinue)
      store(ex)
    }
    actions.append(.resumeClientRead)
  }

  private mutating func responseHead(_ head: HTTPResponseHead, _ actions: inout [Action]) {
    guard var ex = currentExchange else {
      actions = abandonUpstream()  // a response nobody asked for
      return
    }
    guard ex.phase == .forwarding else { return }
    defer { store(ex) }
    let status = Int(head.status.code)
    if let challenge = StepUpChallenge.parse(status: status, wwwAuthenticate: head.headers["www-authenticate"]) {
      stepUpRequired(&ex, challenge, &actions)
      return
    }
    if head.status == .unauthorized {
      unauthorized(&ex, head, &actions)
      return
    }
    ex.phase = .relaying(upstreamKeepAlive: head.isKeepAlive)
    ex.status = Int(head.status.code)
    if head.status.code >= 500 { markError(&ex, detail: nil, &actions) }
    ex.errorCodeReader = ResponseErrorCodeReader(
      contentType: head.headers["content-type"].first, limit: limits.jsonSummaryBody)
    let relayed = AuthorizationRewriter.clientResponseHead(
      from: head, clientVersion: ex.head.version, closing: ex.closeAfter)
    actions.append(.relayResponseHead(relayed, upstreamKeepAlive: head.isKeepAlive))
  }

  /// An upstream `401`: re-mint and replay once when it says `invalid_token` and the body can be
  /// replayed; otherwise a `503` of our own. The challenge itself never reaches the client.
  private mutating func unauthorized(_ ex: inout Exchange, _ head: HTTPResponseHead, _ actions: inout [Action]) {
    actions.append(contentsOf: abandonUpstream())
    let invalidToken = AuthenticationChallenge.demandsFreshBearerToken(head.headers["www-authenticate"])
    guard invalidToken, !ex.remintUsed, let rejected = ex.token else {
      answerLocally(&ex, .tokenRejected(afterRemint: ex.remintUsed), &actions)
      return
    }
    ex.remintUsed = true
    ex.phase = .reminting
    actions.append(.count(.remint))
    actions.append(.replaceToken(ex.id, rejected: rejected))
  }

  /// An upstream step-up challenge (SPEC §10): no re-mint and no retry (a fresh token of the same
  /// login cannot satisfy it, SU-03), the challenge not relayed (USE-06). The upstream response is
  /// dropped with its stream, and the client gets the server's status with a JSON-RPC error naming
  /// `mcp-tunnel elevate` — at once when the request body is complete, else once it is (the answer
  /// echoes its ids). A client that waits for `100 Continue` and did not get it sends no body: it is
  /// answered at once, without ids.
  private mutating func stepUpRequired(
    _ ex: inout Exchange, _ challenge: StepUpChallenge, _ actions: inout [Action]
  ) {
    actions.append(contentsOf: abandonUpstream())
    ex.stepUp = challenge
    if ex.requestEnded || (ex.expectsContinue && !ex.continueSent) {
      answerStepUp(&ex, &actions)
    } else {
      ex.phase = .challenged
      actions.append(.resumeClientRead)
    }
  }

  private mutating func answerStepUp(_ ex: inout Exchange, _ actions: inout [Action]) {
    guard let challenge = ex.stepUp, let tenant = ex.token?.tenant else {
      answerLocally(&ex, .tokenRejected(afterRemint: ex.remintUsed), &actions)  // not reached: it was sent
      return
    }
    answerLocally(
      &ex, .stepUp(stepUpContext.advice(for: challenge, tenant: tenant), reply: ex.replyShape), &actions)
  }

  private mutating func responseEnd(_ actions: inout [Action]) {
    guard var ex = currentExchange else {
      actions = abandonUpstream()
      return
    }
    guard case .relaying(let upstreamKeepAlive) = ex.phase else { return }
    ex.errorCodeReader.end()
    if ex.requestEnded && upstreamKeepAlive {
      actions.append(.releaseUpstream)
    } else {
      // The upstream answered before the whole request was sent, or will close: not reusable.
      actions.append(contentsOf: abandonUpstream())
    }
    endResponse(&ex, &actions)
    store(ex)
  }

  private mutating func upstreamClosed(wasReused: Bool, _ actions: inout [Action]) {
    linked = false
    guard var ex = currentExchange else { return }
    switch ex.phase {
    case .forwarding:
      if wasReused, ex.isReplayable, !ex.reconnectUsed {
        // A kept-alive stream closed just as it was reused: replay once on a fresh stream.
        ex.reconnectUsed = true
        connect(&ex, &actions)
      } else {
        answerLocally(&ex, .upstreamClosed, &actions)
      }
    case .relaying:
      markError(&ex, detail: "upstream_closed", &actions)
      actions.append(.close)  // the client sees a truncated response, never a forged end
    case .awaitingToken, .admitting, .connecting, .reminting, .answered, .challenged:
      break
    }
    store(ex)
  }

  // MARK: answering and finishing

  private mutating func answerLocally(_ ex: inout Exchange, _ answer: LocalAnswer, _ actions: inout [Action]) {
    switch ex.phase {
    case .relaying, .answered:
      actions.append(.close)  // a response is already under way; cannot start another
      return
    case .awaitingToken, .admitting, .connecting, .forwarding, .reminting, .challenged:
      break
    }
    if ex.head.method == .CONNECT {
      answerCONNECT(&ex, answer, &actions)
      return
    }
    if ex.phase == .forwarding, linked {
      // The upstream has part of a request that will never complete.
      actions.append(contentsOf: abandonUpstream())
    }
    ex.answeredBy = .proxy
    ex.detail = answer.code
    ex.status = Int(answer.status.code)
    if answer.countsAsError { markError(&ex, detail: answer.code, &actions) }
    if answer.closeConnection { ex.closeAfter = true }
    if answer.abortRequest { ex.abortAfterAnswer = true }
    let body = answer.body
    actions.append(
      .writeLocalAnswer(
        answer.responseHead(requestVersion: ex.head.version, closing: ex.closeAfter), body: ByteBuffer(bytes: body)))
    ex.responseBytes = body.count
    endResponse(&ex, &actions)
  }

  /// The response is complete: settles the exchange when its request is complete too (or is not
  /// to be read), then writes the end. Writing `.end` lets NIO's pipelining handler deliver the
  /// next request at once: the state is settled before, and that request's actions queue behind
  /// the ones that follow the end here.
  private mutating func endResponse(_ ex: inout Exchange, _ actions: inout [Action]) {
    ex.phase = .answered
    ex.body = .streamed(pending: [])
    let finishing = ex.requestEnded || ex.abortAfterAnswer
    if finishing {
      settle(ex, &actions)
      afterFinish(ex, wrote: true, &actions)
    } else {
      actions.append(.writeResponseEnd(thenClose: false))
      actions.append(.resumeClientRead)
    }
  }

  /// NIO's encoder drops the body of any response to `CONNECT`, and its parser stops after one: the
  /// refusal (the guard refuses every `CONNECT`) is written below the codec, and the connection closes.
  private mutating func answerCONNECT(_ ex: inout Exchange, _ answer: LocalAnswer, _ actions: inout [Action]) {
    ex.answeredBy = .proxy
    ex.detail = answer.code
    ex.status = Int(answer.status.code)
    if answer.countsAsError { markError(&ex, detail: answer.code, &actions) }
    ex.closeAfter = true
    ex.phase = .answered
    ex.responseBytes = answer.body.count
    settle(ex, &actions)
    disarm(&actions)
    actions.append(.writeRawAndClose(answer.serializedClosingResponse))
  }

  /// Refuses the current request: a local answer when no response has started, else a close (the
  /// client sees a truncated response, never a forged end). Either way the connection closes.
  private mutating func refuse(_ ex: inout Exchange, _ answer: LocalAnswer, _ actions: inout [Action]) {
    switch ex.phase {
    case .relaying, .answered:
      if answer.countsAsError { markError(&ex, detail: answer.code, &actions) }
      state = .closing(pending: ex)
      disarm(&actions)
      actions.append(.close)
    case .awaitingToken, .admitting, .connecting, .forwarding, .reminting, .challenged:
      answerLocally(&ex, answer, &actions)
    }
  }

  /// Answers when no request head was parsed (a malformed or timed-out head) and closes: the
  /// answer goes out below the HTTP codec, which has no request to pair it with.
  private mutating func refuseWithoutRequest(_ answer: LocalAnswer, _ actions: inout [Action]) {
    switch state {
    case .closing, .closed: return
    case .inactive, .idle, .exchange: break
    }
    state = .closing(pending: nil)
    disarm(&actions)
    if answer.countsAsError { actions.append(.count(.error)) }
    actions.append(.logRefusedHead(code: answer.code))
    actions.append(.writeRawAndClose(answer.serializedClosingResponse))
  }

  /// The exchange is over: reported, and the connection idles or closes.
  private mutating func settle(_ ex: Exchange, _ actions: inout [Action]) {
    state = ex.closeAfter || ex.abortAfterAnswer ? .closing(pending: nil) : .idle
    actions.append(report(ex, completed: true))
  }

  private mutating func afterFinish(_ ex: Exchange, wrote: Bool, _ actions: inout [Action]) {
    if ex.closeAfter || ex.abortAfterAnswer {
      disarm(&actions)
      actions.append(wrote ? .writeResponseEnd(thenClose: true) : .close)
    } else {
      if wrote { actions.append(.writeResponseEnd(thenClose: false)) }
      // Armed before the end is written: a pipelined request it delivers arms its own deadline.
      arm(.idle, &actions)
      actions.append(.resumeClientRead)
    }
  }

  private func markError(_ ex: inout Exchange, detail: String?, _ actions: inout [Action]) {
    if let detail, ex.detail == nil { ex.detail = detail }
    guard !ex.countedError else { return }
    ex.countedError = true
    actions.append(.count(.error))
  }

  /// The upstream's event stream has carried a response to every request of the exchange's body.
  private static func hadEveryAnswer(_ ex: Exchange) -> Bool {
    guard case .relaying = ex.phase else { return false }
    return ex.errorCodeReader.answered(all: ex.replyShape.requestIDs)
  }

  private func report(_ ex: Exchange, completed: Bool) -> Action {
    // A step-up answer is the proxy's, but the request went upstream with the tenant's token.
    let forwarded = ex.answeredBy == .upstream || ex.stepUp != nil
    let path = ex.head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
    let record = ProxyRequestRecord(
      connectionID: connectionID ?? 0, method: ex.head.method.rawValue, path: path ?? "", status: ex.status,
      duration: .zero, bodyKind: ex.bodyKind, rpcMessages: ex.rpcMessages,
      requestBytes: ex.requestBytes, responseBytes: ex.responseBytes, rpcErrorCode: ex.errorCodeReader.errorCode,
      tenant: forwarded ? ex.token?.tenant : nil, generation: forwarded ? ex.token?.generation : nil,
      answeredBy: ex.answeredBy, completed: completed, detail: ex.detail, retried: ex.retried, via: ex.via,
      stepUp: ex.stepUp, elevated: forwarded && ex.token?.elevated == true)
    return .report(record, started: ex.started)
  }

  private mutating func abandonUpstream() -> [Action] {
    guard linked else { return [] }
    linked = false
    return [.abandonUpstream]
  }

  // MARK: deadlines

  private mutating func arm(_ wait: Wait, in delay: TimeAmount? = nil, _ actions: inout [Action]) {
    deadline = wait
    actions.append(.armDeadline(wait, delay ?? TimeAmount(timeout(for: wait))))
  }

  private mutating func disarm(_ actions: inout [Action]) {
    guard deadline != nil else { return }
    deadline = nil
    actions.append(.cancelDeadline)
  }

  private func timeout(for wait: Wait) -> Duration {
    switch wait {
    case .idle: return limits.idleTimeout
    case .head: return limits.headTimeout
    case .body: return limits.bodyTimeout
    }
  }

  private mutating func deadlinePassed(
    _ wait: Wait, bodyPause: TimeAmount, clientReadable: Bool, _ actions: inout [Action]
  ) {
    guard deadline == wait else { return }  // replaced or cancelled before it fired
    switch state {
    case .inactive, .closing, .closed: return
    case .idle, .exchange: break
    }
    deadline = nil
    let waited = timeout(for: wait)
    switch wait {
    case .idle:
      guard case .idle = state else { return }
      actions.append(.logIdleClose(after: LocalAnswer.describe(waited)))
      state = .closing(pending: nil)
      actions.append(.close)
    case .head:
      guard case .idle = state else { return }
      refuseWithoutRequest(.headTimeout(waited), &actions)
    case .body:
      guard var ex = currentExchange, !ex.requestEnded else { return }
      let limit = TimeAmount(waited)
      if !clientReadable {
        arm(.body, &actions)  // the proxy holds reads back: the client is not to blame
        return
      }
      if bodyPause < limit {
        arm(.body, in: limit - bodyPause, &actions)  // a part came meanwhile
        return
      }
      refuse(&ex, .bodyTimeout(waited), &actions)
      store(ex)
    }
  }

  // MARK: state helpers

  /// The current exchange when it is `id` and in `phase`; nil for a result that is stale.
  private func current(_ id: ExchangeID, in phase: Phase) -> Exchange? {
    guard let ex = currentExchange, ex.id == id, ex.phase == phase else { return nil }
    return ex
  }

  /// The current exchange when it waits for `attempt`; nil for a stream or link that is stale.
  private func current(_ attempt: AttemptID) -> Exchange? {
    guard let ex = currentExchange, ex.phase == .connecting(attempt) else { return nil }
    return ex
  }

  /// Writes `ex` back as the current exchange, unless the state moved on meanwhile (settled,
  /// closing, closed): then it is no longer current and nothing is stored.
  private mutating func store(_ ex: Exchange) {
    guard case .exchange(let current) = state, current.id == ex.id else { return }
    state = .exchange(ex)
  }
}
