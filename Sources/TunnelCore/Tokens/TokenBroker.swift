import Foundation

/// The tenant session of a running `up` (SPEC §1 layer 4, §4): holds the active tenant's MCP
/// token in memory, mints it from the IdP login, re-mints it ahead of expiry, and switches tenants.
/// The live `TenantTokenSource` of the http proxy.
///
/// Invariants:
/// - One active tenant and one token at a time. A token is tagged with the tenant generation it
///   was minted under; `use(_:)` bumps the generation only after the new tenant's token is in hand,
///   in one actor step, and drops the old token. A mint that finishes after a switch is discarded,
///   so a token of one tenant is never handed out for another.
/// - Mints of the active tenant are single-flight: concurrent callers share one.
/// - `currentToken()` never returns a token with less than the policy's request margin left when
///   a fresh one can be had; while the issuer is unreachable it keeps serving the old token until
///   it actually expires, then throws (the proxy answers `503` with the fix).
/// - After every mint a re-mint is scheduled ahead of expiry (with jitter); a failed scheduled
///   re-mint is retried with backoff (1 s doubling to 30 s) for as long as the session runs, so
///   service resumes by itself when the issuer comes back.
/// - Tokens live only here. `stop()` drops them.
///
/// `now` and `sleep` are the clock port: tests move time by hand (laptop sleep, expiry).
public actor TokenBroker: TenantTokenSource {
  /// Why a token was minted, for events and the audit log.
  public enum MintReason: String, Sendable {
    case initial, scheduled, expired, rejected
    case tenantSwitch = "tenant_switch"
  }

  public enum Event: Sendable {
    case minted(TenantSessionToken, reason: MintReason)
    case mintFailed(tenant: TenantID, error: any Error & Sendable, retryIn: Duration?)
    case switched(from: TenantID, to: TenantID, generation: UInt64)
    /// `elevate` handed over a token for `elevation.tenant` (SPEC §10).
    case elevated(Elevation)
    /// The elevated token is no longer used.
    case elevationEnded(ElevationState.Ended)
  }

  /// What `status` shows; no token.
  public struct Snapshot: Sendable, Equatable {
    public var tenant: TenantID
    public var generation: UInt64
    public var expiresAt: Date?
    public var mints: Int
    public var lastFailure: String?
    /// The elevation in use, if any (no token).
    public var elevation: ElevationSummary?
  }

  public let profile: String
  private let settings: SessionSettings
  private let login: LoginSession
  private let minter: (any SessionTokenMinter)?
  private let policy: TokenLifetimePolicy
  private let now: @Sendable () -> Date
  private let sleep: @Sendable (Duration) async throws -> Void
  private let jitter: @Sendable () -> Double
  private let onEvent: @Sendable (Event) -> Void

  private var active: TenantID
  private var generation: UInt64 = 1
  private var current: (token: TenantSessionToken, lifetime: Duration)?
  private var inFlight: (generation: UInt64, id: UInt64, task: Task<MintedSessionToken, any Error>)?
  private var nextFlightID: UInt64 = 0
  private var scheduler: Task<Void, Never>?
  private var mints = 0
  private var lastFailure: (message: String, at: Date, error: any Error & Sendable)?
  private var stopped = false
  private var elevation = ElevationState()
  private var elevationTimer: Task<Void, Never>?

  /// A failed mint is not retried by request traffic within this interval; requests get the same
  /// error instead of hammering a failing issuer (the scheduler keeps retrying with backoff).
  private static let failureCooldown: TimeInterval = 1

  /// - Parameters:
  ///   - minter: the RFC 8693 endpoint; required for `method = "token-exchange"`.
  ///   - tenant: the first active tenant; check it with `checkAllowed` first.
  public init(
    profile: String, settings: SessionSettings, login: LoginSession, minter: (any SessionTokenMinter)?,
    tenant: TenantID, now: @escaping @Sendable () -> Date = { Date() },
    sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
    jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
    onEvent: @escaping @Sendable (Event) -> Void = { _ in }
  ) {
    self.profile = profile
    self.settings = settings
    self.login = login
    self.minter = minter
    self.policy = TokenLifetimePolicy(maxTTL: settings.maxTTL)
    self.now = now
    self.sleep = sleep
    self.jitter = jitter
    self.onEvent = onEvent
    self.active = tenant
  }

  /// Refuses a tenant that the profile's `session.tenants` does not list (exit 9). An empty list
  /// leaves the decision to the issuer.
  public static func checkAllowed(_ tenant: TenantID, settings: SessionSettings, profile: String) throws(CoreError) {
    guard settings.tenants.isEmpty || settings.tenants.contains(tenant) else {
      throw CoreError(
        .accessDenied, "tenant \(tenant) is not allowed in profile \(profile)",
        fix: "use one of: \(settings.tenants.map(\.rawValue).joined(separator: ", ")) (session.tenants)")
    }
  }

  public var tenant: TenantID { active }

  public var snapshot: Snapshot {
    Snapshot(
      tenant: active, generation: generation, expiresAt: current?.token.expiresAt, mints: mints,
      lastFailure: lastFailure?.message, elevation: elevation.current.map(ElevationSummary.init))
  }

  // MARK: TenantTokenSource

  public func currentToken() async throws -> TenantSessionToken {
    if let elevated = elevatedToken() { return elevated }
    let now = self.now()
    if let current, policy.isFresh(expiresAt: current.token.expiresAt, lifetime: current.lifetime, now: now) {
      return current.token
    }
    do {
      return try await mintActive(reason: current == nil ? .initial : .expired)
    } catch {
      // The issuer is down but the token has not expired yet: keep serving it (SPEC §4).
      if let current, current.token.generation == generation, current.token.expiresAt > self.now() {
        return current.token
      }
      throw error
    }
  }

  public func replaceRejected(_ rejected: TenantSessionToken) async throws -> TenantSessionToken {
    guard rejected.generation == generation, rejected.tenant == active else {
      throw CoreError(
        .accessDenied, "the tenant changed from \(rejected.tenant) to \(active) while its token was being replaced",
        fix: "retry the request: it will carry the \(active) token")
    }
    if rejected.elevated {
      // SPEC §10: an elevated token the server refuses is dropped, never re-minted from the
      // ordinary login; the retry carries the ordinary token.
      report(elevation.rejected(rejected.token))
      return try await currentToken()
    }
    if let current, current.token.token != rejected.token { return current.token }  // already replaced
    current = nil
    lastFailure = nil
    return try await mintActive(reason: .rejected)
  }

  // MARK: Tenant switch and lifecycle

  /// Mints `tenant`'s token, then makes it the active tenant in one step: the generation moves on
  /// and the previous tenant's token is dropped. On failure nothing changes. Returns the new token;
  /// the caller then retires client connections of older generations.
  @discardableResult
  public func use(_ tenant: TenantID) async throws -> TenantSessionToken {
    try Self.checkAllowed(tenant, settings: settings, profile: profile)
    if tenant == active, let current,
      policy.isFresh(expiresAt: current.token.expiresAt, lifetime: current.lifetime, now: now())
    {
      return current.token
    }
    let minted: MintedSessionToken
    do {
      minted = try await mint(tenant)
    } catch {
      // Not recorded as the session's failure: the active tenant is unaffected.
      onEvent(.mintFailed(tenant: tenant, error: Self.sendable(error), retryIn: nil))
      throw error
    }
    let previous = active
    generation += 1
    active = tenant
    inFlight = nil
    lastFailure = nil
    let token = install(minted, reason: .tenantSwitch)
    report(elevation.tenantChanged(to: tenant))
    if previous != tenant { onEvent(.switched(from: previous, to: tenant, generation: generation)) }
    return token
  }

  /// The active tenant's token for `token --tenant T`: refuses another tenant rather than mint or
  /// hand out a token the tunnel is not serving.
  public func token(for tenant: TenantID?) async throws -> TenantSessionToken {
    if let tenant, tenant != active {
      throw CoreError(
        .accessDenied, "the tunnel serves tenant \(active), not \(tenant)",
        fix: "switch first: mcp-tunnel tenant use \(tenant)")
    }
    return try await currentToken()
  }

  /// Cancels the scheduled re-mint and drops every token.
  public func stop() {
    stopped = true
    report(elevation.end(.stopped))
    elevationTimer?.cancel()
    elevationTimer = nil
    scheduler?.cancel()
    scheduler = nil
    current = nil
    inFlight = nil
  }

  // MARK: Elevation (SPEC §10)

  /// Uses `minted`, a token minted by `mcp-tunnel elevate` from a fresh interactive login, for
  /// `tenant` until the earlier of its expiry (less the request margin) and `window`; a previous
  /// elevation ends as `replaced`. Refuses a tenant the session does not serve: an elevated token
  /// is used for its own tenant only, and `tenant use` would drop it at once anyway.
  @discardableResult
  public func elevate(
    _ tenant: TenantID, minted: MintedSessionToken, scope: [String], window: Duration
  ) throws -> Elevation {
    guard !stopped else { throw CoreError(.internalError, "the tenant session has stopped") }
    guard tenant == active else {
      throw CoreError(
        .accessDenied, "the tunnel serves tenant \(active), not \(tenant), so it cannot use an elevation for \(tenant)",
        fix: "switch first: mcp-tunnel tenant use \(tenant); then run mcp-tunnel elevate again")
    }
    let lifetime = policy.lifetime(expiresIn: minted.expiresIn)
    let usableUntil = policy.expiry(receivedAt: minted.receivedAt, expiresIn: minted.expiresIn)
      .addingTimeInterval(-TokenLifetimePolicy.seconds(policy.requestMargin(lifetime: lifetime)))
    let now = now()
    guard usableUntil > now else {
      throw CoreError(
        .identityProvider, "the elevated token for tenant \(tenant) expires before it could be used",
        fix: "check the clock, and the token lifetime the token exchange endpoint issues")
    }
    let granted = Elevation(
      tenant: tenant, token: minted.token, scope: scope, usableUntil: usableUntil,
      windowEndsAt: now.addingTimeInterval(TokenLifetimePolicy.seconds(window)))
    report(elevation.grant(granted))
    onEvent(.elevated(granted))
    scheduleElevationEnd(granted)
    return granted
  }

  /// The elevated token for the active tenant, while one is in use.
  private func elevatedToken() -> TenantSessionToken? {
    let (use, ended) = elevation.elevation(for: active, now: now())
    report(ended)
    guard let use else { return nil }
    return TenantSessionToken(
      tenant: active, token: use.token, expiresAt: use.endsAt, generation: generation, elevated: true)
  }

  private func report(_ ended: ElevationState.Ended?) {
    guard let ended else { return }
    if elevation.current == nil {
      elevationTimer?.cancel()
      elevationTimer = nil
    }
    onEvent(.elevationEnded(ended))
  }

  /// Ends `granted` at its end even when no request comes (the `elevation_ended` event is due then).
  private func scheduleElevationEnd(_ granted: Elevation) {
    elevationTimer?.cancel()
    let first = granted.endsAt.timeIntervalSince(now())
    elevationTimer = Task { [sleep] in
      var wait = first
      while !Task.isCancelled {
        do { try await sleep(.due(in: wait)) } catch { return }
        guard let left = await self.elevationTick(granted) else { return }
        wait = left
      }
    }
  }

  /// nil: `granted` is over (ended now or earlier); else the seconds it has left.
  private func elevationTick(_ granted: Elevation) -> TimeInterval? {
    guard elevation.current == granted else { return nil }
    let now = now()
    if let ended = elevation.tick(now: now) {
      onEvent(.elevationEnded(ended))
      return nil
    }
    return granted.endsAt.timeIntervalSince(now)
  }

  // MARK: Minting

  private func mintActive(reason: MintReason, retryIn: Duration? = nil) async throws -> TenantSessionToken {
    guard !stopped else { throw CoreError(.internalError, "the tenant session has stopped") }
    if let failure = lastFailure, now().timeIntervalSince(failure.at) < Self.failureCooldown {
      throw failure.error
    }
    let flightGeneration = generation
    let task: Task<MintedSessionToken, any Error>
    let id: UInt64
    if let flight = inFlight, flight.generation == flightGeneration {
      task = flight.task
      id = flight.id
    } else {
      let tenant = active
      nextFlightID += 1
      id = nextFlightID
      task = Task { try await self.mint(tenant) }
      inFlight = (flightGeneration, id, task)
    }
    let minted: MintedSessionToken
    do {
      minted = try await task.value
    } catch {
      if inFlight?.id == id {
        inFlight = nil
        let failure = Self.sendable(error)
        lastFailure = ("\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)", now(), failure)
        onEvent(.mintFailed(tenant: active, error: failure, retryIn: retryIn))
      }
      throw error
    }
    guard flightGeneration == generation else {
      throw CoreError(
        .accessDenied, "the tenant changed to \(active) while a token was being minted",
        fix: "retry the request: it will carry the \(active) token")
    }
    if inFlight?.id == id {
      inFlight = nil
      lastFailure = nil
      return install(minted, reason: reason)
    }
    // Another caller of the same flight installed it already.
    return current?.token ?? install(minted, reason: reason)
  }

  /// Asks the issuer for `tenant`'s token: RFC 8693 exchange of a fresh IdP access token, retried
  /// once with a newly refreshed one when the subject token is refused (TX-08); or an RFC 8707
  /// refresh carrying the tenant's resource.
  private func mint(_ tenant: TenantID) async throws -> MintedSessionToken {
    let request = SessionTokenRequest(tenant: tenant, settings: settings)
    switch settings.method {
    case .resourceRefresh:
      let tokens = try await login.refresh(resource: request.resource)
      return MintedSessionToken(
        token: tokens.accessToken, expiresIn: tokens.expiresIn, receivedAt: tokens.receivedAt, scope: tokens.scope)
    case .tokenExchange:
      guard let minter else {
        throw CoreError(.internalError, "session.method is token-exchange but no token-exchange endpoint was set up")
      }
      let subject = try await login.accessToken(now: now())
      if case .minted(let minted) = try await minter.exchange(request, subjectToken: subject.accessToken) {
        return minted
      }
      let refreshed = try await login.refresh(resource: nil)
      switch try await minter.exchange(request, subjectToken: refreshed.accessToken) {
      case .minted(let minted):
        return minted
      case .subjectTokenRejected(let reason):
        throw CoreError(
          .accessDenied,
          "the token exchange endpoint refused a freshly refreshed login for tenant \(tenant) (\(reason))",
          fix: "check session.endpoint: it must accept access tokens issued by idp.issuer")
      }
    }
  }

  private func install(_ minted: MintedSessionToken, reason: MintReason) -> TenantSessionToken {
    let lifetime = policy.lifetime(expiresIn: minted.expiresIn)
    let token = TenantSessionToken(
      tenant: active, token: minted.token,
      expiresAt: policy.expiry(receivedAt: minted.receivedAt, expiresIn: minted.expiresIn), generation: generation)
    current = (token, lifetime)
    mints += 1
    schedule(after: token, lifetime: lifetime)
    onEvent(.minted(token, reason: reason))
    return token
  }

  private static func sendable(_ error: any Error) -> any Error & Sendable {
    (error as? any UserFacingError & Sendable) ?? CoreError(.internalError, String(describing: error))
  }

  private func schedule(after token: TenantSessionToken, lifetime: Duration) {
    scheduler?.cancel()
    guard !stopped else { return }
    let due = policy.remintDate(expiresAt: token.expiresAt, lifetime: lifetime, jitter: jitter())
    let delay = Duration.seconds(max(0, due.timeIntervalSince(now())))
    let generation = token.generation
    scheduler = Task { [sleep] in
      var wait = delay
      var backoff = Duration.seconds(1)
      while !Task.isCancelled {
        do { try await sleep(wait) } catch { return }
        if Task.isCancelled { return }
        guard await self.remintOnSchedule(generation: generation, retryIn: backoff) else { return }
        wait = backoff
        backoff = min(backoff * 2, .seconds(30))
      }
    }
  }

  /// true: failed, try again later. false: done (re-minted, whose install scheduled the next one,
  /// or the session moved on).
  private func remintOnSchedule(generation scheduled: UInt64, retryIn: Duration) async -> Bool {
    guard !stopped, scheduled == generation else { return false }
    lastFailure = nil  // the scheduler is the retry mechanism: never blocked by the cooldown
    do {
      _ = try await mintActive(reason: .scheduled, retryIn: retryIn)
      return false
    } catch {
      return !stopped && scheduled == generation
    }
  }
}
