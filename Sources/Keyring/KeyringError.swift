import CLibSecret
import TunnelCore

/// The error type of the `Keyring` module. A keyring that cannot be read is never reported as
/// "no entry": that would make a locked keyring look like a logged-out user.
public struct KeyringError: UserFacingError, Equatable {
  public var category: FailureCategory
  public var summary: String
  public var fix: String?
  /// The GError domain and code, when libsecret reported one.
  public var domain: String?
  public var code: Int?

  public init(
    _ category: FailureCategory, _ summary: String, fix: String? = nil, domain: String? = nil, code: Int? = nil
  ) {
    self.category = category
    self.summary = summary
    self.fix = fix
    self.domain = domain
    self.code = code
  }
}
