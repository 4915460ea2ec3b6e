import Foundation
import LabSupport
import NIOCore
import NIOPosix
import Synchronization

/// A raw TCP client for bytes NIO's HTTP client encoder would never produce. A reader task collects
/// everything the proxy sends while the test writes at its own pace; the test then waits for a
/// condition on what arrived (a number of responses, the close) with a deadline.
final class RawHTTPClient: Sendable {
  /// What the proxy sent so far.
  struct Received: Sendable {
    var bytes: [UInt8] = []
    /// The proxy closed the connection (or reset it: `reset`).
    var closed = false
    var reset = false
    var responses: [RawResponse] { RawResponse.parseAll(bytes) }
    var text: String { String(decoding: bytes, as: UTF8.self) }
  }

  private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
  private let state = Mutex(Received())

  private init(outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) { self.outbound = outbound }

  /// Connects to the proxy, runs `body`, closes.
  static func with<T: Sendable>(port: Int, _ body: @Sendable (RawHTTPClient) async throws -> T) async throws -> T {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .channelOption(.allowRemoteHalfClosure, value: true)
      .connect(host: "127.0.0.1", port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
          try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
      }
    return try await channel.executeThenClose { inbound, outbound in
      let client = RawHTTPClient(outbound: outbound)
      let reader = Task {
        do {
          for try await buffer in inbound { client.state.withLock { $0.bytes += buffer.readableBytesView } }
        } catch {
          client.state.withLock { $0.reset = true }
        }
        client.state.withLock { $0.closed = true }
      }
      let result: Result<T, any Error>
      do { result = .success(try await body(client)) } catch { result = .failure(error) }
      try? await channel.channel.close()
      await reader.value
      return try result.get()
    }
  }

  /// Sends one byte sequence; false when the proxy already closed the connection.
  @discardableResult
  func send(_ bytes: [UInt8]) async -> Bool {
    do {
      try await outbound.write(ByteBuffer(bytes: bytes))
      return true
    } catch {
      return false
    }
  }

  @discardableResult
  func send(_ text: String) async -> Bool { await send(Array(text.utf8)) }

  var received: Received { state.withLock { $0 } }

  /// Waits until `condition` holds for what arrived, or `seconds` pass; returns what arrived.
  func wait(seconds: Double = 120, until condition: (Received) -> Bool) async -> Received {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
      let now = received
      if condition(now) { return now }
      try? await Task.sleep(for: .milliseconds(10))
    }
    return received
  }

  /// Waits for the proxy to close the connection (or `seconds` to pass).
  func waitForClose(seconds: Double = 120) async -> Received { await wait(seconds: seconds) { $0.closed } }
}

/// One HTTP/1.x response parsed from raw bytes (bodies framed by `Content-Length` or chunked, else
/// to the end).
struct RawResponse: Sendable {
  var statusLine: String
  var headers: [(name: String, value: String)]
  var body: [UInt8]

  var status: Int { Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0 }
  var version: String { String(statusLine.split(separator: " ").first ?? "") }
  func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
  var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]) ?? [:] }
  var errorCode: String? { json["error"] as? String }

  /// Every complete response in `bytes`, in order; a truncated last one is left out.
  static func parseAll(_ bytes: [UInt8]) -> [RawResponse] {
    var responses: [RawResponse] = []
    var rest = bytes[...]
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    while let end = rest.firstRange(of: separator) {
      let headText = String(decoding: rest[rest.startIndex..<end.lowerBound], as: UTF8.self)
      var lines = headText.components(separatedBy: "\r\n")
      let statusLine = lines.removeFirst()
      let headers = lines.compactMap { line -> (name: String, value: String)? in
        guard let colon = line.firstIndex(of: ":") else { return nil }
        return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
      }
      var response = RawResponse(statusLine: statusLine, headers: headers, body: [])
      let bodyStart = end.upperBound
      if response.status == 100 {
        rest = rest[bodyStart...]
        continue
      }
      if response.header("transfer-encoding")?.lowercased() == "chunked" {
        guard let (body, next) = dechunk(rest[bodyStart...]) else { break }
        response.body = body
        rest = rest[next...]
      } else if let length = response.header("content-length").flatMap(Int.init) {
        guard rest.count - (bodyStart - rest.startIndex) >= length else { break }
        response.body = Array(rest[bodyStart..<(bodyStart + length)])
        rest = rest[(bodyStart + length)...]
      } else {
        response.body = Array(rest[bodyStart...])
        rest = rest[rest.endIndex...]
      }
      responses.append(response)
    }
    return responses
  }

  /// A chunked body (no trailers) and the index after it; nil while incomplete.
  private static func dechunk(_ bytes: ArraySlice<UInt8>) -> (body: [UInt8], next: Int)? {
    var body: [UInt8] = []
    var rest = bytes
    let crlf: [UInt8] = Array("\r\n".utf8)
    while let lineEnd = rest.firstRange(of: crlf) {
      let sizeText = String(decoding: rest[rest.startIndex..<lineEnd.lowerBound], as: UTF8.self)
      guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { return nil }
      let dataStart = lineEnd.upperBound
      guard rest.endIndex - dataStart >= size + 2 else { return nil }
      if size == 0 { return (body, dataStart + 2) }
      body += rest[dataStart..<(dataStart + size)]
      rest = rest[(dataStart + size + 2)...]
    }
    return nil
  }
}
