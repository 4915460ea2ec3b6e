import Foundation
import Synchronization
import TunnelCore

/// The live `IdentityProvider`: one issuer, one public client (SPEC §3 `[idp]`), discovered lazily
/// and cached for the life of the process. Also runs the interactive logins.
public final class OpenIDProvider: IdentityProvider {
  public let settings: IdentityProviderSettings
  /// The HTTP client of everything this provider asks, shared with `TokenExchangeClient`.
  let transport: any OAuthHTTPTransport
  private let sleeper: any PollingSleeper
  private let browserTimeout: Duration
  private let cache = Mutex<(metadata: AuthorizationServerMetadata?, validator: IDTokenValidator?)>((nil, nil))

  public var issuer: String { settings.issuer.absoluteString }

  public convenience init(settings: IdentityProviderSettings, browserTimeout: Duration = .seconds(300)) {
    self.init(settings: settings, transport: AsyncHTTPClientTransport(), browserTimeout: browserTimeout)
  }

  init(
    settings: IdentityProviderSettings, transport: any OAuthHTTPTransport, sleeper: any PollingSleeper = TaskSleeper(),
    browserTimeout: Duration = .seconds(300)
  ) {
    self.settings = settings
    self.transport = transport
    self.sleeper = sleeper
    self.browserTimeout = browserTimeout
  }

  func metadata() async throws -> AuthorizationServerMetadata {
    if let cached = cache.withLock({ $0.metadata }) { return cached }
    let found = try await MetadataDiscovery(transport: transport).discover(issuer: issuer)
    cache.withLock { $0.metadata = found }
    return found
  }

  /// Runs discovery now (for `doctor`, and so `login` fails before any prompt when the IdP is wrong).
  public func checkDiscovery() async throws { _ = try await metadata() }

  private func validator(for metadata: AuthorizationServerMetadata) throws -> IDTokenValidator {
    if let existing = cache.withLock({ $0.validator }) { return existing }
    guard let jwks = metadata.jwksURI else {
      throw OAuthError(
        .identityProvider, "the identity provider returned an ID token but publishes no jwks_uri to check it",
        fix: "remove \"openid\" from idp.scopes, or ask the IdP administrator to publish jwks_uri")
    }
    let created = IDTokenValidator(issuer: issuer, clientID: settings.clientID, jwksURI: jwks, transport: transport)
    cache.withLock { $0.validator = created }
    return created
  }

  /// Device authorization grant (RFC 8628). `present` shows the code and URL to the user.
  public func loginWithDevice(
    _ options: InteractiveLoginOptions, present: @escaping @Sendable (DeviceAuthorizationPrompt) -> Void
  ) async throws
    -> IdentityTokens
  {
    let resource = settings.loginResource
    let metadata = try await metadata()
    let flow = DeviceAuthorizationFlow(
      metadata: metadata, clientID: settings.clientID, scopes: options.scopes ?? settings.scopes, resource: resource,
      transport: transport, sleeper: sleeper)
    let response = try await flow.run(present: present)
    return try await identityTokens(
      from: response, nonce: nil, metadata: metadata, requireRefresh: options.requireRefreshToken)
  }

  /// Authorization code + PKCE with a loopback redirect. `present` prints and opens the URL.
  public func loginWithBrowser(
    _ options: InteractiveLoginOptions, present: @escaping @Sendable (URL) async -> Void
  ) async throws -> IdentityTokens {
    let resource = settings.loginResource
    let timeout = browserTimeout
    let metadata = try await metadata()
    let flow = BrowserAuthorizationFlow(
      metadata: metadata, clientID: settings.clientID, scopes: options.scopes ?? settings.scopes, resource: resource,
      fixedRedirect: settings.redirectURI, pkceOverride: settings.pkceMetadataOverride, transport: transport,
      timeout: timeout, extraParameters: options.authorizationParameters.map { ($0.name, $0.value) })
    let outcome = try await flow.run(present: present)
    return try await identityTokens(
      from: outcome.tokens, nonce: outcome.nonce, metadata: metadata, requireRefresh: options.requireRefreshToken)
  }

  public func refresh(_ refreshToken: RefreshToken, resource: String?) async throws -> IdentityTokens {
    let metadata = try await metadata()
    var fields = [
      ("grant_type", "refresh_token"), ("refresh_token", refreshToken.revealedForTransmission),
      ("client_id", settings.clientID),
    ]
    if let resource { fields.append(("resource", resource)) }
    let response = try await transport.send(.form(metadata.tokenEndpoint, fields))
    let parsed = try Self.parseRefresh(response, resource: resource)
    return try await identityTokens(from: parsed, nonce: nil, metadata: metadata, requireRefresh: false)
  }

