import ArgumentParser
import Foundation
import TunnelCore

/// `mcp-tunnel token`: the running tunnel's tenant token, for MCP clients with a header helper.
struct Token: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "token",
    abstract: "Print the running tunnel's current tenant token (for header-helper clients).",
    discussion: """
      For MCP clients that connect on their own and take the Authorization header from a helper \
      command. The token is valid at most session.max_ttl; run this again for a fresh one. It \
      refuses to print to a terminal (where it would land in scrollback) unless --force is given. \
      --tenant T fails (exit 9) unless the tunnel serves T, so a helper configured for one tenant \
      never gets another tenant's token after a switch.

      With --json, stdout carries {"token":…,"tenant":…,"expires_at":…}.

      Example:
        $ mcp-tunnel token --tenant acme | my-client --bearer-stdin
      """
  )

  @OptionGroup var global: GlobalOptions

  @Option(name: .long, help: ArgumentHelp("Fail unless the tunnel serves this tenant.", valueName: "tenant"))
  var tenant: String?

  @Flag(name: .long, help: "Print the token even when stdout is a terminal.")
  var force = false

  func validate() throws {
    if let tenant, TenantID(tenant) == nil { throw ValidationError("--tenant \(tenant) is not a valid tenant name") }
  }

  func run() async throws {
    let env = AppEnvironment.current
    if env.output.resultIsTerminal, !force {
      throw CoreError(
        .usage, "refusing to print a token to a terminal, where it would stay in the scrollback",
        fix: "pipe it into the program that needs it, or pass --force")
    }
    let profile = try ControlTarget.profileName(global, environment: env)
    let response = try await ControlChannel.send(
      ControlRequest(op: .token, tenant: tenant), profile: profile, environment: env)
    guard let token = response.token else {
      throw CoreError(.internalError, "the running tunnel answered without a token")
    }
    let result = TokenResult(token: token, tenant: response.tenant, expiresAt: response.tokenExpiresAt)
    env.output.writeResult((global.json ? result.jsonLine : result.text) + "\n")
  }
}

/// The profile whose running `up` a control command talks to.
enum ControlTarget {
  static func profileName(_ global: GlobalOptions, environment: AppEnvironment) throws -> String {
    let (path, configuration) = try environment.loader.loadConfiguration(configFlag: global.config)
    return try environment.loader.selectProfile(configuration, flag: global.profile, path: path).name
  }
}
