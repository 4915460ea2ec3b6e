import Glibc
import NIOCore
import NIOPosix
import TunnelCore

/// The client side of `up`'s control socket, for `tenant use|current|list`, `status` and `token`:
/// connect, send one request line, read one response line, close. See `ControlSocketServer`.
///
/// Runs on NIO's shared singleton event loop group, so a one-shot CLI command owns no thread to
/// shut down. Never logs the bytes it carries (a response may hold a token).
public enum ControlSocketClient {
  /// The longest response line accepted (without its `\n`).
  static let responseLimit = 1 << 20

  /// Sends one request line and returns the response line, both without the `\n`.
  ///
  /// `timeout` bounds the whole exchange, connect included. Throws `ProxyError`: `.usage` when no
  /// `up` is running (no socket file, or nobody listens on it) or the socket is not the caller's;
  /// `.internalError` when the tunnel process does not answer in time, closes without answering,
  /// or answers more than 1 MiB; `.interrupted` when the calling task is cancelled.
  public static func exchange(
    path: String, request: [UInt8], timeout: Duration = .seconds(10)
  ) async throws(ProxyError) -> [UInt8] {
    guard path.utf8.count <= UnixSocketFile.maximumPathBytes else {
      throw ProxyError(
        .usage,
        "control socket path \(path) is longer than \(UnixSocketFile.maximumPathBytes) bytes, the limit of a Unix socket",
        fix: "set XDG_RUNTIME_DIR to a shorter directory")
    }
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let deadline = NIODeadline.now() + TimeAmount(timeout)
    let answer = loop.makePromise(of: [UInt8].self)
    let channel: any Channel
    do {
      channel = try await ClientBootstrap(group: loop)
        .connectTimeout(TimeAmount(timeout))
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
              ControlResponseReader(deadline: deadline, limit: responseLimit, answer: answer))
          }
        }
        .connect(unixDomainSocketPath: path)
        .get()
    } catch {
      answer.fail(error)  // a promise must be completed; a second completion is ignored
      throw failure(error, path: path, timeout: timeout)
    }
    answer.futureResult.whenComplete { _ in channel.close(promise: nil) }

    var line = channel.allocator.buffer(capacity: request.count + 1)
    line.writeBytes(request)
    line.writeInteger(UInt8(ascii: "\n"))
    // A failed write shows up as the connection closing before an answer; nothing to do here.
    channel.writeAndFlush(line, promise: nil)
    do {
      return try await withTaskCancellationHandler {
        try await answer.futureResult.get()
      } onCancel: {
        answer.fail(CancellationError())
      }
    } catch {
      throw failure(error, path: path, timeout: timeout)
    }
  }

  /// Turns whatever went wrong into the message the person at the terminal needs.
  private static func failure(_ error: any Error, path: String, timeout: Duration) -> ProxyError {
    switch error {
    case let error as IOError where error.errnoCode == ENOENT || error.errnoCode == ECONNREFUSED:
      return ProxyError(
        .usage, "no `mcp-tunnel up` is running (no control socket at \(path))", fix: "start one with: mcp-tunnel up")
    case let error as IOError where error.errnoCode == EACCES:
      return ProxyError(
        .usage, "the control socket \(path) belongs to another user (permission denied)",
        fix: "run the command as the user who started `mcp-tunnel up`")
    case ControlResponseReader.Failure.timedOut, ChannelError.connectTimeout:
      return ProxyError(
        .internalError, "the tunnel process did not answer on its control socket \(path) within \(timeout)",
        fix: "check the terminal of `mcp-tunnel up`; restart it if it is stuck")
    case ControlResponseReader.Failure.tooLarge:
      return ProxyError(
        .internalError, "the answer on the control socket \(path) is longer than \(responseLimit) bytes",
        fix: "this is a bug; please report it")
    case ControlResponseReader.Failure.closedWithoutAnswer:
      return ProxyError(
        .internalError, "the tunnel process closed its control socket connection (\(path)) without answering",
        fix: "check the terminal of `mcp-tunnel up` for errors")
    case is CancellationError:
      return ProxyError(.interrupted, "interrupted while waiting for the tunnel process on \(path)")
    default:
      return ProxyError(.internalError, "cannot talk to the tunnel process on its control socket \(path): \(error)")
    }
  }
}

/// Collects the response line and completes `answer` with it (without the `\n`), or fails it when
/// the deadline passes, the line grows past `limit`, or the connection ends first. Runs on the
/// event loop.
final class ControlResponseReader: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer

  enum Failure: Error {
    case timedOut
    case tooLarge
    case closedWithoutAnswer
  }

  private let deadline: NIODeadline
  private let limit: Int
  private let answer: EventLoopPromise<[UInt8]>
  private var received: [UInt8] = []
  private var timer: Scheduled<Void>?

  init(deadline: NIODeadline, limit: Int, answer: EventLoopPromise<[UInt8]>) {
    self.deadline = deadline
    self.limit = limit
    self.answer = answer
  }

  func handlerAdded(context: ChannelHandlerContext) {
    let answer = self.answer
    timer = context.eventLoop.scheduleTask(deadline: deadline) { answer.fail(Failure.timedOut) }
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    timer?.cancel()
    answer.fail(Failure.closedWithoutAnswer)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var chunk = unwrapInboundIn(data)
    let view = chunk.readableBytesView
    let newline = view.firstIndex(of: UInt8(ascii: "\n")).map { $0 - view.startIndex }
    guard received.count + (newline ?? chunk.readableBytes) <= limit else {
      answer.fail(Failure.tooLarge)
      context.close(promise: nil)
      return
    }
    received += chunk.readBytes(length: newline ?? chunk.readableBytes) ?? []
    if newline != nil {
      timer?.cancel()
      answer.succeed(received)
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    timer?.cancel()
    answer.fail(Failure.closedWithoutAnswer)
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    // A reset or broken pipe means the server hung up on the request (over its limit, say).
    if let error = error as? IOError, error.errnoCode == ECONNRESET || error.errnoCode == EPIPE {
      answer.fail(Failure.closedWithoutAnswer)
    } else {
      answer.fail(error)
    }
    context.close(promise: nil)
  }
}
