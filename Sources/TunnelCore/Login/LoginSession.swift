import Foundation

/// The logged-in state of one profile: turns the stored refresh token into fresh IdP access tokens,
/// rotating the refresh token safely, and logs out.
///
/// Invariants (STANDARDS RT-03/04/05, SPEC §4):
/// - Refreshes are single-flight: in this process through the actor and one shared task, across
///   processes through `lock`, inside which the keyring is read, the IdP asked, and a rotated
///   refresh token written back **before** the new access token is handed to anyone.
/// - On a refusal for good (`.loginRequired` from the IdP), the keyring is re-read once in case a
///   process that does not share our lock rotated it; if the entry is unchanged it is deleted and
///   the caller gets `.loginRequired` ("run mcp-tunnel login").
/// - With `--no-store` the refresh token lives only in `memoryLogin`, never in the store.
/// - Every `store` call runs off the cooperative pool (`runOffPool`): the live store is libsecret's
///   sync API, a D-Bus round trip that may wait seconds for a busy Secret Service, and in `up`
///   that wait would stall the proxy's tasks.
public actor LoginSession {
  public let key: StoredLoginKey
  private let store: any SecretStore
  private let provider: any IdentityProvider
  private let lock: any CrossProcessLock
  private var memoryLogin: StoredLogin?
  /// One shared refresh per `resource` (nil is the plain refresh): a caller asking for another
  /// resource must not get a token minted for this one.
  private var inFlight: [String?: Task<IdentityTokens, any Error>] = [:]
  private var cached: IdentityTokens?
  /// How long before `expires_in` a cached access token counts as expired.
  private let margin: Duration

  public init(
    key: StoredLoginKey, store: any SecretStore, provider: any IdentityProvider, lock: any CrossProcessLock,
    memoryLogin: StoredLogin? = nil, margin: Duration = .seconds(60)
  ) {
    self.key = key
    self.store = store
    self.provider = provider
    self.lock = lock
    self.memoryLogin = memoryLogin
    self.margin = margin
  }

  /// The stored login, or nil when logged out. Throws `.keyringUnavailable` when the keyring cannot
  /// be read (never nil for a locked keyring).
  public func currentLogin() async throws -> StoredLogin? {
    if let memoryLogin { return memoryLogin }
    return try await runOffPool { [store, key] in try store.load(key) }
  }

  /// A usable IdP access token: the cached one while it has `margin` to spare, else a refresh.
  public func accessToken(now: Date = Date()) async throws -> IdentityTokens {
    if let cached, let expiry = cached.expiresAt,
      expiry.timeIntervalSince(now) > Double(margin.components.seconds)
    {
      return cached
    }
    return try await refresh(resource: nil)
  }

  /// Refreshes now (single-flight) and returns the new tokens; `resource` goes to the IdP as an
  /// RFC 8707 indicator. Concurrent callers share one refresh.
  public func refresh(resource: String?) async throws -> IdentityTokens {
    if let shared = inFlight[resource] { return try await shared.value }
    let task = Task { try await self.refreshHoldingLock(resource: resource) }
    inFlight[resource] = task
    defer { inFlight[resource] = nil }
    let tokens = try await task.value
    if resource == nil { cached = tokens }
    return tokens
  }

  private func refreshHoldingLock(resource: String?) async throws -> IdentityTokens {
    if memoryLogin != nil { return try await rotate(resource: resource, allowReread: false) }
    return try await lock.withLock { try await self.rotate(resource: resource, allowReread: true) }
  }

  private func rotate(resource: String?, allowReread: Bool) async throws -> IdentityTokens {
    guard let login = try await currentLogin() else { throw Self.notLoggedIn(key) }
    do {
      return try await refresh(login, resource: resource)
    } catch let error as any UserFacingError where error.category == .loginRequired {
      if allowReread, let reread = try await runOffPool({ [store, key] in try store.load(key) }),
        reread.refreshToken != login.refreshToken
      {
        return try await refresh(reread, resource: resource)
      }
      cached = nil
      if memoryLogin != nil {
        memoryLogin = nil
      } else {
        try await runOffPool { [store, key] in try store.delete(key) }
      }
      throw CoreError(
        .loginRequired,
        "the identity provider refused the stored login (\(error.summary)); it was revoked, expired, or used elsewhere",
        fix: "run: mcp-tunnel login\(key.profile.isEmpty ? "" : " --profile \(key.profile)")")
    }
  }

  private func refresh(_ login: StoredLogin, resource: String?) async throws -> IdentityTokens {
    let tokens = try await provider.refresh(login.refreshToken, resource: resource)
    if let rotated = tokens.refreshToken, rotated != login.refreshToken {
      let updated = StoredLogin(subject: tokens.subject ?? login.subject, refreshToken: rotated)
      if memoryLogin != nil {
        memoryLogin = updated
      } else {
        try await runOffPool { [store, key] in try store.store(updated, for: key) }
      }
    }
    return tokens
  }

  /// Revokes the refresh token at the IdP (RFC 7009), then deletes the keyring entry whatever the
  /// IdP said (RV-05). Returns nil when there was no login, else how revocation went.
  public func logout() async throws -> RevocationOutcome? {
    cached = nil
    // One keyring read, inside the lock, so a concurrent refresh cannot rotate the token away
    // between reading and revoking it.
    let outcome: RevocationOutcome? = try await lock.withLock {
      guard let login = try await self.currentLogin() else { return nil }
      return await self.revoke(login)
    }
    memoryLogin = nil
    try await runOffPool { [store, key] in try store.delete(key) }
    return outcome
  }

  private func revoke(_ login: StoredLogin) async -> RevocationOutcome {
    guard await provider.revocationNeedsAccessToken() else {
      return await provider.revoke(login.refreshToken, accessToken: nil)
    }
    // The IdP authenticates revocation with a Bearer token (glewlwyd): refresh once for an access
    // token, then revoke the refresh token that refresh rotated to.
    let tokens: IdentityTokens
    do {
      tokens = try await refresh(login, resource: nil)
    } catch let error as any UserFacingError where error.category == .loginRequired {
      return .revoked  // the IdP no longer honours it: nothing left to revoke
    } catch {
      return .failed(reason: "could not get an access token to authenticate the revocation: \(error)")
    }
    return await provider.revoke(tokens.refreshToken ?? login.refreshToken, accessToken: tokens.accessToken)
  }

  static func notLoggedIn(_ key: StoredLoginKey) -> CoreError {
    CoreError(
      .loginRequired, "not logged in to \(key.issuer) (profile \(key.profile))",
      fix: "run: mcp-tunnel login --profile \(key.profile)")
  }
}
