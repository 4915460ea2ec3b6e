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
