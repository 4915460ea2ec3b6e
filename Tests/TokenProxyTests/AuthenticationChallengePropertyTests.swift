import MCPTunnelTestSupport
import TestTiers
import Testing
import TokenProxy

/// Seeded property tests of the `WWW-Authenticate` parser (WWWA-01/02): well-formed challenges
/// from a generator round-trip exactly, and mutated headers never trap or hang. Replay a failure
/// with the seed and iteration it prints (see `SeededProperty`).
@Suite("WWW-Authenticate under seeded generation and mutation (WWWA-01/02)", .offPool)
struct AuthenticationChallengePropertyTests {
  /// One generated challenge and the parse it must produce.
  struct Expected: Equatable {
    var scheme: String
    var token68: String?
    var parameters: [String: String]
  }

  static let schemes = ["Bearer", "DPoP", "Basic", "Digest", "Newauth", "X-Custom!#$%&'*+.^_`|~9"]
  static let parameterNames = [
    "realm", "scope", "error", "error_description", "error_uri", "resource_metadata", "acr_values", "max_age",
    "algs", "nonce", "x-ext",
  ]
  static let tokenCharacters = Array("abcXYZ019!#$%&'*+-.^_`|~")
  static let token68Characters = Array("abcXYZ019-._~+/")

  /// A random casing of `name`: scheme and parameter names are case-insensitive.
  static func recase(_ name: String, _ fuzzer: inout Fuzzer) -> String {
    String(name.map { fuzzer.chance(50) ? Character($0.uppercased()) : Character($0.lowercased()) })
  }

  /// A value as it would appear in a real header: URLs, scope lists, error codes, free text with
  /// quotes, backslashes, commas, equals signs and non-ASCII.
  static func value(_ fuzzer: inout Fuzzer) -> String {
    let pieces = [
      "https://mcp.example.com/.well-known/oauth-protected-resource", "files:read files:write", "invalid_token",
      "insufficient_scope", "a, b", "x=y", "say \"hi\"", "back\\slash", "", " ", "é", "😀", "ES256 PS256", "5",
      "\t", "=", ",", "\\\"", "realm=\"inner\"", "Bearer error=\"nested\"",
    ]
    return (0..<fuzzer.int(0...3)).map { _ in fuzzer.element(pieces) }.joined()
  }

  /// `value` as a token when it is one (and the coin says so), else as a quoted-string.
  static func serialize(_ value: String, _ fuzzer: inout Fuzzer) -> String {
    let isToken = !value.isEmpty && value.allSatisfy { tokenCharacters.contains($0) || $0.isLetter && $0.isASCII }
    if isToken && fuzzer.chance(50) { return value }
    var out = "\""
    for c in value {
      if c == "\"" || c == "\\" { out += "\\" }
      out.append(c)
    }
    return out + "\""
  }

  /// Optional whitespace (OWS/BWS of RFC 9110).
  static func ows(_ fuzzer: inout Fuzzer) -> String { fuzzer.element(["", "", " ", "\t", "  "]) }

  /// One well-formed challenge and its expected parse.
  static func challenge(_ fuzzer: inout Fuzzer) -> (text: String, expected: Expected) {
    let scheme = fuzzer.chance(80) ? recase(fuzzer.element(schemes), &fuzzer) : randomToken(&fuzzer)
    if fuzzer.chance(10) {
      let token68 =
        String((0..<fuzzer.int(1...24)).map { _ in fuzzer.element(token68Characters) })
        + String(repeating: "=", count: fuzzer.int(0...2))
      return ("\(scheme) \(token68)", Expected(scheme: scheme, token68: token68, parameters: [:]))
    }
    var parameters: [String: String] = [:]
    var parts: [String] = []
    for _ in 0..<fuzzer.int(0...4) {
      let name = fuzzer.chance(85) ? fuzzer.element(parameterNames) : randomToken(&fuzzer)
      guard parameters[name.lowercased()] == nil else { continue }
      let value = value(&fuzzer)
      parameters[name.lowercased()] = value
      parts.append(recase(name, &fuzzer) + ows(&fuzzer) + "=" + ows(&fuzzer) + serialize(value, &fuzzer))
    }
    let text = parts.isEmpty ? scheme : scheme + " " + parts.joined(separator: ows(&fuzzer) + "," + ows(&fuzzer))
    return (text, Expected(scheme: scheme, token68: nil, parameters: parameters))
  }

