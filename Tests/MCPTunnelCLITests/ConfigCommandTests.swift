import Foundation
import LabSupport
import MCPTunnelTestSupport
import TestTiers
import Testing
import TunnelCore

@testable import MCPTunnelCLI

@Suite("config commands")
struct ConfigCommandTests {
  @Test func initWritesTheTemplateWithMode0600AndRefusesToOverwrite() async {
    let files = InMemoryConfigurationStore()
    let first = await runCLI(["config", "init"], files: files)
    #expect(first.status == 0)
    #expect(first.stdout == "wrote \(defaultConfigPath)\n")
    #expect(files.mode(of: defaultConfigPath) == 0o600)
    let second = await runCLI(["config", "init"], files: files)
    #expect(second.status == 2)
    #expect(second.stderr.contains("already exists"))
    #expect(second.stderr.contains("--force"))
    let forced = await runCLI(["config", "init", "--force"], files: files)
    #expect(forced.status == 0)
  }

  @Test func templateDecodesAndNamesEveryKey() throws {
    let config = try ConfigurationDecoder(file: "template").decode(ConfigTemplate.text)
    #expect(config.profiles["prod"]?.session?.tenants.count == 2)
    // Every valid key should appear in the template, commented out or not, so users can find it.
    for key in [
      "default_profile", "issuer", "client_id", "scopes", "redirect_uri", "pkce_metadata_override", "method",
      "endpoint", "resource", "audience", "scope", "max_ttl", "tenants", "default_tenant", "jump", "host", "target",
      "known_hosts", "identity", "keepalive", "host_key_policy", "address", "mode",
    ] {
      #expect(ConfigTemplate.text.contains("\(key) ") || ConfigTemplate.text.contains("\(key)="), "\(key)")
    }
  }

  @Test func showPrintsTheEffectiveProfile() async {
    let files = InMemoryConfigurationStore([defaultConfigPath: ConfigTemplate.text])
    let run = await runCLI(["config", "show"], files: files)
    #expect(run.status == 0)
    #expect(run.stdout.contains("[profiles.prod.ssh]"))
    #expect(run.stdout.contains("keepalive = \"15s\""))
    #expect(run.stdout.contains("address = \"127.0.0.1:7700\""))
  }

  @Test func showJSONIsParseable() async throws {
    let files = InMemoryConfigurationStore([defaultConfigPath: ConfigTemplate.text])
    let run = await runCLI(["config", "show", "--json"], files: files)
    #expect(run.status == 0)
    let object = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    #expect(object["profile"] as? String == "prod")
    let ssh = try #require(object["ssh"] as? [String: Any])
    #expect(ssh["target"] as? String == "127.0.0.1:8080")
  }

  @Test func profilePrecedenceIsFlagThenEnvironmentThenDefault() async {
    let two = ConfigTemplate.text + "\n[profiles.lab.ssh]\ntarget = \"127.0.0.1:9\"\n"
    let files = InMemoryConfigurationStore([defaultConfigPath: two])
    var env = ["HOME": "/home/dev", "XDG_CONFIG_HOME": "/home/dev/.config"]
    #expect(await runCLI(["config", "show"], files: files, environment: env).stdout.contains("profile \"prod\""))
    env["MCP_TUNNEL_PROFILE"] = "lab"
    #expect(await runCLI(["config", "show"], files: files, environment: env).stdout.contains("profile \"lab\""))
    let flagged = await runCLI(["config", "show", "--profile", "prod"], files: files, environment: env)
    #expect(flagged.stdout.contains("profile \"prod\""))
  }

  @Test func configFileComesFromFlagThenEnvironment() async {
    let files = InMemoryConfigurationStore(["/etc/alt.toml": "[profiles.alt.ssh]\ntarget = \"127.0.0.1:1\"\n"])
    var env = ["HOME": "/home/dev", "MCP_TUNNEL_CONFIG": "/etc/alt.toml"]
    #expect(await runCLI(["config", "path"], environment: env).stdout == "/etc/alt.toml\n")
    #expect(await runCLI(["config", "show"], files: files, environment: env).stdout.contains("profile \"alt\""))
    env["MCP_TUNNEL_CONFIG"] = nil
    #expect(await runCLI(["config", "path", "--config", "/x/y.toml"], environment: env).stdout == "/x/y.toml\n")
  }

