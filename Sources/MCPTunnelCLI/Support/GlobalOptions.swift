import ArgumentParser

/// Options every command accepts, after the subcommand too (`mcp-tunnel login --profile lab --json`).
public struct GlobalOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "Profile to use from the configuration file (env: MCP_TUNNEL_PROFILE).", valueName: "name"))
  public var profile: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Configuration file (env: MCP_TUNNEL_CONFIG; default: $XDG_CONFIG_HOME/mcp-tunnel/config.toml).",
      valueName: "file"),
    completion: .file(extensions: ["toml"]))
  public var config: String?

  @Flag(name: .long, help: "Print machine-readable JSON on stdout (one object per line).")
  public var json = false

  @Flag(name: [.customShort("v"), .long], help: "Print more detail on stderr.")
  public var verbose = false

  public init() {}
}
