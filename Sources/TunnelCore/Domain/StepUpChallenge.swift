/// What an MCP server asked for when it refused a call for want of a stronger token (SPEC §10):
/// `403 insufficient_scope` with `scope=` (MCP 2025-11-25) or `401 insufficient_user_authentication`
/// with `acr_values`/`max_age` (RFC 9470). `up` answers the client itself instead of retrying, and
/// `elevate` reads the last one of a tenant to ask the IdP for exactly that.
public struct StepUpChallenge: Sendable, Hashable, Codable {
  public enum Kind: String, Sendable, Hashable, Codable {
    /// `403` with `error="insufficient_scope"`: the token lacks a scope.
    case insufficientScope = "insufficient_scope"
    /// `401` with `error="insufficient_user_authentication"` (RFC 9470): the login was not strong
    /// or not recent enough.
    case insufficientUserAuthentication = "insufficient_user_authentication"
  }

  public var kind: Kind
  /// The HTTP status the server answered with (403 or 401).
  public var status: Int
  /// The challenge's `scope` parameter, split on spaces; empty when absent.
  public var scopes: [String]
  /// The challenge's `acr_values`, split on spaces, in the server's order of preference.
  public var acrValues: [String]
  /// The challenge's `max_age` in seconds, when present and a non-negative integer.
  public var maxAge: Int?

  public init(kind: Kind, status: Int, scopes: [String] = [], acrValues: [String] = [], maxAge: Int? = nil) {
    self.kind = kind
    self.status = status
    self.scopes = scopes
    self.acrValues = acrValues
    self.maxAge = maxAge
  }
}
