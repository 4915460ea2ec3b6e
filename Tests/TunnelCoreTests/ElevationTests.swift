import Foundation
import MCPTunnelTestSupport
import Synchronization
import Testing
import TunnelCore

/// `mcp-tunnel elevate` in `up` (SPEC §10): the elevation state as a value, the broker using an
/// elevated token for one tenant until the earlier of its expiry and its window, and the plan of
/// the step-up login (scope union, prompt/max_age/acr_values, granted-scope check).
@Suite("Elevation: state, broker, login plan")
struct ElevationTests {
  let acme = TenantID("acme")!
  let globex = TenantID("globex")!
  let t0 = Date(timeIntervalSince1970: 1_800_000_000)

  func elevation(
    _ tenant: TenantID, token: String = "elevated-1", usable: TimeInterval = 300, window: TimeInterval = 60
  ) -> Elevation {
    Elevation(
      tenant: tenant, token: AccessToken(revealing: token), scope: ["mcp", "mcp-admin"],
      usableUntil: t0.addingTimeInterval(usable), windowEndsAt: t0.addingTimeInterval(window))
  }

  // MARK: ElevationState

  @Test("the elevation is used for its own tenant only, and ends at the earlier of expiry and window")
  func stateTenantAndEnd() {
    var state = ElevationState()
    #expect(state.grant(elevation(acme, window: 60)) == nil)
    #expect(state.elevation(for: globex, now: t0).use == nil, "never for another tenant")
    #expect(state.elevation(for: acme, now: t0.addingTimeInterval(59)).use?.tenant == acme)
    let (use, ended) = state.elevation(for: acme, now: t0.addingTimeInterval(60))
    #expect(use == nil)
    #expect(ended?.reason == .window)
    #expect(state.current == nil)

    var expiring = ElevationState()
    _ = expiring.grant(elevation(acme, usable: 30, window: 300))
    #expect(expiring.tick(now: t0.addingTimeInterval(29)) == nil)
    #expect(expiring.tick(now: t0.addingTimeInterval(30))?.reason == .expired)
  }

  @Test("a tenant switch, a rejection of its token and a newer grant end it at once; nothing brings it back")
  func stateEndings() {
    var state = ElevationState()
    _ = state.grant(elevation(acme))
    #expect(state.tenantChanged(to: acme) == nil, "the same tenant keeps it")
    #expect(state.tenantChanged(to: globex)?.reason == .tenantSwitch)
    #expect(state.tenantChanged(to: acme) == nil)
    #expect(state.elevation(for: acme, now: t0).use == nil)

    _ = state.grant(elevation(acme, token: "one"))
    let replaced = state.grant(elevation(acme, token: "two"))
    #expect(replaced?.reason == .replaced)
    #expect(replaced?.elevation.token == AccessToken(revealing: "one"))
    #expect(state.rejected(AccessToken(revealing: "one")) == nil, "an older token's rejection changes nothing")
    #expect(state.rejected(AccessToken(revealing: "two"))?.reason == .rejected)
    #expect(state.current == nil)
  }

  // MARK: TokenBroker

  final class Events: Sendable {
    private let list = Mutex<[TokenBroker.Event]>([])
    func append(_ event: TokenBroker.Event) { list.withLock { $0.append(event) } }
    var elevated: [Elevation] {
      list.withLock {
        $0.compactMap {
          if case .elevated(let e) = $0 { return e }
          return nil
        }
      }
    }
    var ended: [ElevationEndReason] {
      list.withLock {
        $0.compactMap {
          if case .elevationEnded(let e) = $0 { return e.reason }
          return nil
        }
      }
    }
  }

  struct Rig {
    let clock = ManualClock()
    let sleeper = GatedSleeper()
    let events = Events()
    let broker: TokenBroker

