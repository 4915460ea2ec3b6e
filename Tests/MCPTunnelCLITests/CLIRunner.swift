import MCPTunnelCLI
import MCPTunnelTestSupport
import TunnelCore

/// Runs the CLI in-process against in-memory twins and returns what a user would see.
struct CLIRun {
  var status: Int32
  var stdout: String
  var stderr: String
}

func runCLI(
  _ arguments: [String], files: InMemoryConfigurationStore = InMemoryConfigurationStore(),
  environment: [String: String] = ["HOME": "/home/dev", "XDG_CONFIG_HOME": "/home/dev/.config"]
) async -> CLIRun {
  let output = CapturingOutputSink()
  let env = AppEnvironment.twins(environment: environment, configurationStore: files, output: output)
  let status = await MCPTunnelCommand.run(arguments: arguments, environment: env)
  return CLIRun(status: status, stdout: output.stdout, stderr: output.stderr)
}

let defaultConfigPath = "/home/dev/.config/mcp-tunnel/config.toml"
