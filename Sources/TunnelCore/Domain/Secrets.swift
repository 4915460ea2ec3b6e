/// A secret string that cannot print by accident.
///
/// `description`, `debugDescription`, `customMirror` and string interpolation all say
/// `<redacted>`; the value is reachable only through `withValue` / `revealedForTransmission`,
/// which makes every place that sends a secret easy to find in review.
public protocol RedactedSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
  CustomReflectable
{
  init(revealing value: String)
  /// The secret, for the one place that must send or store it.
  var revealedForTransmission: String { get }
}

extension RedactedSecret {
  public var description: String { "<redacted>" }
  public var debugDescription: String { "<redacted>" }
  public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// The IdP refresh token: the only credential that is ever persisted, and only in the keyring.
public struct RefreshToken: RedactedSecret {
  private let value: String
  public init(revealing value: String) { self.value = value }
  public var revealedForTransmission: String { value }
}

/// An access token (the IdP's, or a tenant-scoped MCP token). Held in memory only.
public struct AccessToken: RedactedSecret {
  private let value: String
  public init(revealing value: String) { self.value = value }
  public var revealedForTransmission: String { value }
}