    init() throws {
      let key = StoredLoginKey(profile: "lab", issuer: "https://idp.example.test", clientID: "mcp-tunnel")
      let store = InMemorySecretStore()
      let idp = InMemoryIdentityProvider()
      try store.store(StoredLogin(subject: "dev1", refreshToken: idp.issueRefreshToken()), for: key)
      let login = LoginSession(key: key, store: store, provider: idp, lock: InMemoryCrossProcessLock())
      let clock = clock
      let sleeper = sleeper
      let events = events
      let settings = SessionSettings(
        resource: TenantTemplate("https://mcp.example.test/t/{tenant}/mcp"), scope: TenantTemplate("mcp"),
        tenants: [TenantID("acme")!, TenantID("globex")!], defaultTenant: TenantID("acme"))
      broker = TokenBroker(
        profile: "lab", settings: settings, login: login,
        minter: InMemorySessionTokenMinter(expiresIn: .seconds(300), now: { clock.now }), tenant: TenantID("acme")!,
        now: { clock.now }, sleep: { try await sleeper.sleep($0) }, jitter: { 0 }, onEvent: { events.append($0) })
    }

    func elevate(_ tenant: TenantID, expiresIn: Duration = .seconds(300), window: Duration) async throws -> Elevation {
      try await broker.elevate(
        tenant,
        minted: MintedSessionToken(
          token: AccessToken(revealing: "elevated-\(tenant)"), expiresIn: expiresIn, receivedAt: clock.now,
          scope: "mcp mcp-admin"),
        scope: ["mcp", "mcp-admin"], window: window)
    }
  }

  @Test("up hands out the elevated token for its tenant, flagged elevated, and the ordinary one after the window")
  func brokerWindow() async throws {
    let rig = try Rig()
    let ordinary = try await rig.broker.currentToken()
    #expect(!ordinary.elevated)
    let granted = try await rig.elevate(acme, window: .seconds(3))
    #expect(granted.endsAt == rig.clock.now.addingTimeInterval(3))
    #expect(rig.events.elevated.map(\.tenant) == [acme])
    let elevated = try await rig.broker.currentToken()
    #expect(elevated.elevated)
    #expect(elevated.token == AccessToken(revealing: "elevated-acme"))
    #expect(elevated.generation == ordinary.generation)
    #expect(await rig.broker.snapshot.elevation?.scope == ["mcp", "mcp-admin"])

    // The window ends on the broker's own timer, with no request needed.
    rig.clock.advance(3)
    try await rig.sleeper.waitForRequests(2)  // the re-mint schedule and the elevation timer
    rig.sleeper.release()
    try await waitFor { rig.events.ended == [.window] }
    let after = try await rig.broker.currentToken()
    #expect(!after.elevated)
    #expect(after.token != elevated.token)
    #expect(await rig.broker.snapshot.elevation == nil)
  }

  @Test("the token's own expiry (less the request margin) ends it before a longer window")
  func brokerExpiry() async throws {
    let rig = try Rig()
    _ = try await rig.broker.currentToken()
    let granted = try await rig.elevate(acme, expiresIn: .seconds(20), window: .seconds(300))
    #expect(granted.endsAt == rig.clock.now.addingTimeInterval(18), "20 s less the 2 s request margin")
    rig.clock.advance(18)
    #expect(!(try await rig.broker.currentToken()).elevated)
    #expect(rig.events.ended == [.expired])
  }

  @Test("a tenant switch drops the elevation at once; switching back does not bring it back")
  func brokerTenantSwitch() async throws {
    let rig = try Rig()
    _ = try await rig.broker.currentToken()
    _ = try await rig.elevate(acme, window: .seconds(300))
    let globexToken = try await rig.broker.use(globex)
    #expect(!globexToken.elevated)
    #expect(rig.events.ended == [.tenantSwitch])
    #expect(!(try await rig.broker.currentToken()).elevated)
    _ = try await rig.broker.use(acme)
    #expect(!(try await rig.broker.currentToken()).elevated)
  }

  @Test("an elevation for a tenant the session does not serve is refused, before anything changes")
  func brokerOtherTenant() async throws {
    let rig = try Rig()
    _ = try await rig.broker.currentToken()
    let error = await #expect(throws: CoreError.self) { try await rig.elevate(globex, window: .seconds(60)) }
    #expect(error?.category == .accessDenied)
    #expect(error?.fix?.contains("mcp-tunnel tenant use globex") == true)
    #expect(rig.events.elevated.isEmpty)
  }

