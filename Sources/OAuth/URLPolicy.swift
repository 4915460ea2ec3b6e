import Foundation
import TunnelCore

/// Which URLs mcp-tunnel will talk to or show (STANDARDS GEN-01, ASM-09, AZ-13, DEV-05).
///
/// Endpoints must be `https`; `http` is allowed only when the host is a loopback address
/// (a local IdP, the test lab). Anything else — `javascript:`, `file:`, `data:`, a non-loopback
/// `http` — is refused by allowlist, never by denylist.
enum URLPolicy {
  static func isLoopbackHost(_ host: String?) -> Bool {
    guard var host = host?.lowercased() else { return false }
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    if host == "localhost" || host == "::1" { return true }
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
  }

  /// Whether `url` may be fetched or shown: https anywhere, http only on loopback.
  static func isAllowed(_ url: URL) -> Bool {
    guard let scheme = url.scheme?.lowercased(), url.host != nil, !(url.host ?? "").isEmpty else { return false }
    if scheme == "https" { return true }
    return scheme == "http" && isLoopbackHost(url.host)
  }

  /// Throws unless `url` passes `isAllowed`; `what` names the field for the message.
  static func require(_ url: URL, _ what: String) throws(OAuthError) {
    guard isAllowed(url) else {
      throw OAuthError(
        .identityProvider,
        "refusing \(what) \(url.absoluteString): only https URLs (or http on a loopback address) are allowed",
        fix: "check idp.issuer; if the identity provider really publishes this URL, report it to its administrator")
    }
  }

  /// Parses `text` as a URL and applies the policy.
  static func parse(_ text: String?, _ what: String) throws(OAuthError) -> URL {
    guard let text, let url = URL(string: text) else {
      throw OAuthError(
        .identityProvider, "the identity provider's \(what) is missing or not a URL",
        fix: "check idp.issuer points at an OpenID/OAuth authorization server")
    }
    try require(url, what)
    return url
  }
}
