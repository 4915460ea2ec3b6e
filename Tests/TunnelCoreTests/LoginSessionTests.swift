import Foundation
import MCPTunnelTestSupport
import Synchronization
import Testing
import TunnelCore

/// Refresh rotation, single flight and logout over the in-memory twins (STANDARDS RT, RV; §4.10).
@Suite("LoginSession: refresh rotation and logout")
struct LoginSessionTests {
  let key = StoredLoginKey(profile: "lab", issuer: "https://idp.example.test", clientID: "mcp-tunnel")
  let store = InMemorySecretStore()
  let idp = InMemoryIdentityProvider()
  let lock = InMemoryCrossProcessLock()

  func loggedIn() throws -> LoginSession {
    try store.store(StoredLogin(subject: "dev1", refreshToken: idp.issueRefreshToken()), for: key)
    return LoginSession(key: key, store: store, provider: idp, lock: lock)
  }

  /// A store that records the order of writes relative to refresh results being handed out.
  @Test("RT-03: the rotated refresh token is stored before the new access token is returned")
  func rotationStoredFirst() async throws {
    let session = try loggedIn()
    let before = try #require(try store.load(key)).refreshToken
    let tokens = try await session.refresh(resource: nil)
    let after = try #require(try store.load(key)).refreshToken
    #expect(after != before)
    #expect(after == tokens.refreshToken, "the keyring holds the rotated token by the time the caller sees it")
    _ = try await session.refresh(resource: nil)
    #expect(idp.counters.refreshes == 2, "the rotated token was used for the next refresh and accepted")
  }

  @Test("RT-04: ten concurrent callers share exactly one refresh")
  func singleFlight() async throws {
    let session = try loggedIn()
    idp.setRefreshDelay(.milliseconds(100))
    try await withThrowingTaskGroup(of: AccessToken.self) { group in
      for _ in 0..<10 { group.addTask { try await session.accessToken().accessToken } }
      var seen = Set<AccessToken>()
      for try await token in group { seen.insert(token) }
      #expect(seen.count == 1)
    }
    #expect(idp.counters.refreshes == 1)
    #expect(lock.acquisitions == 1)
  }

  @Test("RT-04: two sessions (two 'processes') serialise on the lock and both end logged in")
  func twoSessionsShareTheLock() async throws {
    _ = try loggedIn()
    idp.setRefreshDelay(.milliseconds(50))
    let a = LoginSession(key: key, store: store, provider: idp, lock: lock)
    let b = LoginSession(key: key, store: store, provider: idp, lock: lock)
    async let first = a.refresh(resource: nil)
    async let second = b.refresh(resource: nil)
    _ = try await (first, second)
    #expect(try store.load(key) != nil)
    #expect(idp.counters.refreshes == 2)
  }

  @Test("RT-05: invalid_grant deletes the entry, makes no second attempt, and asks for login (exit 3)")
  func invalidGrant() async throws {
    let dead = idp.issueRefreshToken()
    _ = try await idp.refresh(dead, resource: nil)  // used once elsewhere: now a replay
    try store.store(StoredLogin(subject: "dev1", refreshToken: dead), for: key)
    let session = LoginSession(key: key, store: store, provider: idp, lock: lock)
    let refreshesBefore = idp.counters.refreshes
    do {
      _ = try await session.refresh(resource: nil)
      Issue.record("refresh with a dead token succeeded")
    } catch let error as CoreError {
      #expect(error.category == .loginRequired)
      #expect(error.fix?.contains("mcp-tunnel login") == true)
    }
    #expect(idp.counters.refreshes == refreshesBefore + 1)
    #expect(try store.load(key) == nil)
  }

