import Foundation
import TunnelCore

/// The fields of RFC 8414 / OpenID Discovery metadata mcp-tunnel uses (ASM-08). Every endpoint has
/// passed `URLPolicy`; `issuer` is identical to the configured issuer (ASM-05).
struct AuthorizationServerMetadata: Sendable, Equatable {
  var issuer: String
  var authorizationEndpoint: URL?
  var tokenEndpoint: URL
  var deviceAuthorizationEndpoint: URL?
  var revocationEndpoint: URL?
  var revocationAuthMethods: [String]?
  var jwksURI: URL?
  var codeChallengeMethods: [String]?
  var grantTypes: [String]?
  var scopesSupported: [String]?
  var issParameterSupported: Bool
  var idTokenSigningAlgorithms: [String]?
  /// The document URL it came from, for messages.
  var source: URL

  /// Parses a metadata document fetched from `source` for `issuer`. Throws when `issuer` differs
  /// (ASM-05: a document from attacker.example claiming honest.example is discarded) or when an
  /// endpoint fails the URL policy (ASM-09).
  init(json: [String: Any], issuer expected: String, source: URL) throws(OAuthError) {
    guard let issuer = json["issuer"] as? String else {
      throw OAuthError(
        .identityProvider, "\(source.absoluteString) has no \"issuer\": not authorization server metadata",
        fix: "check idp.issuer")
    }
    guard issuer == expected else {
      throw OAuthError(
        .identityProvider,
        "metadata at \(source.absoluteString) names issuer \"\(ServerText.sanitized(issuer))\", not the configured \"\(expected)\" (RFC 8414 §3.3); refusing it",
        fix: "set idp.issuer to exactly the issuer the identity provider publishes, if you trust it")
    }
    func optionalURL(_ key: String) throws(OAuthError) -> URL? {
      guard json[key] != nil else { return nil }
      return try URLPolicy.parse(json[key] as? String, key)
    }
    self.issuer = issuer
    self.source = source
    authorizationEndpoint = try optionalURL("authorization_endpoint")
    tokenEndpoint = try URLPolicy.parse(json["token_endpoint"] as? String, "token_endpoint")
    deviceAuthorizationEndpoint = try optionalURL("device_authorization_endpoint")
    revocationEndpoint = try optionalURL("revocation_endpoint")
    jwksURI = try optionalURL("jwks_uri")
    revocationAuthMethods = json["revocation_endpoint_auth_methods_supported"] as? [String]
    codeChallengeMethods = json["code_challenge_methods_supported"] as? [String]
    grantTypes = json["grant_types_supported"] as? [String]
    scopesSupported = json["scopes_supported"] as? [String]
    issParameterSupported = (json["authorization_response_iss_parameter_supported"] as? Bool) ?? false
    idTokenSigningAlgorithms = json["id_token_signing_alg_values_supported"] as? [String]
  }

  /// ASM-07 / AZ-03: PKCE with S256 must be advertised; `override` (a per-profile setting, off by
  /// default) lets a known IdP that omits the field through, but never one that lists only `plain`.
  func requireS256(override: Bool) throws(OAuthError) {
    if let methods = codeChallengeMethods {
      guard methods.contains("S256") else {
        throw OAuthError(
          .identityProvider,
          "the identity provider does not offer PKCE S256 (code_challenge_methods_supported: \(ServerText.sanitized(methods.joined(separator: ", "))))",
          fix: "ask the IdP administrator to enable PKCE with S256; mcp-tunnel never uses plain")
      }
    } else if !override {
      throw OAuthError(
        .identityProvider,
        "\(source.absoluteString) does not list code_challenge_methods_supported, so PKCE support is unknown (MCP requires refusing)",
        fix:
          "if you know this IdP supports S256 (Entra ID, Cognito), set pkce_metadata_override = true under its [profiles.<name>.idp]"
      )
    }
  }

  /// Whether revocation is authenticated by a Bearer access token rather than `client_id`.
  var revocationNeedsBearer: Bool {
    guard let methods = revocationAuthMethods else { return false }
    return methods.contains("bearer") && !methods.contains("none")
  }
}

/// RFC 8414 + OpenID discovery in the MCP order (ASM-01..06).
struct MetadataDiscovery: Sendable {
  var transport: any OAuthHTTPTransport

  /// Tries each candidate in order. Moves on only after a 404/405 or a non-JSON 4xx; a 5xx, a
  /// transport failure or an issuer mismatch aborts, so a failure never downgrades discovery (ASM-06).
  func discover(issuer: String) async throws -> AuthorizationServerMetadata {
    guard let issuerURL = URL(string: issuer), issuerURL.scheme != nil else {
      throw OAuthError(.usage, "idp.issuer \"\(issuer)\" is not a URL", fix: "set idp.issuer to the IdP's issuer URL")
    }
    guard URLPolicy.isAllowed(issuerURL) else {
      throw OAuthError(
        .usage, "idp.issuer \(issuer) must be https (http only on a loopback address)",
        fix: "use the https issuer URL your IdP publishes")
    }
    var tried: [String] = []
    for candidate in DiscoveryLocations.candidates(for: issuerURL) {
      let response = try await transport.send(.get(candidate))
      tried.append("\(candidate.absoluteString) → \(response.status)")
      if response.status == 200, let json = response.json() {
        return try AuthorizationServerMetadata(json: json, issuer: issuer, source: candidate)
      }
      let isJSON = (response.header("Content-Type") ?? "").contains("json")
      if response.status == 404 || response.status == 405 || (400..<500).contains(response.status) && !isJSON {
        continue
      }
      throw OAuthError(
        .identityProvider, "discovery at \(candidate.absoluteString) answered HTTP \(response.status)",
        fix: "the identity provider is failing; try again later or check idp.issuer")
    }
    throw OAuthError(
      .identityProvider,
      "no authorization server metadata found for \(issuer) (tried: \(tried.joined(separator: "; ")))",
      fix: "check idp.issuer: it must be the issuer URL, without /.well-known/…")
  }
}
