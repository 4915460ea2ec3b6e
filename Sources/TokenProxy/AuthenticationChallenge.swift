/// One challenge of a `WWW-Authenticate` field (RFC 9110 §11.6.1): a scheme with either a
/// `token68` or a list of auth-params.
///
/// Parsing follows RFC 9110 §11.2/§11.6.1 (WWWA-01): several challenges per field and several
/// fields, case-insensitive scheme and parameter names (stored lower-cased), values as `token` or
/// `quoted-string` with `\` escapes, commas inside quoted strings. Malformed pieces are skipped up
/// to the next comma rather than failing the whole header: a server's typo must not turn an
/// `invalid_token` into something the proxy relays.
public struct AuthenticationChallenge: Sendable, Equatable {
  /// The auth-scheme as sent (compare with `isScheme(_:)`).
  public var scheme: String
  /// The token68 form (`Basic dXNlcg==`), when the challenge uses it instead of parameters.
  public var token68: String?
  /// Auth-params, names lower-cased; the first occurrence of a name wins.
  public var parameters: [String: String]

  public init(scheme: String, token68: String? = nil, parameters: [String: String] = [:]) {
    self.scheme = scheme
    self.token68 = token68
    self.parameters = parameters
  }

  /// Whether this challenge's scheme is `name`, compared case-insensitively.
  public func isScheme(_ name: String) -> Bool { scheme.lowercased() == name.lowercased() }

  /// The RFC 6750 `error` code (`invalid_token`, `insufficient_scope`, …), when present.
  public var error: String? { parameters["error"] }

  /// Every challenge in `fieldValues`, one element per `WWW-Authenticate` field line, in order.
  public static func parse(_ fieldValues: [String]) -> [AuthenticationChallenge] {
    fieldValues.flatMap { parse(field: $0) }
  }

  /// Whether any Bearer challenge carries `error="invalid_token"` (WWWA-03: re-mint once).
  public static func demandsFreshBearerToken(_ fieldValues: [String]) -> Bool {
    parse(fieldValues).contains { $0.isScheme("bearer") && $0.error == "invalid_token" }
  }

  /// The challenges of one field value.
  public static func parse(field: String) -> [AuthenticationChallenge] {
    var scanner = ChallengeScanner(Array(field.utf8))
    var result: [AuthenticationChallenge] = []
    while true {
      scanner.skipWhitespaceAndCommas()
      if scanner.atEnd { break }
      guard let name = scanner.readToken() else {
        scanner.skipPastComma()
        continue
      }
      let afterName = scanner.position
      scanner.skipWhitespace()
      if scanner.peek == UInt8(ascii: "=") {
        guard let last = result.indices.last, result[last].token68 == nil else {
          scanner.skipPastComma()  // a parameter with no challenge to belong to
          continue
        }
        // An auth-param of the current challenge.
        scanner.advance()
        scanner.skipWhitespace()
        let value = scanner.readQuotedString() ?? scanner.readToken() ?? ""
        let key = name.lowercased()
        if result[last].parameters[key] == nil { result[last].parameters[key] = value }
        scanner.skipToCommaOrEnd()
        continue
      }
      // A new challenge: `name` is its scheme.
      scanner.position = afterName
      var challenge = AuthenticationChallenge(scheme: name)
      let hadSpace = scanner.skipWhitespace()
      if hadSpace, let token68 = scanner.readToken68() { challenge.token68 = token68 }
      result.append(challenge)
    }
    return result
  }
}

/// A byte cursor over one header value; only ASCII structure matters, other bytes pass through.
private struct ChallengeScanner {
  let bytes: [UInt8]
  var position = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  var atEnd: Bool { position >= bytes.count }
  var peek: UInt8? { atEnd ? nil : bytes[position] }
  mutating func advance() { position += 1 }

  static func isWhitespace(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }

  /// RFC 9110 `tchar`.
  static func isTokenChar(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"):
      return true
    default:
      return Array("!#$%&'*+-.^_`|~".utf8).contains(b)
    }
  }

  /// RFC 9110 `token68` characters before the trailing `=` padding.
  static func isToken68Char(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"):
      return true
    default:
      return Array("-._~+/".utf8).contains(b)
    }
  }

  @discardableResult
  mutating func skipWhitespace() -> Bool {
    let start = position
    while let b = peek, Self.isWhitespace(b) { advance() }
    return position > start
  }

  mutating func skipWhitespaceAndCommas() {
    while let b = peek, Self.isWhitespace(b) || b == UInt8(ascii: ",") { advance() }
  }

  /// Skips to the next top-level comma (quoted strings are stepped over), leaving it unread.
  mutating func skipToCommaOrEnd() {
    while let b = peek, b != UInt8(ascii: ",") {
      if b == UInt8(ascii: "\"") {
        _ = readQuotedString()
      } else {
        advance()
      }
    }
  }

  mutating func skipPastComma() {
    skipToCommaOrEnd()
    if !atEnd { advance() }
  }

  mutating func readToken() -> String? {
    let start = position
    while let b = peek, Self.isTokenChar(b) { advance() }
    return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
  }

  /// A `quoted-string` with `\` escapes undone; nil (nothing consumed) when not at a `"`.
  mutating func readQuotedString() -> String? {
    guard peek == UInt8(ascii: "\"") else { return nil }
    advance()
    var value: [UInt8] = []
    while let b = peek {
      advance()
      if b == UInt8(ascii: "\"") { return String(decoding: value, as: UTF8.self) }
      if b == UInt8(ascii: "\\"), let escaped = peek {
        advance()
        value.append(escaped)
      } else {
        value.append(b)
      }
    }
    return String(decoding: value, as: UTF8.self)  // unterminated: take what there is
  }

  /// A token68 that is the whole rest of the challenge (followed by the end or a comma); nothing
  /// is consumed otherwise, so `realm="x"` after a scheme is read as a parameter instead.
  mutating func readToken68() -> String? {
    let start = position
    while let b = peek, Self.isToken68Char(b) { advance() }
    guard position > start else { return nil }
    while peek == UInt8(ascii: "=") { advance() }
    let end = position
    skipWhitespace()
    if atEnd || peek == UInt8(ascii: ",") {
      return String(decoding: bytes[start..<end], as: UTF8.self)
    }
    position = start
    return nil
  }
}
