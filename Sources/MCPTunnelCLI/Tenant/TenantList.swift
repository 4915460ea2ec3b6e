import ArgumentParser
import Foundation
import TunnelCore

/// `mcp-tunnel tenant list`.
struct TenantList: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list",
    abstract: "List the tenants this profile allows, marking the one being served.",
    discussion: """
      The list is session.tenants of the profile. When a tunnel runs, the tenant it serves is \
      marked with *; without one the configured list is printed all the same.

      With --json, stdout carries {"tenants":[…],"current":…|null}.

      Example:
        $ mcp-tunnel tenant list
      """
  )

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    let env = AppEnvironment.current
    let (path, configuration) = try env.loader.loadConfiguration(configFlag: global.config)
    let profile = try env.loader.selectProfile(configuration, flag: global.profile, path: path)
    var tenants = profile.session?.tenants.map(\.rawValue) ?? []
    var current: String?
    if ControlChannel.mayBeRunning(profile: profile.name, paths: env.paths) {
      let response = try await ControlChannel.send(
        ControlRequest(op: .tenantList), profile: profile.name, environment: env)
      current = response.tenant
      if tenants.isEmpty { tenants = response.tenants ?? [] }
    }
    let result = TenantListResult(tenants: tenants, current: current)
    if global.json {
      env.output.writeResult(result.jsonLine + "\n")
      return
    }
    if tenants.isEmpty {
      env.output.writeDiagnostic(
        "profile \(profile.name) lists no tenants (session.tenants); the issuer decides which ones you may use\n")
    }
    env.output.writeResult(result.text)
  }
}
