import Foundation

/// Why an elevated token stopped being used (SPEC §10), as `elevation_ended` and the audit log say.
public enum ElevationEndReason: String, Sendable, Codable, CaseIterable {
  /// The token itself ran out (its expiry, less the request margin, came first).
  case expired
  /// `--for` / `session.elevate_max` was over.
  case window
  /// `tenant use` moved the session to another tenant.
  case tenantSwitch = "tenant_switch"
  /// A newer `elevate` handed over another token.
  case replaced
  /// The MCP server answered `401 invalid_token` to it; it is not re-minted silently.
  case rejected
  /// `up` stopped.
  case stopped
}

/// An elevated token from `mcp-tunnel elevate`, used for one tenant until `endsAt`.
public struct Elevation: Sendable, Equatable {
  public var tenant: TenantID
  public var token: AccessToken
  /// The scope it was minted with (for events and `status`).
  public var scope: [String]
  /// Until when a request may carry it: its expiry less the request margin.
  public var usableUntil: Date
  /// When the window (`--for`, clamped to `session.elevate_max`) is over.
  public var windowEndsAt: Date

  public init(tenant: TenantID, token: AccessToken, scope: [String], usableUntil: Date, windowEndsAt: Date) {
    self.tenant = tenant
    self.token = token
    self.scope = scope
    self.usableUntil = usableUntil
    self.windowEndsAt = windowEndsAt
  }

  /// The earlier of the token's usable end and the window's end.
  public var endsAt: Date { min(usableUntil, windowEndsAt) }
  /// What ends it if nothing else does first.
  public var naturalEnd: ElevationEndReason { usableUntil < windowEndsAt ? .expired : .window }
}

/// At most one elevation, of one tenant, as a value: every transition says which elevation it
/// ended and why, so the broker can report it. Pure: the caller passes the time.
///
/// Invariants: the elevation is handed out only for its own tenant and only before `endsAt`; a
/// tenant change, a rejection of its token or a newer grant ends it at once; nothing brings an
/// ended elevation back.
public struct ElevationState: Sendable, Equatable {
  public struct Ended: Sendable, Equatable {
    public var elevation: Elevation
    public var reason: ElevationEndReason
  }

  public private(set) var current: Elevation?

  public init() {}

  /// Starts `elevation`; a previous one (of any tenant) ends as `replaced`.
  public mutating func grant(_ elevation: Elevation) -> Ended? {
    let previous = current.map { Ended(elevation: $0, reason: .replaced) }
    current = elevation
    return previous
  }

  /// Ends the elevation when its time is over at `now`.
  public mutating func tick(now: Date) -> Ended? {
    guard let elevation = current, now >= elevation.endsAt else { return nil }
    current = nil
    return Ended(elevation: elevation, reason: elevation.naturalEnd)
  }

  /// The elevation to use for a request of `tenant` at `now`, if any, and what ended on the way.
  public mutating func elevation(for tenant: TenantID, now: Date) -> (use: Elevation?, ended: Ended?) {
    let ended = tick(now: now)
    guard let elevation = current, elevation.tenant == tenant else { return (nil, ended) }
    return (elevation, ended)
  }

  /// The session now serves `tenant`: an elevation of another tenant ends.
  public mutating func tenantChanged(to tenant: TenantID) -> Ended? {
    guard let elevation = current, elevation.tenant != tenant else { return nil }
    current = nil
    return Ended(elevation: elevation, reason: .tenantSwitch)
  }

  /// The MCP server refused `token` (`401 invalid_token`): if it is the elevated one, it ends.
  public mutating func rejected(_ token: AccessToken) -> Ended? {
    guard let elevation = current, elevation.token == token else { return nil }
    current = nil
    return Ended(elevation: elevation, reason: .rejected)
  }

  /// Ends whatever runs, for `reason`.
  public mutating func end(_ reason: ElevationEndReason) -> Ended? {
    guard let elevation = current else { return nil }
    current = nil
    return Ended(elevation: elevation, reason: reason)
  }
}

/// What events and `status` show of an elevation: never its token.
public struct ElevationSummary: Sendable, Equatable, Codable {
  public var tenant: String
  public var scope: [String]
  public var endsAt: String

  public init(tenant: String, scope: [String], endsAt: String) {
    self.tenant = tenant
    self.scope = scope
    self.endsAt = endsAt
  }

  public init(_ elevation: Elevation) {
    self.init(tenant: elevation.tenant.rawValue, scope: elevation.scope, endsAt: Timestamp.string(elevation.endsAt))
  }
}
