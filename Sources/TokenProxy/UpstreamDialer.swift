import NIOCore
import NIOPosix
import TunnelCore

/// How a client connection reaches the MCP server, in two steps: `open()` runs off the event loop
/// (it may wait for the SSH path to reconnect), then `UpstreamStream.makeChannel` runs on the
/// client connection's loop and wraps the stream in a NIO channel that the caller's initializer
/// sets up.
///
/// The proxy always uses `ForwardedUpstreamDialer`. The protocol exists as a seam for tests: they
/// drive a client connection's whole pipeline in process on NIOEmbedded's testing channels and hand
/// in another testing channel as the upstream, so hostile-input and timeout cases need no sockets
/// and no waiting (time on a testing event loop is advanced by hand).
protocol UpstreamDialer: Sendable {
  /// Opens a stream to the MCP server; its errors are answered `502 ssh_unavailable`.
  func open() async throws -> any UpstreamStream
}

/// One opened stream, not yet wrapped in a channel.
protocol UpstreamStream: Sendable {
  /// On `loop`: wraps the stream in a channel whose pipeline `initialize` sets up; the future
  /// completes once the channel is registered. Throws when the stream was closed before use.
  func makeChannel(
    on loop: any EventLoop, initialize: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
  ) throws -> EventLoopFuture<any Channel>

  /// Closes a stream that will not be used (its exchange ended while it was being opened).
  func discard()
}

/// The proxy's dialer: a `direct-tcpip` stream from `PortForwarder.openStream()`, wrapped with
/// `ClientBootstrap.withConnectedSocket` on the client connection's loop (DESIGN §2).
struct ForwardedUpstreamDialer: UpstreamDialer {
  let forwarder: any PortForwarder

  func open() async throws -> any UpstreamStream { ForwardedStream(socket: try await forwarder.openStream()) }
}

private struct ForwardedStream: UpstreamStream {
  let socket: StreamSocket

  func makeChannel(
    on loop: any EventLoop, initialize: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
  ) throws -> EventLoopFuture<any Channel> {
    guard let descriptor = socket.takeDescriptor() else {
      throw ProxyError(.internalError, "the stream socket was already closed")
    }
    return ClientBootstrap(group: loop).channelInitializer(initialize).withConnectedSocket(descriptor)
  }

  func discard() { socket.close() }
}
