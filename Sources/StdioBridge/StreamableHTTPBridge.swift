import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `mcp-tunnel stdio`'s bridge: newline-delimited JSON-RPC from the client (stdin) to MCP Streamable
/// HTTP at one URL, and every server message back as one line (stdout), following the transport's
/// client rules (CLIENTS.md §4): one POST per message, each in its own task (a slow call never
/// holds a fast one), except that `initialize` and `notifications/initialized` go first and alone;
/// JSON or SSE answers, each SSE event written as it arrives; the GET stream after
/// `notifications/initialized`, resumed with `Last-Event-ID`; a 404 on a known session replays the
/// client's initialize once; a request that cannot be forwarded is answered with a JSON-RPC error
/// naming the fix; DELETE for the session at the end.
public final class StreamableHTTPBridge: Sendable {
  /// Where requests go, or why they cannot go anywhere (every request is answered with it).
  public enum Upstream: Sendable {
    case url(String)
    case unavailable(String)
  }

  private let upstream: Upstream
  /// What to do when the endpoint cannot be reached (`check: mcp-tunnel doctor --profile P`).
  private let unreachableFix: String
  private let output: LineWriter
  private let log: @Sendable (String) -> Void
  private let state = SessionState()
  private let client: HTTPClient
  /// One event loop for the HTTP client's connections and, as their task executor, the tasks that
  /// forward messages: a message's POST, its answer and the line written for it stay on one thread
  /// instead of hopping between the cooperative pool and NIO's threads several times per call (each
  /// hop is a thread wake-up, which costs most on a busy machine).
  private let loopGroup: MultiThreadedEventLoopGroup
  private let executor: EventLoopTaskExecutor
  /// How long an `initialize` may wait for its answer before it gets a JSON-RPC error (a server
  /// that accepts the request and never answers must not hang the client forever).
  private let initializeDeadline: Duration

  public init(
    upstream: Upstream, unreachableFix: String, output: LineWriter, initializeDeadline: Duration = .seconds(60),
    log: @escaping @Sendable (String) -> Void
  ) {
    self.upstream = upstream
    self.unreachableFix = unreachableFix
    self.initializeDeadline = initializeDeadline
    self.output = output
    self.log = log
    var configuration = HTTPClient.Configuration()
    configuration.redirectConfiguration = .disallow
    // No read timeout: an SSE stream may be quiet for a long time; the client cancels what it wants.
    configuration.timeout = .init(connect: .seconds(10), read: nil)
    loopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    executor = EventLoopTaskExecutor(loopGroup.next())
    client = HTTPClient(eventLoopGroupProvider: .shared(loopGroup), configuration: configuration)
  }

  /// Forwards every line of `input` until it ends, then ends the session (DELETE) and returns.
  public func run(input: AsyncStream<[UInt8]>) async {
    await withTaskExecutorPreference(executor) { await self.forwardAll(input) }
    await finish()
  }

  /// The loop of `run`: one task per message (the task group's children inherit the event loop as
  /// their executor).
  private func forwardAll(_ input: AsyncStream<[UInt8]>) async {
    await withTaskGroup(of: Void.self) { group in
      var ordered: Task<Void, Never>?
      for await line in input {
        let message = JSONRPCMessage(line)
        let before = ordered
        if message.method == "initialize" {
          ordered = Task {
            await before?.value
            await self.forwardWithDeadline(message)
          }
        } else if message.method == "notifications/initialized" {
          ordered = Task {
            await before?.value
            await self.forward(message)
          }
        } else {
          group.addTask {
            await before?.value
            await self.forward(message)
          }
        }
      }
      // The input ended. What is still in flight is abandoned, but each task is awaited, so that a
      // message that needs no network (an answer while no tunnel is available) is still answered
      // before the session ends and the process exits.
      ordered?.cancel()
      group.cancelAll()
      await ordered?.value
    }
  }

  /// DELETE for the session (bounded: the client kills a bridge that does not exit), then the
  /// HTTP client's shutdown.
  func finish() async {
    await state.stopListening()
    let session = await state.current()
    if case .url(let url) = upstream, let id = session.sessionID {
      var request = HTTPClientRequest(url: url)
      request.headers.add(name: BridgeSession.via.name, value: BridgeSession.via.value)
      request.method = .DELETE
      request.headers.add(name: "Mcp-Session-Id", value: id)
      if let version = session.protocolVersion { request.headers.add(name: "MCP-Protocol-Version", value: version) }
      if let response = try? await client.execute(request, timeout: .milliseconds(800)) {
        _ = try? await response.body.collect(upTo: 1 << 16)
      }
    }
    try? await client.shutdown()
    try? await loopGroup.shutdownGracefully()
  }

