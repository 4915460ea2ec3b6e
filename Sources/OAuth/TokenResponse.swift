import Foundation
import TunnelCore

/// A successful token endpoint response (TOK-05), before ID-token validation. Unknown members are
/// ignored (GEN-05); token length is not assumed.
struct TokenResponse: Sendable {
  var accessToken: AccessToken
  var tokenType: String
  var refreshToken: RefreshToken?
  var idToken: String?
  var expiresIn: Duration?
  var scope: String?
  var issuedTokenType: String?
  var receivedAt: Date

  /// Turns an HTTP response from a token endpoint into tokens, or into an `OAuthError` that maps
  /// every RFC 6749 §5.2 code to what the user should do (TOK-06). `what` names the request.
  static func parse(
    _ response: OAuthHTTPResponse, what: String, receivedAt: Date = Date()
  ) throws(OAuthError)
    -> TokenResponse
  {
    let json = response.json()
    guard response.status == 200 else { throw TokenEndpointFailure.error(for: response, json: json, what: what) }
    guard let json, let access = json["access_token"] as? String, !access.isEmpty else {
      throw OAuthError(
        .identityProvider, "\(what): the token endpoint answered 200 without an access_token",
        fix: "the identity provider misbehaves; report it to its administrator")
    }
    let tokenType = (json["token_type"] as? String) ?? ""
    guard tokenType.lowercased() == "bearer" else {
      throw OAuthError(
        .identityProvider, "\(what): token_type \"\(tokenType)\" is not Bearer",
        fix: "mcp-tunnel presents tokens as Bearer; ask the IdP administrator for Bearer tokens")
    }
    var expires: Duration?
    if let number = json["expires_in"] as? NSNumber, number.doubleValue > 0 {
      expires = .seconds(number.int64Value)
    } else if let text = json["expires_in"] as? String, let seconds = Int64(text), seconds > 0 {
      expires = .seconds(seconds)
    }
    return TokenResponse(
      accessToken: AccessToken(revealing: access), tokenType: tokenType,
      refreshToken: (json["refresh_token"] as? String).flatMap { $0.isEmpty ? nil : RefreshToken(revealing: $0) },
      idToken: json["id_token"] as? String, expiresIn: expires, scope: json["scope"] as? String,
      issuedTokenType: json["issued_token_type"] as? String, receivedAt: receivedAt)
  }
}

enum TokenEndpointFailure {
  /// ` — <error_description>` for a message, or "". The text comes from the server: it is kept
  /// short and on one line.
  static func describe(_ json: [String: Any]?) -> String {
    (json?["error_description"] as? String).map {
      " — " + String($0.prefix(200)).replacingOccurrences(of: "\n", with: " ")
    } ?? ""
  }

  /// TOK-06. glewlwyd answers a replayed (rotated) refresh token with `400` and an empty body; that
  /// is treated as `invalid_grant` for refresh requests, where it can mean nothing else.
  static func error(for response: OAuthHTTPResponse, json: [String: Any]?, what: String) -> OAuthError {
    let code = json?["error"] as? String
    let description = describe(json)
    let isRefresh = what.contains("refresh")
    switch code {
    case "invalid_grant":
      return OAuthError(
        .loginRequired, "\(what): invalid_grant\(description)", fix: "run: mcp-tunnel login", oauthError: code)
    case nil where response.status == 400 && isRefresh && response.body.isEmpty:
      return OAuthError(
        .loginRequired, "\(what): HTTP 400 with no body (the refresh token is no longer valid)",
        fix: "run: mcp-tunnel login", oauthError: "invalid_grant")
    case "invalid_client", "unauthorized_client":
      return OAuthError(
        .usage, "\(what): \(code ?? "")\(description)",
        fix: "check idp.client_id: it must be a public client registered at the IdP for this grant", oauthError: code)
    case "invalid_scope":
      return OAuthError(
        .usage, "\(what): invalid_scope\(description)", fix: "check idp.scopes (and session.scope)", oauthError: code)
    case "invalid_target":
      return OAuthError(
        .usage, "\(what): invalid_target\(description)",
        fix: "check session.resource / session.audience: the IdP does not know that resource", oauthError: code)
    case "unsupported_grant_type":
      return OAuthError(
        .identityProvider, "\(what): the IdP does not support this grant\(description)",
        fix: "ask the IdP administrator to enable it for client_id, or use another --flow / session.method",
        oauthError: code)
    case "access_denied":
      return OAuthError(.accessDenied, "\(what): access_denied\(description)", fix: nil, oauthError: code)
    case let code?:
      return OAuthError(
        .identityProvider, "\(what): \(code)\(description)", fix: "check the IdP configuration for this client",
        oauthError: code)
    case nil:
      return OAuthError(
        .identityProvider, "\(what): HTTP \(response.status) from the token endpoint",
        fix: "the identity provider is failing; try again later")
    }
  }
}
