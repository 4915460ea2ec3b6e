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

  /// The longest socket path a client can connect to: `sockaddr_un.sun_path` less its NUL.
  public static var maximumPathBytes: Int { UnixSocketFile.maximumPathBytes }

  /// Sends one request line and returns the response line, both without the `\n`.
  ///
  /// `timeout` bounds the whole exchange, connect included. Throws `ProxyError` whose `kind` says
  /// what happened: `.noListener` (no socket file, or nobody listens on it), `.permissionDenied`,
  /// `.socketPathTooLong` (all `.usage`); `.noAnswer` in time, `.closedWithoutAnswer`,
  /// `.answerTooLarge` past 1 MiB (`.internalError`); `.interrupted` when the calling task is
  /// cancelled.
  public static func exchange(
    path: String, request: [UInt8], timeout: Duration = .seconds(10)
  ) async throws(ProxyError) -> [UInt8] {
    guard path.utf8.count <= UnixSocketFile.maximumPathBytes else {
      throw .socketPathTooLong(path: path, limit: UnixSocketFile.maximumPathBytes)
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

  /// Turns whatever went wrong into the error, with the kind a caller branches on and the message
  /// the person at the terminal needs.
  static func failure(_ error: any Error, path: String, timeout: Duration) -> ProxyError {
    switch error {
    case let error as IOError:
      switch error.errnoCode {
      // ECONNREFUSED: a socket file nobody listens on (a crashed `up`'s leftover).
      case ENOENT, ECONNREFUSED: return .noListener(path: path)
      case EACCES, EPERM: return .permissionDenied(path: path)
      case ENAMETOOLONG: return .socketPathTooLong(path: path, limit: UnixSocketFile.maximumPathBytes)
      default: break
      }
    case ControlResponseReader.Failure.timedOut, ChannelError.connectTimeout:
      return .noAnswer(path: path, timeout: timeout)
    case ControlResponseReader.Failure.tooLarge:
      return .answerTooLarge(path: path, limit: responseLimit)
    case ControlResponseReader.Failure.closedWithoutAnswer:
      return .closedWithoutAnswer(path: path)
    case is CancellationError:
      return .interrupted(path: path)
    default:
      break
    }
    return ProxyError(.internalError, "cannot talk to the tunnel process on its control socket \(path): \(error)")
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
