import Foundation

/// What a tenant token is asked for (SPEC §4): the session templates expanded for one tenant.
/// The tenant reaches the issuer only through these values.
public struct SessionTokenRequest: Sendable, Equatable {
  public var tenant: TenantID
  /// The tenant's canonical MCP URI (RFC 8707 `resource`).
  public var resource: String
  /// RFC 8693 `audience`, when configured.
  public var audience: String?
  /// `scope`, when configured.
  public var scope: String?

  public init(tenant: TenantID, resource: String, audience: String? = nil, scope: String? = nil) {
    self.tenant = tenant
    self.resource = resource
    self.audience = audience
    self.scope = scope
  }

  /// The request for `tenant` under `settings`.
  public init(tenant: TenantID, settings: SessionSettings) {
    self.init(
      tenant: tenant, resource: settings.resource.expand(for: tenant), audience: settings.audience?.expand(for: tenant),
      scope: settings.scope?.expand(for: tenant))
  }
}

/// A token the issuer minted, before the broker applies `max_ttl`.
public struct MintedSessionToken: Sendable {
  public var token: AccessToken
  /// The issuer's `expires_in`, when it said.
  public var expiresIn: Duration?
  public var receivedAt: Date
  /// The granted scope when the issuer reported one (TX-07: narrower than asked is recorded).
  public var scope: String?

  public init(token: AccessToken, expiresIn: Duration?, receivedAt: Date, scope: String? = nil) {
    self.token = token
    self.expiresIn = expiresIn
    self.receivedAt = receivedAt
    self.scope = scope
  }
}

/// How one RFC 8693 exchange ended, when it did not throw.
public enum TokenExchangeOutcome: Sendable {
  case minted(MintedSessionToken)
  /// `invalid_request`: the issuer did not accept the subject token (TX-08). The broker refreshes
  /// the IdP login and tries once more.
  case subjectTokenRejected(reason: String)
}

/// The RFC 8693 token-exchange endpoint (SPEC §4 `method = "token-exchange"`). The live version is
/// `TokenExchangeClient` in `OAuth`; tests use `InMemorySessionTokenMinter`.
///
/// Errors are `UserFacingError`s: `.accessDenied` when the issuer refuses the tenant
/// (`invalid_target`, `access_denied`, `unauthorized_client`), `.identityProvider` when it cannot be
/// reached or answers with anything else.
public protocol SessionTokenMinter: Sendable {
  func exchange(_ request: SessionTokenRequest, subjectToken: AccessToken) async throws -> TokenExchangeOutcome
}
