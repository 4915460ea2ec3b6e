import ArgumentParser
import ClientConfig
import Foundation
import TunnelCore

/// `mcp-tunnel client-config`: the entry that points an MCP client at this profile's listener.
struct ClientConfigCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "client-config",
    abstract: "Print the entry that points an MCP client at this profile's tunnel.",
    discussion: """
      With --client, prints the part of that client's config file that holds one server entry \
      named mcp-tunnel-<profile> (--name to change it), in the client's own format and key \
      spelling, pointing at http://<listen>/mcp: the running `up`'s when one runs for the \
      profile, else the profile's listen address. The entry has no Authorization \
      header: `mcp-tunnel up` injects the tenant token into every request. Stdout carries only \
      the fragment, ready to paste into the file named on stderr.

      --install merges the entry into the client's file instead (JSON, JSONC, TOML or YAML): only \
      that entry is added or replaced; every other key, the order, comments and indentation stay; \
      the result is read back before it is written; the new file is written \
      beside it and renamed over it; FILE.bak keeps the previous one. A file that cannot be parsed \
      is refused (exit 2) and left untouched. --scope project writes the project file in the \
      current directory, --file PATH any file.

      Claude Desktop takes only commands: its entry starts this binary as \
      `mcp-tunnel stdio --profile P` (absolute path), which forwards to the profile's tunnel.

      Without --client, lists the clients and the file each keeps its servers in.

      With --json, stdout carries one object: {"client":…,"name":…,"file":…,"entry":{…}}, or \
      {"clients":[{"client":…,"name":…,"file":…,"project_file":…,"format":…,"url":…,"install":…}]} for the \
      list, {"client":…,"name":…,"file":…,"change":"added|replaced|unchanged","backup":…,"next":…} for --install.

      Example:
        $ mcp-tunnel client-config --client claude-code
        $ mcp-tunnel client-config --client codex >> ~/.codex/config.toml
        $ mcp-tunnel client-config --client vscode --install --scope project
      """
  )

  @OptionGroup var global: GlobalOptions

  @Option(
    name: .long,
    help: ArgumentHelp(
      "The MCP client: \(MCPClient.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "name"),
    completion: .list(MCPClient.allCases.map(\.rawValue)))
  var client: String?

  @Option(name: .long, help: ArgumentHelp("The entry's name in the client's file.", valueName: "name"))
  var name: String?

  @Flag(
    name: .long,
    help:
      "Merge the entry into the client's config file (JSON and JSONC files), keeping everything else; FILE.bak keeps the previous one."
  )
  var install = false

  enum Scope: String, ExpressibleByArgument, CaseIterable {
    case user
    case project
  }

  @Option(
    name: .long,
    help: ArgumentHelp(
      "With --install: the client's user file, or its project file in the current directory.", valueName: "user|project"
    ))
  var scope: Scope = .user

  @Option(name: .long, help: ArgumentHelp("With --install: the file to merge into instead.", valueName: "path"))
  var file: String?

  func validate() throws {
    if !install && (file != nil || scope != .user) {
      throw ValidationError("--scope and --file go with --install")
    }
    if install && client == nil { throw ValidationError("--install needs --client NAME") }
  }

  func run() async throws {
    let env = AppEnvironment.current
    let (path, configuration) = try env.loader.loadConfiguration(configFlag: global.config)
    let profile = try env.loader.selectProfile(configuration, flag: global.profile, path: path)
    // A running `up` may listen elsewhere (`up --listen`): its own URL is the one that works.
    let running = (try? await Status.tunnel(profile: profile.name, environment: env).get()) ?? nil
    let url = try Self.url(of: profile, running: running)
    let entryName = name ?? "mcp-tunnel-\(profile.name)"
    guard let client else {
      let list = ClientListResult(
        clients: MCPClient.allCases.map {
          .init(
            client: $0.rawValue, name: $0.displayName,
            file: $0.userFile(paths: env.paths, environment: env.environment),
            projectFile: $0.projectFile, format: $0.format.rawValue, url: $0.speaksHTTP,
            install: ClientConfigFile.canInstall($0))
        })
      env.output.writeResult((global.json ? list.jsonLine : list.text) + "\n")
      return
    }
    guard let known = MCPClient(rawValue: client) else {
      throw CoreError(
        .usage, "unknown MCP client \"\(client)\"",
        fix: "use one of: \(MCPClient.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    // A command-only client (Claude Desktop) starts this binary's `stdio` for the profile.
    let entry =
      known.speaksHTTP
      ? try ClientEntry.http(client: known, name: entryName, url: url, paths: env.paths, environment: env.environment)
      : ClientEntry.stdio(
        client: known, name: entryName, command: Self.executablePath(),
        arguments: ["stdio", "--profile", profile.name],
        paths: env.paths, environment: env.environment)
    if install {
      let target = try installPath(known, paths: env.paths)
      let outcome = try ClientConfigFile.install(entry, into: target)
      let result = ClientInstallResult(
        client: known.rawValue, name: entryName, file: outcome.file, change: outcome.change.rawValue,
        backup: outcome.backup, next: known.afterChange)
      env.output.writeResult((global.json ? result.jsonLine : result.text) + "\n")
      return
    }
    let result = ClientEntryResult(entry: entry)
    if global.json {
      env.output.writeResult(result.jsonLine + "\n")
    } else {
      env.output.writeDiagnostic(
        "# \(known.displayName): merge this into \(entry.file)\(known.projectFile.map { " (or ./\($0) for one project)" } ?? ""), then \(known.afterChange)\n"
      )
      env.output.writeResult(result.text + "\n")
    }
  }

  /// The file `--install` merges into: `--file`, the project file under the current directory, or
  /// the client's user file.
  func installPath(_ client: MCPClient, paths: XDGPaths) throws -> String {
    if let file {
      return file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
    }
    switch scope {
    case .user:
      return client.userFile(paths: paths, environment: AppEnvironment.current.environment)
    case .project:
      guard let relative = client.projectFile else {
        throw CoreError(
          .usage, "\(client.displayName) has no project-scope config file",
          fix:
            "leave out --scope project (its user file is \(client.userFile(paths: paths, environment: AppEnvironment.current.environment)))"
        )
      }
      return FileManager.default.currentDirectoryPath + "/" + relative
    }
  }

  /// The absolute path of this binary (symlinks resolved), for a client that starts a command.
  static func executablePath() -> String {
    let resolved = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    if resolved != "/proc/self/exe" { return resolved }
    return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
  }

  /// `http://<listen>/mcp` of an http-mode profile that can mint tenant tokens; a client pointed
  /// at a tcp-mode listener would reach the server without a token.
  static func url(of profile: Profile, running: TunnelStatus?) throws -> String {
    if let running {
      guard running.mode == "http", let url = running.url else {
        throw CoreError(
          .usage,
          "the running `mcp-tunnel up` of profile \"\(profile.name)\" is in tcp mode, which forwards bytes without a token; an MCP client pointed at it would not be authorized",
          fix: "stop it and start `mcp-tunnel up --profile \(profile.name)` in http mode")
      }
      return url
    }
    guard profile.listen.mode == .http else {
      throw CoreError(
        .usage,
        "profile \"\(profile.name)\" listens in tcp mode, which forwards bytes without a token; an MCP client pointed at it would not be authorized",
        fix: "set mode = \"http\" under [profiles.\(profile.name).listen] (with a [session] section)")
    }
    guard profile.session != nil else {
      throw CoreError(
        .usage,
        "profile \"\(profile.name)\" has no [profiles.\(profile.name).session] section, so `up` cannot serve MCP clients",
        fix: "add method, resource and tenants under [profiles.\(profile.name).session]")
    }
    return "http://\(profile.listen.address)/mcp"
  }
}
