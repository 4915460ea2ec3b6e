import ArgumentParser
import TunnelCore

struct ConfigInit: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "init",
    abstract: "Write a commented configuration template (mode 0600).",
    discussion: """
      Writes to --config, $MCP_TUNNEL_CONFIG or $XDG_CONFIG_HOME/mcp-tunnel/config.toml, creating \
      the directory with mode 0700. Refuses to overwrite an existing file unless --force is given.

      Example:
        $ mcp-tunnel config init
        wrote /home/alice/.config/mcp-tunnel/config.toml
        $ mcp-tunnel config init --stdout > /tmp/example.toml
      """
  )

  @OptionGroup var global: GlobalOptions

  @Flag(help: "Overwrite an existing configuration file.")
  var force = false

  @Flag(help: "Print the template on stdout instead of writing a file.")
  var stdout = false

  func run() async throws {
    let env = AppEnvironment.current
    if stdout {
      env.output.writeResult(ConfigTemplate.text)
      return
    }
    let path = env.loader.configPath(flag: global.config)
    try env.configurationStore.write(path, contents: ConfigTemplate.text, overwrite: force)
    let written = ConfigWrittenEvent(path: path)
    if global.json {
      env.output.writeResult(written.jsonLine + "\n")
    } else {
      env.output.writeResult(written.text + "\n")
      env.output.writeDiagnostic("edit it, then check it with: mcp-tunnel config show\n")
    }
  }
}