  @Test("401 invalid_token for the elevated token drops it; the retry carries the ordinary token, not a re-mint")
  func brokerRejected() async throws {
    let rig = try Rig()
    let ordinary = try await rig.broker.currentToken()
    _ = try await rig.elevate(acme, window: .seconds(300))
    let elevated = try await rig.broker.currentToken()
    let retry = try await rig.broker.replaceRejected(elevated)
    #expect(!retry.elevated)
    #expect(retry.token == ordinary.token)
    #expect(rig.events.ended == [.rejected])
  }

  @Test("a second elevate replaces the first")
  func brokerReplaced() async throws {
    let rig = try Rig()
    _ = try await rig.broker.currentToken()
    _ = try await rig.elevate(acme, window: .seconds(300))
    _ = try await rig.elevate(acme, window: .seconds(60))
    #expect(rig.events.ended == [.replaced])
    #expect((try await rig.broker.currentToken()).elevated)
  }

  // MARK: ElevationPlan

  @Test("the login asks for idp.scopes ∪ challenge ∪ --scope, with prompt=login, max_age and acr_values")
  func planParameters() {
    let challenge = StepUpChallenge(
      kind: .insufficientUserAuthentication, status: 401, scopes: ["mcp-admin"], acrValues: ["phr", "mfa"], maxAge: 5)
    let plan = ElevationPlan(
      tenant: acme, idpScopes: ["openid", "offline_access", "mcp"], sessionScope: "mcp", challenge: challenge,
      requested: ["mcp-admin audit:read", "mcp"])
    #expect(plan.login.scopes == ["openid", "offline_access", "mcp", "mcp-admin", "audit:read"])
    #expect(plan.stepUpScopes == ["mcp-admin", "audit:read", "mcp"])
    #expect(plan.tenantScope == "mcp mcp-admin audit:read")
    #expect(!plan.login.requireRefreshToken, "the elevated refresh token is never kept")
    #expect(
      plan.login.authorizationParameters.map { "\($0.name)=\($0.value)" } == [
        "prompt=login", "max_age=5", "acr_values=phr mfa",
      ])
  }

  @Test("max_age 0 is not sent (glewlwyd rejects it): prompt=login asks for the same")
  func planMaxAgeZero() {
    let plan = ElevationPlan(
      tenant: acme, idpScopes: ["openid"], sessionScope: nil,
      challenge: StepUpChallenge(kind: .insufficientUserAuthentication, status: 401, maxAge: 0), requested: [])
    #expect(plan.login.authorizationParameters.map(\.name) == ["prompt"])
    #expect(plan.tenantScope == nil)
  }

  @Test("a step-up scope missing from the granted scope fails with exit 9; no scope in the response is a grant")
  func planGrantedCheck() throws {
    let plan = ElevationPlan(
      tenant: acme, idpScopes: ["openid", "offline_access"], sessionScope: "mcp",
      challenge: StepUpChallenge(kind: .insufficientScope, status: 403, scopes: ["mcp-admin"]), requested: [])
    try plan.checkGranted("openid mcp mcp-admin offline_access")
    try plan.checkGranted(nil)
    try plan.checkGranted("openid mcp-admin")  // base scopes are not the step-up's business
    let error = #expect(throws: CoreError.self) { try plan.checkGranted("openid mcp offline_access") }
    #expect(error?.category == .accessDenied)
    #expect(error?.summary.contains("did not grant mcp-admin") == true)
  }
}

/// Waits (with a generous deadline that only turns a hang into a failure) until `condition` holds.
private func waitFor(_ condition: @Sendable () -> Bool) async throws {
  let deadline = ContinuousClock.now + .seconds(120)
  while !condition() {
    guard ContinuousClock.now < deadline else {
      Issue.record("the condition did not come true")
      return
    }
    try await Task.sleep(for: .milliseconds(2))
  }
}
