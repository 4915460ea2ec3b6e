import CLibSSH2
import TunnelCore

/// The error type of the `SSHForwarding` module. Names the hop and keeps libssh2's error code.
public struct SSHError: UserFacingError, HopAttributedError, Equatable {
  public var category: FailureCategory
  public var summary: String
  public var fix: String?
  /// libssh2's `last_error` code, when there was one.
  public var libssh2Code: Int32?
  /// Whether trying again later may succeed (a network failure) or cannot (a changed host key, a
  /// refused login). Only consulted after the path has worked once: the first failure always ends `up`.
  public var retryable: Bool
  /// For a failure while the path was being built: which hop failed and how far it got. Nil for
  /// every other failure. `mcp-tunnel doctor` reports each hop's checks from it.
  public var failedHop: HopFailure?

  public init(
    _ category: FailureCategory, _ summary: String, fix: String? = nil, libssh2Code: Int32? = nil,
    retryable: Bool = true
  ) {
    self.category = category
    self.summary = summary
    self.fix = fix
    self.libssh2Code = libssh2Code
    self.retryable = retryable
  }

  /// `summary` followed by libssh2's last error text and code for `session`.
  init(
    _ category: FailureCategory, _ summary: String, session: SessionHandle, fix: String? = nil, retryable: Bool = true
  ) {
    let (code, text) = session.lastError
    var full = summary
    if code != 0 { full += text.isEmpty ? " (libssh2 error \(code))" : ": \(text) (libssh2 error \(code))" }
    self.init(category, full, fix: fix, libssh2Code: code == 0 ? nil : code, retryable: retryable)
  }
}
