import NIOCore
import NIOHTTP1

/// The last handler of one upstream channel (a stream from `PortForwarder.openStream()` with NIO's
/// HTTP client codecs): hands response parts to the client connection that owns it and applies
/// backpressure by holding reads while the client cannot take more bytes.
///
/// Threading: lives on the owning client connection's event loop, like the owner; every call is
/// made there. The owner holds this handler strongly, this handler holds the owner weakly.
final class UpstreamHandler: ChannelDuplexHandler {
  typealias InboundIn = HTTPClientResponsePart
  typealias OutboundIn = HTTPClientRequestPart
  typealias OutboundOut = HTTPClientRequestPart

  weak var owner: ProxyConnectionHandler?
  private var context: ChannelHandlerContext?
  private var readPending = false
  /// Requests started on this stream; > 1 means a kept-alive stream was reused.
  private(set) var exchangesStarted = 0
  private(set) var busy = false
  /// The upstream said `Connection: close` (or spoke HTTP/1.0): not reusable after this response.
  var closeAfterResponse = false

  init(owner: ProxyConnectionHandler) { self.owner = owner }

  /// Open, not serving a request, and not announced to close: usable for the next request.
  var isIdle: Bool { (context?.channel.isActive ?? false) && !busy && !closeAfterResponse }
  var isWritable: Bool { context?.channel.isWritable ?? false }
  var wasReused: Bool { exchangesStarted > 1 }

  func beginExchange() {
    busy = true
    exchangesStarted += 1
  }

  func endExchange() { busy = false }

  func write(_ part: HTTPClientRequestPart) {
    context?.write(wrapOutboundOut(part), promise: nil)
  }

  func flush() { context?.flush() }

  /// Detaches from the owner and closes the stream; nothing more is reported.
  func abandon() {
    owner = nil
    context?.close(promise: nil)
  }

  /// The client can take bytes again: let a held read through.
  func resumeReading() {
    guard readPending, let context else { return }
    readPending = false
    context.read()
  }

  func handlerAdded(context: ChannelHandlerContext) { self.context = context }

  func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

  func read(context: ChannelHandlerContext) {
    if owner?.clientIsWritable ?? true {
      context.read()
    } else {
      readPending = true
    }
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    owner?.upstream(self, received: unwrapInboundIn(data))
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    owner?.upstreamWritabilityChanged(self)
    context.fireChannelWritabilityChanged()
  }

  func channelInactive(context: ChannelHandlerContext) {
    // Reported on a later tick: closing can happen inside the owner's own write calls.
    let loop = context.eventLoop.assumeIsolated()
    loop.execute { [self] in owner?.upstreamClosed(self) }
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    owner?.upstreamFailed(self, error)
    context.close(promise: nil)
  }
}
