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
    // RFC 6749 A.12 (VSCHAR) minus the space: the token goes into `Authorization: Bearer …` as is,
    // so a CR/LF in it would be a header injection and a space would end it early.
    guard access.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
      throw OAuthError(
        .identityProvider,
        "\(what): the access_token is not a usable Bearer token (it contains a space, a control or a non-ASCII character)",
        fix: "the identity provider misbehaves; report it to its administrator")
    }
    let tokenType = (json["token_type"] as? String) ?? ""
    guard tokenType.lowercased() == "bearer" else {
      let shown =
        json["token_type"] == nil ? "is missing" : "\"\(ServerText.sanitized(tokenType, limit: 40))\" is not Bearer"
      throw OAuthError(
        .identityProvider, "\(what): token_type \(shown)",
        fix: "mcp-tunnel presents tokens as Bearer; ask the IdP administrator for Bearer tokens")
    }
    var refresh: RefreshToken?
    switch json["refresh_token"] {
    case nil, is NSNull: break
    // RFC 6749 A.17 (VSCHAR): the keyring stores it as a C string, so a NUL would cut it short.
    case let text as String where text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }):
      refresh = text.isEmpty ? nil : RefreshToken(revealing: text)
    default:
      throw OAuthError(
        .identityProvider, "\(what): the refresh_token is not a string of printable ASCII characters",
        fix: "the identity provider misbehaves; report it to its administrator")
    }
    var idToken: String?
    switch json["id_token"] {
    case nil, is NSNull: break
    case let text as String: idToken = text
    default:
      // Never skip validation because the member has the wrong type (IDT-01..09).
      throw OAuthError(
        .identityProvider, "\(what): the id_token is not a string",
        fix: "the identity provider misbehaves; report it to its administrator")
    }
    var issuedTokenType: String?
    switch json["issued_token_type"] {
    case nil, is NSNull: break
    // RFC 8693 §2.2.1: an identifier URI, so printable ASCII; callers may quote it in a message.
    case let text as String where text.count <= 256 && text.utf8.allSatisfy({ (0x21...0x7E).contains($0) }):
      issuedTokenType = text
    default:
      throw OAuthError(
        .identityProvider, "\(what): issued_token_type is not a token type URI",
        fix: "the token exchange endpoint misbehaves; report it to its administrator")
    }
    return TokenResponse(
      accessToken: AccessToken(revealing: access), tokenType: tokenType, refreshToken: refresh, idToken: idToken,
      expiresIn: lifetime(json["expires_in"]), scope: json["scope"] as? String, issuedTokenType: issuedTokenType,
      receivedAt: receivedAt)
  }

  /// The longest `expires_in` believed. A larger one (`1e300`, past `Int64`) is as good as no
  /// answer: the token is then treated as of unknown lifetime (refreshed before use, capped by
  /// `max_ttl`) rather than cached for centuries on an IdP's say-so (GEN-07/08).
  static let maximumLifetime: Int64 = 366 * 86_400

  /// `expires_in` in whole seconds within 1…`maximumLifetime`, else nil. A JSON number (a fraction
  /// rounds down) or a string of digits (some IdPs send `"3600"`); never a boolean, whose `true`
  /// Foundation would happily read as 1.
  static func lifetime(_ value: Any?) -> Duration? {
    var seconds: Int64?
    if let text = value as? String {
      seconds = Int64(text)
    } else if let number = value as? NSNumber, String(cString: number.objCType) != "c" {
      let double = number.doubleValue
      if double.isFinite, double >= 1, double <= Double(maximumLifetime) { seconds = Int64(double) }
    }
    guard let seconds, (1...maximumLifetime).contains(seconds) else { return nil }
    return .seconds(seconds)
  }
}

enum TokenEndpointFailure {
  /// ` — <error_description>` for a message, or "". The text comes from the server: it is
  /// sanitised (no control characters or terminal escapes, WWWA-04), kept short and on one line.
  static func describe(_ json: [String: Any]?) -> String {
    guard let text = json?["error_description"] as? String else { return "" }
    let shown = ServerText.sanitized(text)
    return shown.isEmpty ? "" : " — " + shown
  }

  /// TOK-06. glewlwyd answers a replayed (rotated) refresh token with `400` and an empty body; that
  /// is treated as `invalid_grant` for refresh requests, where it can mean nothing else.
  static func error(for response: OAuthHTTPResponse, json: [String: Any]?, what: String) -> OAuthError {
    // RFC 6749 §5.2 limits `error` to printable ASCII; anything else is shown sanitised, and a
    // code the switch below does not know is shown for what it is: the server's word.
    let code = (json?["error"] as? String).flatMap { $0.isEmpty ? nil : $0 }
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
      return OAuthError(
        .accessDenied, "\(what): access_denied\(description)",
        fix: "the identity provider refused; ask its administrator for access if you should have it",
        oauthError: code)
    case let code?:
      let sanitized = ServerText.sanitized(code, limit: 64)
      let shown = sanitized.isEmpty ? "an unprintable error code" : sanitized
      return OAuthError(
        .identityProvider, "\(what): \(shown)\(description)", fix: "check the IdP configuration for this client",
        oauthError: shown)
    case nil:
      return OAuthError(
        .identityProvider, "\(what): HTTP \(response.status) from the token endpoint",
        fix: "the identity provider is failing; try again later")
    }
  }
}