  // MARK: One message

  /// `forward`, bounded by `initializeDeadline`: past it the request is abandoned and answered with
  /// a JSON-RPC error instead (exactly one answer either way: `gate`).
  func forwardWithDeadline(_ message: JSONRPCMessage) async {
    let gate = AnswerGate()
    let deadline = initializeDeadline
    let answeredInTime = await withTaskGroup(of: Bool.self) { group in
      group.addTask {
        await self.forward(message, gate: gate)
        return true
      }
      group.addTask {
        try? await Task.sleep(for: deadline)
        return Task.isCancelled
      }
      let first = await group.next() ?? true
      group.cancelAll()
      return first
    }
    if !answeredInTime, !Task.isCancelled {
      log("stdio: \(message.method ?? "a request") got no answer within \(deadline); answering with an error")
      answerUnforwardable(
        message,
        "mcp-tunnel: the MCP server did not answer \(message.method ?? "the request") within \(deadline); "
          + unreachableFix, gate: gate)
    }
  }

  func forward(_ message: JSONRPCMessage, gate: AnswerGate? = nil) async {
    guard case .url(let url) = upstream else {
      return answerUnforwardable(message, unavailableMessage, gate: gate)
    }
    if message.kind == .invalid {
      log("stdio: a line from the client is not a JSON-RPC message; forwarded as is")
    }
    if message.method == "initialize" { await state.remember(initialize: message.bytes) }
    var retried = false
    while !Task.isCancelled {
      let session = await state.current()
      do {
        switch try await post(message, to: url, session: session, swallowResponse: false, gate: gate) {
        case .done:
          return
        case .sessionGone where !retried && message.method != "initialize":
          retried = true
          log("stdio: the MCP session expired (HTTP 404); starting a new one")
          guard await state.reinitialize(failed: session.sessionID, perform: { await self.newSession(url) }) else {
            return answerUnforwardable(
              message, "mcp-tunnel: the MCP session expired and a new one could not be started; \(unreachableFix)",
              status: 404, gate: gate)
          }
        case .sessionGone:
          return answerUnforwardable(
            message, "mcp-tunnel: the MCP server does not know this session (HTTP 404)", status: 404, gate: gate)
        case .failed(let status, let body):
          if let id = message.idJSON, message.kind == .request, BridgeErrorResponse.isResponse(body, for: id) {
            return writeAnswer(singleLine(body), gate: gate)
          }
          let text = BridgeErrorResponse.message(status: status, body: body, fallbackFix: unreachableFix)
          return answerUnforwardable(message, text, status: status, gate: gate)
        }
      } catch {
        if Task.isCancelled { return }
        return answerUnforwardable(
          message, "mcp-tunnel: cannot reach the tunnel at \(url) (\(error)); \(unreachableFix)", gate: gate)
      }
    }
  }

  private var unavailableMessage: String {
    if case .unavailable(let text) = upstream { return text }
    return ""
  }

  /// A request that cannot be forwarded gets a JSON-RPC error with its id; anything else is only
  /// reported on stderr (a notification or response has nobody waiting for an answer).
  private func answerUnforwardable(
    _ message: JSONRPCMessage, _ text: String, status: Int? = nil, gate: AnswerGate? = nil
  ) {
    let ids = message.requestIDs
    if ids.isEmpty {
      log("stdio: could not forward \(message.method ?? "a response"): \(text)")
    }
    for id in ids {
      writeAnswer(singleLine(BridgeErrorResponse.line(id: id, message: text, httpStatus: status)), gate: gate)
    }
  }

  /// Writes the answer to a request, unless its gate already let one through (an initialize
  /// answered by its deadline's error gets nothing more).
  private func writeAnswer(_ line: [UInt8], gate: AnswerGate?) {
    guard gate?.claim() ?? true else { return }
    output.write(line)
  }

  enum PostOutcome {
    case done
    case sessionGone
    case failed(status: Int, body: [UInt8])
  }

