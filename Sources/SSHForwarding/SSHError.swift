import CLibSSH2
import TunnelCore

/// The error type of the `SSHForwarding` module. Names the hop and keeps libssh2's error code.
public struct SSHError: UserFacingError, Equatable {
  public var category: FailureCategory
  public var summary: String
  public var fix: String?
  /// libssh2's `last_error` code, when there was one.
  public var libssh2Code: Int32?

  public init(_ category: FailureCategory, _ summary: String, fix: String? = nil, libssh2Code: Int32? = nil) {
    self.category = category
    self.summary = summary
    self.fix = fix
    self.libssh2Code = libssh2Code
  }
}