  @Test("RT-05/SPEC §4: on invalid_grant the keyring is re-read once; a token rotated elsewhere is used")
  func rereadAfterInvalidGrant() async throws {
    idp.setKillChainOnReuse(false)
    let stale = idp.issueRefreshToken()
    let fresh = idp.issueRefreshToken()
    _ = try await idp.refresh(stale, resource: nil)  // spent by "another process"
    try store.store(StoredLogin(subject: "dev1", refreshToken: fresh), for: key)
    // Our first read still saw the stale token; the store now holds the one rotated elsewhere.
    let racing = RacingStore(inner: store, key: key, staleFirst: StoredLogin(subject: "dev1", refreshToken: stale))
    let session = LoginSession(key: key, store: racing, provider: idp, lock: lock)
    let tokens = try await session.refresh(resource: nil)
    #expect(racing.loads == 2, "exactly one re-read")
    #expect(try store.load(key)?.refreshToken == tokens.refreshToken)
  }

  @Test("RV-01/RV-05: logout revokes, then deletes the entry; a failed revocation still wipes it")
  func logout() async throws {
    let session = try loggedIn()
    #expect(try await session.logout() == .revoked)
    #expect(try store.load(key) == nil)
    #expect(idp.counters.revocations == 1)

    idp.setRevocationOutcome(.failed(reason: "HTTP 503"))
    let again = try loggedIn()
    #expect(try await again.logout() == .failed(reason: "HTTP 503"))
    #expect(try store.load(key) == nil, "RV-05: local state is wiped whatever the IdP said")
    #expect(try await again.logout() == nil, "logging out twice is not an error")
  }

  @Test("RV-01: an IdP that wants a Bearer gets the rotated token revoked with a fresh access token")
  func bearerRevocation() async throws {
    idp.setRevocationNeedsAccessToken(true)
    let session = try loggedIn()
    let stored = try #require(try store.load(key)).refreshToken
    #expect(try await session.logout() == .revoked)
    #expect(idp.counters.refreshes == 1)
    let revoked = try #require(idp.revokedTokens.last)
    #expect(revoked != stored.revealedForTransmission, "the token revoked is the one the refresh rotated to")
  }

  @Test("a locked keyring is an error, never 'logged out'")
  func lockedKeyring() async throws {
    let session = try loggedIn()
    store.makeUnavailable(CoreError(.keyringUnavailable, "locked"))
    await #expect(throws: CoreError.self) { try await session.currentLogin() }
    await #expect(throws: CoreError.self) { try await session.refresh(resource: nil) }
  }

  @Test("--no-store: the login lives in memory and rotates there; the store is never touched")
  func memoryOnly() async throws {
    let session = LoginSession(
      key: key, store: store, provider: idp, lock: lock,
      memoryLogin: StoredLogin(subject: "dev1", refreshToken: idp.issueRefreshToken()))
    _ = try await session.refresh(resource: nil)
    _ = try await session.refresh(resource: nil)
    #expect(try store.load(key) == nil)
    #expect(idp.counters.refreshes == 2)
  }
}

/// Returns a stale login on the first load, then the real one: "another process rotated it".
final class RacingStore: SecretStore {
  let inner: InMemorySecretStore
  let key: StoredLoginKey
  private let state: Mutex<(stale: StoredLogin?, loads: Int)>

  init(inner: InMemorySecretStore, key: StoredLoginKey, staleFirst: StoredLogin) {
    self.inner = inner
    self.key = key
    state = Mutex((staleFirst, 0))
  }

  var loads: Int { state.withLock { $0.loads } }
  var backendName: String { "racing" }
  func checkAvailable() throws {}
  func store(_ login: StoredLogin, for key: StoredLoginKey) throws { try inner.store(login, for: key) }
  func load(_ key: StoredLoginKey) throws -> StoredLogin? {
    let stale = state.withLock { s -> StoredLogin? in
      s.loads += 1
      defer { s.stale = nil }
      return s.stale
    }
    return try stale ?? inner.load(key)
  }
  func delete(_ key: StoredLoginKey) throws -> Bool { try inner.delete(key) }
}
