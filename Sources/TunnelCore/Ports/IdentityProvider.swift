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

/// What an interactive login asks for beyond the profile's `[idp]` (SPEC §10 `elevate`).
public struct InteractiveLoginOptions: Sendable, Equatable {
  /// The scopes to ask for instead of `idp.scopes`; nil: `idp.scopes`.
  public var scopes: [String]?
  /// `prompt=login` (browser flow): the IdP must authenticate the user again, whatever session it has.
  public var forceLogin: Bool
  /// OIDC `max_age` in seconds (browser flow). 0 is not sent (some IdPs, glewlwyd, reject it):
  /// `prompt=login` asks for the same.
  public var maxAge: Int?
  /// OIDC `acr_values`, in order of preference (browser flow).
  public var acrValues: [String]
  /// Whether a response without a refresh token fails (`login` keeps one; `elevate` never stores one).
  public var requireRefreshToken: Bool

  public init(
    scopes: [String]? = nil, forceLogin: Bool = false, maxAge: Int? = nil, acrValues: [String] = [],
    requireRefreshToken: Bool = true
  ) {
    self.scopes = scopes
    self.forceLogin = forceLogin
    self.maxAge = maxAge
    self.acrValues = acrValues
    self.requireRefreshToken = requireRefreshToken
  }

  /// A plain `login`.
  public static let standard = InteractiveLoginOptions()

  /// The extra authorization request parameters of the browser flow, in a fixed order.
  public var authorizationParameters: [(name: String, value: String)] {
    var items: [(String, String)] = []
    if forceLogin { items.append(("prompt", "login")) }
    if let maxAge, maxAge >= 1 { items.append(("max_age", String(maxAge))) }
    if !acrValues.isEmpty { items.append(("acr_values", acrValues.joined(separator: " "))) }
    return items
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
  /// Of `options`, only the scopes and `requireRefreshToken` apply (RFC 8628 has no `prompt`).
  func loginWithDevice(
    _ options: InteractiveLoginOptions, present: @escaping @Sendable (DeviceAuthorizationPrompt) -> Void
  ) async throws
    -> IdentityTokens
  /// Authorization code + PKCE with a loopback redirect; `present` prints (and opens) the URL.
  func loginWithBrowser(
    _ options: InteractiveLoginOptions, present: @escaping @Sendable (URL) async -> Void
  ) async throws -> IdentityTokens
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

extension IdentityProvider {
  /// The device grant of a plain `login`.
  public func loginWithDevice(
    present: @escaping @Sendable (DeviceAuthorizationPrompt) -> Void
  ) async throws -> IdentityTokens {
    try await loginWithDevice(.standard, present: present)
  }

  /// The browser flow of a plain `login`.
  public func loginWithBrowser(present: @escaping @Sendable (URL) async -> Void) async throws -> IdentityTokens {
    try await loginWithBrowser(.standard, present: present)
  }
}
