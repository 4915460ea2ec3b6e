/// The Streamable HTTP session as the client side knows it (MCP transports, "Session Management"
/// and "Protocol Version Header"): the session id the server gave with the initialize result, the
/// negotiated protocol version, and the client's own initialize and initialized messages, kept for
/// a re-initialization after a 404.
public struct BridgeSession: Sendable, Equatable {
  public var sessionID: String?
  public var protocolVersion: String?
  /// The client's `initialize` request, as it sent it.
  public var initialize: [UInt8]?
  /// The client's `notifications/initialized`, once sent.
  public var initialized: [UInt8]?
  /// Bumped by every new session, so concurrent 404s re-initialize once.
  public var generation = 0

  public init() {}

  public static let accept = "application/json, text/event-stream"

  /// The internal header every request of the bridge carries to the local proxy, so the audit
  /// record says `"via":"stdio"`; the proxy strips it before forwarding. A label, not an
  /// authentication.
  public static let via = (name: "MCP-Tunnel-Via", value: "stdio")

  /// The headers every request of this session carries (besides Accept and Content-Type).
  public var headers: [(String, String)] {
    var headers: [(String, String)] = []
    if let sessionID { headers.append(("Mcp-Session-Id", sessionID)) }
    if let protocolVersion { headers.append(("MCP-Protocol-Version", protocolVersion)) }
    return headers
  }

  /// A response arrived: a session id (visible ASCII only) is taken when none is known yet or it
  /// answers an initialize.
  public mutating func observe(sessionIDHeader: String?, answeringInitialize: Bool) {
    guard let value = sessionIDHeader, !value.isEmpty, value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
      return
    }
    if answeringInitialize || sessionID == nil {
      if sessionID != value { generation += 1 }
      sessionID = value
    }
  }

  /// The initialize result named the protocol version to send from now on.
  public mutating func observe(protocolVersion version: String) { protocolVersion = version }

  /// A 404 for a request that carried `sessionID`: the session is gone. Returns whether this
  /// caller should re-initialize (false when another request already started a new session).
  public mutating func sessionExpired(_ failed: String?) -> Bool {
    guard let failed, failed == sessionID else { return false }
    sessionID = nil
    return initialize != nil
  }
}
