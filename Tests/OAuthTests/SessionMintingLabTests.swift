import Foundation
import LabSupport
import MCPTunnelTestSupport
import Synchronization
import TestTiers
import Testing
import TunnelCore

@testable import OAuth

/// `TokenBroker` minting tenant tokens from a real glewlwyd login, by both SPEC §4 methods:
/// RFC 8693 exchange at the lab's exchange fixture, and RFC 8707 resource-refresh at glewlwyd.
/// The keyring is the in-memory twin here; the peers under test (IdP, exchange endpoint) are real.
@Suite("Tenant token minting against glewlwyd and the RFC 8693 fixture", .tags(.lab), .offPool)
struct SessionMintingLabTests {
  static let resource = TenantTemplate("https://mcp.example.test/t/{tenant}/mcp")
  let acme = TenantID("acme")!
  let globex = TenantID("globex")!

  /// Logs in with the device flow (approved as the lab user) and stores the login in a twin store.
  func loggedIn(
    _ idp: IdentityProviderLab, loginResource: String? = nil
  ) async throws -> (LoginSession, OpenIDProvider) {
    let settings = IdentityProviderSettings(
      issuer: URL(string: idp.issuer)!, clientID: idp.clientID, scopes: ["openid", "mcp"],
      redirectURI: URL(string: idp.redirectURI), loginResource: loginResource)
    let provider = OpenIDProvider(settings: settings)
    let approval = Mutex<Task<Void, any Error>?>(nil)
    let tokens = try await provider.loginWithDevice { prompt in
      approval.withLock { $0 = Task { try await idp.approveDevice(userCode: prompt.userCode) } }
    }
    try await approval.withLock { $0 }?.value
    let key = StoredLoginKey(profile: "lab", issuer: idp.issuer, clientID: idp.clientID)
    let store = InMemorySecretStore()
    try store.store(
      StoredLogin(subject: tokens.subject ?? "dev1", refreshToken: try #require(tokens.refreshToken)), for: key)
    return (LoginSession(key: key, store: store, provider: provider, lock: InMemoryCrossProcessLock()), provider)
  }

  static func claims(_ token: AccessToken) throws -> [String: Any] {
    let parts = token.revealedForTransmission.split(separator: ".")
    let payload = try #require(parts.count == 3 ? Base64URL.decode(String(parts[1])) : nil)
    return try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
  }

  @Test("TX-01..07 (real fixture): exchange mints acme then globex; the fixture's tenant claim follows")
  func tokenExchange() async throws {
    let lab = try LabEnvironment.start([.tokenExchange])
    defer { lab.stop() }
    let sts = try lab.sts()
    let (login, provider) = try await loggedIn(try lab.idp())
    let settings = SessionSettings(
      method: .tokenExchange, endpoint: sts.tokenEndpoint, resource: Self.resource, maxTTL: .seconds(120),
      tenants: [acme, globex, TenantID("initech")!])
    let broker = TokenBroker(
      profile: "lab", settings: settings, login: login,
      minter: TokenExchangeClient(endpoint: sts.tokenEndpoint, provider: provider), tenant: acme)
    let acmeToken = try await broker.currentToken()
    #expect(try Self.claims(acmeToken.token)["tenant"] as? String == "acme")
    #expect(try Self.claims(acmeToken.token)["iss"] as? String == sts.issuer)
    let lifetime = acmeToken.expiresAt.timeIntervalSinceNow
    #expect(lifetime > 100 && lifetime <= 120, "min(expires_in 300, max_ttl 120)")

    let globexToken = try await broker.use(globex)
    #expect(try Self.claims(globexToken.token)["tenant"] as? String == "globex")
    #expect(globexToken.generation == acmeToken.generation + 1)

    // The fixture allows only acme and globex: initech is refused by the issuer (exit 9).
    do {
      try await broker.use(TenantID("initech")!)
      Issue.record("the fixture minted a token for a tenant it does not allow")
    } catch let error as OAuthError {
      #expect(error.category == .accessDenied)
      #expect(error.oauthError == "invalid_target")
    }
    #expect(await broker.tenant == globex, "a refused switch changes nothing")
    let log = sts.requestLog()
    #expect(log.count == 3)
    #expect(log.allSatisfy { ($0["subject_token_type"] as? String)?.hasSuffix(":access_token") ?? true })
  }

  @Test("TX-08 (real fixture): a failing exchange endpoint is an IdP error, and the broker recovers")
  func exchangeOutage() async throws {
    let lab = try LabEnvironment.start([.tokenExchange])
    defer { lab.stop() }
    let sts = try lab.sts()
    let (login, provider) = try await loggedIn(try lab.idp())
    let settings = SessionSettings(
      method: .tokenExchange, endpoint: sts.tokenEndpoint, resource: Self.resource, tenants: [acme])
    let broker = TokenBroker(
      profile: "lab", settings: settings, login: login,
      minter: TokenExchangeClient(endpoint: sts.tokenEndpoint, provider: provider), tenant: acme)
    try await sts.setMode(.fail(status: 503))
    do {
      _ = try await broker.currentToken()
      Issue.record("expected a failure")
    } catch let error as any UserFacingError {
      #expect(error.category == .identityProvider)
    }
    try await sts.setMode(.normal)
    try await Task.sleep(for: .milliseconds(1100))  // past the broker's failure cooldown
    #expect(try await broker.currentToken().tenant == acme)
  }

  @Test("RFC 8707 resource-refresh at real glewlwyd: the tenant token's aud is the tenant resource")
  func resourceRefresh() async throws {
    let lab = try LabEnvironment.start([.identityProvider])
    defer { lab.stop() }
    let acmeResource = Self.resource.expand(for: acme)
    let (login, _) = try await loggedIn(try lab.idp(), loginResource: acmeResource)
    let settings = SessionSettings(
      method: .resourceRefresh, resource: Self.resource, maxTTL: .seconds(60), tenants: [acme, globex])
    let broker = TokenBroker(profile: "lab", settings: settings, login: login, minter: nil, tenant: acme)
    let token = try await broker.currentToken()
    #expect(try Self.claims(token.token)["aud"] as? String == acmeResource)
    #expect(token.expiresAt.timeIntervalSinceNow <= 60, "max_ttl caps glewlwyd's 300 s")
    let again = try await broker.replaceRejected(token)
    #expect(again.token != token.token, "a second resource refresh (rotation) works")

    // glewlwyd binds a refresh token to the resource of its login: another tenant is refused with
    // invalid_target, which must not cost the login (the keyring entry stays, acme keeps working).
    do {
      try await broker.use(globex)
      Issue.record("glewlwyd minted another tenant's resource from an acme-bound login")
    } catch let error as any UserFacingError {
      #expect(error.category != .loginRequired)
    }
    #expect(try await login.currentLogin() != nil)
    #expect(try await broker.currentToken().tenant == acme)
  }
}
