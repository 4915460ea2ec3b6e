import Foundation

/// What happened, for the audit trail (SPEC §7 `event`).
public enum AuditEventKind: String, Sendable, Codable, CaseIterable {
  case call, login, logout, denied, reconnect
  case tunnelUp = "tunnel_up"
  case tunnelDown = "tunnel_down"
  case tenantSwitch = "tenant_switch"
  case tokenMinted = "token_minted"
  /// The MCP server refused a call for want of a stronger token (SPEC §10).
  case stepUpRequired = "step_up_required"
  /// An elevated token from `mcp-tunnel elevate` is in use for a tenant (SPEC §10).
  case elevated
  /// The elevated token is no longer used: expired, its window over, or a tenant switch.
  case elevationEnded = "elevation_ended"
  /// Written by the audit writer itself, never by callers: records were lost before reaching the
  /// log (the write queue was full, or writing failed); `detail` says how many and why.
  case recordsDropped = "records_dropped"
}

/// How a recorded action ended (SPEC §7 `outcome`).
public enum AuditOutcome: String, Sendable, Codable, CaseIterable {
  case ok, error, denied
}

/// One audit record before the writer numbers, timestamps and chains it (`seq`, `ts`, `prev` are
/// the writer's). Holds no secret by construction: a token appears only as `tokenID`, a truncated
/// SHA-256 of its `jti` or value, computed by the caller.
public struct AuditEvent: Sendable, Equatable {
  public var event: AuditEventKind
  public var profile: String
  public var tenant: String?
  /// The IdP subject (`sub`) of the logged-in user.
  public var actor: String?
  /// The `up` session id, when the event comes from a running tunnel.
  public var session: String?
  /// JSON-RPC method, e.g. `tools/call`.
  public var method: String?
  /// Tool name for `tools/call`.
  public var tool: String?
  /// Prompt name for `prompts/get`.
  public var prompt: String?
  /// Resource URI for `resources/read` (and `resources/subscribe`/`unsubscribe`).
  public var resource: String?
  /// The client connection a call came on (numbered per `up` session).
  public var connection: Int?
  /// How the call reached the tunnel when not as an ordinary HTTP client: `"stdio"` for
  /// `mcp-tunnel stdio`. A label, not an authentication.
  public var via: String?
  /// JSON-RPC id as sent by the client, rendered as text (ids may be numbers or strings).
  public var rpcID: String?
  /// HTTP status returned to the client.
  public var status: Int?
  /// JSON-RPC `error.code` of the response, when it had one.
  public var rpcError: Int?
  /// Body bytes relayed from the client and back to it.
  public var bytesIn: Int?
  public var bytesOut: Int?
  public var outcome: AuditOutcome
  public var durationMilliseconds: Int?
  /// Truncated SHA-256 of the token's `jti` or value; never the token.
  public var tokenID: String?
  /// A short free-text reason for errors and denials (no secrets).
  public var detail: String?
  /// `denied` by `listen.peers`: the uid that owns the refused connection's peer socket.
  public var peerUID: Int?
  /// true when the call carried an elevated token (`mcp-tunnel elevate`, SPEC §10); absent otherwise.
  public var elevated: Bool?

  public init(
    event: AuditEventKind, profile: String, tenant: String? = nil, actor: String? = nil, session: String? = nil,
    method: String? = nil, tool: String? = nil, rpcID: String? = nil, status: Int? = nil,
    outcome: AuditOutcome = .ok, durationMilliseconds: Int? = nil, tokenID: String? = nil, detail: String? = nil,
    prompt: String? = nil, resource: String? = nil, connection: Int? = nil, rpcError: Int? = nil,
    bytesIn: Int? = nil, bytesOut: Int? = nil, via: String? = nil, peerUID: Int? = nil, elevated: Bool? = nil
  ) {
    self.elevated = elevated
    self.event = event
    self.profile = profile
    self.tenant = tenant
    self.actor = actor
    self.session = session
    self.method = method
    self.tool = tool
    self.rpcID = rpcID
    self.status = status
    self.outcome = outcome
    self.durationMilliseconds = durationMilliseconds
    self.tokenID = tokenID
    self.detail = detail
    self.prompt = prompt
    self.resource = resource
    self.connection = connection
    self.rpcError = rpcError
    self.bytesIn = bytesIn
    self.bytesOut = bytesOut
    self.via = via
    self.peerUID = peerUID
  }
}

/// Where audit events go. The live version is the hash-chained JSON Lines log in `AuditLog`; tests
/// use `InMemoryAuditSink`. Errors are `UserFacingError`s.
public protocol AuditSink: Sendable {
  func record(_ event: AuditEvent) throws
  /// Returns once every event recorded so far is written (a queued sink); immediate otherwise.
  func flush() async
}

extension AuditSink {
  public func flush() async {}
}