  @Test func missingProfileIsAUsageError() async {
    let files = InMemoryConfigurationStore([defaultConfigPath: ConfigTemplate.text])
    let run = await runCLI(["config", "show", "--profile", "nope"], files: files)
    #expect(run.status == 2)
    #expect(run.stderr.contains("profile \"nope\" is not defined"))
    #expect(run.stderr.contains("use one of: prod"))
  }

  @Test func missingFileSaysHowToCreateOne() async {
    let run = await runCLI(["config", "show"])
    #expect(run.status == 2)
    #expect(run.stderr.contains("no configuration file at \(defaultConfigPath)"))
    #expect(run.stderr.contains("mcp-tunnel config init"))
  }

  @Test func malformedConfigNamesKeyAndLine() async {
    let files = InMemoryConfigurationStore([
      defaultConfigPath: "[profiles.p.ssh]\ntarget = \"127.0.0.1:1\"\ntraget = 1\n"
    ])
    let run = await runCLI(["config", "show"], files: files)
    #expect(run.status == 2)
    #expect(run.stderr.contains("\(defaultConfigPath):3: unknown key \"profiles.p.ssh.traget\""))
  }

  @Test func jsonErrorsAreJSONOnStderr() async throws {
    let run = await runCLI(["config", "show", "--json"])
    #expect(run.status == 2)
    #expect(run.stdout.isEmpty)
    let object = try #require(JSONSerialization.jsonObject(with: Data(run.stderr.utf8)) as? [String: Any])
    #expect(object["event"] as? String == "error")
    #expect(object["exit_code"] as? Int == 2)
    #expect(object["category"] as? String == "usage")
  }
}

@Suite("exit codes and argument errors")
struct ExitCodeTests {
  @Test func everyCategoryHasTheSpecCode() {
    let expected: [FailureCategory: Int32] = [
      .internalError: 1, .usage: 2, .loginRequired: 3, .keyringUnavailable: 4, .identityProvider: 5,
      .hostKeyVerification: 6, .sshConnection: 7, .addressInUse: 8, .accessDenied: 9, .interrupted: 130,
    ]
    for category in FailureCategory.allCases {
      #expect(ExitStatus.code(for: category) == expected[category], "\(category)")
    }
  }

  @Test func argumentParsingErrorsExitTwoNotSixtyFour() async {
    let unknown = await runCLI(["frobnicate"])
    #expect(unknown.status == 2)
    let badOption = await runCLI(["config", "show", "--no-such-flag"])
    #expect(badOption.status == 2)
    #expect(badOption.stderr.contains("--no-such-flag"))
  }

  @Test func globalOptionsAreAcceptedAfterTheSubcommand() async {
    let run = await runCLI(["config", "path", "--profile", "lab", "--json", "-v"])
    #expect(run.status == 0)
    #expect(run.stdout.contains("\"path\""))
  }

  @Test func helpAndVersionSucceedOnStdout() async {
    let help = await runCLI(["--help"])
    #expect(help.status == 0)
    #expect(help.stdout.contains("USAGE: mcp-tunnel"))
    let version = await runCLI(["--version"])
    #expect(version.stdout == "\(MCPTunnelCommand.version)\n")
  }

  @Test("--version alone is answered before argument-parser runs, with exactly its text; nothing else is")
  func quickVersionAnswerIsArgumentParsersOwn() async {
    let parsed = await runCLI(["--version"])
    #expect(parsed.status == 0)
    #expect(MCPTunnelCommand.quickAnswer(to: ["--version"]) == parsed.stdout)
    for other in [["--version", "--json"], ["up", "--version"], ["--help"], [], ["--Version"], ["-v"]] {
      #expect(MCPTunnelCommand.quickAnswer(to: other) == nil, "\(other)")
    }
  }
}

@Suite("config files read from disk (built binary)", .tags(.lab), .offPool)
struct ConfigFileOnDiskTests {
  @Test("a byte that is not UTF-8 is a config error (exit 2) at its line and column, not a read failure")
  func nonUTF8ByteNamesTheLine() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("config.toml").path
    try Data([UInt8]("default_profile = \"x\"\n# caf".utf8) + [0xE9] + [UInt8]("\n".utf8)).write(
      to: URL(fileURLWithPath: path))
    let result = try LabCommand.run(
      BuiltBinary.mcpTunnel, ["config", "show", "--config", path], environment: ["HOME": directory.path])
    #expect(result.status == 2)
    #expect(result.stderr.contains("\(path):2:") && result.stderr.contains("0xE9"), "\(result.stderr)")
  }
}
