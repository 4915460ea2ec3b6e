import Foundation
import TunnelCore

/// One finished client request, for the audit log and `status`. Holds no secret: no header values,
/// no query string, no token.
public struct ProxyRequestRecord: Sendable, Equatable {
  /// Who produced the response the client got.
  public enum AnsweredBy: String, Sendable, Equatable {
    /// The MCP server, relayed.
    case upstream
    /// The proxy itself (403, 404, 503 …); `detail` says why.
    case proxy
  }

  /// HTTP method, e.g. `POST`.
  public var method: String
  /// The request path, without the query string.
  public var path: String
  /// The status the client received; nil when the connection ended before any response.
  public var status: Int?
  public var duration: Duration
  /// JSON-RPC `method` of a small JSON request body (`tools/call`); nil otherwise.
  public var rpcMethod: String?
  /// JSON-RPC `params.name` (the tool or prompt name).
  public var rpcName: String?
  /// JSON-RPC `id`, rendered as text (ids may be numbers or strings).
  public var rpcID: String?
  /// The tenant whose token the request carried; nil when it was never forwarded.
  public var tenant: TenantID?
  /// The token generation the request carried.
  public var generation: UInt64?
  public var answeredBy: AnsweredBy
  /// Whether the whole response reached the client (false: the exchange broke off).
  public var completed: Bool
  /// The proxy's short reason (`login_required`, `forbidden_host`, `upstream_closed`,
  /// `tenant_switched`, `client_closed`, `proxy_stopped` …), when it answered or the exchange
  /// did not complete.
  public var detail: String?
  /// Whether the token was re-minted and the request retried (USE-05).
  public var retried: Bool

  public init(
    method: String, path: String, status: Int?, duration: Duration, rpcMethod: String? = nil,
    rpcName: String? = nil, rpcID: String? = nil, tenant: TenantID? = nil, generation: UInt64? = nil,
    answeredBy: AnsweredBy, completed: Bool, detail: String? = nil, retried: Bool = false
  ) {
    self.method = method
    self.path = path
    self.status = status
    self.duration = duration
    self.rpcMethod = rpcMethod
    self.rpcName = rpcName
    self.rpcID = rpcID
    self.tenant = tenant
    self.generation = generation
    self.answeredBy = answeredBy
    self.completed = completed
    self.detail = detail
    self.retried = retried
  }
}

/// Counters for `status` (SPEC §2): totals since `start`.
public struct ProxyCounters: Sendable, Equatable {
  /// Client requests seen (every request head).
  public var requests: Int
  /// Requests that failed: refused or answered with an error by the proxy (the discovery 404
  /// excepted), upstream `5xx`, or an upstream that broke off mid-response. A client that hangs
  /// up, a tenant switch or `stop()` cutting an exchange short is not counted.
  public var errors: Int
  /// `replaceRejected` calls after an upstream `401 invalid_token`.
  public var remints: Int
  /// Upstream streams opened through `PortForwarder.openStream()`.
  public var upstreamStreams: Int
  /// Client connections currently open.
  public var openConnections: Int

  public init(requests: Int = 0, errors: Int = 0, remints: Int = 0, upstreamStreams: Int = 0, openConnections: Int = 0)
  {
    self.requests = requests
    self.errors = errors
    self.remints = remints
    self.upstreamStreams = upstreamStreams
    self.openConnections = openConnections
  }
}

/// The JSON-RPC fields the audit log wants from a request body: `method`, `params.name`, `id`.
/// For a batch, the first element's.
struct JSONRPCSummary: Sendable, Equatable {
  var method: String?
  var name: String?
  var id: String?

  static func parse(_ body: [UInt8]) -> JSONRPCSummary? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
      return nil
    }
    let message: [String: Any]?
    if let array = object as? [Any] {
      message = array.first as? [String: Any]
    } else {
      message = object as? [String: Any]
    }
    guard let message else { return nil }
    let params = message["params"] as? [String: Any]
    return JSONRPCSummary(
      method: message["method"] as? String, name: params?["name"] as? String, id: render(message["id"]))
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

  /// Whether a `Content-Type` value is JSON (`application/json`, parameters ignored).
  static func isJSON(contentType: String?) -> Bool {
    guard let contentType else { return false }
    let media = contentType.split(separator: ";", maxSplits: 1).first.map {
      $0.trimmingCharacters(in: .whitespaces).lowercased()
    }
    return media == "application/json"
  }
}
