import Foundation
import TunnelCore

/// Authorization code + PKCE with a loopback redirect (STANDARDS AZ-01..17).
struct BrowserAuthorizationFlow: Sendable {
  var metadata: AuthorizationServerMetadata
  var clientID: String
  var scopes: [String]
  var resource: String?
  var fixedRedirect: URL?
  var pkceOverride: Bool
  var transport: any OAuthHTTPTransport
  var timeout: Duration = .seconds(300)
  /// `prompt`, `max_age`, `acr_values` of a step-up login (`InteractiveLoginOptions`), in order.
  var extraParameters: [(String, String)] = []

  struct Outcome: Sendable {
    var tokens: TokenResponse
    var nonce: String?
  }

  /// Runs one authorization. `present` shows (prints and opens) the URL; fresh `state`, `nonce`
  /// and verifier are made for every call (AZ-16).
  func run(present: @Sendable (URL) async -> Void) async throws -> Outcome {
    try metadata.requireS256(override: pkceOverride)
    guard let endpoint = metadata.authorizationEndpoint else {
      throw OAuthError(
        .identityProvider, "the identity provider has no authorization_endpoint",
        fix: "use the device flow: mcp-tunnel login --flow device")
    }
    let pkce = PKCE()
    let state = RandomBytes.token()
    let nonce = scopes.contains("openid") ? RandomBytes.token() : nil
    let listener = try await LoopbackRedirectListener.bind(fixed: fixedRedirect, expectedState: state)
    let redirect = listener.redirectURI.absoluteString
    let url = try authorizationURL(endpoint: endpoint, redirect: redirect, state: state, nonce: nonce, pkce: pkce)
    await present(url)
    let callback = try await listener.waitForCallback(timeout: timeout)
    let code = try Self.checkCallback(callback, issuer: metadata.issuer, issAdvertised: metadata.issParameterSupported)
    var fields = [
      ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect), ("client_id", clientID),
      ("code_verifier", pkce.verifier),
    ]
    if let resource { fields.append(("resource", resource)) }
    let response = try await transport.send(.form(metadata.tokenEndpoint, fields))
    return Outcome(tokens: try TokenResponse.parse(response, what: "authorization code exchange"), nonce: nonce)
  }

  func authorizationURL(endpoint: URL, redirect: String, state: String, nonce: String?, pkce: PKCE) throws -> URL {
    var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false)
    var items = components?.queryItems ?? []
    items += [
      URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: clientID),
      URLQueryItem(name: "redirect_uri", value: redirect),
      URLQueryItem(name: "scope", value: scopes.joined(separator: " ")), URLQueryItem(name: "state", value: state),
      URLQueryItem(name: "code_challenge", value: pkce.challenge),
      URLQueryItem(name: "code_challenge_method", value: pkce.method),
    ]
    if let nonce { items.append(URLQueryItem(name: "nonce", value: nonce)) }
    if let resource { items.append(URLQueryItem(name: "resource", value: resource)) }
    items += extraParameters.map { URLQueryItem(name: $0.0, value: $0.1) }
    components?.percentEncodedQuery = items.map { "\($0.name)=\(FormEncoding.escape($0.value ?? ""))" }
      .joined(separator: "&")
    guard let url = components?.url else {
      throw OAuthError(.identityProvider, "cannot build the authorization URL from \(endpoint.absoluteString)")
    }
    try URLPolicy.require(url, "authorization URL")
    return url
  }

  /// AZ-09 (RFC 9207) then the OAuth error, then the code. The `iss` value arrives form-decoded
  /// (URLComponents did that) and is compared by exact string equality: no case folding, no port or
  /// slash normalisation. On an `iss` mismatch the callback's error text is not shown.
  static func checkCallback(
    _ callback: [String: String], issuer: String, issAdvertised: Bool
  ) throws(OAuthError)
    -> String
  {
    if let iss = callback["iss"] {
      guard iss == issuer else {
        throw OAuthError(
          .identityProvider, "the login redirect came from issuer \"\(iss)\", not \"\(issuer)\" (RFC 9207); ignored it",
          fix: "someone may be attempting a mix-up attack; run mcp-tunnel login again")
      }
    } else if issAdvertised {
      throw OAuthError(
        .identityProvider, "the login redirect lacks the iss parameter the identity provider promises (RFC 9207)",
        fix: "run mcp-tunnel login again; report it to the IdP administrator if it persists")
    }
    if let error = callback["error"] {
      let description = callback["error_description"].map { " — " + String($0.prefix(200)) } ?? ""
      throw OAuthError(
        error == "access_denied" ? .accessDenied : .identityProvider,
        "the identity provider refused the login: \(error)\(description)",
        fix: "run mcp-tunnel login again; check idp.client_id, idp.scopes and idp.redirect_uri", oauthError: error)
    }
    guard let code = callback["code"], !code.isEmpty else {
      throw OAuthError(.identityProvider, "the login redirect carries no code", fix: "run mcp-tunnel login again")
    }
    return code
  }
}
