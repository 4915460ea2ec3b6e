import TunnelCore

/// The error type of the `TokenProxy` module.
public struct ProxyError: UserFacingError, Equatable {
  public var category: FailureCategory
  public var summary: String
  public var fix: String?

  public init(_ category: FailureCategory, _ summary: String, fix: String? = nil) {
    self.category = category
    self.summary = summary
    self.fix = fix
  }
}
