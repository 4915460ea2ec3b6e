/// One finished client request, for the audit log and `status`. Holds no secret: no header values,
/// no query string, no token, and of the body only the JSON-RPC envelope (never `params.arguments`
/// or any other parameter beyond the target's name or URI).
public struct ProxyRequestRecord: Sendable, Equatable {
  /// Who produced the response the client got.
  public enum AnsweredBy: String, Sendable, Equatable {
    /// The MCP server, relayed.
    case upstream
    /// The proxy itself (403, 404, 503 …); `detail` says why.
    case proxy
  }

  /// What the request body was, as far as the JSON-RPC summary goes. Whatever it was, it streamed
  /// on unchanged: the summary works on a bounded copy taken on the side.
  public enum BodyKind: String, Sendable, Equatable {
    /// No body bytes (`GET`, `DELETE`, `Content-Length: 0`).
    case empty
    /// A JSON-RPC message or a batch (JSON array) holding at least one; see `rpcMessages`.
    case jsonRPC
    /// Not JSON, or JSON that is neither a JSON-RPC message nor a batch holding one.
    case notJSONRPC
    /// More than the proxy's JSON summary limit (`HTTPTokenProxy.Limits.jsonSummaryBody` in TokenProxy): relayed, not summarized.
    case tooLargeToSummarize
    /// The body never arrived in full (the exchange broke off first): not summarized.
    case incomplete
  }

  /// The envelope of one JSON-RPC message (an object whose `jsonrpc` is `"2.0"`) of the request body.
  public struct RPCMessage: Sendable, Equatable {
    /// What a message acts on.
    public enum Target: Sendable, Equatable {
      /// `params.name` of `tools/call`.
      case tool(String)
      /// `params.name` of `prompts/get`.
      case prompt(String)
      /// `params.uri` of `resources/read`, `resources/subscribe` and `resources/unsubscribe`.
      case resource(String)

      /// The tool or prompt name, or the resource URI.
      public var name: String {
        switch self {
        case .tool(let name), .prompt(let name), .resource(let name): return name
        }
      }
    }

    /// `method`; nil for a response the client sends to a server request (sampling, elicitation).
    public var method: String?
    /// `id` rendered as text (ids may be numbers or strings); nil for a notification.
    public var id: String?
    /// Nil for methods without a target, or when the target is missing or not a string.
    public var target: Target?

    public init(method: String?, id: String? = nil, target: Target? = nil) {
      self.method = method
      self.id = id
      self.target = target
    }
  }

  /// The client connection the request came on: 1, 2, … in accept order, per running proxy.
  /// Requests on one keep-alive connection share it.
  public var connectionID: UInt64
  /// HTTP method, e.g. `POST`.
  public var method: String
  /// The request path, without the query string.
  public var path: String
  /// The status the client received; nil when the connection ended before any response.
  public var status: Int?
  public var duration: Duration
  /// What the request body was; summarized also when the proxy answered the request itself.
  public var bodyKind: BodyKind
  /// One entry per JSON-RPC message of the body, in body order (a batch gives one per element that
  /// is a JSON-RPC message); empty unless `bodyKind` is `.jsonRPC`.
  public var rpcMessages: [RPCMessage]
  /// Request body bytes handed to the upstream (for a replayed request, one copy's worth); 0 when
  /// the proxy answered before forwarding.
  public var requestBytes: Int
  /// Response body bytes written to the client: relayed from the upstream, or the proxy's own JSON
  /// answer when `answeredBy == .proxy`.
  public var responseBytes: Int
  /// JSON-RPC `error.code` of the upstream's response: of the body of an `application/json`
  /// response, or the first error among the JSON-RPC responses in the events of a
  /// `text/event-stream` one (for a batch, the first error's). Only the first
  /// `Limits.jsonSummaryBody` bytes are looked at: nil for a larger JSON body, or an error event
  /// past that point.
  public var rpcErrorCode: Int?
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
  /// The local path the request came by, from the bridge's `MCP-Tunnel-Via` request header
  /// (`"stdio"`: `mcp-tunnel stdio`); nil for an ordinary HTTP client. A label for the audit log,
  /// not an authentication: any local client could send the header.
  public var via: String?
  /// The step-up challenge the upstream answered with (SPEC §10), when it did; the proxy then
  /// answered the client itself and did not retry.
  public var stepUp: StepUpChallenge?
  /// Whether the request carried an elevated token (`mcp-tunnel elevate`).
  public var elevated: Bool

  /// `method` of the first JSON-RPC message (`tools/call`); nil otherwise.
  public var rpcMethod: String? { rpcMessages.first?.method }
  /// The tool or prompt name of the first JSON-RPC message (`params.name` of `tools/call` or
  /// `prompts/get`); nil for other methods, resources included.
  public var rpcName: String? {
    switch rpcMessages.first?.target {
    case .tool(let name), .prompt(let name): return name
    case .resource, nil: return nil
    }
  }
  /// `id` of the first JSON-RPC message, rendered as text.
  public var rpcID: String? { rpcMessages.first?.id }

  public init(
    connectionID: UInt64 = 0, method: String, path: String, status: Int?, duration: Duration,
    bodyKind: BodyKind = .empty, rpcMessages: [RPCMessage] = [], requestBytes: Int = 0, responseBytes: Int = 0,
    rpcErrorCode: Int? = nil, tenant: TenantID? = nil, generation: UInt64? = nil, answeredBy: AnsweredBy,
    completed: Bool, detail: String? = nil, retried: Bool = false, via: String? = nil,
    stepUp: StepUpChallenge? = nil, elevated: Bool = false
  ) {
    self.connectionID = connectionID
    self.method = method
    self.path = path
    self.status = status
    self.duration = duration
    self.bodyKind = bodyKind
    self.rpcMessages = rpcMessages
    self.requestBytes = requestBytes
    self.responseBytes = responseBytes
    self.rpcErrorCode = rpcErrorCode
    self.tenant = tenant
    self.generation = generation
    self.answeredBy = answeredBy
    self.completed = completed
    self.detail = detail
    self.retried = retried
    self.via = via
    self.stepUp = stepUp
    self.elevated = elevated
  }
}

/// Counters for `status` (SPEC §2): totals since `start`.
public struct ProxyCounters: Sendable, Equatable {
  /// Client requests seen (every request head).
  public var requests: Int
  /// Requests that failed: refused or answered with an error by the proxy (the discovery 404
  /// excepted), upstream `5xx`, or an upstream that broke off mid-response. A client that hangs
  /// up, a tenant switch or `stop()` cutting an exchange short is not counted. Bytes refused
  /// before any request head could be parsed (a malformed request line, a head too large or too
  /// slow) count here but not in `requests`, and produce no `ProxyRequestRecord`.
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
