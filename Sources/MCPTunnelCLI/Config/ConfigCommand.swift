import ArgumentParser

struct ConfigCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "config",
    abstract: "Create, inspect and locate the configuration file.",
    discussion: """
      The file holds one or more profiles; flags override it. Unknown keys are errors that name \
      the key and its line.

      Example:
        $ mcp-tunnel config init
        $ mcp-tunnel config show --profile prod --json
      """,
    subcommands: [ConfigInit.self, ConfigShow.self, ConfigPath.self]
  )
}
