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
    // A tunnel whose control socket cannot be used is shown as none, and its error is thrown after
    // the rest is rendered: the login part still shows, and the exit code says what went wrong.
    let probe = await Self.tunnel(profile: profile.name, environment: env)
    let tunnel = (try? probe.get()) ?? nil
    guard profile.idp != nil || verify else {
      // A tcp-only profile has nothing to log in to; its tunnel still has a state to show.
      renderWithoutLogin(profile, tunnel: tunnel)
      return try probe.map { _ in }.get()
    }
    let context = try LoginContext(profile: profile, environment: env)
    let session = try context.session()
    guard let login = try await session.currentLogin() else {
      render(context, login: nil, verifiedUntil: nil, tunnel: tunnel)
      if verify {
        throw CoreError(.loginRequired, "not logged in", fix: "run: mcp-tunnel login --profile \(context.profile.name)")
      }
      return try probe.map { _ in }.get()
    }
    var verifiedUntil: Date?
    var current = login
    if verify {
      let tokens = try await session.refresh(resource: nil)
      verifiedUntil = tokens.expiresAt ?? Date()
      current = try await session.currentLogin() ?? login
    }
    render(context, login: current, verifiedUntil: verifiedUntil, tunnel: tunnel)
    try probe.map { _ in }.get()
  }

  /// The running tunnel's state: nil when no `up` listens (a stale socket of a crashed `up`
  /// counts as none); a socket that is there but cannot be used (permission denied, no answer) is
  /// the failure, saying what happened.
  static func tunnel(profile: String, environment: AppEnvironment) async -> Result<TunnelStatus?, any Error> {
    guard ControlChannel.mayBeRunning(profile: profile, paths: environment.paths) else { return .success(nil) }
    do {
      return .success(
        try await ControlChannel.send(
          ControlRequest(op: .status), profile: profile, environment: environment, noListener: .answerNil)?.tunnel)
    } catch {
      return .failure(error)
    }
  }

  /// A profile without `[idp]`: no login fields, the tunnel as usual.
  private func renderWithoutLogin(_ profile: Profile, tunnel: TunnelStatus?) {
    let result = StatusResult(
      profile: profile.name, loggedIn: false, issuer: nil, clientId: nil, subject: nil, keyring: nil,
      refreshToken: false, tunnel: tunnel)
    AppEnvironment.current.output.writeResult((global.json ? result.jsonLine : result.text) + "\n")
  }

  private func render(_ context: LoginContext, login: StoredLogin?, verifiedUntil: Date?, tunnel: TunnelStatus?) {
    let result = StatusResult(
      profile: context.profile.name, loggedIn: login != nil, issuer: context.key.issuer,
      clientId: context.key.clientID, subject: login?.subject, keyring: context.store.backendName,
      refreshToken: login != nil, tunnel: tunnel, verifiedAccessTokenExpiresAt: verifiedUntil.map(Timestamp.string))
    context.environment.output.writeResult((global.json ? result.jsonLine : result.text) + "\n")
  }
}
