import Testing
import TokenProxy

/// The `WWW-Authenticate` corpus of STANDARDS §4.4 (WWWA-01..03).
@Suite("WWW-Authenticate parsing (WWWA-01..03, STANDARDS §4.4)")
struct AuthenticationChallengeTests {
  struct Vector: Sendable, CustomTestStringConvertible {
    var number: Int
    var fields: [String]
    /// Schemes in order, lower-cased.
    var schemes: [String]
    /// Expected parameters of the challenge at each index (only the listed ones are checked).
    var parameters: [Int: [String: String]]
    var invalidToken: Bool
    var testDescription: String { "vector \(number)" }
  }

  static let rm = "https://mcp.example.com/.well-known/oauth-protected-resource"

  static let corpus: [Vector] = [
    Vector(
      number: 1, fields: [#"Bearer resource_metadata="\#(rm)", scope="files:read""#], schemes: ["bearer"],
      parameters: [0: ["resource_metadata": rm, "scope": "files:read"]], invalidToken: false),
    Vector(
      number: 2,
      fields: [
        #"Bearer error="insufficient_scope", scope="files:read files:write user:profile", resource_metadata="\#(rm)", error_description="Additional file write permission required""#
      ],
      schemes: ["bearer"],
      parameters: [
        0: [
          "error": "insufficient_scope", "scope": "files:read files:write user:profile", "resource_metadata": rm,
          "error_description": "Additional file write permission required",
        ]
      ], invalidToken: false),
    Vector(
      number: 3,
      fields: [
        #"Bearer error="invalid_request", error_description="No access token was provided in this request", resource_metadata="https://resource.example.com/.well-known/oauth-protected-resource""#
      ],
      schemes: ["bearer"],
      parameters: [
        0: [
          "error": "invalid_request",
          "resource_metadata": "https://resource.example.com/.well-known/oauth-protected-resource",
        ]
      ], invalidToken: false),
    Vector(
      number: 4, fields: [#"Bearer realm="example""#], schemes: ["bearer"], parameters: [0: ["realm": "example"]],
      invalidToken: false),
    Vector(
      number: 5,
      fields: [#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#],
      schemes: ["bearer"],
      parameters: [
        0: ["realm": "example", "error": "invalid_token", "error_description": "The access token expired"]
      ], invalidToken: true),
    Vector(
      number: 6,
      fields: [
        #"Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="myACR""#
      ],
      schemes: ["bearer"], parameters: [0: ["error": "insufficient_user_authentication", "acr_values": "myACR"]],
      invalidToken: false),
    Vector(
      number: 7,
      fields: [
        #"Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="5""#
      ],
      schemes: ["bearer"], parameters: [0: ["max_age": "5"]], invalidToken: false),
    Vector(
      number: 8, fields: [#"Bearer, DPoP algs="ES256 PS256""#], schemes: ["bearer", "dpop"],
      parameters: [0: [:], 1: ["algs": "ES256 PS256"]], invalidToken: false),
    Vector(
      number: 9, fields: [#"Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256 PS256""#],
      schemes: ["bearer", "dpop"],
      parameters: [0: ["error": "invalid_token", "error_description": "Invalid token"], 1: ["algs": "ES256 PS256"]],
      invalidToken: true),
    Vector(
      number: 10,
      fields: [#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#],
      schemes: ["dpop"], parameters: [0: ["error": "use_dpop_nonce"]], invalidToken: false),
    Vector(
      number: 11, fields: ["bearer ERROR=invalid_token"], schemes: ["bearer"],
      parameters: [0: ["error": "invalid_token"]], invalidToken: true),
    Vector(
      number: 12, fields: [#"Bearer error_description="has \"quotes\", and a comma", error="invalid_token""#],
      schemes: ["bearer"],
      parameters: [0: ["error_description": #"has "quotes", and a comma"#, "error": "invalid_token"]],
      invalidToken: true),
    Vector(
      number: 13, fields: [#"Basic realm="x""#, #"Bearer resource_metadata="\#(rm)""#], schemes: ["basic", "bearer"],
      parameters: [0: ["realm": "x"], 1: ["resource_metadata": rm]], invalidToken: false),
  ]

  @Test("WWWA-01/02: corpus vector parses into the expected challenges", arguments: corpus)
  func corpusVector(_ vector: Vector) {
    let challenges = AuthenticationChallenge.parse(vector.fields)
    #expect(challenges.map { $0.scheme.lowercased() } == vector.schemes)
    for (index, expected) in vector.parameters where index < challenges.count {
      for (name, value) in expected {
        #expect(challenges[index].parameters[name] == value, "challenge \(index) parameter \(name)")
      }
      if expected.isEmpty { #expect(challenges[index].parameters.isEmpty) }
    }
    #expect(AuthenticationChallenge.demandsFreshBearerToken(vector.fields) == vector.invalidToken)
  }

  @Test("WWWA-03: only a Bearer invalid_token asks for a re-mint, not a DPoP one or an error elsewhere")
  func onlyBearerInvalidToken() {
    #expect(!AuthenticationChallenge.demandsFreshBearerToken([#"DPoP error="invalid_token""#]))
    #expect(!AuthenticationChallenge.demandsFreshBearerToken([#"Basic realm="invalid_token""#]))
    #expect(AuthenticationChallenge.demandsFreshBearerToken([#"Basic realm="x", BEARER error="invalid_token""#]))
    #expect(!AuthenticationChallenge.demandsFreshBearerToken([]))
  }

  @Test("token68 challenges and malformed input do not derail the parser")
  func token68AndJunk() {
    let parsed = AuthenticationChallenge.parse(["Basic dXNlcjpwYXNz==, Bearer error=invalid_token"])
    #expect(parsed.map(\.scheme) == ["Basic", "Bearer"])
    #expect(parsed.first?.token68 == "dXNlcjpwYXNz==")
    #expect(parsed.last?.error == "invalid_token")
    #expect(
      AuthenticationChallenge.parse([#"=oops, Bearer error="invalid_token", realm="unterminated"#]).last?.error
        == "invalid_token")
    #expect(AuthenticationChallenge.parse(["", " , ,"]).isEmpty)
  }
}
