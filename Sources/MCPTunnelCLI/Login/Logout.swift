import ArgumentParser
import Foundation
import TunnelCore

/// `mcp-tunnel logout`: revoke at the IdP (RFC 7009), then wipe the keyring entry, always.
struct Logout: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "logout",
    abstract: "Revoke the refresh token at the identity provider and delete it from the keyring.",
    discussion: """
      Revokes the stored refresh token at the identity provider's revocation endpoint \
      (RFC 7009), then deletes the keyring entry. The entry is deleted even when revocation fails \
      (IdP down, HTTP 503); the failure is reported on stderr so you can revoke the session at \
      the IdP yourself. --all logs out of every profile in the configuration file.

      Example:
        $ mcp-tunnel logout
        $ mcp-tunnel logout --all --json
      """
  )

  @OptionGroup var global: GlobalOptions

  @Flag(name: .long, help: "Log out of every profile that has an [idp] section.")
  var all = false

  func run() async throws {
    let env = AppEnvironment.current
    let contexts: [LoginContext]
    if all {
      let (_, configuration) = try env.loader.loadConfiguration(configFlag: global.config)
      contexts = try configuration.profileOrder.compactMap { name in
        guard let profile = configuration.profiles[name], profile.idp != nil else { return nil }
        return try LoginContext(profile: profile, environment: env)
      }
    } else {
      contexts = [try LoginContext.load(global, environment: env)]
    }
    for context in contexts {
      let session = try context.session()
      let subject = try? await session.currentLogin()?.subject
      let outcome = try await session.logout()
      report(context, outcome, env.output)
      if outcome != nil {
        var failure: String?
        if case .failed(let reason)? = outcome { failure = "revocation failed: \(reason)" }
        await env.audit(
          AuditEvent(
            event: .logout, profile: context.profile.name, actor: subject ?? nil,
            outcome: failure == nil ? .ok : .error, detail: failure ?? "revoked"))
      }
    }
  }

  private func report(_ context: LoginContext, _ outcome: RevocationOutcome?, _ output: any OutputSink) {
    var event = LoggedOutEvent(
      profile: context.profile.name, issuer: context.key.issuer, wasLoggedIn: outcome != nil, revoked: false)
    switch outcome {
    case nil:
      break
    case .revoked?:
      event.revoked = true
    case .unsupported?:
      event.revocationError = "the identity provider has no revocation endpoint"
      event.unsupported = true
    case .failed(let reason)?:
      event.revocationError = reason
      output.writeDiagnostic(
        "warning: revocation at \(context.key.issuer) failed: \(reason)\n"
          + "  fix: the session may stay valid at the identity provider until it expires; end it in the IdP's account page if that matters\n"
      )
    }
    output.writeResult((global.json ? event.jsonLine : event.text) + "\n")
  }
}
