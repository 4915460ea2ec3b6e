import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TunnelCore

/// One client connection of the http proxy: screens each request, fetches the tenant token, and
/// relays the request and its response over an upstream stream, both bodies streamed with
/// backpressure (reads on one side are held while the other side is not writable).
///
/// **Tenant binding.** The connection is bound to the token generation of its first forwarded
/// request. A later request whose token has another generation (the tenant switched and
/// `retireConnections` has not closed this connection yet) is answered `503` + `Connection: close`
/// and the connection closes, so no request on it ever carries another tenant's token.
///
/// **Upstream reuse.** At most one upstream stream per client connection, opened on its first
/// forwarded request and reused for the next ones while both sides keep it alive; a new one is
/// opened when it was closed. This mirrors what `ssh -L` gives a keep-alive client (one channel per
/// TCP connection) without a pool shared across connections, which could mix tenants.
///
/// **Retry.** A `401` whose challenge says `invalid_token` makes the proxy call
/// `replaceRejected` and replay the request once on a fresh stream, when the body was small enough
/// (`Limits.replayableBody`, known from `Content-Length`) to be kept. Otherwise, and on a second
/// `401`, the client gets a `503` JSON answer; an upstream challenge is never relayed (USE-06).
///
/// **Records.** Each exchange reports one `ProxyRequestRecord` when it settles. Its JSON-RPC summary
/// and the response's error code come from bounded copies taken on the side
/// (`RequestBodySummarizer`, `ResponseErrorCodeReader`, both capped at `Limits.jsonSummaryBody`);
/// the bodies stream exactly as they would without them, never held back for the summary.
///
/// **Hostile input.** A malformed request (NIO's parser refuses it) is answered with a JSON `400`
/// (`431` for a head over `Limits.requestHead`/`headerFields`, `505` for another HTTP version) and
/// the connection closes; when no head was parsed, the answer is written below the HTTP codec by
/// `ClientByteTap`. Bodies over `Limits.requestBody` get `413`. Three deadlines bound the waits
/// for the client (never for the upstream): `Limits.headTimeout` from a head's first byte,
/// `Limits.bodyTimeout` between body parts while the proxy reads, and `Limits.idleTimeout` for a
/// connection with no request in progress and no response under way. The local answers' texts are in
/// `ProxyLocalAnswers.swift`.
///
/// Threading: everything runs on the channel's event loop. Async work (token source, forwarder)
/// runs in tasks whose results hop back to the loop; a result for an exchange that is no longer
/// current is dropped.
final class ProxyConnectionHandler: ChannelDuplexHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundIn = HTTPServerResponsePart
  typealias OutboundOut = HTTPServerResponsePart

  private enum Phase {
    /// Waiting for `currentToken()`.
    case awaitingToken
    /// Waiting for `openStream()` and the NIO channel around it.
    case connecting
    /// Request head sent upstream; waiting for the response head.
    case forwarding
    /// Response head relayed to the client; relaying the body.
    case relaying
    /// Waiting for `replaceRejected(_:)` after a `401 invalid_token`.
    case reminting
    /// The client's response is complete; the rest of the request body is read and dropped.
    case answered
  }

  /// One request/response exchange.
  private final class Exchange {
    let head: HTTPRequestHead
    let started = ContinuousClock.now
    let chunkedBody: Bool
    let expectsContinue: Bool
    var closeAfter: Bool
    var phase = Phase.awaitingToken
    var requestEnded = false
    /// Body parts not yet sent upstream (only for bodies that cannot be replayed).
    var pendingBody: [ByteBuffer] = []
    /// Every body part so far, while the body is small enough to replay; nil otherwise.
    var replay: [ByteBuffer]?
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

    init(head: HTTPRequestHead, chunkedBody: Bool, bodySummarizer: RequestBodySummarizer) {
      self.head = head
      self.chunkedBody = chunkedBody
      self.bodySummarizer = bodySummarizer
      expectsContinue = head.headers["expect"].contains { $0.lowercased() == "100-continue" }
      // NIO's parser stops after a request that asks for an upgrade (it never parses the next
      // one); the proxy forwards it without the upgrade and closes after it.
      closeAfter = !head.isKeepAlive || head.version != .http1_1 || Self.asksForUpgrade(head)
    }

    static func asksForUpgrade(_ head: HTTPRequestHead) -> Bool {
      head.method == .CONNECT
        || (head.headers.contains(name: "upgrade")
          && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" })
    }
  }

  /// The client's waits that a deadline bounds (see `Limits`).
  private enum Wait {
    case idle
    case head
    case body
  }

  private let shared: ProxyShared
  private let tap: ClientByteTap
  private var context: ChannelHandlerContext?
  private var connectionID: UInt64?
  private var boundGeneration: UInt64?
  private var upstream: UpstreamHandler?
  private var exchange: Exchange?
  private var readPending = false
  private var isClosed = false
  /// Set once the connection is to close after the current response; later requests are ignored.
  private var closing = false
  private var deadline: (wait: Wait, task: Scheduled<Void>)?
  /// When the current request body last made progress (a part arrived, or the proxy resumed reading),
  /// in the loop's time (`EventLoop.now`: the clock the deadlines are scheduled on).
  private var bodyProgress = NIODeadline.uptimeNanoseconds(0)

  init(shared: ProxyShared, tap: ClientByteTap) {
    self.shared = shared
    self.tap = tap
    tap.owner = self
  }

  var clientIsWritable: Bool { context?.channel.isWritable ?? false }

  // MARK: channel events

  func handlerAdded(context: ChannelHandlerContext) { self.context = context }

  func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

  func channelActive(context: ChannelHandlerContext) {
    if let id = shared.registry.add(context.channel) {
      connectionID = id
      arm(.idle)
    } else {
      context.close(promise: nil)
    }
    context.fireChannelActive()
  }

  func channelInactive(context: ChannelHandlerContext) {
    isClosed = true
    disarm()
    let closedBecause = connectionID.flatMap { shared.registry.remove($0) }
    upstream?.abandon()
    upstream = nil
    if let ex = exchange {
      // Broken off by the client, a tenant switch or stop(): not counted as an error (upstream
      // failures were counted where they happened).
      exchange = nil
      if ex.detail == nil { ex.detail = closedBecause ?? "client_closed" }
      report(ex, completed: false)
    }
    context.fireChannelInactive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head): requestHead(head)
    case .body(let buffer): requestBody(buffer)
    case .end: requestEnd()
    }
  }

  func read(context: ChannelHandlerContext) {
    if canReadClient {
      context.read()
    } else {
      readPending = true
    }
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    if context.channel.isWritable { upstream?.resumeReading() }
    context.fireChannelWritabilityChanged()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    shared.logger.debug("client connection error", metadata: ["error": "\(error)"])
    // Already answering and closing: more bytes after a parse error (NIO's decoder reports them as
    // errors too) change nothing. Closing right away would drop the answer still being written.
    if closing || isClosed { return }
    guard let parseError = error as? HTTPParserError else {
      // A client resetting its connection is not an error of the proxy's.
      if let ex = exchange, ex.detail == nil { ex.detail = "client_error" }
      context.close(promise: nil)
      return
    }
    if parseError == .invalidEOFState {
      // The client closed in the middle of a request: nothing to answer, not counted.
      if let ex = exchange, ex.detail == nil { ex.detail = "client_closed" }
      context.close(promise: nil)
      return
    }
    let answer = LocalAnswer.parseRefusal(parseError, limits: shared.limits)
    if let ex = exchange {
      refuse(ex, answer)  // the body's framing broke mid-request
    } else {
      refuseWithoutRequest(answer)
    }
  }

  // MARK: request parts

  private func requestHead(_ head: HTTPRequestHead) {
    // No connection id: the proxy stopped as this connection arrived, and it is being closed.
    guard !closing, !isClosed, connectionID != nil else { return }
    shared.count { $0.requests += 1 }
    bodyProgress = loopNow
    arm(.body)
    let chunked = !head.headers["transfer-encoding"].isEmpty
    let length = head.headers["content-length"].first.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let ex = Exchange(
      head: head, chunkedBody: chunked,
      bodySummarizer: RequestBodySummarizer(
        limit: shared.limits.jsonSummaryBody, declaredLength: chunked ? nil : (length ?? 0)))
    exchange = ex
    if let answer = shared.requestGuard.screen(head) {
      answerLocally(ex, answer)
      return
    }
    if !chunked, (length ?? 0) <= shared.limits.replayableBody { ex.replay = [] }
    fetchToken(for: ex)
  }

  private func requestBody(_ buffer: ByteBuffer) {
    guard let ex = exchange else { return }
    bodyProgress = loopNow
    ex.bodyReceived += buffer.readableBytes
    if ex.bodyReceived > shared.limits.requestBody, ex.phase != .answered {
      refuse(ex, LoopbackRequestGuard.bodyTooLarge(limit: shared.limits.requestBody))
      return
    }
    ex.bodySummarizer.append(buffer)
    switch ex.phase {
    case .answered:
      ex.discarded += buffer.readableBytes
      if ex.discarded > shared.limits.discardedBody { context?.close(promise: nil) }
    case .awaitingToken, .connecting, .reminting:
      if ex.replay != nil { ex.replay?.append(buffer) } else { ex.pendingBody.append(buffer) }
    case .forwarding, .relaying:
      if ex.replay != nil { ex.replay?.append(buffer) }
      if let upstream {
        ex.requestBytes += buffer.readableBytes
        upstream.write(.body(.byteBuffer(buffer)))
        upstream.flush()
      }
    }
  }

  private func requestEnd() {
    guard let ex = exchange else { return }
    if deadline?.wait == .body { disarm() }
    ex.requestEnded = true
    (ex.bodyKind, ex.rpcMessages) = ex.bodySummarizer.finish()
    switch ex.phase {
    case .answered:
      finish(ex, after: nil)
    case .forwarding, .relaying:
      upstream?.write(.end(nil))
      upstream?.flush()
    case .awaitingToken, .connecting, .reminting:
      break  // sent with the head once the upstream is ready
    }
  }

  // MARK: token and upstream

  /// Runs `operation` off the loop and hands its result to `then` on the loop, unless the proxy
  /// stopped meanwhile.
  private func runAsync<T: Sendable>(
    _ operation: @escaping @Sendable () async throws -> T,
    then: @escaping (ProxyConnectionHandler, Result<T, any Error>) -> Void
  ) {
    guard let loop = context?.eventLoop else { return }
    let bound = NIOLoopBound((self, then), eventLoop: loop)
    let shared = self.shared
    Task {
      let result: Result<T, any Error>
      do { result = .success(try await operation()) } catch { result = .failure(error) }
      shared.onLoopUnlessStopped(loop) {
        let (handler, then) = bound.value
        then(handler, result)
      }
    }
  }

  private func isCurrent(_ ex: Exchange) -> Bool { !isClosed && exchange === ex }

  private func fetchToken(for ex: Exchange) {
    ex.phase = .awaitingToken
    let tokens = shared.tokens
    runAsync({ try await tokens.currentToken() }) { handler, result in
      guard handler.isCurrent(ex), ex.phase == .awaitingToken else { return }
      switch result {
      case .failure(let error):
        handler.shared.logger.notice(
          "no tenant token for a request", metadata: ["error": "\(String(describing: error))"])
        handler.answerLocally(ex, .tokenUnavailable(error))
      case .success(let token):
        guard handler.admit(token) else {
          handler.answerLocally(ex, .tenantSwitched)
          return
        }
        ex.token = token
        handler.connectAndSend(ex)
      }
    }
  }

  /// Whether `token` may be sent on this connection; binds the connection on its first token.
  private func admit(_ token: TenantSessionToken) -> Bool {
    if shared.registry.isRetired(token.generation) { return false }
    if let boundGeneration { return boundGeneration == token.generation }
    guard let connectionID, shared.registry.bind(connectionID, to: token.generation) else { return false }
    boundGeneration = token.generation
    return true
  }

  private func connectAndSend(_ ex: Exchange) {
    if let link = upstream, link.isIdle {
      send(ex, on: link)
      return
    }
    upstream?.abandon()
    upstream = nil
    ex.phase = .connecting
    let dialer = shared.dialer
    runAsync({ try await dialer.open() }) { handler, result in
      guard handler.isCurrent(ex), ex.phase == .connecting else {
        if case .success(let stream) = result { stream.discard() }
        return
      }
      switch result {
      case .failure(let error): handler.answerLocally(ex, LocalAnswer.upstreamUnavailable(error))
      case .success(let stream): handler.adopt(stream, for: ex)
      }
    }
  }

  /// Wraps the stream in a NIO channel on this loop and sends the request on it.
  private func adopt(_ stream: any UpstreamStream, for ex: Exchange) {
    guard let context else {
      stream.discard()
      return
    }
    let link = UpstreamHandler(owner: self)
    let boundLink = NIOLoopBound(link, eventLoop: context.eventLoop)
    let channel: EventLoopFuture<any Channel>
    do {
      channel = try stream.makeChannel(on: context.eventLoop) { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHTTPClientHandlers()
          try channel.pipeline.syncOperations.addHandler(boundLink.value)
        }
      }
    } catch {
      answerLocally(ex, LocalAnswer.upstreamUnavailable(error))
      return
    }
    shared.count { $0.upstreamStreams += 1 }
    channel
      .assumeIsolated()
      .whenComplete { result in
        switch result {
        case .failure(let error):
          if self.isCurrent(ex), ex.phase == .connecting {
            self.answerLocally(ex, LocalAnswer.upstreamUnavailable(error))
          }
        case .success:
          guard self.isCurrent(ex), ex.phase == .connecting else {
            link.abandon()
            return
          }
          self.upstream = link
          self.send(ex, on: link)
        }
      }
  }

  private func send(_ ex: Exchange, on link: UpstreamHandler) {
    guard let token = ex.token else { return }
    ex.phase = .forwarding
    link.beginExchange()
    let head = AuthorizationRewriter.upstreamRequestHead(
      from: ex.head, token: token.token, upstreamHost: shared.upstreamHost, chunkedBody: ex.chunkedBody)
    link.write(.head(head))
    ex.requestBytes = 0
    for part in ex.replay ?? ex.pendingBody {
      ex.requestBytes += part.readableBytes
      link.write(.body(.byteBuffer(part)))
    }
    ex.pendingBody.removeAll()
    if ex.requestEnded { link.write(.end(nil)) }
    link.flush()
    if ex.expectsContinue, !ex.continueSent, !ex.requestEnded, ex.phase == .forwarding {
      ex.continueSent = true
      context?.writeAndFlush(
        wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
    }
    resumeClientRead()
  }

  // MARK: upstream events (called by UpstreamHandler on this loop)

  func upstream(_ link: UpstreamHandler, received part: HTTPClientResponsePart) {
    guard link === upstream, let ex = exchange else {
      link.abandon()  // a response nobody asked for
      if link === upstream { upstream = nil }
      return
    }
    switch part {
    case .head(let head):
      guard ex.phase == .forwarding else { return }
      if head.status == .unauthorized {
        unauthorized(ex, link: link, head: head)
        return
      }
      ex.phase = .relaying
      ex.status = Int(head.status.code)
      if head.status.code >= 500 { markError(ex, detail: nil) }
      link.closeAfterResponse = !head.isKeepAlive
      ex.errorCodeReader = ResponseErrorCodeReader(
        contentType: head.headers["content-type"].first, limit: shared.limits.jsonSummaryBody)
      let relayed = AuthorizationRewriter.clientResponseHead(
        from: head, clientVersion: ex.head.version, closing: ex.closeAfter)
      context?.writeAndFlush(wrapOutboundOut(.head(relayed)), promise: nil)
    case .body(let buffer):
      guard ex.phase == .relaying else { return }
      ex.responseBytes += buffer.readableBytes
      ex.errorCodeReader.append(buffer)
      context?.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    case .end:
      guard ex.phase == .relaying else { return }
      ex.errorCodeReader.end()
      if ex.requestEnded && !link.closeAfterResponse {
        link.endExchange()
      } else {
        // The upstream answered before the whole request was sent, or will close: not reusable.
        upstream = nil
        link.abandon()
      }
      endResponse(ex)
    }
  }

  func upstreamWritabilityChanged(_ link: UpstreamHandler) {
    guard link === upstream else { return }
    resumeClientRead()
  }

  func upstreamFailed(_ link: UpstreamHandler, _ error: any Error) {
    shared.logger.debug("upstream stream error", metadata: ["error": "\(error)"])
  }

  func upstreamClosed(_ link: UpstreamHandler) {
    guard link === upstream else { return }
    upstream = nil
    guard let ex = exchange, !isClosed else { return }
    switch ex.phase {
    case .forwarding:
      if link.wasReused, ex.replay != nil, !ex.reconnectUsed {
        // A kept-alive stream closed just as it was reused: replay once on a fresh stream.
        ex.reconnectUsed = true
        connectAndSend(ex)
      } else {
        answerLocally(ex, .upstreamClosed)
      }
    case .relaying:
      markError(ex, detail: "upstream_closed")
      context?.close(promise: nil)  // the client sees a truncated response, never a forged end
    case .awaitingToken, .connecting, .reminting, .answered:
      break
    }
  }

  /// An upstream `401`: re-mint and replay once when it says `invalid_token` and the body can be
  /// replayed; otherwise a `503` of our own. The challenge itself never reaches the client.
  private func unauthorized(_ ex: Exchange, link: UpstreamHandler, head: HTTPResponseHead) {
    upstream = nil
    link.abandon()
    let invalidToken = AuthenticationChallenge.demandsFreshBearerToken(head.headers["www-authenticate"])
    guard invalidToken, !ex.remintUsed, let rejected = ex.token else {
      answerLocally(ex, .tokenRejected(afterRemint: ex.remintUsed))
      return
    }
    ex.remintUsed = true
    ex.phase = .reminting
    shared.count { $0.remints += 1 }
    let tokens = shared.tokens
    runAsync({ try await tokens.replaceRejected(rejected) }) { handler, result in
      guard handler.isCurrent(ex), ex.phase == .reminting else { return }
      switch result {
      case .failure(let error):
        handler.answerLocally(ex, .tokenUnavailable(error))
      case .success(let fresh):
        guard handler.admit(fresh) else {
          handler.answerLocally(ex, .tenantSwitched)
          return
        }
        ex.token = fresh
        if ex.replay != nil {
          ex.retried = true
          handler.connectAndSend(ex)
        } else {
          handler.answerLocally(ex, .tokenRejectedBodyTooLarge)
        }
      }
    }
  }

  // MARK: answering and finishing

  private func answerLocally(_ ex: Exchange, _ answer: LocalAnswer) {
    guard let context, !isClosed else { return }
    if ex.phase == .relaying || ex.phase == .answered {
      context.close(promise: nil)  // a response is already under way; cannot start another
      return
    }
    if ex.head.method == .CONNECT {
      answerCONNECT(ex, answer)
      return
    }
    if ex.phase == .forwarding, let link = upstream {
      upstream = nil
      link.abandon()  // the upstream has part of a request that will never complete
    }
    ex.answeredBy = .proxy
    ex.detail = answer.code
    ex.status = Int(answer.status.code)
    if answer.countsAsError { markError(ex, detail: answer.code) }
    if answer.closeConnection { ex.closeAfter = true }
    if answer.abortRequest { ex.abortAfterAnswer = true }
    let body = answer.body
    let head = answer.responseHead(requestVersion: ex.head.version, closing: ex.closeAfter)
    context.write(wrapOutboundOut(.head(head)), promise: nil)
    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
    ex.responseBytes = body.count
    endResponse(ex)
  }

  /// Writes the response end. State is settled first: writing `.end` lets NIO's pipelining handler
  /// deliver the next request synchronously.
  private func endResponse(_ ex: Exchange) {
    guard let context else { return }
    ex.phase = .answered
    ex.pendingBody.removeAll()
    ex.replay = nil
    let finishing = ex.requestEnded || ex.abortAfterAnswer
    if finishing { settle(ex) }
    let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
    if finishing { afterFinish(ex, written: written) } else { resumeClientRead() }
  }

  /// NIO's encoder drops the body of any response to `CONNECT`, and its parser stops after one: the
  /// refusal (the guard refuses every `CONNECT`) is written below the codec, and the connection closes.
  private func answerCONNECT(_ ex: Exchange, _ answer: LocalAnswer) {
    ex.answeredBy = .proxy
    ex.detail = answer.code
    ex.status = Int(answer.status.code)
    if answer.countsAsError { markError(ex, detail: answer.code) }
    ex.closeAfter = true
    ex.phase = .answered
    ex.responseBytes = answer.body.count
    settle(ex)
    disarm()
    guard let context, let written = tap.writeRaw(answer.serializedClosingResponse) else {
      context?.close(promise: nil)
      return
    }
    written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
  }

  /// Refuses the current request: a local answer when no response has started, else a close (the
  /// client sees a truncated response, never a forged end). Either way the connection closes.
  private func refuse(_ ex: Exchange, _ answer: LocalAnswer) {
    switch ex.phase {
    case .relaying, .answered:
      if answer.countsAsError { markError(ex, detail: answer.code) }
      closing = true
      disarm()
      context?.close(promise: nil)
    case .awaitingToken, .connecting, .forwarding, .reminting:
      answerLocally(ex, answer)
    }
  }

  /// Answers when no request head was parsed (a malformed or timed-out head) and closes: the
  /// answer goes out below the HTTP codec, which has no request to pair it with.
  private func refuseWithoutRequest(_ answer: LocalAnswer) {
    guard let context, !isClosed, !closing else { return }
    closing = true
    disarm()
    if answer.countsAsError { shared.count { $0.errors += 1 } }
    shared.logger.debug("refused a request before its head", metadata: ["error": "\(answer.code)"])
    guard let written = tap.writeRaw(answer.serializedClosingResponse) else {
      context.close(promise: nil)
      return
    }
    written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
  }

  private func finish(_ ex: Exchange, after written: EventLoopFuture<Void>?) {
    settle(ex)
    afterFinish(ex, written: written)
  }

  private func settle(_ ex: Exchange) {
    if exchange === ex { exchange = nil }
    if ex.closeAfter || ex.abortAfterAnswer { closing = true }
    report(ex, completed: true)
  }

  private func afterFinish(_ ex: Exchange, written: EventLoopFuture<Void>?) {
    guard let context else { return }
    if ex.closeAfter || ex.abortAfterAnswer {
      disarm()
      if let written {
        written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
      } else {
        context.close(promise: nil)
      }
    } else {
      resumeClientRead()
      // Writing the end may have delivered a pipelined request already; otherwise the connection idles.
      if exchange == nil { arm(.idle) }
    }
  }

  private func markError(_ ex: Exchange, detail: String?) {
    if let detail, ex.detail == nil { ex.detail = detail }
    guard !ex.countedError else { return }
    ex.countedError = true
    shared.count { $0.errors += 1 }
  }

  private func report(_ ex: Exchange, completed: Bool) {
    guard let onRequest = shared.onRequest else { return }
    let path = ex.head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
    let record = ProxyRequestRecord(
      connectionID: connectionID ?? 0, method: ex.head.method.rawValue, path: path ?? "", status: ex.status,
      duration: ContinuousClock.now - ex.started, bodyKind: ex.bodyKind, rpcMessages: ex.rpcMessages,
      requestBytes: ex.requestBytes, responseBytes: ex.responseBytes, rpcErrorCode: ex.errorCodeReader.errorCode,
      tenant: ex.answeredBy == .upstream ? ex.token?.tenant : nil,
      generation: ex.answeredBy == .upstream ? ex.token?.generation : nil, answeredBy: ex.answeredBy,
      completed: completed, detail: ex.detail, retried: ex.retried)
    onRequest(record)
  }

  // MARK: backpressure

  private var canReadClient: Bool {
    guard let ex = exchange else { return true }
    if ex.requestEnded { return true }  // further reads only buffer the next pipelined request
    switch ex.phase {
    case .forwarding, .relaying: return upstream?.isWritable ?? false
    case .answered: return true
    case .awaitingToken, .connecting, .reminting: return false
    }
  }

  private func resumeClientRead() {
    guard readPending, canReadClient, let context else { return }
    readPending = false
    bodyProgress = loopNow
    context.read()
  }

  // MARK: deadlines

  /// Raw bytes arrived (called by `ClientByteTap` before NIO parses them): with no request in
  /// progress they begin a head, which must then be complete within `Limits.headTimeout`.
  func clientBytesArrived() {
    guard exchange == nil, !closing, !isClosed, deadline?.wait != .head else { return }
    arm(.head)
  }

  /// The time of this connection's loop; `NIODeadline.now()` on the proxy's own loop.
  private var loopNow: NIODeadline { context?.eventLoop.now ?? .now() }

  private func timeout(for wait: Wait) -> Duration {
    switch wait {
    case .idle: return shared.limits.idleTimeout
    case .head: return shared.limits.headTimeout
    case .body: return shared.limits.bodyTimeout
    }
  }

  private func arm(_ wait: Wait, in delay: TimeAmount? = nil) {
    disarm()
    guard let context, !isClosed else { return }
    let task = context.eventLoop.assumeIsolated().scheduleTask(in: delay ?? TimeAmount(timeout(for: wait))) {
      [weak self] () -> Void in
      self?.deadlinePassed(wait)
    }
    deadline = (wait, task)
  }

  private func disarm() {
    deadline?.task.cancel()
    deadline = nil
  }

  private func deadlinePassed(_ wait: Wait) {
    guard deadline?.wait == wait, let context, !isClosed, !closing else { return }
    deadline = nil
    let waited = timeout(for: wait)
    switch wait {
    case .idle:
      guard exchange == nil else { return }
      shared.logger.debug("closing an idle client connection", metadata: ["after": "\(LocalAnswer.describe(waited))"])
      closing = true
      context.close(promise: nil)
    case .head:
      guard exchange == nil else { return }
      refuseWithoutRequest(.headTimeout(waited))
    case .body:
      guard let ex = exchange, !ex.requestEnded else { return }
      let limit = TimeAmount(shared.limits.bodyTimeout)
      let pause = loopNow - bodyProgress
      if !canReadClient {
        arm(.body)  // the proxy holds reads back: the client is not to blame
        return
      }
      if pause < limit {
        arm(.body, in: limit - pause)  // a part came meanwhile
        return
      }
      refuse(ex, .bodyTimeout(waited))
    }
  }
}