  /// Minting a tenant token (resource-refresh): an `invalid_target` means the IdP will not issue for
  /// this resource. The login itself is fine, so this is a refusal (exit 9), never "login required".
  private static func parseRefresh(_ response: OAuthHTTPResponse, resource: String?) throws(OAuthError) -> TokenResponse
  {
    let result = Result { () throws(OAuthError) -> TokenResponse in
      try TokenResponse.parse(response, what: "refresh token request")
    }
    switch result {
    case .success(let parsed):
      return parsed
    case .failure(let error):
      guard let resource, error.oauthError == "invalid_target" else { throw error }
      throw OAuthError(
        .accessDenied, "the identity provider will not issue a token for \(resource) (invalid_target)",
        fix:
          "check session.tenants and session.resource; IdPs that bind a login to the resource it was made for (glewlwyd) need session.default_tenant set to this tenant and `mcp-tunnel login` again, or session.method = \"token-exchange\"",
        oauthError: "invalid_target")
    }
  }

  public func revoke(_ refreshToken: RefreshToken, accessToken: AccessToken?) async -> RevocationOutcome {
    let metadata: AuthorizationServerMetadata
    do {
      metadata = try await self.metadata()
    } catch {
      return .failed(reason: "\(error)")
    }
    guard let endpoint = metadata.revocationEndpoint else { return .unsupported }
    var fields = [("token", refreshToken.revealedForTransmission), ("token_type_hint", "refresh_token")]
    if accessToken == nil { fields.append(("client_id", settings.clientID)) }
    do {
      let response = try await transport.send(.form(endpoint, fields, bearer: accessToken))
      switch response.status {
      case 200: return .revoked  // RV-03: success even for an unknown token; the body is ignored
      case 503:
        return .failed(
          reason: "the identity provider is temporarily unavailable (HTTP 503); the token may still be valid")
      default:
        let code = (response.json()?["error"] as? String).map { ServerText.sanitized($0, limit: 64) }
        return .failed(reason: "revocation answered HTTP \(response.status)\(code.map { " \($0)" } ?? "")")
      }
    } catch {
      return .failed(reason: "\(error)")
    }
  }

  public func revocationNeedsAccessToken() async -> Bool {
    (try? await metadata())?.revocationNeedsBearer ?? false
  }

  /// Validates the ID token when there is one and works out the subject (ID token `sub`; else the
  /// access token's `sub` claim if it is a JWT — used only as a label, never trusted for access).
  private func identityTokens(
    from response: TokenResponse, nonce: String?, metadata: AuthorizationServerMetadata, requireRefresh: Bool
  ) async throws -> IdentityTokens {
    if requireRefresh, response.refreshToken == nil {
      throw OAuthError(
        .identityProvider, "the identity provider issued no refresh token, so the login cannot be kept",
        fix:
          "add \"offline_access\" to idp.scopes if the IdP needs it, or ask its administrator to allow refresh tokens for client_id \(settings.clientID)"
      )
    }
    var subject: String?
    if let idToken = response.idToken {
      subject = try await validator(for: metadata).validate(idToken, nonce: nonce).sub
    } else {
      subject = Self.unverifiedSubject(of: response.accessToken)
    }
    return IdentityTokens(
      accessToken: response.accessToken, refreshToken: response.refreshToken, expiresIn: response.expiresIn,
      receivedAt: response.receivedAt, scope: response.scope, subject: subject)
  }

  static func unverifiedSubject(of token: AccessToken) -> String? {
    let parts = token.revealedForTransmission.split(separator: ".")
    guard parts.count == 3, let data = Base64URL.decode(String(parts[1])),
      let claims = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    else { return nil }
    return claims["sub"] as? String
  }
}

/// The live `OpenIDProvider`s of one process, one per identity provider: `login`, the token broker
/// and the RFC 8693 exchange of a profile share its HTTP client and its discovery, instead of each
/// building their own (which discovered the IdP twice over two clients in token-exchange mode).
public final class OpenIDProviders: Sendable {
  private let providers = Mutex<[OpenIDProvider]>([])

  public init() {}

  /// The provider for `settings`, built on first use.
  public func provider(for settings: IdentityProviderSettings) -> OpenIDProvider {
    providers.withLock { list in
      if let existing = list.first(where: { $0.settings == settings }) { return existing }
      let created = OpenIDProvider(settings: settings)
      list.append(created)
      return created
    }
  }
}
