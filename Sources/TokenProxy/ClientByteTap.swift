import NIOCore

/// The first handler of a client connection, below NIO's HTTP codec: tells the connection handler
/// when raw bytes arrive (so the head timeout can start at a head's first byte, before NIO has
/// parsed anything) and writes the answers that no parsed request head exists for (a malformed or
/// timed-out head) straight to the socket, past the HTTP encoder and pipelining handler, whose
/// state machines expect a request before any response.
///
/// Threading: on the connection's event loop, like the connection handler that owns it; the tap
/// holds its owner weakly.
final class ClientByteTap: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias InboundOut = ByteBuffer
  typealias OutboundOut = ByteBuffer

  weak var owner: ProxyConnectionHandler?
  private var context: ChannelHandlerContext?

  func handlerAdded(context: ChannelHandlerContext) { self.context = context }

  func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    owner?.clientBytesArrived()
    context.fireChannelRead(data)
  }

  /// Writes `bytes` as they are; nil when the tap is no longer in a pipeline.
  func writeRaw(_ bytes: [UInt8]) -> EventLoopFuture<Void>? {
    guard let context else { return nil }
    return context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: bytes)))
  }
}
