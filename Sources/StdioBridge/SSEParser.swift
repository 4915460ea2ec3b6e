/// One Server-Sent Event (WHATWG HTML §9.2): its type (`message` when the stream named none), its
/// data lines joined by `\n`, and the last event id seen when it was dispatched.
public struct SSEEvent: Sendable, Equatable {
  public var type: String
  public var data: String
  public var id: String?

  public init(type: String = "message", data: String, id: String? = nil) {
    self.type = type
    self.data = data
    self.id = id
  }
}

/// An incremental `text/event-stream` parser: bytes go in as they arrive, complete events come out.
/// A line may be split anywhere across chunks (even between the CR and LF of a CRLF); comments
/// (`:` lines) are skipped; `id` and `retry` are remembered for reconnection (`Last-Event-ID`,
/// the server's reconnection delay).
public struct SSEParser: Sendable {
  /// The id of the last event (or the last `id:` field), for `Last-Event-ID` on reconnection.
  public private(set) var lastEventID: String?
  /// The reconnection delay the server asked for with `retry:`, in milliseconds.
  public private(set) var retryMilliseconds: Int?

  private var line: [UInt8] = []
  private var afterCR = false
  private var sawFirstLine = false
  private var data: [String] = []
  private var hasData = false
  private var eventType = ""

  public init() {}

  /// Feeds the next chunk; returns every event it completed, in order.
  public mutating func feed(_ bytes: some Sequence<UInt8>) -> [SSEEvent] {
    var events: [SSEEvent] = []
    for byte in bytes {
      if afterCR {
        afterCR = false
        if byte == 0x0A { continue }
      }
      switch byte {
      case 0x0D:
        afterCR = true
        if let event = endLine() { events.append(event) }
      case 0x0A:
        if let event = endLine() { events.append(event) }
      default:
        line.append(byte)
      }
    }
    return events
  }

  /// The end of the stream: an event without its blank line is discarded (as the standard says).
  public mutating func finish() {
    line.removeAll()
    data.removeAll()
    hasData = false
    eventType = ""
  }

  private mutating func endLine() -> SSEEvent? {
    var bytes = line
    line.removeAll(keepingCapacity: true)
    if !sawFirstLine {
      sawFirstLine = true
      if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
    }
    if bytes.isEmpty { return dispatch() }
    if bytes[0] == 0x3A { return nil }  // a comment (keep-alive)
    let name: [UInt8]
    var value: ArraySlice<UInt8>
    if let colon = bytes.firstIndex(of: 0x3A) {
      name = Array(bytes[..<colon])
      value = bytes[(colon + 1)...]
      if value.first == 0x20 { value = value.dropFirst() }
    } else {
      name = bytes
      value = []
    }
    let text = String(decoding: value, as: UTF8.self)
    switch String(decoding: name, as: UTF8.self) {
    case "data":
      data.append(text)
      hasData = true
    case "event": eventType = text
    case "id": if !value.contains(0) { lastEventID = text }
    case "retry":
      if !value.isEmpty, value.allSatisfy({ (0x30...0x39).contains($0) }), let ms = Int(text) { retryMilliseconds = ms }
    default: break
    }
    return nil
  }

  private mutating func dispatch() -> SSEEvent? {
    defer {
      data.removeAll()
      hasData = false
      eventType = ""
    }
    guard hasData else { return nil }
    return SSEEvent(
      type: eventType.isEmpty ? "message" : eventType, data: data.joined(separator: "\n"), id: lastEventID)
  }
}
