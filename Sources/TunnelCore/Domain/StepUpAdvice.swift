import Foundation

/// What `up` tells the user about a step-up challenge (SPEC §10), in one place for the proxy's
/// JSON-RPC answer, the `step_up_required` event, the stderr line and the audit record: what the
/// server wants, and the `mcp-tunnel elevate` command that gets it.
///
/// The challenge's scopes and ACR values come from the MCP server. The proxy's parser keeps only
/// RFC 6749 `scope-token` characters (printable ASCII without space, `"` and `\`), so they are safe
/// to print; the command line quotes any that a shell would read specially.
public struct StepUpAdvice: Sendable, Equatable {
  public var challenge: StepUpChallenge
  public var tenant: TenantID
  /// The challenged scopes that the profile's login does not ask for already (`[idp] scopes`), in
  /// the challenge's order: what `elevate --scope` must add (it asks for the union with the
  /// profile's scopes itself).
  public var missingScopes: [String]
  /// `--profile P` is added to the command when this is set.
  public var profile: String?

  public init(challenge: StepUpChallenge, tenant: TenantID, baselineScopes: [String] = [], profile: String? = nil) {
    self.challenge = challenge
    self.tenant = tenant
    let baseline = Set(baselineScopes)
    var seen = Set<String>()
    missingScopes = challenge.scopes.filter { !baseline.contains($0) && seen.insert($0).inserted }
    self.profile = profile
  }

  /// `mcp-tunnel elevate --tenant T [--scope S]… [--profile P]`, one `--scope` per missing scope.
  public var command: String {
    var words = ["mcp-tunnel", "elevate", "--tenant", tenant.rawValue]
    for scope in missingScopes { words += ["--scope", Self.shellWord(scope)] }
    if let profile { words += ["--profile", Self.shellWord(profile)] }
    return words.joined(separator: " ")
  }

  /// What the server wants, in words: `scope mcp-admin`, `a login with acr phr and no older than 300 s`.
  public var requirement: String {
    switch challenge.kind {
    case .insufficientScope:
      let scopes = missingScopes.isEmpty ? challenge.scopes : missingScopes
      if scopes.isEmpty { return "a token with more scope" }
      return (scopes.count == 1 ? "scope " : "scopes ") + scopes.joined(separator: " ")
    case .insufficientUserAuthentication:
      var parts: [String] = []
      if !challenge.acrValues.isEmpty {
        parts.append(
          challenge.acrValues.count == 1
            ? "with acr \(challenge.acrValues[0])"
            : "with one of the acr values \(challenge.acrValues.joined(separator: " "))")
      }
      if let maxAge = challenge.maxAge { parts.append("no older than \(maxAge) s") }
      if !missingScopes.isEmpty { parts.append("with scope \(missingScopes.joined(separator: " "))") }
      return parts.isEmpty ? "a fresh, stronger login" : "a login " + parts.joined(separator: " and ")
    }
  }

  /// One sentence with the fix: what the server refused, what it wants, and the command.
  public var message: String {
    "step-up required: the MCP server refused this call for tenant \(tenant) (HTTP \(challenge.status) "
      + "\(challenge.kind.rawValue)); it wants \(requirement); run: \(command)"
  }

  /// The challenge in the words of its `WWW-Authenticate` parameters, for the audit record's detail:
  /// `insufficient_scope; scope="mcp mcp-admin"`, `insufficient_user_authentication; acr_values="phr"; max_age=300`.
  public var auditDetail: String {
    var parts = [challenge.kind.rawValue]
    if !challenge.scopes.isEmpty { parts.append("scope=\"\(challenge.scopes.joined(separator: " "))\"") }
    if !challenge.acrValues.isEmpty { parts.append("acr_values=\"\(challenge.acrValues.joined(separator: " "))\"") }
    if let maxAge = challenge.maxAge { parts.append("max_age=\(maxAge)") }
    return parts.joined(separator: "; ")
  }

  /// `word` as one shell word: as is when it holds only characters no shell treats specially,
  /// else in single quotes.
  static func shellWord(_ word: String) -> String {
    let plain = word.unicodeScalars.allSatisfy { scalar in
      switch scalar {
      case "a"..."z", "A"..."Z", "0"..."9": true
      default: "-_.:/@%+=,".unicodeScalars.contains(scalar)
      }
    }
    if plain, !word.isEmpty { return word }
    return "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
  }
}

/// What `StepUpAdvice` needs from the profile, for the parts of `up` that build one (the proxy, the
/// runtime): the scopes its login asks for already, and its name for `--profile`.
public struct StepUpContext: Sendable, Equatable {
  public var baselineScopes: [String]
  public var profile: String?

  public init(baselineScopes: [String] = [], profile: String? = nil) {
    self.baselineScopes = baselineScopes
    self.profile = profile
  }

  /// The profile's `[idp] scopes` and its name.
  public init(profile: Profile) {
    self.init(baselineScopes: profile.idp?.scopes ?? [], profile: profile.name)
  }

  public func advice(for challenge: StepUpChallenge, tenant: TenantID) -> StepUpAdvice {
    StepUpAdvice(challenge: challenge, tenant: tenant, baselineScopes: baselineScopes, profile: profile)
  }
}
