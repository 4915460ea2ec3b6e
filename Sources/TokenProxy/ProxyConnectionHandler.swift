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
/// **Step-up.** A `403 insufficient_scope` or `401 insufficient_user_authentication` challenge
/// (SPEC §10) is neither re-minted nor retried: the upstream stream is dropped and the client gets
/// the server's status with a JSON-RPC error naming `mcp-tunnel elevate` (`StepUpReply`); the
/// record carries the challenge (`ProxyRequestRecord.stepUp`) for the runtime's event and audit.
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
/// connection with no request in progress and no response under way.
///
/// **Structure.** Every decision is taken by `ProxyExchangeStateMachine` (a value: events in,
/// actions out); this handler turns channel, upstream, task and timer callbacks into its events and
/// performs its actions (writes to the client and upstream, token fetches, stream dials, deadlines,
/// records, closes), in order. Actions of an event fed while actions are being performed (writing a
/// response end can deliver the next pipelined request at once) queue behind them. The local
/// answers' texts are in `ProxyLocalAnswers.swift`.
///
/// Threading: everything runs on the channel's event loop. Async work (token source, forwarder)
/// runs in tasks whose results hop back to the loop; the state machine drops a result for an
/// exchange (or stream attempt) that is no longer current.
final class ProxyConnectionHandler: ChannelDuplexHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundIn = HTTPServerResponsePart
  typealias OutboundOut = HTTPServerResponsePart
  private typealias Machine = ProxyExchangeStateMachine

  private let shared: ProxyShared
  private let tap: ClientByteTap
  private var machine: Machine
  /// Actions not yet performed; `performing` while they are being worked off.
  private var queue: [Machine.Action] = []
  private var performing = false
  private var context: ChannelHandlerContext?
  private var connectionID: UInt64?
  private var boundGeneration: UInt64?
  private var upstream: UpstreamHandler?
  /// Dialled streams and their new links, until the machine says whether their attempt is current.
  private var arrivingStreams: [Machine.AttemptID: any UpstreamStream] = [:]
  private var arrivingLinks: [Machine.AttemptID: UpstreamHandler] = [:]
  private var readPending = false
  private var deadlineTask: Scheduled<Void>?
  /// When the current request body last made progress (a part arrived, or the proxy resumed reading),
  /// in the loop's time (`EventLoop.now`: the clock the deadlines are scheduled on).
  private var bodyProgress = NIODeadline.uptimeNanoseconds(0)

  init(shared: ProxyShared, tap: ClientByteTap) {
    self.shared = shared
    self.tap = tap
    machine = Machine(
      limits: shared.limits, requestGuard: shared.requestGuard, upstreamHost: shared.upstreamHost,
      stepUpContext: shared.stepUpContext)
    tap.owner = self
  }

  var clientIsWritable: Bool { context?.channel.isWritable ?? false }

  // MARK: channel events

  func handlerAdded(context: ChannelHandlerContext) { self.context = context }

  func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

  func channelActive(context: ChannelHandlerContext) {
    connectionID = shared.registry.add(context.channel)
    process(.channelActive(connectionID: connectionID))
    context.fireChannelActive()
  }

  func channelInactive(context: ChannelHandlerContext) {
    let closedBecause = connectionID.flatMap { shared.registry.remove($0) }
    process(.channelInactive(closedBecause: closedBecause))
    context.fireChannelInactive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head):
      bodyProgress = loopNow
      process(.requestHead(head, started: .now))
    case .body(let buffer):
      bodyProgress = loopNow
      process(.requestBody(buffer))
    case .end:
      process(.requestEnd)
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
    process(.clientFailed(error as? HTTPParserError))
  }

  /// Raw bytes arrived (called by `ClientByteTap` before NIO parses them): with no request in
  /// progress they begin a head, which must then be complete within `Limits.headTimeout`.
  func clientBytesArrived() { process(.clientBytesArrived) }

  // MARK: upstream events (called by UpstreamHandler on this loop)

  func upstream(_ link: UpstreamHandler, received part: HTTPClientResponsePart) {
    guard link === upstream else {
      link.abandon()  // a response nobody asked for
      return
    }
    switch part {
    case .head(let head): process(.responseHead(head))
    case .body(let buffer): process(.responseBody(buffer))
    case .end: process(.responseEnd)
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
    process(.upstreamClosed(wasReused: link.wasReused))
  }

  // MARK: performing the machine's actions

  private func process(_ event: Machine.Event) {
    queue.append(contentsOf: machine.handle(event))
    guard !performing else { return }
    performing = true
    defer { performing = false }
    while !queue.isEmpty { perform(queue.removeFirst()) }
  }

  private func perform(_ action: Machine.Action) {
    switch action {
    case .close:
      context?.close(promise: nil)
    case .armDeadline(let wait, let delay):
      arm(wait, in: delay)
    case .cancelDeadline:
      deadlineTask?.cancel()
      deadlineTask = nil
    case .count(let counter):
      switch counter {
      case .request: shared.count { $0.requests += 1 }
      case .error: shared.count { $0.errors += 1 }
      case .remint: shared.count { $0.remints += 1 }
      }
    case .fetchToken(let id):
      let tokens = shared.tokens
      runAsync({ try await tokens.currentToken() }) { $0.process(.tokenFetched(id, $1)) }
    case .replaceToken(let id, let rejected):
      let tokens = shared.tokens
      runAsync({ try await tokens.replaceRejected(rejected) }) { $0.process(.tokenReplaced(id, $1)) }
    case .admit(let id, let token):
      process(.admissionChecked(id, token, admitted: admit(token)))
    case .connectUpstream(let attempt):
      connectUpstream(attempt)
    case .adoptStream(let attempt):
      if let stream = arrivingStreams.removeValue(forKey: attempt) { adopt(stream, for: attempt) }
    case .discardStream(let attempt):
      arrivingStreams.removeValue(forKey: attempt)?.discard()
    case .attachLink(let attempt):
      if let link = arrivingLinks.removeValue(forKey: attempt) { upstream = link }
    case .abandonLink(let attempt):
      arrivingLinks.removeValue(forKey: attempt)?.abandon()
    case .abandonUpstream:
      upstream?.abandon()
      upstream = nil
    case .releaseUpstream:
      upstream?.endExchange()
    case .sendRequest(let id, let head, let body, let end):
      guard let link = upstream else { return }
      link.beginExchange()
      link.write(.head(head))
      for part in body { link.write(.body(.byteBuffer(part))) }
      if end { link.write(.end(nil)) }
      link.flush()
      process(.requestSent(id))
    case .forwardBody(let buffer):
      upstream?.write(.body(.byteBuffer(buffer)))
      upstream?.flush()
    case .forwardEnd:
      upstream?.write(.end(nil))
      upstream?.flush()
    case .writeContinue:
      context?.writeAndFlush(
        wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
    case .relayResponseHead(let head, let upstreamKeepAlive):
      upstream?.closeAfterResponse = !upstreamKeepAlive
      context?.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
    case .writeResponseBody(let buffer):
      context?.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    case .writeLocalAnswer(let head, let body):
      context?.write(wrapOutboundOut(.head(head)), promise: nil)
      context?.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
    case .writeResponseEnd(let thenClose):
      guard let context else { return }
      let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
      if thenClose { written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    case .writeRawAndClose(let bytes):
      guard let context else { return }
      guard let written = tap.writeRaw(bytes) else {
        context.close(promise: nil)
        return
      }
      written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    case .resumeClientRead:
      resumeClientRead()
    case .report(var record, let started):
      guard let onRequest = shared.onRequest else { return }
      record.duration = ContinuousClock.now - started
      onRequest(record)
    case .logTokenFailure(let error):
      shared.logger.notice("no tenant token for a request", metadata: ["error": "\(error)"])
    case .logRefusedHead(let code):
      shared.logger.debug("refused a request before its head", metadata: ["error": "\(code)"])
    case .logIdleClose(let after):
      shared.logger.debug("closing an idle client connection", metadata: ["after": "\(after)"])
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

  /// Whether `token` may be sent on this connection; binds the connection on its first token.
  private func admit(_ token: TenantSessionToken) -> Bool {
    if shared.registry.isRetired(token.generation) { return false }
    if let boundGeneration { return boundGeneration == token.generation }
    guard let connectionID, shared.registry.bind(connectionID, to: token.generation) else { return false }
    boundGeneration = token.generation
    return true
  }

  /// Reuses the idle upstream link, or drops the current one and dials a new stream.
  private func connectUpstream(_ attempt: Machine.AttemptID) {
    if let link = upstream, link.isIdle {
      process(.upstreamReady(attempt))
      return
    }
    upstream?.abandon()
    upstream = nil
    let dialer = shared.dialer
    runAsync({ try await dialer.open() }) { handler, result in
      switch result {
      case .failure(let error): handler.process(.upstreamUnavailable(attempt, error))
      case .success(let stream):
        handler.arrivingStreams[attempt] = stream
        handler.process(.streamOpened(attempt))
      }
    }
  }

  /// Wraps the stream in a NIO channel on this loop; the machine sends the request on it.
  private func adopt(_ stream: any UpstreamStream, for attempt: Machine.AttemptID) {
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
      process(.upstreamUnavailable(attempt, error))
      return
    }
    shared.count { $0.upstreamStreams += 1 }
    channel
      .assumeIsolated()
      .whenComplete { result in
        switch result {
        case .failure(let error):
          self.process(.upstreamUnavailable(attempt, error))
        case .success:
          self.arrivingLinks[attempt] = link
          self.process(.upstreamReady(attempt))
        }
      }
  }

  // MARK: backpressure

  private var canReadClient: Bool {
    switch machine.clientReadGate {
    case .open: return true
    case .closed: return false
    case .whileUpstreamWritable: return upstream?.isWritable ?? false
    }
  }

  private func resumeClientRead() {
    guard readPending, canReadClient, let context else { return }
    readPending = false
    bodyProgress = loopNow
    context.read()
  }

  // MARK: deadlines

  /// The time of this connection's loop; `NIODeadline.now()` on the proxy's own loop.
  private var loopNow: NIODeadline { context?.eventLoop.now ?? .now() }

  private func arm(_ wait: Machine.Wait, in delay: TimeAmount) {
    deadlineTask?.cancel()
    deadlineTask = nil
    guard let context else { return }
    deadlineTask = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] () -> Void in
      guard let self else { return }
      self.deadlineTask = nil
      self.process(
        .deadlinePassed(wait, bodyPause: self.loopNow - self.bodyProgress, clientReadable: self.canReadClient))
    }
  }
}
