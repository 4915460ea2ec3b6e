import ArgumentParser
import Foundation
import TunnelCore

/// `mcp-tunnel tenant current`.
struct TenantCurrent: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "current",
    abstract: "Print the tenant the running tunnel serves.",
    discussion: """
      With --json, stdout carries {"tenant":…,"token_expires_at":…}.

      Example:
        $ mcp-tunnel tenant current
      """
  )

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    let env = AppEnvironment.current
    let profile = try ControlTarget.profileName(global, environment: env)
    let response = try await ControlChannel.send(ControlRequest(op: .tenantCurrent), profile: profile, environment: env)
    let result = TenantCurrentResult(tenant: response.tenant, tokenExpiresAt: response.tokenExpiresAt)
    env.output.writeResult((global.json ? result.jsonLine : result.text) + "\n")
  }
}
