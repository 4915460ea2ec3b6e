import ArgumentParser
import Foundation
import TunnelCore

/// `mcp-tunnel status`: the login state of a profile and, when `up` runs, its tunnel.
struct Status: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status",
    abstract: "Show whether you are logged in, as whom, and where the refresh token is kept.",
    discussion: """
      Reads the keyring entry of the profile: issuer, subject, keyring backend and whether a \
      refresh token is present. A locked or missing keyring is an error (exit 4), never shown as \
      logged out. --verify also asks the identity provider, by refreshing the login (the refresh \
      token is rotated and stored again); a revoked login then exits 3.

      When `mcp-tunnel up` runs for the profile, its state comes from the control socket: listen \
      URL, mode, tenant and token expiry, each hop and the path's state, and the counters \
      (requests, errors, re-mints, reconnects, open connections).

      With --json, stdout carries one object: \
      {"logged_in":…,"issuer":…,"subject":…,"keyring":…,"refresh_token":…,"profile":…,"tunnel":null|{…}}.

      Example:
        $ mcp-tunnel status
        $ mcp-tunnel status --verify --json | jq .logged_in
      """
  )

  @OptionGroup var global: GlobalOptions

  @Flag(name: .long, help: "Refresh the login at the identity provider to prove it is still valid.")
  var verify = false

  func run() async throws {
    let env = AppEnvironment.current
    let (path, configuration) = try env.loader.loadConfiguration(configFlag: global.config)
    let profile = try env.loader.selectProfile(configuration, flag: global.profile, path: path)
    guard profile.idp != nil || verify else {
      // A tcp-only profile has nothing to log in to; its tunnel still has a state to show.
      renderWithoutLogin(profile, tunnel: await Self.tunnel(profile: profile.name, environment: env))
      return
    }
    let context = try LoginContext(profile: profile, environment: env)
    let session = try context.session()
    let tunnel = await Self.tunnel(profile: context.profile.name, environment: env)
    guard let login = try await session.currentLogin() else {
      render(context, login: nil, verifiedUntil: nil, tunnel: tunnel)
      if verify {
        throw CoreError(.loginRequired, "not logged in", fix: "run: mcp-tunnel login --profile \(context.profile.name)")
      }
      return
    }
    var verifiedUntil: Date?
    var current = login
    if verify {
      let tokens = try await session.refresh(resource: nil)
      verifiedUntil = tokens.expiresAt ?? Date()
      current = try await session.currentLogin() ?? login
    }
    render(context, login: current, verifiedUntil: verifiedUntil, tunnel: tunnel)
  }

  /// The running tunnel's state, or nil when none answers (a stale socket of a crashed `up`
  /// counts as none).
  static func tunnel(profile: String, environment: AppEnvironment) async -> TunnelStatus? {
    guard ControlChannel.mayBeRunning(profile: profile, paths: environment.paths) else { return nil }
    return try? await ControlChannel.send(ControlRequest(op: .status), profile: profile, paths: environment.paths)
      .tunnel
  }

  /// A profile without `[idp]`: no login fields, the tunnel as usual.
  private func renderWithoutLogin(_ profile: Profile, tunnel: TunnelStatus?) {
    let output = AppEnvironment.current.output
    if global.json {
      let object: [String: Any] = [
        "profile": profile.name, "logged_in": false, "issuer": NSNull(), "client_id": NSNull(), "subject": NSNull(),
        "keyring": NSNull(), "refresh_token": false, "tunnel": Self.json(tunnel),
      ]
      output.writeResult(JSONLine.encode(object) + "\n")
      return
    }
    let lines = [
      "Profile:       \(profile.name)",
      "Login:         none configured (no [profiles.\(profile.name).idp] section; tcp mode needs none)",
    ]
    output.writeResult((lines + Self.tunnelLines(tunnel)).joined(separator: "\n") + "\n")
  }

  private static func json(_ tunnel: TunnelStatus?) -> Any {
    tunnel.flatMap { try? JSONSerialization.jsonObject(with: ControlChannel.encoder.encode($0)) } ?? NSNull()
  }

  private func render(_ context: LoginContext, login: StoredLogin?, verifiedUntil: Date?, tunnel: TunnelStatus?) {
    let output = context.environment.output
    if global.json {
      var object: [String: Any] = [
        "profile": context.profile.name, "logged_in": login != nil, "issuer": context.key.issuer,
        "client_id": context.key.clientID, "subject": login?.subject ?? NSNull(),
        "keyring": context.store.backendName, "refresh_token": login != nil,
        "tunnel": Self.json(tunnel),
      ]
      if let verifiedUntil { object["verified_access_token_expires_at"] = Timestamp.string(verifiedUntil) }
      output.writeResult(JSONLine.encode(object) + "\n")
      return
    }
    var lines = ["Profile:       \(context.profile.name)", "Issuer:        \(context.key.issuer)"]
    if let login {
      lines.append("Logged in as:  \(login.subject)")
      lines.append("Refresh token: present (\(context.store.backendName))")
      if let verifiedUntil {
        lines.append(
          "Verified:      the identity provider accepted it (access token until \(Timestamp.string(verifiedUntil)))")
      }
    } else {
      lines.append("Logged in:     no (run: mcp-tunnel login)")
      lines.append("Keyring:       \(context.store.backendName), reachable")
    }
    lines += Self.tunnelLines(tunnel)
    output.writeResult(lines.joined(separator: "\n") + "\n")
  }

  /// The tunnel's lines of the text rendering.
  private static func tunnelLines(_ tunnel: TunnelStatus?) -> [String] {
    var lines: [String] = []
    if let tunnel {
      lines.append(
        "Tunnel:        running (pid \(tunnel.pid), session \(tunnel.session)), \(tunnel.mode) \(tunnel.url ?? tunnel.listen)"
      )
      if let tenant = tunnel.tenant {
        lines.append(
          "Tenant:        \(tenant)" + (tunnel.tokenExpiresAt.map { ", token valid until \($0)" } ?? ", no token yet"))
      }
      lines.append(
        "Path:          " + (tunnel.hops.map(\.name) + [tunnel.target]).joined(separator: " → ") + " (\(tunnel.state))")
      let c = tunnel.counters
      if tunnel.mode == ListenMode.tcp.rawValue {
        lines.append("Counters:      \(c.reconnects) reconnects (tcp mode carries bytes, not requests)")
        return lines
      }
      lines.append(
        "Counters:      \(c.requests) requests, \(c.errors) errors, \(c.remints) re-mints, \(c.reconnects) reconnects, "
          + "\(c.openConnections) open connections")
    } else {
      lines.append("Tunnel:        not running (start one with: mcp-tunnel up)")
    }
    return lines
  }
}
