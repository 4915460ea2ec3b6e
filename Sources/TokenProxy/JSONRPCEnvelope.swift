import Foundation
import NIOCore
import TunnelCore

/// Reads the JSON-RPC envelope the audit log wants out of bodies: per message `method`, `id` and
/// target (tool, prompt or resource), and `error.code` of responses. Never anything else of
/// `params`.
enum JSONRPCEnvelope {
  /// The messages of a request body: one for a JSON-RPC message, one per element that is a JSON-RPC
  /// message for a batch. Nil when the body is not JSON, or JSON holding no JSON-RPC message.
  static func messages(in body: [UInt8]) -> [ProxyRequestRecord.RPCMessage]? { summary(in: body)?.messages }

  /// The messages of a request body (as `messages(in:)`) and the shape an answer to it must have.
  static func summary(in body: [UInt8]) -> (messages: [ProxyRequestRecord.RPCMessage], reply: JSONRPCReplyShape)? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(body)) else { return nil }
    let messages: [ProxyRequestRecord.RPCMessage]
    let reply: JSONRPCReplyShape
    if let batch = object as? [Any] {
      messages = batch.compactMap(message)
      reply = JSONRPCReplyShape(batch: true, requestIDs: batch.compactMap(requestID))
    } else {
      messages = message(object).map { [$0] } ?? []
      reply = JSONRPCReplyShape(batch: false, requestIDs: requestID(object).map { [$0] } ?? [])
    }
    return messages.isEmpty ? nil : (messages, reply)
  }

  /// The id of a JSON-RPC request (a message with a `method` and a non-null `id`) as JSON text
  /// (`1`, `"a"`), so an answer can echo it exactly; nil for notifications, responses and the rest.
  private static func requestID(_ object: Any) -> String? {
    guard let message = object as? [String: Any], message["jsonrpc"] as? String == "2.0",
      message["method"] is String, let id = message["id"], id is String || id is NSNumber
    else { return nil }
    return idText(id)
  }

  /// A JSON-RPC 2.0 message is an object whose `jsonrpc` is `"2.0"`; anything else is not one.
  private static func message(_ object: Any) -> ProxyRequestRecord.RPCMessage? {
    guard let message = object as? [String: Any], message["jsonrpc"] as? String == "2.0" else { return nil }
    let method = message["method"] as? String
    let params = message["params"] as? [String: Any]
    let target: ProxyRequestRecord.RPCMessage.Target?
    switch method {
    case "tools/call": target = (params?["name"] as? String).map { .tool($0) }
    case "prompts/get": target = (params?["name"] as? String).map { .prompt($0) }
    case "resources/read", "resources/subscribe", "resources/unsubscribe":
      target = (params?["uri"] as? String).map { .resource($0) }
    default: target = nil
    }
    return ProxyRequestRecord.RPCMessage(method: method, id: render(message["id"]), target: target)
  }

  private static func render(_ id: Any?) -> String? {
    switch id {
    case let text as String: return text
    case let number as NSNumber:
      let double = number.doubleValue
      if double.rounded() == double, abs(double) < 1e15 { return String(Int64(double)) }
      return number.stringValue
    default: return nil
    }
  }

  /// `error.code` of a JSON-RPC response, or of the first error response of a batch; nil when the
  /// bytes are not JSON or carry no error.
  static func errorCode(in body: [UInt8]) -> Int? { responses(in: body).errorCode }

  /// The ids (JSON text, as `JSONRPCReplyShape.requestIDs`) of the JSON-RPC responses in `body` (a
  /// message or a batch of them), and the first response error's code.
  static func responses(in body: [UInt8]) -> (ids: [String], errorCode: Int?) {
    guard let object = try? JSONSerialization.jsonObject(with: Data(body)) else { return ([], nil) }
    let messages = (object as? [Any]) ?? [object]
    return (messages.compactMap(responseID), messages.lazy.compactMap(errorCode(of:)).first)
  }

  /// The id of a JSON-RPC response (`result` or `error`, no `method`) as JSON text.
  private static func responseID(_ object: Any) -> String? {
    guard let message = object as? [String: Any], message["method"] == nil,
      message["result"] != nil || message["error"] != nil, let id = message["id"], id is String || id is NSNumber
    else { return nil }
    return idText(id)
  }

  private static func idText(_ id: Any) -> String? {
    guard let data = try? JSONSerialization.data(withJSONObject: id, options: [.fragmentsAllowed]) else { return nil }
    return String(decoding: data, as: UTF8.self)
  }

  private static func errorCode(of object: Any) -> Int? {
    guard let message = object as? [String: Any], let error = message["error"] as? [String: Any] else { return nil }
    return error["code"] as? Int
  }

  /// Whether a `Content-Type` value is JSON (`application/json`, parameters ignored).
  static func isJSON(contentType: String?) -> Bool { mediaType(contentType) == "application/json" }

  /// Whether a `Content-Type` value is an SSE stream (`text/event-stream`, parameters ignored).
  static func isEventStream(contentType: String?) -> Bool { mediaType(contentType) == "text/event-stream" }

  private static func mediaType(_ contentType: String?) -> String? {
    contentType?.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first.map {
      $0.trimmingCharacters(in: .whitespaces).lowercased()
    }
  }
}

