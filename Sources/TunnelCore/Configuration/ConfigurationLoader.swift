/// Finds the configuration file and the profile to use, applying SPEC §2/§3 precedence:
/// `--config` over `MCP_TUNNEL_CONFIG` over the XDG path; `--profile` over `MCP_TUNNEL_PROFILE` over
/// `default_profile` over "the only profile in the file".
public struct ConfigurationLoader: Sendable {
  public var store: any ConfigurationStore
  public var environment: [String: String]

  public init(store: any ConfigurationStore, environment: [String: String]) {
    self.store = store
    self.environment = environment
  }

  public var paths: XDGPaths { XDGPaths(environment: environment) }

  /// The file to read: the flag, then the environment, then the XDG default.
  public func configPath(flag: String?) -> String {
    if let flag, !flag.isEmpty { return paths.expandTilde(flag) }
    if let env = environment["MCP_TUNNEL_CONFIG"], !env.isEmpty { return paths.expandTilde(env) }
    return paths.configFile
  }

  /// Loads and decodes the file; a missing file is an error that says how to create one.
  public func loadConfiguration(configFlag: String?) throws(CoreError) -> (path: String, configuration: Configuration) {
    let path = configPath(flag: configFlag)
    guard let text = try store.read(path) else {
      throw CoreError(
        .usage, "no configuration file at \(path)",
        fix: "run `mcp-tunnel config init` to write a commented template, then edit it")
    }
    return (path, try ConfigurationDecoder(file: path).decode(text))
  }

  /// Picks the profile by precedence and returns it.
  public func selectProfile(_ configuration: Configuration, flag: String?, path: String) throws(CoreError) -> Profile {
    let requested =
      flag.flatMap { $0.isEmpty ? nil : $0 }
      ?? environment["MCP_TUNNEL_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
      ?? configuration.defaultProfile
    let available = configuration.profileOrder.joined(separator: ", ")
    if let requested {
      guard let profile = configuration.profiles[requested] else {
        throw CoreError(
          .usage, "profile \(TOMLDocument.quoted(requested)) is not defined in \(path)",
          fix: available.isEmpty ? "add a [profiles.\(requested).ssh] table" : "use one of: \(available)")
      }
      return profile
    }
    if configuration.profileOrder.count == 1, let only = configuration.profiles[configuration.profileOrder[0]] {
      return only
    }
    if configuration.profileOrder.isEmpty {
      throw CoreError(
        .usage, "\(path) defines no profiles", fix: "add a [profiles.NAME.ssh] table (see `mcp-tunnel config init`)")
    }
    throw CoreError(
      .usage, "\(path) defines several profiles and no default_profile",
      fix: "pass --profile (one of: \(available)) or set default_profile")
  }
}
