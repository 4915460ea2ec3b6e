import Foundation

/// What a token endpoint handed back for a login or a refresh (TOK-05). Token values are redacted
/// types; only the HTTP layer that sends them reveals them.
public struct IdentityTokens: Sendable {
  public var accessToken: AccessToken
  /// A rotated refresh token, when the IdP issued one (most do for public clients, RT-03).
  public var refreshToken: RefreshToken?
  /// `expires_in`, measured from `receivedAt` (GEN-07); nil when the IdP did not say.
  public var expiresIn: Duration?
  public var receivedAt: Date
  /// The granted scope when the IdP reported one.
  public var scope: String?
  /// The validated ID token's `sub`, when an ID token came with the response.
  public var subject: String?

  public init(
    accessToken: AccessToken, refreshToken: RefreshToken?, expiresIn: Duration?, receivedAt: Date,
    scope: String? = nil, subject: String? = nil
  ) {
    self.accessToken = accessToken
    self.refreshToken = refreshToken
    self.expiresIn = expiresIn
    self.receivedAt = receivedAt
    self.scope = scope
    self.subject = subject
  }

  /// When the access token stops being usable, if known.
  public var expiresAt: Date? {
    expiresIn.map { receivedAt.addingTimeInterval(Double($0.components.seconds)) }
  }
}

/// How an RFC 7009 revocation ended (RV-03/04).
public enum RevocationOutcome: Sendable, Equatable {
  /// 200: revoked, or the token was already invalid.
  case revoked
  /// The IdP has no revocation endpoint.
  case unsupported
  /// The IdP could not be asked or answered with an error; the token may still be valid.
  case failed(reason: String)
}

/// What the user must see to approve a device login (RFC 8628 §3.3, DEV-04): every URL has passed
/// the adapter's URL policy (DEV-05). The device code itself is not here: it never leaves the flow.
public struct DeviceAuthorizationPrompt: Sendable, Equatable {
  public var verificationURI: URL
  public var verificationURIComplete: URL?
  public var userCode: String
  public var expiresIn: Duration

  public init(verificationURI: URL, verificationURIComplete: URL?, userCode: String, expiresIn: Duration) {
    self.verificationURI = verificationURI
    self.verificationURIComplete = verificationURIComplete
    self.userCode = userCode
    self.expiresIn = expiresIn
  }
}

/// The company IdP: the interactive logins, then refreshing and revoking. The live
/// version is `OpenIDProvider` in `OAuth`; tests use `InMemoryIdentityProvider`.
///
/// Errors are `UserFacingError`s. A refresh that the IdP refuses for good (`invalid_grant`, or
/// glewlwyd's empty-body `400` for a replayed token) has category `.loginRequired`; an unreachable
/// IdP or any other error response has `.identityProvider`.
public protocol IdentityProvider: Sendable {
  /// The configured issuer, exactly as in the configuration (used in keyring attributes).
  var issuer: String { get }
  /// Fetches and checks the IdP's metadata, so a wrong issuer fails before any prompt.
  func checkDiscovery() async throws
  /// The device authorization grant (RFC 8628); `present` shows the code and URLs to the user.
  func loginWithDevice(
    present: @escaping @Sendable (DeviceAuthorizationPrompt) -> Void
  ) async throws
    -> IdentityTokens
  /// Authorization code + PKCE with a loopback redirect; `present` prints (and opens) the URL.
  func loginWithBrowser(present: @escaping @Sendable (URL) async -> Void) async throws -> IdentityTokens
  /// RFC 6749 §6 refresh with `resource` when given (RT-07, RFC 8707).
  func refresh(_ refreshToken: RefreshToken, resource: String?) async throws -> IdentityTokens
  /// RFC 7009 revocation of `refreshToken`. `accessToken` is offered for IdPs that authenticate
  /// revocation with a Bearer token instead of `client_id`. Never throws for a remote failure:
  /// logout must go on and wipe the keyring whatever the IdP says (RV-05).
  func revoke(_ refreshToken: RefreshToken, accessToken: AccessToken?) async -> RevocationOutcome
  /// Whether revocation must be authenticated with a current access token as a Bearer (the IdP's
  /// `revocation_endpoint_auth_methods_supported` lists `bearer` but not `none`).
  func revocationNeedsAccessToken() async -> Bool
}
