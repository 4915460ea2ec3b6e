import ArgumentParser
import TunnelCore

struct ConfigShow: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "show",
    abstract: "Print the effective configuration of a profile.",
    discussion: """
      Validates the whole file, picks the profile (--profile, $MCP_TUNNEL_PROFILE, default_profile, \
      or the only one) and prints it with every default filled in.

      Example:
        $ mcp-tunnel config show --profile prod
        $ mcp-tunnel config show --json | jq .ssh.jump
      """
  )

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    let env = AppEnvironment.current
    let (path, configuration) = try env.loader.loadConfiguration(configFlag: global.config)
    let profile = try env.loader.selectProfile(configuration, flag: global.profile, path: path)
    if global.json {
      env.output.writeResult(ProfileDocument(profile, file: path).jsonLine + "\n")
    } else {
      env.output.writeResult(ProfileRendering.toml(profile, file: path))
    }
  }
}