  /// One POST of `message`; the answer is written (or swallowed: a replayed initialize).
  private func post(
    _ message: JSONRPCMessage, to url: String, session: BridgeSession, swallowResponse: Bool, gate: AnswerGate? = nil
  ) async throws -> PostOutcome {
    var request = HTTPClientRequest(url: url)
    request.headers.add(name: BridgeSession.via.name, value: BridgeSession.via.value)
    request.method = .POST
    request.headers.add(name: "Accept", value: BridgeSession.accept)
    request.headers.add(name: "Content-Type", value: "application/json")
    for (name, value) in session.headers { request.headers.add(name: name, value: value) }
    request.body = .bytes(ByteBuffer(bytes: message.bytes))
    let response = try await client.execute(request, timeout: .hours(24))
    let isInitialize = message.method == "initialize"
    await state.observe(
      sessionIDHeader: response.headers.first(name: "mcp-session-id"), answeringInitialize: isInitialize)
    let status = Int(response.status.code)
    if status == 404 && session.sessionID != nil {
      _ = try? await response.body.collect(upTo: 1 << 16)
      return .sessionGone
    }
    guard (200..<300).contains(status) else {
      return .failed(status: status, body: Array(buffer: try await response.body.collect(upTo: 1 << 20)))
    }
    let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
    if contentType.hasPrefix("text/event-stream") {
      var parser = SSEParser()
      var answered = false
      for try await chunk in response.body {
        for event in parser.feed(chunk.readableBytesView) where event.type == "message" {
          if await deliver(Array(event.data.utf8), for: message, swallow: swallowResponse, gate: gate) {
            answered = true
          }
        }
      }
      parser.finish()
      if !answered, message.kind == .request, let last = parser.lastEventID {
        answered = await resume(after: last, retry: parser.retryMilliseconds, for: message, url: url, gate: gate)
      }
      if !answered, message.kind == .request, !swallowResponse {
        answerUnforwardable(
          message, "mcp-tunnel: the MCP server closed its event stream before answering; retry", gate: gate)
      }
    } else {
      let body = Array(buffer: try await response.body.collect(upTo: 64 << 20))
      if !body.isEmpty, contentType.hasPrefix("application/json") {
        _ = await deliver(body, for: message, swallow: swallowResponse, gate: gate)
      } else if message.kind == .request, !swallowResponse {
        answerUnforwardable(
          message, "mcp-tunnel: the MCP server answered HTTP \(status) without a JSON-RPC response", gate: gate)
      }
    }
    if message.method == "notifications/initialized" {
      await state.remember(initialized: message.bytes)
      await startListening(url)
    }
    return .done
  }

