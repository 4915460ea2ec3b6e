/// What kind of failure an error is, from the user's point of view.
///
/// Every module's error type names one of these; `MCPTunnelCLI` maps each to the exit codes of
/// SPEC.md §8 in exactly one place, so adapters never know about process exit codes.
public enum FailureCategory: String, Sendable, CaseIterable {
  /// A bug or an unexpected condition (exit 1).
  case internalError
  /// Bad usage or configuration: unknown key, bad value, non-loopback listen (exit 2).
  case usage
  /// No refresh token, `invalid_grant`, revoked (exit 3).
  case loginRequired
  /// Secret Service missing, or the collection is locked (exit 4).
  case keyringUnavailable
  /// IdP or token endpoint unreachable, or it answered with an error (exit 5).
  case identityProvider
  /// An SSH host key is unknown or changed (exit 6).
  case hostKeyVerification
  /// An SSH hop could not be reached or refused authentication (exit 7).
  case sshConnection
  /// The local listen address is taken (exit 8).
  case addressInUse
  /// Tenant not allowed, exchange refused, step-up required (exit 9).
  case accessDenied
  /// The user interrupted the command (exit 130).
  case interrupted
}

/// An error whose text is meant for the person at the terminal.
///
/// `summary` says what failed; `fix` says what to do next. Both must be free of secrets: they are
/// printed, logged and may be shown in `--json` output.
public protocol UserFacingError: Error, CustomStringConvertible {
  var category: FailureCategory { get }
  /// One line: what failed.
  var summary: String { get }
  /// One line: what to do about it, when there is something to do.
  var fix: String? { get }
}

extension UserFacingError {
  public var description: String {
    if let fix { return "\(summary)\n  fix: \(fix)" }
    return summary
  }
}
