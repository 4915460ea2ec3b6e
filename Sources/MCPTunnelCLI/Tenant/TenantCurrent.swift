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
    let response = try await ControlChannel.send(ControlRequest(op: .tenantCurrent), profile: profile, paths: env.paths)
    if global.json {
      env.output.writeResult(
        JSONLine.encode([
          "tenant": response.tenant ?? NSNull(), "token_expires_at": response.tokenExpiresAt ?? NSNull(),
        ]) + "\n")
    } else {
      env.output.writeResult((response.tenant ?? "") + "\n")
    }
  }
}
