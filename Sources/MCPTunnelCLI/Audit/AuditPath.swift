import ArgumentParser
import TunnelCore

struct AuditPath: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "path",
    abstract: "Print the path of the audit log of a profile.",
    discussion: """
      Prints the path whether or not the log exists yet; with --json also says whether it does. \
      --profile names the log directly: the profile need not be defined in the configuration file.

      Example:
        $ mcp-tunnel audit path --profile prod
        /home/alice/.local/state/mcp-tunnel/audit/prod.jsonl
      """
  )

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    let env = AppEnvironment.current
    let profile = try AuditProfileName.resolve(global, env)
    let path = env.paths.auditFile(profile: profile)
    if global.json {
      let exists = AuditProfileName.fileExists(path)
      env.output.writeResult(FilePathResult(path: path, profile: profile, exists: exists).jsonLine + "\n")
    } else {
      env.output.writeResult(path + "\n")
    }
  }
}
