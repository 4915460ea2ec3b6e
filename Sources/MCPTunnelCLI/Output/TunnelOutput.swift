import TunnelCore

// What `status`, `token` and `tenant` print about a login and a running tunnel (SPEC §2, §7).

/// `status`: the login, and the running tunnel (`null` when none). A profile without `[idp]` has
/// `null` issuer, client and keyring.
struct StatusResult: JSONOutputLine, TextRenderable, Equatable {
  var profile: String
  var loggedIn: Bool
  @NullWhenAbsent var issuer: String?
  @NullWhenAbsent var clientId: String?
  @NullWhenAbsent var subject: String?
  @NullWhenAbsent var keyring: String?
  var refreshToken: Bool
  @NullWhenAbsent var tunnel: TunnelStatus?
  /// Only with `--verify`.
  var verifiedAccessTokenExpiresAt: String?

  var text: String {
    var lines = ["Profile:       \(profile)"]
    if let issuer {
      lines.append("Issuer:        \(issuer)")
      if let subject, loggedIn {
        lines.append("Logged in as:  \(subject)")
        lines.append("Refresh token: present (\(keyring ?? ""))")
        if let verifiedAccessTokenExpiresAt {
          lines.append(
            "Verified:      the identity provider accepted it (access token until \(verifiedAccessTokenExpiresAt))")
        }
      } else {
        lines.append("Logged in:     no (run: mcp-tunnel login)")
        lines.append("Keyring:       \(keyring ?? ""), reachable")
      }
    } else {
      lines.append("Login:         none configured (no [profiles.\(profile).idp] section; tcp mode needs none)")
    }
    return (lines + Self.tunnelLines(tunnel)).joined(separator: "\n")
  }

  /// The tunnel's lines of the text rendering.
  static func tunnelLines(_ tunnel: TunnelStatus?) -> [String] {
    guard let tunnel else { return ["Tunnel:        not running (start one with: mcp-tunnel up)"] }
    var lines = [
      "Tunnel:        running (pid \(tunnel.pid), session \(tunnel.session)), \(tunnel.mode) \(tunnel.url ?? tunnel.listen)"
    ]
    if let tenant = tunnel.tenant {
      lines.append(
        "Tenant:        \(tenant)" + (tunnel.tokenExpiresAt.map { ", token valid until \($0)" } ?? ", no token yet"))
    }
    if let elevation = tunnel.elevation {
      lines.append(
        "Elevated:      tenant \(elevation.tenant), scope \(elevation.scope.joined(separator: " ")), until "
          + "\(elevation.endsAt) (mcp-tunnel elevate)")
    }
    lines.append(
      "Path:          " + (tunnel.hops.map(\.name) + [tunnel.target]).joined(separator: " → ") + " (\(tunnel.state))")
    if tunnel.endsAt != nil || tunnel.idleEndsAt != nil {
      lines.append(
        "Session ends:  "
          + [
            tunnel.endsAt.map { "\($0) (session.max_duration)" },
            tunnel.idleEndsAt.map { "\($0) if idle (session.idle_timeout)" },
          ]
          .compactMap { $0 }.joined(separator: ", or "))
    }
    let c = tunnel.counters
    if let peers = tunnel.peers {
      let who = peers == ListenPeers.sameUser.rawValue ? "only you may connect" : "every local user may connect"
      lines.append("Peers:         \(peers) (\(who)), \(c.denied) connection\(c.denied == 1 ? "" : "s") refused")
    }
    if tunnel.mode == ListenMode.tcp.rawValue {
      lines.append("Counters:      \(c.reconnects) reconnects (tcp mode carries bytes, not requests)")
      return lines
    }
    lines.append(
      "Counters:      \(c.requests) requests, \(c.errors) errors, \(c.remints) re-mints, \(c.reconnects) reconnects, "
        + "\(c.openConnections) open connections")
    return lines
  }
}

/// `token`: the running tunnel's tenant token; the text is the token alone.
struct TokenResult: JSONOutputLine, TextRenderable, Equatable {
  var token: String
  @NullWhenAbsent var tenant: String?
  @NullWhenAbsent var expiresAt: String?

  var text: String { token }
}

/// `tenant use T`.
struct TenantUseResult: JSONOutputLine, TextRenderable, Equatable {
  var tenant: String
  @NullWhenAbsent var previousTenant: String?
  @NullWhenAbsent var tokenExpiresAt: String?

  var text: String {
    if previousTenant == tenant { return "already serving tenant \(tenant)" }
    return "now serving tenant \(tenant) (was \(previousTenant ?? "?"))"
      + (tokenExpiresAt.map { "; token valid until \($0)" } ?? "")
  }
}

/// `tenant current`; the text is the tenant alone (empty when none).
struct TenantCurrentResult: JSONOutputLine, TextRenderable, Equatable {
  @NullWhenAbsent var tenant: String?
  @NullWhenAbsent var tokenExpiresAt: String?

  var text: String { tenant ?? "" }
}

/// `tenant list`: the profile's tenants, `current` the one a running tunnel serves.
struct TenantListResult: JSONOutputLine, TextRenderable, Equatable {
  var tenants: [String]
  @NullWhenAbsent var current: String?

  /// One line per tenant, the served one marked with `*`; empty when there are none.
  var text: String { tenants.map { ($0 == current ? "* " : "  ") + $0 + "\n" }.joined() }
}