  static func randomToken(_ fuzzer: inout Fuzzer) -> String {
    String((0..<fuzzer.int(1...12)).map { _ in fuzzer.element(tokenCharacters) })
  }

  /// One to three fields of one to three challenges each, with empty list elements sprinkled in.
  static func header(_ fuzzer: inout Fuzzer) -> (fields: [String], expected: [Expected]) {
    var fields: [String] = []
    var expected: [Expected] = []
    for _ in 0..<fuzzer.int(1...3) {
      var texts: [String] = []
      for _ in 0..<fuzzer.int(1...3) {
        let (text, parse) = challenge(&fuzzer)
        texts.append(text)
        expected.append(parse)
      }
      let leading = fuzzer.chance(10) ? ", " : ""
      let trailing = fuzzer.chance(10) ? " ," : ""
      fields.append(leading + texts.joined(separator: ows(&fuzzer) + "," + ows(&fuzzer)) + trailing)
    }
    return (fields, expected)
  }

  @Test("WWWA-01/02: generated well-formed challenges round-trip scheme, token68 and every parameter exactly")
  func roundTrip() {
    let property = SeededProperty("WWW-Authenticate round trip", defaultIterations: 10_000)
    let failures = property.run { fuzzer -> String? in
      let (fields, expected) = Self.header(&fuzzer)
      fuzzer.record(fields)
      let parsed = AuthenticationChallenge.parse(fields).map {
        Expected(scheme: $0.scheme, token68: $0.token68, parameters: $0.parameters)
      }
      guard parsed == expected else { return "parsed \(parsed), expected \(expected)" }
      let invalidToken = expected.contains {
        $0.scheme.lowercased() == "bearer" && $0.parameters["error"] == "invalid_token"
      }
      guard AuthenticationChallenge.demandsFreshBearerToken(fields) == invalidToken else {
        return "demandsFreshBearerToken disagrees with the parse"
      }
      return nil
    }
    for failure in failures { Issue.record("\(failure)") }
  }

  @Test("WWWA-01: mutated headers never trap or hang; every challenge has a token scheme and lower-cased names")
  func mutatedHeaders() {
    let property = SeededProperty("WWW-Authenticate mutation", defaultIterations: 8000)
    let failures = property.run { fuzzer -> String? in
      let (fields, _) = Self.header(&fuzzer)
      let mutated = fields.map { field -> String in
        let bytes = fuzzer.mutate(bytes: Array(field.utf8), splicing: fields.map { Array($0.utf8) })
        return String(decoding: bytes, as: UTF8.self)
      }
      fuzzer.record(mutated)
      for challenge in AuthenticationChallenge.parse(mutated) {
        guard !challenge.scheme.isEmpty, challenge.scheme.allSatisfy({ Self.isTokenCharacter($0) }) else {
          return "scheme \(challenge.scheme.debugDescription) is not a token"
        }
        for name in challenge.parameters.keys
        where name.isEmpty || name != name.lowercased() || !name.allSatisfy({ Self.isTokenCharacter($0) }) {
          return "parameter name \(name.debugDescription) is not a lower-cased token"
        }
      }
      return nil
    }
    for failure in failures { Issue.record("\(failure)") }
  }

  static func isTokenCharacter(_ c: Character) -> Bool {
    c.isASCII && (c.isLetter || c.isNumber || "!#$%&'*+-.^_`|~".contains(c))
  }
}
