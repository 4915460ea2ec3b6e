import Foundation

/// A tenant-scoped MCP token as the local proxy uses it: which tenant it is for, when it expires,
/// and the tenant generation it belongs to.
public struct TenantSessionToken: Sendable, Equatable {
  public var tenant: TenantID
  public var token: AccessToken
  public var expiresAt: Date
  /// Bumped on every `tenant use`; a client connection is bound to the generation of its first
  /// request and is closed when the generation moves on (SPEC §4: connections opened under the
  /// old tenant are closed, and a token of one tenant is never sent for another).
  public var generation: UInt64
  /// Whether this is an elevated token handed over by `mcp-tunnel elevate` (SPEC §10) rather than
  /// the session's ordinary one.
  public var elevated: Bool

  public init(tenant: TenantID, token: AccessToken, expiresAt: Date, generation: UInt64, elevated: Bool = false) {
    self.tenant = tenant
    self.token = token
    self.expiresAt = expiresAt
    self.generation = generation
    self.elevated = elevated
  }
}

/// Where the http proxy gets the token it injects. The live version is `TokenBroker`; tests use
/// `InMemoryTenantTokenSource`.
///
/// Errors are `UserFacingError`s: `.loginRequired` (no login, refresh token revoked),
/// `.identityProvider` (IdP or exchange endpoint down past the token's expiry), `.accessDenied`
/// (exchange refused). The proxy turns them into a `503` whose JSON body carries the fix.
public protocol TenantTokenSource: Sendable {
  /// A token for the active tenant with time to spare; mints (single-flight) when needed.
  func currentToken() async throws -> TenantSessionToken
  /// The upstream answered `401 invalid_token` to `rejected`: forget it and mint a fresh one for
  /// the same tenant and generation (GEN-08, USE-05). If the tenant changed meanwhile, throws
  /// rather than hand out another tenant's token.
  func replaceRejected(_ rejected: TenantSessionToken) async throws -> TenantSessionToken
}
