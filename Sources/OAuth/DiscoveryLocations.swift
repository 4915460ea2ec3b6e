import Foundation
import TunnelCore

/// The metadata URLs to try for an issuer, in the order MCP requires (STANDARDS.md ASM-02/ASM-03):
/// RFC 8414 path-inserted, then OIDC path-inserted, then OIDC path-appended; for an issuer without
/// a path, RFC 8414 then OIDC at the root.
public enum DiscoveryLocations {
  public static func candidates(for issuer: URL) -> [URL] {
    guard var components = URLComponents(url: issuer, resolvingAgainstBaseURL: false) else { return [] }
    var path = components.path
    while path.hasSuffix("/") { path.removeLast() }
    components.query = nil
    components.fragment = nil
    func at(_ p: String) -> URL? {
      var c = components
      c.path = p
      return c.url
    }
    if path.isEmpty {
      return [at("/.well-known/oauth-authorization-server"), at("/.well-known/openid-configuration")].compactMap { $0 }
    }
    return [
      at("/.well-known/oauth-authorization-server\(path)"),
      at("/.well-known/openid-configuration\(path)"),
      at("\(path)/.well-known/openid-configuration"),
    ].compactMap { $0 }
  }
}
