import Foundation

/// The JSON protocol of the control socket between a running `up` and `tenant`, `status`,
/// `token`, `elevate` (SPEC §6, §10): one request object, one response object, one connection
/// each. Keys are snake_case. Only `token` answers and `elevate` requests carry a token; nothing
/// here is ever logged.
public enum ControlProtocol {
  public static let encoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
  }()

  public static let decoder: JSONDecoder = {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return decoder
  }()
}

public struct ControlRequest: Codable, Equatable, Sendable {
  public enum Operation: String, Codable, Sendable {
    case status
    case tenantUse = "tenant_use"
    case tenantCurrent = "tenant_current"
    case tenantList = "tenant_list"
    case token
    /// What `elevate` needs before it prompts: the tenant served, its pending step-up challenge,
    /// `session.elevate_max` (SPEC §10).
    case elevationInfo = "elevation_info"
    /// Hands an elevated tenant token to `up`; the only request that carries a token.
    case elevate
  }

  public var op: Operation
  public var tenant: String?
  /// `elevate`: the elevated tenant token (never logged; only over the 0600 socket).
  public var token: String?
  /// `elevate`: the seconds the token has left, as its issuer said.
  public var expiresIn: Int?
  /// `elevate`: the scope it was minted with.
  public var scope: [String]?
  /// `elevate`: `--for`, in seconds; nil means `session.elevate_max`.
  public var forSeconds: Int?

  public init(
    op: Operation, tenant: String? = nil, token: String? = nil, expiresIn: Int? = nil, scope: [String]? = nil,
    forSeconds: Int? = nil
  ) {
    self.op = op
    self.tenant = tenant
    self.token = token
    self.expiresIn = expiresIn
    self.scope = scope
    self.forSeconds = forSeconds
  }
}

public struct ControlResponse: Codable, Sendable {
  public struct Failure: Codable, Sendable {
    public var category: String
    public var summary: String
    public var fix: String?

    public init(category: String, summary: String, fix: String? = nil) {
      self.category = category
      self.summary = summary
      self.fix = fix
    }
  }

  public var ok: Bool
  public var error: Failure?
  public var tunnel: TunnelStatus?
  public var tenant: String?
  public var previousTenant: String?
  public var tenants: [String]?
  public var tokenExpiresAt: String?
  /// Only in the answer to `token`.
  public var token: String?
  /// `elevation_info`: the last step-up challenge of the tenant, if any.
  public var stepUp: StepUpChallenge?
  /// `elevation_info`: `session.elevate_max` in seconds.
  public var elevateMaxSeconds: Int?
  /// `elevate`: the elevation now in use.
  public var elevation: ElevationSummary?
  /// `elevate`: something the user should know (a `--for` clamped to `session.elevate_max`).
  public var note: String?

  public init(
    ok: Bool, error: Failure? = nil, tunnel: TunnelStatus? = nil, tenant: String? = nil, previousTenant: String? = nil,
    tenants: [String]? = nil, tokenExpiresAt: String? = nil, token: String? = nil, stepUp: StepUpChallenge? = nil,
    elevateMaxSeconds: Int? = nil, elevation: ElevationSummary? = nil, note: String? = nil
  ) {
    self.stepUp = stepUp
    self.elevateMaxSeconds = elevateMaxSeconds
    self.elevation = elevation
    self.note = note
    self.ok = ok
    self.error = error
    self.tunnel = tunnel
    self.tenant = tenant
    self.previousTenant = previousTenant
    self.tenants = tenants
    self.tokenExpiresAt = tokenExpiresAt
    self.token = token
  }

  public static func failure(_ error: any Error) -> ControlResponse {
    let facing = error as? any UserFacingError
    return ControlResponse(
      ok: false,
      error: Failure(
        category: facing?.category.rawValue ?? FailureCategory.internalError.rawValue,
        summary: facing?.summary ?? "\(error)", fix: facing?.fix))
  }
}

/// What `status` shows about a running tunnel, of either mode.
public struct TunnelStatus: Codable, Equatable, Sendable {
  public struct Hop: Codable, Equatable, Sendable {
    public var name: String
    public var state: String
    /// Where the hop came from (`~/.ssh/config:3: Host bastion`, `ssh.jump[0]`); absent from older `up`s.
    public var origin: String?

    public init(name: String, state: String, origin: String? = nil) {
      self.name = name
      self.state = state
      self.origin = origin
    }
  }

  public struct Counters: Codable, Equatable, Sendable {
    public var requests: Int
    public var errors: Int
    public var remints: Int
    public var reconnects: Int
    public var openConnections: Int
    /// Connections the listener refused (`listen.peers`): another user's, or one whose owner
    /// could not be found out.
    public var denied: Int