/// What an answer the proxy writes itself in JSON-RPC (a step-up error) must look like: one error
/// response per request of the body, in an array when the body was a batch.
struct JSONRPCReplyShape: Sendable, Equatable {
  var batch: Bool
  /// Each request's id as JSON text (`1`, `"a"`), in body order; notifications and responses have none.
  var requestIDs: [String]

  /// A body that is not JSON-RPC, or not known: one error response with `"id": null`.
  static let unknown = JSONRPCReplyShape(batch: false, requestIDs: [])
}

/// The side copy of a request body for its JSON-RPC summary. The body itself is relayed by the
/// caller untouched; this keeps at most `limit` bytes, and none once the body cannot be summarized
/// (larger than `limit`, or its first non-blank byte opens no JSON object or array).
struct RequestBodySummarizer {
  private let limit: Int
  private var copy: [UInt8] = []
  private var collecting: Bool
  /// Decided at the first non-blank byte.
  private var opensJSON: Bool?
  /// Body bytes received from the client so far.
  private(set) var receivedBytes = 0

  /// `declaredLength` is the `Content-Length`, nil for a chunked body.
  init(limit: Int, declaredLength: Int?) {
    self.limit = limit
    collecting = (declaredLength ?? 0) <= limit
    if collecting, let declaredLength { copy.reserveCapacity(declaredLength) }
  }

  mutating func append(_ buffer: ByteBuffer) {
    receivedBytes += buffer.readableBytes
    guard collecting else { return }
    guard receivedBytes <= limit else { return stopCollecting() }
    let bytes = buffer.readableBytesView
    if opensJSON == nil, let first = bytes.first(where: { !Self.isBlank($0) }) {
      opensJSON = first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
      if opensJSON == false { return stopCollecting() }
    }
    copy.append(contentsOf: bytes)
  }

  /// The summary of the whole body; call once it has all arrived. Releases the copy. `reply` is
  /// `.unknown` unless the body is JSON-RPC.
  mutating func finish() -> (
    kind: ProxyRequestRecord.BodyKind, messages: [ProxyRequestRecord.RPCMessage], reply: JSONRPCReplyShape
  ) {
    defer { stopCollecting() }
    if receivedBytes == 0 { return (.empty, [], .unknown) }
    if receivedBytes > limit { return (.tooLargeToSummarize, [], .unknown) }
    guard opensJSON == true, let summary = JSONRPCEnvelope.summary(in: copy) else { return (.notJSONRPC, [], .unknown) }
    return (.jsonRPC, summary.messages, summary.reply)
  }

  private mutating func stopCollecting() {
    collecting = false
    copy = []
  }

  private static func isBlank(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
  }
}

