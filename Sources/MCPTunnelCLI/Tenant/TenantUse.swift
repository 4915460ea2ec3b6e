import ArgumentParser
import Foundation
import TunnelCore

/// `mcp-tunnel tenant use T`.
struct TenantUse: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "use",
    abstract: "Switch the running tunnel to another tenant.",
    discussion: """
      Mints a token for the tenant (it must be listed in session.tenants; otherwise exit 9), \
      swaps it in atomically and closes the client connections opened under the previous tenant; \
      MCP clients reconnect and carry on under the new tenant. On failure nothing changes.

      With --json, stdout carries {"tenant":…,"previous_tenant":…,"token_expires_at":…}.

      Example:
        $ mcp-tunnel tenant use globex
      """
  )

  @OptionGroup var global: GlobalOptions

  @Argument(help: ArgumentHelp("The tenant to switch to.", valueName: "tenant"))
  var tenant: String

  func validate() throws {
    guard TenantID(tenant) != nil else { throw ValidationError("\(tenant) is not a valid tenant name") }
  }

  func run() async throws {
    let env = AppEnvironment.current
    let profile = try ControlTarget.profileName(global, environment: env)
    let response = try await ControlChannel.send(
      ControlRequest(op: .tenantUse, tenant: tenant), profile: profile, environment: env)
    let result = TenantUseResult(
      tenant: response.tenant ?? tenant, previousTenant: response.previousTenant,
      tokenExpiresAt: response.tokenExpiresAt)
    env.output.writeResult((global.json ? result.jsonLine : result.text) + "\n")
  }
}
