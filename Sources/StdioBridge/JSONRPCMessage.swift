import Foundation

/// What the bridge needs to know about one JSON-RPC line from the client: its kind, its id (as the
/// JSON text it was written with, so an answer can echo it byte for byte) and its method.
public struct JSONRPCMessage: Sendable {
  public enum Kind: Sendable, Equatable {
    case request, notification, response, batch, invalid
  }

  public let bytes: [UInt8]
  public let kind: Kind
  public let method: String?
  /// The id's JSON text (`1`, `"a"`), for requests and responses.
  public let idJSON: String?
  /// For a batch: the ids of the requests in it.
  public let batchRequestIDs: [String]

  public init(_ bytes: [UInt8]) {
    self.bytes = bytes
    let value = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    if let object = value as? [String: Any] {
      let (kind, method, id) = Self.classify(object)
      (self.kind, self.method, self.idJSON, batchRequestIDs) = (kind, method, id, [])
    } else if let array = value as? [Any] {
      (kind, method, idJSON) = (.batch, nil, nil)
      batchRequestIDs = array.compactMap { element in
        guard let object = element as? [String: Any] else { return nil }
        let (kind, _, id) = Self.classify(object)
        return kind == .request ? id : nil
      }
    } else {
      (kind, method, idJSON, batchRequestIDs) = (.invalid, nil, nil, [])
    }
  }

  /// The ids of the requests this message carries: what must get an answer if it cannot be sent.
  public var requestIDs: [String] {
    switch kind {
    case .request: idJSON.map { [$0] } ?? []
    case .batch: batchRequestIDs
    default: []
    }
  }

  static func classify(_ object: [String: Any]) -> (Kind, String?, String?) {
    let method = object["method"] as? String
    let id = object["id"].flatMap(idText)
    if method != nil { return (id == nil ? .notification : .request, method, id) }
    if object["result"] != nil || object["error"] != nil { return (.response, nil, id) }
    return (.invalid, nil, id)
  }

  /// An id's JSON text; `null` counts as none.
  static func idText(_ value: Any) -> String? {
    if value is NSNull { return nil }
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]) else {
      return nil
    }
    return String(decoding: data, as: UTF8.self)
  }
}

/// What a server message (one SSE event's data, or a JSON body) is, to the bridge.
public struct ServerMessage: Sendable {
  /// The id's JSON text when this answers a request (it has `result` or `error`, no `method`).
  public let responseID: String?
  /// `result.protocolVersion` of an initialize result.
  public let protocolVersion: String?

  public init(_ bytes: some Sequence<UInt8>) {
    let value = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    guard let object = value as? [String: Any], object["method"] == nil,
      object["result"] != nil || object["error"] != nil
    else {
      (responseID, protocolVersion) = (nil, nil)
      return
    }
    responseID = object["id"].flatMap(JSONRPCMessage.idText)
    protocolVersion = (object["result"] as? [String: Any])?["protocolVersion"] as? String
  }
}

/// The JSON-RPC error the bridge writes for a request it could not forward: same id, code -32603
/// (internal error; what mcp-remote answers too), a message saying what failed and what to do.
public enum BridgeErrorResponse {
  public static let code = -32603

  public static func line(id idJSON: String, message: String, httpStatus: Int? = nil) -> [UInt8] {
    var error: [String: Any] = ["code": code, "message": message]
    if let httpStatus { error["data"] = ["http_status": httpStatus] }
    let body =
      (try? JSONSerialization.data(withJSONObject: error, options: [.sortedKeys, .withoutEscapingSlashes]))
      .map { String(decoding: $0, as: UTF8.self) } ?? #"{"code":-32603,"message":"internal error"}"#
    return Array(#"{"jsonrpc":"2.0","id":\#(idJSON),"error":\#(body)}"#.utf8)
  }

  /// The message for a failed HTTP answer: the proxy's own `{"error","message","fix"}` body (its
  /// 503 when no token can be had, 502 when the SSH path is down) keeps its words; anything else
  /// is named by its status.
  public static func message(status: Int, body: [UInt8], fallbackFix: String) -> String {
    let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    if let message = object?["message"] as? String {
      let fix = object?["fix"] as? String
      return "mcp-tunnel: \(message)" + (fix.map { "; \($0)" } ?? "")
    }
    if let error = object?["error"] as? [String: Any], let message = error["message"] as? String {
      return "MCP server answered HTTP \(status): \(message)"
    }
    return "mcp-tunnel: the MCP endpoint answered HTTP \(status); \(fallbackFix)"
  }

  /// Whether `body` is a JSON-RPC response for `idJSON` (a server's 4xx may carry one).
  public static func isResponse(_ body: [UInt8], for idJSON: String) -> Bool {
    ServerMessage(body).responseID == idJSON
  }
}

/// One line for stdout: JSON never holds a raw CR or LF inside a string, so any there is
/// whitespace between tokens and becomes a space; the line ends with one `\n`.
public func singleLine(_ bytes: some Sequence<UInt8>) -> [UInt8] {
  var line = bytes.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
  line.append(0x0A)
  return line
}
