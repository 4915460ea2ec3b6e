import Foundation
import MCPTunnelTestSupport
import TestTiers
import Testing
import TunnelCore

@testable import OAuth

/// Seeded property test over token endpoint responses: authorization-code, refresh and device
/// token responses (`TokenResponse.parse`) and the RFC 8693 exchange response (through
/// `TokenExchangeClient`), mutated structurally (types swapped, members dropped, duplicated or
/// added, edge numbers, hostile strings) and byte by byte. Replay a failure with the seed and
/// iteration it prints (see `SeededProperty`).
@Suite("Token responses under seeded mutation (TOK-05/06, TX-07/08, GEN-04/05, WWWA-04)", .offPool)
struct TokenResponsePropertyTests {
  static let accessToken = "eyJhbGciOiJSUzI1NiJ9.YXQtN2YzYTljMmU.c2lnLTFjNGQ"
  static let refreshToken = "rt-5b1d8e4f-a2c6-4f0e-9d3b"
  static let tenantToken = "mcp-acme-0c9e77d1b3"
  static let exchangeWhat = "token exchange for tenant acme"

  struct Seed {
    var what: String
    var status: Int
    var json: FuzzJSON
  }

  static let corpus: [Seed] = [
    Seed(
      what: "authorization code token request", status: 200,
      json: .object([
        ("access_token", .string(accessToken)), ("token_type", .string("Bearer")), ("expires_in", .number("3600")),
        ("refresh_token", .string(refreshToken)), ("scope", .string("openid offline_access mcp")),
        ("id_token", .string("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJkZXYxIn0.c2ln")),
      ])),
    Seed(
      what: "refresh token request", status: 200,
      json: .object([
        ("access_token", .string(accessToken)), ("token_type", .string("bearer")), ("expires_in", .number("300")),
        ("refresh_token", .string(refreshToken)),
      ])),
    Seed(
      what: "device token request", status: 200,
      json: .object([
        ("access_token", .string(accessToken)), ("token_type", .string("Bearer")), ("expires_in", .string("3600")),
        ("refresh_token", .string(refreshToken)), ("scope", .string("openid")),
      ])),
    Seed(
      what: exchangeWhat, status: 200,
      json: .object([
        ("access_token", .string(tenantToken)), ("issued_token_type", .string(TokenExchangeClient.accessTokenType)),
        ("token_type", .string("Bearer")), ("expires_in", .number("900")), ("scope", .string("mcp:tools")),
      ])),
    Seed(
      what: "refresh token request", status: 400,
      json: .object([
        ("error", .string("invalid_grant")), ("error_description", .string("The refresh token was revoked")),
      ])),
    Seed(
      what: exchangeWhat, status: 400,
      json: .object([("error", .string("invalid_target")), ("error_description", .string("unknown resource"))])),
  ]

  static var corpusBytes: [[UInt8]] { corpus.map(\.json.bytes) }

  @Test(
    "a mutated token response is a consistent value or a clean OAuthError: no trap, no secret, nothing unprintable",
    .timeLimit(.minutes(5)))
  func mutatedTokenResponses() async {
    let property = SeededProperty("token responses", defaultIterations: 10_000)
    let splice = Self.corpusBytes
    let failures = await property.run { fuzzer async -> String? in
      let seed = fuzzer.element(Self.corpus)
      var bytes: [UInt8]
      if fuzzer.chance(75) {
        bytes = fuzzer.mutate(json: seed.json).bytes
        if fuzzer.chance(15) { bytes = fuzzer.mutate(bytes: bytes, splicing: splice, rounds: 1...2) }
      } else {
        bytes = fuzzer.mutate(bytes: seed.json.bytes, splicing: splice)
      }
      let status = fuzzer.chance(90) ? seed.status : fuzzer.element([200, 400, 401, 403, 500, 503])
      fuzzer.record(Array("HTTP \(status) ".utf8) + bytes)
      let response = OAuthHTTPResponse(
        status: status, headers: [("Content-Type", "application/json")], body: Data(bytes))
      if seed.what == Self.exchangeWhat { return await Self.checkExchange(response) }
      do {
        return Self.inconsistency(try TokenResponse.parse(response, what: seed.what), response: response)
      } catch let error as OAuthError {
        return Self.problem(with: error, what: seed.what, response: response)
      } catch {
        return "threw \(type(of: error)), not OAuthError"
      }
    }
    for failure in failures { Issue.record("\(failure)") }
  }