  /// One server message: noted (an initialize result's protocol version) and written, unless it is
  /// the answer to a replayed initialize. Returns whether it answered `message`.
  private func deliver(
    _ data: [UInt8], for message: JSONRPCMessage, swallow: Bool, gate: AnswerGate? = nil
  ) async -> Bool {
    if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return false }  // a priming event
    let server = ServerMessage(data)
    let answers = server.responseID != nil && server.responseID == message.idJSON
    if answers, message.method == "initialize", let version = server.protocolVersion {
      await state.observe(protocolVersion: version)
    }
    if answers {
      if !swallow { writeAnswer(singleLine(data), gate: gate) }
    } else {
      output.write(singleLine(data))
    }
    return answers
  }

  /// A POST's event stream ended without the answer: GET with `Last-Event-ID` (twice at most,
  /// after the server's `retry` delay, else one second).
  private func resume(
    after lastID: String, retry: Int?, for message: JSONRPCMessage, url: String, gate: AnswerGate?
  ) async -> Bool {
    var parser = SSEParser()
    var last = lastID
    var delay = retry ?? 1000
    for _ in 0..<2 {
      try? await Task.sleep(for: .milliseconds(delay))
      if Task.isCancelled { return false }
      let session = await state.current()
      var request = HTTPClientRequest(url: url)
      request.headers.add(name: BridgeSession.via.name, value: BridgeSession.via.value)
      request.headers.add(name: "Accept", value: "text/event-stream")
      request.headers.add(name: "Last-Event-ID", value: last)
      for (name, value) in session.headers { request.headers.add(name: name, value: value) }
      guard let response = try? await client.execute(request, timeout: .hours(24)), response.status == .ok else {
        continue
      }
      var answered = false
      do {
        for try await chunk in response.body {
          for event in parser.feed(chunk.readableBytesView) where event.type == "message" {
            if await deliver(Array(event.data.utf8), for: message, swallow: false, gate: gate) { answered = true }
          }
        }
      } catch {}
      parser.finish()
      if answered { return true }
      last = parser.lastEventID ?? last
      delay = parser.retryMilliseconds ?? delay
    }
    return false
  }

  // MARK: Session

  /// Replays the client's initialize (its answer swallowed) and initialized without a session id,
  /// then reopens the GET stream. Runs inside `SessionState.reinitialize`, once for all 404s.
  private func newSession(_ url: String) async -> Bool {
    let saved = await state.current()
    guard let initialize = saved.initialize else { return false }
    var fresh = BridgeSession()
    fresh.protocolVersion = saved.protocolVersion
    do {
      guard case .done = try await post(JSONRPCMessage(initialize), to: url, session: fresh, swallowResponse: true)
      else { return false }
      let renewed = await state.current()
      guard renewed.sessionID != nil || saved.sessionID == nil else { return false }
      if let initialized = saved.initialized {
        guard case .done = try await post(JSONRPCMessage(initialized), to: url, session: renewed, swallowResponse: true)
        else { return false }
      }
      return true
    } catch {
      log("stdio: re-initializing failed: \(error)")
      return false
    }
  }

  /// The standalone GET stream for server-initiated messages (405: the server has none).
  private func startListening(_ url: String) async {
    let generation = await state.current().generation
    let task = Task { await self.listen(url, generation: generation) }
    await state.replaceListener(task)
  }

  private func listen(_ url: String, generation: Int) async {
    var parser = SSEParser()
    var failures = 0
    while !Task.isCancelled {
      let session = await state.current()
      guard session.generation == generation else { return }
      var request = HTTPClientRequest(url: url)
      request.headers.add(name: BridgeSession.via.name, value: BridgeSession.via.value)
      request.headers.add(name: "Accept", value: "text/event-stream")
      for (name, value) in session.headers { request.headers.add(name: name, value: value) }
      if let last = parser.lastEventID { request.headers.add(name: "Last-Event-ID", value: last) }
      do {
        let response = try await client.execute(request, timeout: .hours(24))
        switch response.status.code {
        case 405:
          _ = try? await response.body.collect(upTo: 1 << 16)
          return
        case 404:
          _ = try? await response.body.collect(upTo: 1 << 16)
          return  // the session is gone; the next POST starts a new one
        case 200:
          failures = 0
          for try await chunk in response.body {
            for event in parser.feed(chunk.readableBytesView) where event.type == "message" {
              let data = Array(event.data.utf8)
              if data.contains(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) {
                output.write(singleLine(data))
              }
            }
          }
          parser.finish()
        default:
          _ = try? await response.body.collect(upTo: 1 << 16)
          failures += 1
        }
      } catch {
        if Task.isCancelled { return }
        failures += 1
      }
      if failures >= 5 {
        log("stdio: the server's event stream (GET) failed \(failures) times; server-initiated messages stop")
        return
      }
      try? await Task.sleep(for: .milliseconds(parser.retryMilliseconds ?? 1000))
    }
  }
}

/// Runs jobs on one NIO event loop (SE-0417 task executor): code that awaits the loop's channels
/// resumes on the loop itself, with no wake-up of another thread.
final class EventLoopTaskExecutor: TaskExecutor {
  let loop: any EventLoop

  init(_ loop: any EventLoop) { self.loop = loop }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
  }
}

/// Lets exactly one answer to a request through: the server's, or the error its deadline wrote.
final class AnswerGate: Sendable {
  private let open = Mutex(true)
  /// True for the first caller only.
  func claim() -> Bool {
    open.withLock { value in
      let first = value
      value = false
      return first
    }
  }
}

/// The bridge's session, one at a time: snapshots for requests, one re-initialization for any
/// number of concurrent 404s, the running GET stream.
actor SessionState {
  private var session = BridgeSession()
  private var renewal: Task<Bool, Never>?
  private var listener: Task<Void, Never>?

  func current() -> BridgeSession { session }

  func remember(initialize: [UInt8]) { session.initialize = initialize }
  func remember(initialized: [UInt8]) { session.initialized = initialized }

  func observe(sessionIDHeader: String?, answeringInitialize: Bool) {
    session.observe(sessionIDHeader: sessionIDHeader, answeringInitialize: answeringInitialize)
  }

  func observe(protocolVersion: String) { session.observe(protocolVersion: protocolVersion) }

  /// A 404 for a request sent with `failed`: starts a new session once (`perform`), or waits for
  /// the one already starting; true when the request may be retried.
  func reinitialize(failed: String?, perform: @escaping @Sendable () async -> Bool) async -> Bool {
    if let renewal { return await renewal.value }
    guard session.sessionExpired(failed) else { return session.sessionID != nil && session.sessionID != failed }
    listener?.cancel()
    listener = nil
    let task = Task { await perform() }
    renewal = task
    let renewed = await task.value
    renewal = nil
    return renewed
  }

  func replaceListener(_ task: Task<Void, Never>) {
    listener?.cancel()
    listener = task
  }

  func stopListening() {
    listener?.cancel()
    listener = nil
  }
}
