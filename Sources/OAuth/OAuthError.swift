import TunnelCore

/// The error type of the `OAuth` module. Keeps the OAuth `error` code when the server sent one.
public struct OAuthError: UserFacingError, Equatable {
  public var category: FailureCategory
  public var summary: String
  public var fix: String?
  /// The RFC 6749 §5.2 `error` value, when the server answered with one.
  public var oauthError: String?

  public init(_ category: FailureCategory, _ summary: String, fix: String? = nil, oauthError: String? = nil) {
    self.category = category
    self.summary = summary
    self.fix = fix
    self.oauthError = oauthError
  }
}

/// Text that came from a server (an OAuth `error_description`, a `token_type`, an issuer name),
/// made safe to print (WWWA-04): control, format and line-separator characters (ESC of terminal
/// escapes, CR/LF, NUL, bidi overrides) become spaces, runs of spaces collapse, and the result is
/// cut to `limit` Unicode scalars so a hostile server cannot flood the terminal or the log.
enum ServerText {
  static func sanitized(_ text: String, limit: Int = 200) -> String {
    var out = String.UnicodeScalarView()
    var count = 0
    var pendingSpace = false
    for scalar in text.unicodeScalars {
      if PrintableText.isUnprintable(scalar) || scalar.properties.isWhitespace {
        pendingSpace = !out.isEmpty
        continue
      }
      let needed = pendingSpace ? 2 : 1
      if count + needed > limit {
        out.append("…")
        break
      }
      if pendingSpace { out.append(" ") }
      pendingSpace = false
      out.append(scalar)
      count += needed
    }
    return String(out)
  }
}