/// Finds `error.code` in an upstream response as it is relayed, looking at no more than its first
/// `limit` body bytes: an `application/json` body is copied and parsed at its end (not at all when
/// larger), a `text/event-stream` is split into events as it flows and each event's data parsed.
/// Other content types are not looked at. For an event stream it also collects the ids of the
/// JSON-RPC responses relayed so far (`answered(all:)`): a client that hangs up once it has every
/// answer it asked for, before the stream's end, did not break the exchange off.
struct ResponseErrorCodeReader {
  private enum Format {
    case other
    case json
    case eventStream
  }

  private let format: Format
  private let limit: Int
  private var seenBytes = 0
  private var json: [UInt8] = []
  private var events = EventStreamSplitter()
  private(set) var errorCode: Int?
  /// Ids (JSON text) of the responses seen in an event stream.
  private var answeredIDs: Set<String> = []

  /// A reader that looks at nothing, for exchanges the upstream has not answered.
  init() {
    format = .other
    limit = 0
  }

  init(contentType: String?, limit: Int) {
    if JSONRPCEnvelope.isJSON(contentType: contentType) {
      format = .json
    } else if JSONRPCEnvelope.isEventStream(contentType: contentType) {
      format = .eventStream
    } else {
      format = .other
    }
    self.limit = limit
  }

  mutating func append(_ buffer: ByteBuffer) {
    guard format != .other else { return }
    let before = seenBytes
    seenBytes += buffer.readableBytes
    switch format {
    case .other:
      break
    case .json:
      guard errorCode == nil else { return }
      if seenBytes <= limit {
        json.append(contentsOf: buffer.readableBytesView)
      } else if before <= limit {
        json = []  // too large to parse: the copy is of no use
      }
    case .eventStream:
      guard before < limit else { return }
      var found = errorCode
      var answered = answeredIDs
      events.feed(buffer.readableBytesView.prefix(limit - before)) { data in
        let responses = JSONRPCEnvelope.responses(in: data)
        answered.formUnion(responses.ids)
        if found == nil { found = responses.errorCode }
      }
      errorCode = found
      answeredIDs = answered
      if seenBytes >= limit { events = EventStreamSplitter() }
    }
  }

  /// Whether the event stream relayed a response to each of `requestIDs` (none: false).
  func answered(all requestIDs: [String]) -> Bool {
    !requestIDs.isEmpty && requestIDs.allSatisfy(answeredIDs.contains)
  }

  /// The response body ended.
  mutating func end() {
    guard format == .json, errorCode == nil, seenBytes <= limit, !json.isEmpty else { return }
    errorCode = JSONRPCEnvelope.errorCode(in: json)
    json = []
  }
}

/// Splits a `text/event-stream` body into events and hands over each event's data (its `data`
/// lines joined with `\n`, as the SSE spec has it), incrementally: a chunk may end anywhere, inside
/// a `\r\n` included. Events without data lines are skipped, other fields and comments ignored.
struct EventStreamSplitter {
  private var line: [UInt8] = []
  private var data: [UInt8] = []
  private var hasData = false
  private var afterCR = false

  mutating func feed(_ bytes: some Sequence<UInt8>, onEvent: ([UInt8]) -> Void) {
    for byte in bytes {
      if afterCR {
        afterCR = false
        if byte == UInt8(ascii: "\n") { continue }
      }
      if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
        afterCR = byte == UInt8(ascii: "\r")
        endLine(onEvent)
      } else {
        line.append(byte)
      }
    }
  }

  private mutating func endLine(_ onEvent: ([UInt8]) -> Void) {
    defer { line.removeAll(keepingCapacity: true) }
    guard !line.isEmpty else {
      if hasData { onEvent(data) }
      data.removeAll(keepingCapacity: true)
      hasData = false
      return
    }
    let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
    guard line[..<colon].elementsEqual("data".utf8) else { return }
    var value = line[colon...].dropFirst()
    if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
    if hasData { data.append(UInt8(ascii: "\n")) }
    data.append(contentsOf: value)
    hasData = true
  }
}
