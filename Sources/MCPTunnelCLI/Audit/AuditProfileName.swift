import AuditLog
import Foundation
import TunnelCore

/// Which profile's audit log the `audit` commands read.
///
/// A log belongs to a profile *name*, not to the profile's settings. So `--profile P` (or
/// `MCP_TUNNEL_PROFILE`) is taken as given, without reading the configuration file: the log of a
/// profile that was renamed or removed from the file can still be read and verified, and a
/// broken configuration file never locks anyone out of the audit trail. Without either, the
/// configuration file decides (`default_profile`, or its only profile), as for every command.
enum AuditProfileName {
  static func resolve(_ global: GlobalOptions, _ env: AppEnvironment) throws -> String {
    let named =
      global.profile.flatMap { $0.isEmpty ? nil : $0 }
      ?? env.environment["MCP_TUNNEL_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
    if let named { return try checked(named) }
    let loader = env.loader
    let configPath = loader.configPath(flag: global.config)
    guard try env.configurationStore.read(configPath) != nil else {
      throw AuditError(
        .usage, "no profile selected (no --profile, no MCP_TUNNEL_PROFILE, no configuration file at \(configPath))",
        fix: "pass --profile NAME; logs are kept in \(env.paths.auditDirectory)")
    }
    let (path, configuration) = try loader.loadConfiguration(configFlag: global.config)
    return try checked(loader.selectProfile(configuration, flag: nil, path: path).name)
  }

  /// The name becomes a file name: refuse anything that would leave the audit directory.
  private static func checked(_ name: String) throws -> String {
    if name == "." || name == ".." || name.contains("/") || name.contains("\0") {
      throw AuditError(
        .usage, "\"\(name)\" cannot name an audit log", fix: "use the profile's name as written in the configuration")
    }
    return name
  }

  static func fileExists(_ path: String) -> Bool { AuditFileReader(path: path).exists }
}
