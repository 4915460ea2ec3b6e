import Foundation
import MCPTunnelTestSupport
import Synchronization
import Testing
import TunnelCore

/// A clock the test moves by hand (the clock port of `TokenBroker`).
final class ManualClock: Sendable {
  private let date = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
  var now: Date { date.withLock { $0 } }
  func advance(_ seconds: TimeInterval) { date.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// A sleep that records what the broker asked for and returns only when the test releases it.
final class GatedSleeper: Sendable {
  private let state = Mutex<(requested: [Duration], waiters: [CheckedContinuation<Void, Never>])>(([], []))

  var requested: [Duration] { state.withLock { $0.requested } }

  func sleep(_ duration: Duration) async throws {
    await withCheckedContinuation { continuation in
      state.withLock {
        $0.requested.append(duration)
        $0.waiters.append(continuation)
      }
    }
    try Task.checkCancellation()
  }

  /// Lets every pending sleep return.
  func release() {
    let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
      defer { s.waiters = [] }
      return s.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Waits until the broker has asked for `count` sleeps in total.
  func waitForRequests(_ count: Int) async throws {
    for _ in 0..<500 where state.withLock({ $0.requested.count }) < count {
      try await Task.sleep(for: .milliseconds(2))
    }
  }
}

final class EventLog: Sendable {
  private let events = Mutex<[TokenBroker.Event]>([])
  func append(_ event: TokenBroker.Event) { events.withLock { $0.append(event) } }
  var mintReasons: [TokenBroker.MintReason] {
    events.withLock {
      $0.compactMap {
        if case .minted(_, let reason) = $0 { return reason }
        return nil
      }
    }
  }
  var switches: [(TenantID, TenantID)] {
    events.withLock {
      $0.compactMap {
        if case .switched(let from, let to, _) = $0 { return (from, to) }
        return nil
      }
    }
  }
}

/// `TokenBroker` over twins (SPEC §4; STANDARDS TX-01..08/13, USE-05/09).
@Suite("TokenBroker: minting, lifetime, re-mint, tenant switch")
struct TokenBrokerTests {
  let acme = TenantID("acme")!
  let globex = TenantID("globex")!
  let key = StoredLoginKey(profile: "lab", issuer: "https://idp.example.test", clientID: "mcp-tunnel")
  let store = InMemorySecretStore()
  let idp = InMemoryIdentityProvider()
  let clock = ManualClock()
  let sleeper = GatedSleeper()
  let events = EventLog()

  func settings(
    method: SessionMethod = .tokenExchange, maxTTL: Duration = .seconds(900), tenants: [String] = ["acme", "globex"]
  ) -> SessionSettings {
    SessionSettings(
      method: method, resource: TenantTemplate("https://mcp.example.test/t/{tenant}/mcp"),
      audience: TenantTemplate("mcp-{tenant}"), scope: TenantTemplate("mcp tenant:{tenant}"), maxTTL: maxTTL,
      tenants: tenants.compactMap(TenantID.init), defaultTenant: TenantID("acme"))
  }

  func broker(
    _ settings: SessionSettings, minter: InMemorySessionTokenMinter?, loggedIn: Bool = true, jitter: Double = 0
  ) throws -> TokenBroker {
    if loggedIn { try store.store(StoredLogin(subject: "dev1", refreshToken: idp.issueRefreshToken()), for: key) }
    let login = LoginSession(key: key, store: store, provider: idp, lock: InMemoryCrossProcessLock())
    let clock = self.clock
    let sleeper = self.sleeper
    let events = self.events
    return TokenBroker(
      profile: "lab", settings: settings, login: login, minter: minter, tenant: acme, now: { clock.now },
      sleep: { try await sleeper.sleep($0) }, jitter: { jitter }, onEvent: { events.append($0) })
  }

  func minter(expiresIn: Duration? = .seconds(300)) -> InMemorySessionTokenMinter {
    let clock = self.clock
    return InMemorySessionTokenMinter(expiresIn: expiresIn, now: { clock.now })
  }

  // MARK: Lifetime policy

  @Test("SPEC §4: lifetime is min(expires_in, max_ttl); max_ttl when the issuer is silent")
  func lifetime() {
    let policy = TokenLifetimePolicy(maxTTL: .seconds(900))
    #expect(policy.lifetime(expiresIn: .seconds(3600)) == .seconds(900))
    #expect(policy.lifetime(expiresIn: .seconds(20)) == .seconds(20))
    #expect(policy.lifetime(expiresIn: nil) == .seconds(900))
    #expect(policy.lifetime(expiresIn: .zero) == .seconds(900))
    let t0 = Date(timeIntervalSince1970: 0)
    #expect(policy.expiry(receivedAt: t0, expiresIn: .seconds(3600)) == t0.addingTimeInterval(900))
  }

  @Test("USE-09/TX-13: re-mint about 60 s early with jitter; a 20 s token after 13–15 s")
  func remintSchedule() {
    let policy = TokenLifetimePolicy(maxTTL: .seconds(900))
    let expiry = Date(timeIntervalSince1970: 10_000)
    #expect(policy.remintDate(expiresAt: expiry, lifetime: .seconds(900), jitter: 0) == expiry.addingTimeInterval(-60))
    #expect(policy.remintDate(expiresAt: expiry, lifetime: .seconds(900), jitter: 1) == expiry.addingTimeInterval(-75))
    #expect(policy.remintDate(expiresAt: expiry, lifetime: .seconds(20), jitter: 0) == expiry.addingTimeInterval(-5))
    #expect(policy.remintDate(expiresAt: expiry, lifetime: .seconds(20), jitter: 1) == expiry.addingTimeInterval(-7))
    #expect(policy.requestMargin(lifetime: .seconds(900)) == .seconds(10))
    #expect(policy.requestMargin(lifetime: .seconds(20)) == .seconds(2))
    #expect(!policy.isFresh(expiresAt: expiry, lifetime: .seconds(20), now: expiry.addingTimeInterval(-2)))
    #expect(policy.isFresh(expiresAt: expiry, lifetime: .seconds(20), now: expiry.addingTimeInterval(-3)))
  }

  // MARK: Token exchange

  @Test("TX-01..04: the exchange carries the tenant only through resource, audience and scope templates")
  func exchangeRequest() async throws {
    let minter = minter()
    let broker = try broker(settings(), minter: minter)
    let token = try await broker.currentToken()
    #expect(token.tenant == acme)
    #expect(token.token.revealedForTransmission == "mcp-acme-1")
    #expect(token.generation == 1)
    let exchange = try #require(minter.exchanges.first)
    #expect(
      exchange.request
        == SessionTokenRequest(
          tenant: acme, resource: "https://mcp.example.test/t/acme/mcp", audience: "mcp-acme", scope: "mcp tenant:acme")
    )
    #expect(exchange.subjectToken.hasPrefix("at-"), "the subject token is the IdP access token")
    #expect(token.expiresAt == clock.now.addingTimeInterval(300))
    #expect(events.mintReasons == [.initial])
  }

  @Test("SPEC §4: a token lives min(expires_in, max_ttl) even when the issuer says longer")
  func maxTTLCaps() async throws {
    let broker = try broker(settings(maxTTL: .seconds(120)), minter: minter(expiresIn: .seconds(3600)))
    let token = try await broker.currentToken()
    #expect(token.expiresAt == clock.now.addingTimeInterval(120))
  }

  @Test("TX-13: a fresh token is reused; ten concurrent callers share one mint and one IdP refresh")
  func singleFlight() async throws {
    let minter = minter()
    minter.setDelay(.milliseconds(50))
    let broker = try broker(settings(), minter: minter)
    try await withThrowingTaskGroup(of: String.self) { group in
      for _ in 0..<10 { group.addTask { try await broker.currentToken().token.revealedForTransmission } }
      var seen = Set<String>()
      for try await value in group { seen.insert(value) }
      #expect(seen == ["mcp-acme-1"])
    }
    _ = try await broker.currentToken()
    #expect(minter.count == 1)
    #expect(idp.counters.refreshes == 1)
  }

  @Test("TX-08: invalid_request refreshes the login and retries once; a second refusal is exit 9")
  func subjectRejected() async throws {
    let minter = minter()
    minter.rejectSubject(times: 1)
    let broker = try broker(settings(), minter: minter)
    _ = try await broker.currentToken()
    #expect(minter.count == 2)
    #expect(idp.counters.refreshes == 2, "the first subject token was cached; the retry forced a refresh")
    #expect(minter.exchanges[0].subjectToken != minter.exchanges[1].subjectToken)

    let other = self.minter()
    other.rejectSubject(times: 2)
    let refused = try TokenBroker(
      profile: "lab", settings: settings(),
      login: LoginSession(key: key, store: store, provider: idp, lock: InMemoryCrossProcessLock()), minter: other,
      tenant: acme)
    do {
      _ = try await refused.currentToken()
      Issue.record("expected exit 9")
    } catch let error as CoreError {
      #expect(error.category == .accessDenied)
      #expect(error.fix?.contains("session.endpoint") == true)
    }
    #expect(other.count == 2, "exactly one retry, no loop")
  }

  @Test("SPEC §4: not logged in → login required, with the fix")
  func notLoggedIn() async throws {
    let broker = try broker(settings(), minter: minter(), loggedIn: false)
    do {
      _ = try await broker.currentToken()
      Issue.record("expected a failure")
    } catch let error as CoreError {
      #expect(error.category == .loginRequired)
      #expect(error.fix?.contains("mcp-tunnel login") == true)
    }
  }

  // MARK: Expiry, sleep, outages

  @Test("laptop sleep: a token that expired while suspended is re-minted before it is handed out")
  func expiredWhileAsleep() async throws {
    let minter = minter()
    let broker = try broker(settings(), minter: minter)
    let first = try await broker.currentToken()
    clock.advance(3600)
    let second = try await broker.currentToken()
    #expect(second.token != first.token)
    #expect(second.expiresAt > clock.now)
    #expect(minter.count == 2)
    #expect(events.mintReasons == [.initial, .expired])
  }

  @Test("a token with less than the request margin left is not sent: it is re-minted first")
  func marginRespected() async throws {
    let minter = minter(expiresIn: .seconds(20))
    let broker = try broker(settings(), minter: minter)
    let first = try await broker.currentToken()
    clock.advance(17)  // 3 s left, margin 2 s: still fresh
    #expect(try await broker.currentToken().token == first.token)
    clock.advance(1.5)  // 1.5 s left: not fresh
    #expect(try await broker.currentToken().token != first.token)
  }

  @Test("IdP down: the old token serves until it really expires, then a clear error; service resumes")
  func issuerOutage() async throws {
    let minter = minter(expiresIn: .seconds(60))
    let broker = try broker(settings(), minter: minter)
    let first = try await broker.currentToken()
    minter.setUnreachable(true)
    clock.advance(55)  // inside the margin, but still valid: keep serving it
    #expect(try await broker.currentToken().token == first.token)
    clock.advance(10)  // expired
    await #expect(throws: CoreError.self) { try await broker.currentToken() }
    minter.setUnreachable(false)
    clock.advance(2)  // past the failure cooldown
    let healed = try await broker.currentToken()
    #expect(healed.token != first.token)
    #expect(await broker.snapshot.lastFailure == nil)
  }

  // MARK: Scheduled re-mint

  @Test("USE-09: after a mint, a re-mint is scheduled ahead of expiry and runs without any request")
  func scheduledRemint() async throws {
    let minter = minter(expiresIn: .seconds(20))
    let broker = try broker(settings(), minter: minter)
    _ = try await broker.currentToken()
    try await sleeper.waitForRequests(1)
    #expect(sleeper.requested.first == .seconds(15), "20 s token, lead 5 s, no jitter")
    clock.advance(15)
    sleeper.release()
    try await sleeper.waitForRequests(2)
    #expect(minter.count == 2)
    #expect(events.mintReasons == [.initial, .scheduled])
    await broker.stop()
    sleeper.release()
  }

  @Test("a failed scheduled re-mint is retried with backoff 1 s, 2 s, …")
  func scheduledRetryBackoff() async throws {
    let minter = minter(expiresIn: .seconds(20))
    let broker = try broker(settings(), minter: minter)
    _ = try await broker.currentToken()
    try await sleeper.waitForRequests(1)
    minter.setUnreachable(true)
    sleeper.release()
    try await sleeper.waitForRequests(2)
    sleeper.release()
    try await sleeper.waitForRequests(3)
    #expect(Array(sleeper.requested.dropFirst()) == [.seconds(1), .seconds(2)])
    minter.setUnreachable(false)
    sleeper.release()
    try await sleeper.waitForRequests(4)
    #expect(events.mintReasons == [.initial, .scheduled])
    await broker.stop()
    sleeper.release()
  }

  // MARK: 401 and tenant switch

  @Test("USE-05: a rejected token is replaced once; a stale generation is refused")
  func replaceRejected() async throws {
    let minter = minter()
    let broker = try broker(settings(), minter: minter)
    let first = try await broker.currentToken()
    let replaced = try await broker.replaceRejected(first)
    #expect(replaced.token != first.token)
    #expect(replaced.generation == first.generation)
    #expect(try await broker.replaceRejected(first).token == replaced.token, "two 401s for the same token: one re-mint")
    #expect(minter.count == 2)
    _ = try await broker.use(globex)
    await #expect(throws: CoreError.self) { try await broker.replaceRejected(replaced) }
  }

  @Test("SPEC §4: tenant use mints first, then swaps: new generation, old token dropped")
  func tenantSwitch() async throws {
    let minter = minter()
    let broker = try broker(settings(), minter: minter)
    let acmeToken = try await broker.currentToken()
    let globexToken = try await broker.use(globex)
    #expect(globexToken.tenant == globex)
    #expect(globexToken.generation == acmeToken.generation + 1)
    #expect(minter.exchanges.last?.request.resource == "https://mcp.example.test/t/globex/mcp")
    let current = try await broker.currentToken()
    #expect(current.token == globexToken.token)
    #expect(events.switches.map { "\($0.0)->\($0.1)" } == ["acme->globex"])
    await #expect(throws: CoreError.self) { try await broker.token(for: acme) }
    #expect(try await broker.token(for: globex).token == globexToken.token)
  }

  @Test("SPEC §4: a refused switch changes nothing; a tenant outside session.tenants is exit 9 without a mint")
  func refusedSwitch() async throws {
    let minter = minter()
    minter.refuse(globex)
    let broker = try broker(settings(tenants: ["acme", "globex"]), minter: minter)
    let acmeToken = try await broker.currentToken()
    await #expect(throws: CoreError.self) { try await broker.use(globex) }
    #expect(try await broker.currentToken() == acmeToken)
    let before = minter.count
    do {
      try await broker.use(TenantID("initech")!)
      Issue.record("expected exit 9")
    } catch let error as CoreError {
      #expect(error.category == .accessDenied)
      #expect(error.fix?.contains("acme, globex") == true)
    }
    #expect(minter.count == before)
  }

  @Test("a mint of the old tenant that finishes after a switch is never handed out")
  func lateMintDiscarded() async throws {
    let minter = minter()
    let broker = try broker(settings(), minter: minter)
    minter.hold(acme)
    let slow = Task { try await broker.currentToken() }
    await minter.heldExchangeStarted(for: acme)  // acme's mint is under way…
    let globexToken = try await broker.use(globex)  // …when the switch to globex completes
    minter.release(acme)
    // The late acme token is dropped; the caller gets the token now active, never acme's.
    #expect(try await slow.value.token == globexToken.token)
    #expect(try await broker.currentToken().token == globexToken.token)
  }

  // MARK: resource-refresh

  @Test("RFC 8707 resource-refresh: the tenant token is a refresh carrying the tenant's resource")
  func resourceRefresh() async throws {
    let broker = try broker(settings(method: .resourceRefresh), minter: nil)
    let token = try await broker.currentToken()
    #expect(token.tenant == acme)
    #expect(idp.refreshResources == ["https://mcp.example.test/t/acme/mcp"])
    _ = try await broker.use(globex)
    #expect(idp.refreshResources.last == "https://mcp.example.test/t/globex/mcp")
  }
}
