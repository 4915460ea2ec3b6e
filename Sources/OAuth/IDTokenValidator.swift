import Foundation
import JWTKit
import TunnelCore

/// The claims of an OIDC ID token that login relies on.
struct IDTokenClaims: JWTPayload, Equatable {
  var iss: String
  var sub: String
  var aud: AudienceClaim
  var exp: Date
  var iat: Date?
  var nonce: String?
  var azp: String?
  var authTime: Date?

  enum CodingKeys: String, CodingKey {
    case iss, sub, aud, exp, iat, nonce, azp
    case authTime = "auth_time"
  }

  /// Claims are checked by `IDTokenValidator` with explicit messages; JWTKit only checks the signature.
  func verify(using algorithm: some JWTAlgorithm) async throws {}

  static func == (a: IDTokenClaims, b: IDTokenClaims) -> Bool {
    a.iss == b.iss && a.sub == b.sub && a.aud.value == b.aud.value && a.exp == b.exp && a.nonce == b.nonce
  }
}

/// Validates ID tokens per OIDC Core §3.1.3.7 (STANDARDS IDT-01..09): signature by a key from the
/// issuer's JWKS chosen by `kid` (one refetch for an unknown `kid`), an algorithm allowlist that
/// excludes `none` and every HS*, then `iss`, `aud`/`azp`, `exp`/`iat` with a small leeway, `nonce`.
actor IDTokenValidator {
  static let allowedAlgorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
  static let leeway: TimeInterval = 120

  private let issuer: String
  private let clientID: String
  private let jwksURI: URL
  private let transport: any OAuthHTTPTransport
  private var keys: JWTKeyCollection?
  private var knownKeyIDs: Set<String> = []
  /// When the JWKS was last fetched because of an unknown `kid`; such refetches are rate-limited.
  private var lastRefetch: Date?

  init(issuer: String, clientID: String, jwksURI: URL, transport: any OAuthHTTPTransport) {
    self.issuer = issuer
    self.clientID = clientID
    self.jwksURI = jwksURI
    self.transport = transport
  }

  /// Validates `token`; `nonce` is the value sent in the authorization request, if any.
  /// `original` is the login's ID token when validating one from a refresh (IDT-09).
  func validate(
    _ token: String, nonce: String?, original: IDTokenClaims? = nil, now: Date = Date()
  ) async throws
    -> IDTokenClaims
  {
    let header = try Self.header(of: token)
    guard let alg = header["alg"] as? String, Self.allowedAlgorithms.contains(alg) else {
      throw Self.invalid(
        "it is signed with \"\(ServerText.sanitized(header["alg"] as? String ?? "?", limit: 20))\", which is not allowed (none and HS* never are)"
      )
    }
    let kid = header["kid"] as? String
    var collection = try await keyCollection(refetch: false)
    if let kid, !knownKeyIDs.contains(kid) {
      collection = try await keyCollection(refetch: true)
      guard knownKeyIDs.contains(kid) else {
        throw Self.invalid(
          "its key id \"\(ServerText.sanitized(kid, limit: 80))\" is not in the issuer's JWKS, even after refetching it"
        )
      }
    }
    let claims: IDTokenClaims
    do {
      claims = try await collection.verify(token, as: IDTokenClaims.self)
    } catch {
      throw Self.invalid("its signature does not verify with the issuer's keys (\(ServerText.sanitized("\(error)")))")
    }
    try check(claims, nonce: nonce, original: original, now: now)
    return claims
  }

  private func check(_ claims: IDTokenClaims, nonce: String?, original: IDTokenClaims?, now: Date) throws {
    guard claims.iss == issuer else {
      throw Self.invalid("iss \"\(ServerText.sanitized(claims.iss))\" is not the issuer \"\(issuer)\"")
    }
    guard claims.aud.value.contains(clientID) else {
      throw Self.invalid(
        "aud \(ServerText.sanitized("\(claims.aud.value)")) does not contain client_id \"\(clientID)\"")
    }
    let others = claims.aud.value.filter { $0 != clientID }
    guard others.isEmpty || claims.azp == clientID else {
      throw Self.invalid("aud also names \(ServerText.sanitized("\(others)")) and azp is not \"\(clientID)\"")
    }
    if let azp = claims.azp, azp != clientID {
      throw Self.invalid("azp \"\(ServerText.sanitized(azp))\" is not \"\(clientID)\"")
    }
    guard claims.exp.timeIntervalSince(now) > -Self.leeway else {
      throw Self.invalid("it expired at \(claims.exp) (check this machine's clock if that is wrong)")
    }
    if let iat = claims.iat, iat.timeIntervalSince(now) > Self.leeway {
      throw Self.invalid("it was issued in the future (iat \(iat)); check this machine's clock")
    }
    if let nonce, claims.nonce != nonce { throw Self.invalid("its nonce does not match the one sent") }
    if let original {
      guard claims.sub == original.sub, claims.iss == original.iss, Set(claims.aud.value) == Set(original.aud.value)
      else { throw Self.invalid("the refreshed ID token names a different subject or audience than the login") }
    }
  }

  private func keyCollection(refetch: Bool) async throws -> JWTKeyCollection {
    if let keys, !refetch { return keys }
    if refetch, let lastRefetch, Date().timeIntervalSince(lastRefetch) < 10, let keys { return keys }
    let response = try await transport.send(.get(jwksURI))
    if refetch { lastRefetch = Date() }
    guard response.status == 200, let json = response.json(), let list = json["keys"] as? [[String: Any]] else {
      throw OAuthError(
        .identityProvider,
        "cannot read the issuer's signing keys at \(jwksURI.absoluteString) (HTTP \(response.status))",
        fix: "try again later; if it persists the IdP's jwks_uri is broken")
    }
    // Only keys usable for signatures with an allowed algorithm; JWTKit rejects the others anyway.
    let usable = list.filter {
      ($0["use"] as? String ?? "sig") == "sig" && ["RSA", "EC"].contains($0["kty"] as? String)
    }
    let collection = JWTKeyCollection()
    let data = try JSONSerialization.data(withJSONObject: ["keys": usable])
    do {
      try await collection.add(jwksJSON: String(decoding: data, as: UTF8.self))
    } catch {
      throw OAuthError(
        .identityProvider, "the issuer's JWKS at \(jwksURI.absoluteString) could not be used: \(error)",
        fix: "report it to the IdP administrator")
    }
    knownKeyIDs = Set(usable.compactMap { $0["kid"] as? String })
    keys = collection
    return collection
  }

  static func header(of token: String) throws -> [String: Any] {
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3, let data = Base64URL.decode(String(parts[0])),
      let header = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    else { throw invalid("it is not a signed JWT") }
    return header
  }

  static func invalid(_ why: String) -> OAuthError {
    OAuthError(
      .identityProvider, "the identity provider's ID token is invalid: \(why)",
      fix: "nothing was stored; try `mcp-tunnel login` again, and report it if it persists")
  }
}
