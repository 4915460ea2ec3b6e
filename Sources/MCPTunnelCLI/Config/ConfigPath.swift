import ArgumentParser
import TunnelCore

struct ConfigPath: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "path",
    abstract: "Print the path of the configuration file in use.",
    discussion: """
      Prints the path whether or not the file exists; with --json also says whether it does.

      Example:
        $ mcp-tunnel config path
        /home/alice/.config/mcp-tunnel/config.toml
      """
  )

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    let env = AppEnvironment.current
    let path = env.loader.configPath(flag: global.config)
    if global.json {
      let exists = try env.configurationStore.read(path) != nil
      env.output.writeResult(FilePathResult(path: path, exists: exists).jsonLine + "\n")
    } else {
      env.output.writeResult(path + "\n")
    }
  }
}