    public init(
      requests: Int, errors: Int, remints: Int, reconnects: Int, openConnections: Int, denied: Int = 0
    ) {
      self.requests = requests
      self.errors = errors
      self.remints = remints
      self.reconnects = reconnects
      self.openConnections = openConnections
      self.denied = denied
    }

    /// `denied` is 0 when absent: a `status` of this version reading an older running `up`.
    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      requests = try container.decode(Int.self, forKey: .requests)
      errors = try container.decode(Int.self, forKey: .errors)
      remints = try container.decode(Int.self, forKey: .remints)
      reconnects = try container.decode(Int.self, forKey: .reconnects)
      openConnections = try container.decode(Int.self, forKey: .openConnections)
      denied = try container.decodeIfPresent(Int.self, forKey: .denied) ?? 0
    }
  }

  public var pid: Int32
  public var profile: String
  public var session: String
  public var mode: String
  public var listen: String
  public var url: String?
  public var target: String
  public var state: String
  public var hops: [Hop]
  public var tenant: String?
  public var tokenExpiresAt: String?
  public var startedAt: String
  public var counters: Counters
  /// `listen.peers` of the running listener: `same-user` or `any-local-user` (nil from an older `up`).
  public var peers: String?
  /// When `session.max_duration` ends the run (nil: no limit, or an older `up`).
  public var endsAt: String?
  /// When `session.idle_timeout` ends the run if no call (tcp: connection) comes first.
  public var idleEndsAt: String?
  /// The elevated token in use (`mcp-tunnel elevate`), with its end; nil when none.
  public var elevation: ElevationSummary?

  public init(
    pid: Int32, profile: String, session: String, mode: String, listen: String, url: String?, target: String,
    state: String, hops: [Hop], tenant: String?, tokenExpiresAt: String?, startedAt: String, counters: Counters,
    peers: String? = nil, endsAt: String? = nil, idleEndsAt: String? = nil, elevation: ElevationSummary? = nil
  ) {
    self.elevation = elevation
    self.pid = pid
    self.profile = profile
    self.session = session
    self.mode = mode
    self.listen = listen
    self.url = url
    self.target = target
    self.state = state
    self.hops = hops
    self.tenant = tenant
    self.tokenExpiresAt = tokenExpiresAt
    self.startedAt = startedAt
    self.counters = counters
    self.peers = peers
    self.endsAt = endsAt
    self.idleEndsAt = idleEndsAt
  }
}

/// RFC 3339 UTC with seconds, for `--json`, human output and the control protocol.
///
/// Formatted from `gmtime_r` rather than `ISO8601DateFormatter`: Foundation's formatter on Linux
/// is ICU's date formatter, and the first one a process builds pages in ICU's calendar and locale
/// data (megabytes of a long-running `up`'s resident memory) for a fixed-format UTC string.
public enum Timestamp {
  /// E.g. `2026-11-21T10:00:00Z`; the fraction of a second is dropped (never rounded up).
  public static func string(_ date: Date) -> String {
    let parts = utc(time_t(date.timeIntervalSince1970.rounded(.down)))
    return "\(day(parts))T\(time(parts))Z"
  }

  /// E.g. `2026-11-21T10:00:00.123Z` (audit lines): milliseconds truncated, never rounded up, so
  /// a timestamp never lies in the future.
  public static func withMilliseconds(_ date: Date) -> String {
    let total = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    let (seconds, milliseconds) = total.quotientAndRemainder(dividingBy: 1000)
    let parts = utc(time_t(milliseconds < 0 ? seconds - 1 : seconds))
    let millis = milliseconds < 0 ? milliseconds + 1000 : milliseconds
    return "\(day(parts))T\(time(parts)).\(pad(Int32(millis), 3))Z"
  }

  /// E.g. `2026-11-21 10:00:00 UTC` (certificate validity windows).
  public static func humanUTC(_ date: Date) -> String {
    let parts = utc(time_t(date.timeIntervalSince1970.rounded(.down)))
    return "\(day(parts)) \(time(parts)) UTC"
  }

  private static func utc(_ seconds: time_t) -> tm {
    var time = seconds
    var parts = tm()
    gmtime_r(&time, &parts)
    return parts
  }

  private static func day(_ parts: tm) -> String {
    "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
  }

  private static func time(_ parts: tm) -> String {
    "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
  }

  private static func pad(_ value: Int32, _ width: Int) -> String {
    let text = String(value)
    return String(repeating: "0", count: max(0, width - text.count)) + text
  }
}
