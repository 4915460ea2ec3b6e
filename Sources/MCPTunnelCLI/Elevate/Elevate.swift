import ArgumentParser
import Foundation
import TunnelCore

/// `mcp-tunnel elevate`: a fresh interactive login for a step-up, minted into a tenant token and
/// handed to the running `up` (SPEC §10). Nothing of it is stored.
struct Elevate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "elevate",
    abstract: "Step up: sign in again for more scope and hand the token to the running up, for one tenant, briefly.",
    discussion: """
      When the MCP server refuses a call for want of a stronger token (up prints `run: mcp-tunnel \
      elevate …`), this asks the running up which tenant it serves and what the server asked for, \
      then signs you in again: the browser flow with prompt=login, the challenge's max_age and \
      acr_values, or the device flow when there is no display (--flow auto, as for login). It asks \
      for idp.scopes, the challenge's scopes and --scope together, and fails (exit 9) when the \
      identity provider does not grant a step-up scope. The login is exchanged for a tenant token \
      with that scope, which goes to up over its control socket; up uses it for that tenant only, \
      until the earlier of its expiry, --for and session.elevate_max, then goes back to the \
      ordinary token. A tenant switch ends it at once. Neither token is stored anywhere.

      When no up runs for the profile, it says so (exit 2) before any prompt.

      With --json, stdout carries device_authorization or browser_authorization, then \
      {"event":"elevated","tenant":…,"scope":[…],"ends_at":…}.

      Example:
        $ mcp-tunnel elevate --scope mcp-admin
        $ mcp-tunnel elevate --tenant acme --scope mcp-admin --for 2m --flow device
      """
  )

  @OptionGroup var global: GlobalOptions

  @Option(name: .long, help: ArgumentHelp("The tenant to elevate; default: the one up serves.", valueName: "tenant"))
  var tenant: String?

  @Option(
    name: .long,
    help: ArgumentHelp("A scope to add (repeatable, or space-separated); the challenge's scopes are added anyway."))
  var scope: [String] = []

  @Option(
    name: .customLong("for"),
    help: ArgumentHelp(
      "How long up uses the elevated token, e.g. 2m; at most session.elevate_max (default 5m).",
      valueName: "duration"))
  var duration: String?

  @Option(name: .long, help: "How to sign in: auto, browser (PKCE) or device (code on another device).")
  var flow: Login.Flow = .auto

  @Flag(name: .long, help: "Print the browser URL instead of opening a browser.")
  var noBrowser = false

  func validate() throws {
    if let tenant, TenantID(tenant) == nil { throw ValidationError("--tenant \(tenant) is not a valid tenant name") }
    if let duration {
      guard let parsed = DurationText.parse(duration), parsed >= .seconds(1) else {
        throw ValidationError("--for \(duration) is not a duration of at least 1s (e.g. 90s, 5m)")
      }
    }
  }

  func run() async throws {
    let env = AppEnvironment.current
    let output = env.output
    let context = try LoginContext.load(global, environment: env)
    guard let settings = context.profile.session else {
      throw CoreError(
        .usage, "profile \(context.profile.name) has no [session]: there is no tenant token to elevate",
        fix: "elevate works with an http-mode profile that has [profiles.\(context.profile.name).session]")
    }
    // SPEC §10: ask the running up first, so nobody signs in for nothing.
    let info = try await ControlChannel.send(
      ControlRequest(op: .elevationInfo, tenant: tenant), profile: context.profile.name, environment: env)
    guard let served = info.tenant.flatMap(TenantID.init) else {
      throw CoreError(.internalError, "the running tunnel did not say which tenant it serves")
    }
    let target = tenant.flatMap(TenantID.init) ?? served
    guard target == served else {
      throw CoreError(
        .usage,
        "the running tunnel serves tenant \(served), not \(target); an elevation is used for the served tenant only",
        fix: "switch first: mcp-tunnel tenant use \(target); then run mcp-tunnel elevate --tenant \(target) again")
    }
    let plan = ElevationPlan(
      tenant: target, idpScopes: context.idp.scopes, sessionScope: settings.scope?.expand(for: target),
      challenge: info.stepUp, requested: scope)
    if plan.stepUpScopes.isEmpty, info.stepUp == nil {
      output.writeDiagnostic(
        "note: no step-up challenge is pending for tenant \(target) and no --scope was given; "
          + "signing in again anyway\n")
    }
    let seconds = duration.flatMap(DurationText.parse).map { Int($0.components.seconds) }

    let (chosen, reason) = Login.choose(flow, environment: env.environment)
    if let reason { output.writeDiagnostic("Using the \(chosen.rawValue) flow: \(reason).\n") }
    if chosen == .device, !plan.login.authorizationParameters.filter({ $0.name != "prompt" }).isEmpty {
      output.writeDiagnostic(
        "note: the device flow cannot carry max_age or acr_values; the identity provider decides how you sign in\n")
    }
    try await context.provider.checkDiscovery()
    let tokens = try await signIn(chosen, plan: plan, context: context, env: env)
    try plan.checkGranted(tokens.scope)

    let minted = try await mint(plan: plan, tokens: tokens, settings: settings, context: context, env: env)
    let expiresIn = minted.expiresIn.map {
      max(1, Int($0.components.seconds) - Int(Date().timeIntervalSince(minted.receivedAt)))
    }
    let answer = try await ControlChannel.send(
      ControlRequest(
        op: .elevate, tenant: target.rawValue, token: minted.token.revealedForTransmission, expiresIn: expiresIn,
        scope: minted.scope.map { $0.split(separator: " ").map(String.init) } ?? plan.tenantScope.map {
          $0.split(separator: " ").map(String.init)
        } ?? [], forSeconds: seconds),
      profile: context.profile.name, environment: env)
    if let note = answer.note { output.writeDiagnostic("note: \(note)\n") }
    guard let elevation = answer.elevation else {
      throw CoreError(.internalError, "the running tunnel answered without the elevation")
    }
    let done = ElevatedEvent(tenant: elevation.tenant, scope: elevation.scope, endsAt: elevation.endsAt)
    output.writeResult((global.json ? done.jsonLine : done.text) + "\n")
  }

  private func signIn(
    _ chosen: Login.Flow, plan: ElevationPlan, context: LoginContext, env: AppEnvironment
  ) async throws -> IdentityTokens {
    let output = env.output
    let json = global.json
    switch chosen {
    case .device:
      let countdown = DeviceCountdown(output: output, enabled: !json && output.diagnosticIsTerminal)
      defer { countdown.stop() }
      return try await context.provider.loginWithDevice(plan.login) { prompt in
        Login.show(prompt, output: output, json: json)
        countdown.start(expiresIn: prompt.expiresIn)
      }
    default:
      let openBrowser = !noBrowser
      let opener = env.openBrowser
      return try await context.provider.loginWithBrowser(plan.login) { url in
        let prompt = BrowserAuthorizationEvent(url: url.absoluteString)
        if json { output.writeResult(prompt.jsonLine + "\n") }
        output.writeDiagnostic(prompt.text)
        if openBrowser, !opener(url) {
          output.writeDiagnostic("(could not start xdg-open; open the URL yourself, or use --flow device)\n")
        }
      }
    }
  }

  /// The tenant token from the elevated login: an RFC 8693 exchange asking for the step-up scope,
  /// or (resource-refresh) one refresh of the elevated login with the tenant's resource. The
  /// elevated refresh token is used at most for that and then forgotten.
  private func mint(
    plan: ElevationPlan, tokens: IdentityTokens, settings: SessionSettings, context: LoginContext,
    env: AppEnvironment
  ) async throws -> MintedSessionToken {
    var request = SessionTokenRequest(tenant: plan.tenant, settings: settings)
    request.scope = plan.tenantScope
    switch settings.method {
    case .tokenExchange:
      let minter = env.makeSessionMinter(settings, context.idp)
      switch try await minter.exchange(request, subjectToken: tokens.accessToken) {
      case .minted(let minted):
        return minted
      case .subjectTokenRejected(let reason):
        throw CoreError(
          .accessDenied, "the token exchange endpoint refused the fresh login for tenant \(plan.tenant) (\(reason))",
          fix: "check session.endpoint: it must accept access tokens issued by idp.issuer")
      }
    case .resourceRefresh:
      guard let refreshToken = tokens.refreshToken else {
        throw CoreError(
          .identityProvider, "the identity provider issued no refresh token, so no tenant token can be had from it",
          fix: "add \"offline_access\" to idp.scopes, or use session.method = \"token-exchange\"")
      }
      let refreshed = try await context.provider.refresh(refreshToken, resource: request.resource)
      return MintedSessionToken(
        token: refreshed.accessToken, expiresIn: refreshed.expiresIn, receivedAt: refreshed.receivedAt,
        scope: refreshed.scope)
    }
  }
}

/// `elevate` is done: `up` uses the elevated token for `tenant` until `ends_at`.
struct ElevatedEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "elevated"
  var tenant: String
  var scope: [String]
  var endsAt: String

  var text: String {
    "Elevated: tenant \(tenant) now uses a token with scope \(scope.joined(separator: " ")) until \(endsAt); "
      + "then up goes back to the ordinary token."
  }
}

/// `up` stopped using the elevated token of `tenant`: `expired`, `window`, `tenant_switch`,
/// `replaced`, `rejected` or `stopped`.
struct ElevationEndedEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "elevation_ended"
  var tenant: String
  var reason: String

  var text: String {
    let why =
      switch reason {
      case "expired": "the elevated token expired"
      case "window": "its time (--for / session.elevate_max) is over"
      case "tenant_switch": "the tenant was switched"
      case "replaced": "a newer elevation replaced it"
      case "rejected": "the MCP server refused it"
      default: reason
      }
    return "elevation of tenant \(tenant) ended: \(why); calls carry the ordinary token again"
  }
}
