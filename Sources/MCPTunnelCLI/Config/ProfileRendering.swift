import Foundation
import TunnelCore

/// Renders a decoded profile for `config show` as TOML for people; `ProfileDocument` is the `--json`
/// object. Both show effective values, defaults included, so what is printed is what will be used.
enum ProfileRendering {
  static func toml(_ p: Profile, file: String) -> String {
    var out = "# effective configuration of profile \"\(p.name)\" from \(file)\n"
    func section(_ name: String, _ rows: [(String, String?)]) {
      out += "\n[profiles.\(p.name).\(name)]\n"
      for (key, value) in rows {
        if let value { out += "\(key) = \(value)\n" }
      }
    }
    if let idp = p.idp {
      section(
        "idp",
        [
          ("issuer", quote(idp.issuer.absoluteString)),
          ("client_id", quote(idp.clientID)),
          ("scopes", list(idp.scopes)),
          ("redirect_uri", idp.redirectURI.map { quote($0.absoluteString) }),
          ("pkce_metadata_override", String(idp.pkceMetadataOverride)),
        ])
    }
    if let s = p.session {
      section(
        "session",
        [
          ("method", quote(s.method.rawValue)),
          ("endpoint", s.endpoint.map { quote($0.absoluteString) }),
          ("resource", quote(s.resource.template)),
          ("audience", s.audience.map { quote($0.template) }),
          ("scope", s.scope.map { quote($0.template) }),
          ("max_ttl", quote(DurationText.format(s.maxTTL))),
          ("tenants", list(s.tenants.map(\.rawValue))),
          ("default_tenant", s.defaultTenant.map { quote($0.rawValue) }),
          ("max_duration", quote(DurationText.format(p.limits.maxDuration))),
          ("idle_timeout", quote(DurationText.format(p.limits.idleTimeout))),
          ("elevate_max", quote(DurationText.format(p.limits.elevateMax))),
        ])
    } else if p.limits != SessionLimits() {
      section(
        "session",
        [
          ("max_duration", quote(DurationText.format(p.limits.maxDuration))),
          ("idle_timeout", quote(DurationText.format(p.limits.idleTimeout))),
          ("elevate_max", quote(DurationText.format(p.limits.elevateMax))),
        ])
    }
    section(
      "ssh",
      [
        ("jump", list(p.ssh.jump.indices.map { p.ssh.hopText($0) })),
        ("host", p.ssh.host.map { _ in quote(p.ssh.hopText(p.ssh.jump.count)) }),
        ("target", quote(p.ssh.target.description)),
        ("ssh_config", quote(p.ssh.sshConfig ?? "none")),
        ("known_hosts", quote(p.ssh.knownHosts)),
        ("identity", p.ssh.identity.map(quote)),
        ("certificate", p.ssh.certificate.map(quote)),
        ("keepalive", quote(DurationText.format(p.ssh.keepalive))),
        ("host_key_policy", quote(p.ssh.hostKeyPolicy.rawValue)),
      ])
    section(
      "listen",
      [
        ("address", quote(p.listen.address.description)),
        ("mode", quote(p.listen.mode.rawValue)),
        ("peers", quote(p.listen.peers.rawValue)),
      ])
    if p.audit != AuditSettings() {
      section("audit", [("journal", String(p.audit.journal))])
    }
    return out
  }

  private static func quote(_ s: String) -> String { PrintableText.quotedLiteral(s) }

  private static func list(_ items: [String]) -> String {
    "[" + items.map(quote).joined(separator: ", ") + "]"
  }
}
