import Foundation

/// What `mcp-tunnel elevate` asks the IdP and the token exchange for (SPEC §10), worked out before
/// any prompt from the profile, the tenant's pending step-up challenge and `--scope`. Pure.
///
/// - The login asks for the union of `idp.scopes`, the challenge's scopes and `--scope`, in that
///   order, each once (a refresh cannot widen scope, so a fresh login it is: RFC 6749 §6).
/// - The browser flow adds `prompt=login`, the challenge's `max_age` (0 is not sent: `prompt=login`
///   asks for the same, and glewlwyd rejects 0) and `acr_values`.
/// - The step-up scopes (challenge and `--scope`) must come back in the token response's `scope`:
///   an IdP may drop a scope whose authentication requirement was not met without an error
///   (glewlwyd's device flow does), and the token would then not satisfy the server.
/// - The tenant token is asked for the session's `scope` plus the step-up scopes.
public struct ElevationPlan: Sendable, Equatable {
  public var tenant: TenantID
  /// The scopes the step-up is for: the challenge's and `--scope`, each once.
  public var stepUpScopes: [String]
  /// The interactive login's parameters.
  public var login: InteractiveLoginOptions
  /// The `scope` of the tenant token request; nil when there is none to ask for.
  public var tenantScope: String?

  public init(
    tenant: TenantID, idpScopes: [String], sessionScope: String?, challenge: StepUpChallenge?, requested: [String]
  ) {
    self.tenant = tenant
    let stepUp = Self.union([challenge?.scopes ?? [], requested.flatMap(Self.split)])
    stepUpScopes = stepUp
    login = InteractiveLoginOptions(
      scopes: Self.union([idpScopes, stepUp]), forceLogin: true, maxAge: challenge?.maxAge,
      acrValues: challenge?.acrValues ?? [], requireRefreshToken: false)
    let tenantScopes = Self.union([sessionScope.map(Self.split) ?? [], stepUp])
    tenantScope = tenantScopes.isEmpty ? nil : tenantScopes.joined(separator: " ")
  }

  /// Fails (exit 9) when a step-up scope is missing from the granted `scope`. A response without
  /// `scope` granted what was asked (RFC 6749 §5.1).
  public func checkGranted(_ granted: String?) throws(CoreError) {
    guard let granted else { return }
    let have = Set(Self.split(granted))
    let missing = stepUpScopes.filter { !have.contains($0) }
    guard !missing.isEmpty else { return }
    throw CoreError(
      .accessDenied,
      "the identity provider did not grant \(missing.joined(separator: " ")) (it granted: \(granted.isEmpty ? "nothing" : granted)); "
        + "the sign-in did not meet what that scope requires, or the scope is not allowed for this client",
      fix: "run mcp-tunnel elevate again and complete every step the sign-in page asks for (such as a one-time code); "
        + "if it keeps failing, ask the IdP administrator whether you may have "
        + "\(missing.joined(separator: " "))")
  }

  static func split(_ text: String) -> [String] { text.split(separator: " ").map(String.init) }

  static func union(_ lists: [[String]]) -> [String] {
    var seen = Set<String>()
    return lists.joined().filter { !$0.isEmpty && seen.insert($0).inserted }
  }
}
