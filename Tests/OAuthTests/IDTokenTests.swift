import Foundation
import JWTKit
import Testing
import TunnelCore

@testable import OAuth

/// STANDARDS §4.9: ID tokens built with a test JWKS.
@Suite("ID token validation (OIDC Core §3.1.3.7)")
struct IDTokenTests {
  struct Claims: JWTPayload {
    var iss: String = Fixture.issuer
    var sub: String = "dev1"
    var aud: [String] = ["mcp-tunnel"]
    var exp: Int = Int(Date().timeIntervalSince1970) + 300
    var iat: Int = Int(Date().timeIntervalSince1970)
    var nonce: String? = "n-1"
    var azp: String?
    func verify(using algorithm: some JWTAlgorithm) async throws {}
  }

  let key = ES256PrivateKey()
  let signer = JWTKeyCollection()

  init() async {
    await signer.add(ecdsa: key, kid: "k1")
  }

  func jwks(kid: String = "k1") -> [String: Any] {
    let p = key.parameters!
    return ["keys": [["kty": "EC", "crv": "P-256", "x": p.x, "y": p.y, "kid": kid, "use": "sig", "alg": "ES256"]]]
  }

  func validator(_ transport: ScriptedTransport) -> IDTokenValidator {
    IDTokenValidator(
      issuer: Fixture.issuer, clientID: "mcp-tunnel", jwksURI: URL(string: "\(Fixture.issuer)/jwks")!,
      transport: transport)
  }

  func sign(_ claims: Claims, kid: String = "k1") async throws -> String {
    try await signer.sign(claims, kid: JWKIdentifier(string: kid))
  }

  func expectInvalid(_ token: String, nonce: String? = "n-1", _ comment: Comment) async {
    let transport = ScriptedTransport()
    transport.on("/jwks", ScriptedTransport.json(200, jwks()))
    do {
      _ = try await validator(transport).validate(token, nonce: nonce)
      Issue.record(comment)
    } catch let error as OAuthError {
      #expect(error.summary.contains("ID token is invalid"), comment)
    } catch {
      Issue.record("unexpected \(error)")
    }
  }

  @Test("IDT-01..06: a well-formed token from the issuer for this client validates")
  func valid() async throws {
    let transport = ScriptedTransport()
    transport.on("/jwks", ScriptedTransport.json(200, jwks()))
    let claims = try await validator(transport).validate(try await sign(Claims()), nonce: "n-1")
    #expect(claims.sub == "dev1")
  }

  @Test("IDT-01: iss with a trailing slash is not the issuer")
  func issuerSlash() async throws {
    await expectInvalid(try await sign(Claims(iss: Fixture.issuer + "/")), "trailing-slash iss accepted")
  }

  @Test("IDT-02/03: aud without the client, or with an extra audience and no azp, is refused")
  func audience() async throws {
    await expectInvalid(try await sign(Claims(aud: ["someone-else"])), "foreign aud accepted")
    await expectInvalid(try await sign(Claims(aud: ["mcp-tunnel", "untrusted"])), "extra aud without azp accepted")
    let transport = ScriptedTransport()
    transport.on("/jwks", ScriptedTransport.json(200, jwks()))
    _ = try await validator(transport).validate(
      try await sign(Claims(aud: ["mcp-tunnel", "other"], azp: "mcp-tunnel")), nonce: "n-1")
  }

  @Test("IDT-04: alg none and HS256 (key confusion) are refused before any key is used")
  func forbiddenAlgorithms() async throws {
    let payload = Base64URL.encode(
      Array(try JSONSerialization.data(withJSONObject: ["iss": Fixture.issuer, "sub": "x"])))
    for alg in ["none", "HS256"] {
      let header = Base64URL.encode(Array("{\"alg\":\"\(alg)\",\"kid\":\"k1\"}".utf8))
      await expectInvalid("\(header).\(payload).\(alg == "none" ? "" : "c2ln")", "\(alg) accepted")
    }
  }

  @Test("IDT-04: a token signed by another key does not verify")
  func wrongKey() async throws {
    let other = JWTKeyCollection()
    await other.add(ecdsa: ES256PrivateKey(), kid: "k1")
    await expectInvalid(try await other.sign(Claims(), kid: "k1"), "foreign signature accepted")
  }

  @Test("IDT-05: expired beyond the leeway, or issued in the future, is refused")
  func times() async throws {
    let now = Int(Date().timeIntervalSince1970)
    await expectInvalid(try await sign(Claims(exp: now - 600)), "expired token accepted")
    await expectInvalid(try await sign(Claims(iat: now + 3600)), "future iat accepted")
  }

  @Test("IDT-06: a wrong or absent nonce after one was sent is refused")
  func nonce() async throws {
    await expectInvalid(try await sign(Claims(nonce: "other")), "wrong nonce accepted")
    await expectInvalid(try await sign(Claims(nonce: nil)), "absent nonce accepted")
  }

  @Test("IDT-08: an unknown kid refetches the JWKS exactly once, then fails")
  func unknownKid() async throws {
    let transport = ScriptedTransport()
    transport.on("/jwks", ScriptedTransport.json(200, jwks()))
    let signer2 = JWTKeyCollection()
    await signer2.add(ecdsa: key, kid: "rotated")
    let token = try await signer2.sign(Claims(), kid: "rotated")
    await #expect(throws: OAuthError.self) { try await validator(transport).validate(token, nonce: "n-1") }
    #expect(transport.requests(to: "/jwks").count == 2)
  }

  @Test("IDT-08: a key rotated at the IdP is found by the one refetch")
  func rotatedKeyFound() async throws {
    let transport = ScriptedTransport()
    transport.on("/jwks", ScriptedTransport.json(200, jwks(kid: "old")), ScriptedTransport.json(200, jwks(kid: "k1")))
    let v = validator(transport)
    _ = try await v.validate(try await sign(Claims()), nonce: "n-1")
    #expect(transport.requests(to: "/jwks").count == 2)
  }

  @Test("IDT-09: a refreshed ID token with another sub is refused")
  func refreshSubject() async throws {
    let transport = ScriptedTransport()
    transport.on("/jwks", ScriptedTransport.json(200, jwks()))
    let v = validator(transport)
    let original = try await v.validate(try await sign(Claims()), nonce: "n-1")
    await #expect(throws: OAuthError.self) {
      try await v.validate(try await sign(Claims(sub: "mallory", nonce: nil)), nonce: nil, original: original)
    }
  }
}