  /// The exchange client on the same input: a minted token, a subject-token refusal, or an
  /// `OAuthError`, never another error type.
  static func checkExchange(_ response: OAuthHTTPResponse) async -> String? {
    let transport = ScriptedTransport()
    transport.on("/oauth/token", { _ in response })
    let client = TokenExchangeClient(
      clientID: "mcp-tunnel", endpoint: { URL(string: "https://sts.example.test/oauth/token")! }, transport: transport)
    let request = SessionTokenRequest(
      tenant: TenantID("acme")!, resource: "https://mcp.example.test/t/acme/mcp", audience: nil, scope: "mcp")
    do {
      switch try await client.exchange(request, subjectToken: AccessToken(revealing: "subject-token-3d9f")) {
      case .minted(let minted):
        let json = response.json()
        guard response.status == 200, json?["issued_token_type"] as? String == TokenExchangeClient.accessTokenType
        else { return "minted a token from a response that is not an access token issuance" }
        return lifetimeProblem(minted.expiresIn)
          ?? tokenProblem(minted.token.revealedForTransmission, expected: json?["access_token"] as? String)
      case .subjectTokenRejected(let reason):
        guard response.status == 400, response.json()?["error"] as? String == "invalid_request" else {
          return "subjectTokenRejected for something other than a 400 invalid_request"
        }
        return unprintable(reason, "reason")
      }
    } catch let error as OAuthError {
      return problem(with: error, what: exchangeWhat, response: response)
    } catch {
      return "threw \(type(of: error)), not OAuthError: \(error)"
    }
  }

  static func inconsistency(_ parsed: TokenResponse, response: OAuthHTTPResponse) -> String? {
    guard response.status == 200 else { return "returned tokens for HTTP \(response.status)" }
    let json = response.json()
    guard parsed.tokenType.lowercased() == "bearer" else { return "accepted token_type \(parsed.tokenType)" }
    if let refresh = parsed.refreshToken?.revealedForTransmission {
      guard !refresh.isEmpty, refresh.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
        return "accepted an empty or unprintable refresh_token"
      }
    }
    if json?["id_token"] != nil, !(json?["id_token"] is NSNull), parsed.idToken == nil {
      return "dropped an id_token of the wrong type instead of refusing the response"
    }
    return lifetimeProblem(parsed.expiresIn)
      ?? tokenProblem(parsed.accessToken.revealedForTransmission, expected: json?["access_token"] as? String)
  }

  static func tokenProblem(_ token: String, expected: String?) -> String? {
    guard !token.isEmpty, token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
      return "accepted an access token that cannot go into an Authorization header"
    }
    return token == expected ? nil : "the access token is not the one in the response"
  }

  static func lifetimeProblem(_ expiresIn: Duration?) -> String? {
    guard let expiresIn else { return nil }
    let seconds = expiresIn.components.seconds
    guard (1...TokenResponse.maximumLifetime).contains(seconds), expiresIn.components.attoseconds == 0 else {
      return "lifetime \(expiresIn) is not a whole number of seconds in 1…\(TokenResponse.maximumLifetime)"
    }
    return nil
  }

  /// What is wrong with an error, if anything: the category must be one an IdP answer can cause,
  /// the text must say what failed and what to do, print cleanly, and hold no token.
  static func problem(with error: OAuthError, what: String, response: OAuthHTTPResponse) -> String? {
    let allowed: Set<FailureCategory> = [.identityProvider, .loginRequired, .usage, .accessDenied]
    guard allowed.contains(error.category) else { return "category \(error.category) for an IdP answer" }
    guard error.summary.hasPrefix(what) else { return "the message does not name the request: \(error.summary)" }
    guard let fix = error.fix, !fix.isEmpty else { return "no fix in \(error.summary)" }
    guard error.summary.unicodeScalars.count <= 600 else {
      return "a \(error.summary.unicodeScalars.count)-character message"
    }
    if let bad = unprintable(error.summary, "summary") ?? unprintable(fix, "fix") { return bad }
    // Tokens from the input; one the server itself echoes in a text field it controls is its doing.
    let json = response.json()
    let echoed = ["error", "error_description", "token_type", "issued_token_type"].compactMap {
      json?[$0] as? String
    }
    let secrets =
      ([accessToken, refreshToken, tenantToken, "subject-token-3d9f"]
      + ["access_token", "refresh_token", "id_token"].compactMap { json?[$0] as? String })
      .filter { secret in secret.count >= 8 && !echoed.contains { $0.contains(secret) } }
    if let leaked = secrets.first(where: { error.summary.contains($0) || fix.contains($0) }) {
      return "the message contains the token \(leaked.prefix(20))…"
    }
    return nil
  }

  static func unprintable(_ text: String, _ name: String) -> String? {
    let bad = text.unicodeScalars.first {
      switch $0.properties.generalCategory {
      case .control, .format, .lineSeparator, .paragraphSeparator: true
      default: false
      }
    }
    return bad.map { "the \(name) holds U+\(String($0.value, radix: 16, uppercase: true)): \(text.prefix(200))" }
  }
}
