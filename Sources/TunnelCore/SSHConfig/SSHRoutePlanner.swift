import Foundation

/// Turns `[ssh]` into the hops to connect, looking each `jump`/`host` name up in the user's
/// OpenSSH client config through `SSHConfigResolver` (`ssh -G`), so a Host alias means what it
/// means to `ssh`: HostName, User, Port, IdentityFile, IdentitiesOnly, CertificateFile,
/// UserKnownHostsFile, HostKeyAlias, ServerAliveInterval, IdentityAgent, and ProxyJump chains.
///
/// Precedence is OpenSSH's: what the TOML writes acts like ssh's command line. A `user@` or `:port`
/// written in `jump`/`host` is passed to `ssh -G` as `-l`/`-p` (so `Match user` sees it, and it
/// wins); `ssh.identity`, `ssh.certificate`, `ssh.known_hosts` and `ssh.keepalive`, when written,
/// replace the config's values for every hop.
///
/// Hop order follows `ssh -J`: the first hop is reached through its own `ProxyJump` chain (each
/// entry resolved with its own `ssh -G`, recursively); every later hop is reached through the hops
/// before it, so its own `ProxyJump` is not used (exactly what `ssh -J a,b c` does).
///
/// Options that would change security and cannot be honoured are never silently dropped:
/// `ProxyCommand` is refused (exit 2, naming the host and line); `StrictHostKeyChecking no` /
/// `accept-new`, `KnownHostsCommand` and `PKCS11Provider` become warnings in `SSHRoute.warnings`.
public struct SSHRoutePlanner: Sendable {
  public var resolver: any SSHConfigResolver
  /// Where `HOME` (for `~/` and `%d`) and `${VAR}` references come from.
  public var environment: [String: String]
  /// `%u`, and the remote user when nothing names one.
  public var localUser: String
  /// `%l` / `%L`.
  public var localHostName: String
  /// `%i`.
  public var userID: Int

  /// A ProxyJump chain nested deeper than this is taken for a loop.
  static let maximumDepth = 8
  static let maximumHops = 16

  /// The identity files OpenSSH 9 tries when none is configured, as `ssh -G` prints them.
  public static let openSSHDefaultIdentityFiles = [
    "~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk", "~/.ssh/id_ed25519", "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss", "~/.ssh/id_dsa",
  ]

  public init(
    resolver: any SSHConfigResolver, environment: [String: String], localUser: String,
    localHostName: String = "localhost", userID: Int = 0
  ) {
    self.resolver = resolver
    self.environment = environment
    self.localUser = localUser
    self.localHostName = localHostName
    self.userID = userID
  }

  /// One name to look up: as written in `jump`/`host` or in a `ProxyJump` entry.
  struct Spec {
    var user: String?
    var host: String
    var port: Int?
  }

  /// The route for `settings`. Without `ssh_config` (`"none"`, or settings built in code) the hops
  /// are the TOML's, as written. When the default `~/.ssh/config` does not exist, likewise; a
  /// configured file that does not exist is an error.
  public func route(for settings: SSHSettings) async throws(CoreError) -> SSHRoute {
    guard let written = settings.sshConfig, !settings.hops.isEmpty else { return SSHRoute(settings: settings) }
    let file = Self.expandTilde(written, home: environment["HOME"])
    let specs = settings.hops.indices.map { index in
      let hop = settings.hops[index]
      return Spec(
        user: hop.user, host: hop.address.host,
        port: settings.written.hopsWithoutPort.contains(index) ? nil : hop.address.port)
    }
    guard let first = try await lookup(specs[0], file: file) else {
      if written == SSHSettings.defaultSSHConfig { return SSHRoute(settings: settings) }
      throw CoreError(
        .usage, "ssh.ssh_config \(PrintableText.quotedLiteral(written)) does not exist (\(file))",
        fix: "point ssh_config at your OpenSSH client config, or set ssh_config = \"none\" to use [ssh] as written")
    }
    var warnings: [String] = []
    let hops = try await chain(
      specs, first: first, file: file, depth: 0, note: nil, settings: settings, warnings: &warnings)
    guard hops.count <= Self.maximumHops else {
      throw CoreError(
        .usage, "the ssh config's ProxyJump chains make \(hops.count) hops (at most \(Self.maximumHops))",
        fix: "check the ProxyJump lines of \(written) for a loop")
    }
    var seen: Set<String> = []
    return SSHRoute(
      hops: hops, target: settings.target, hostKeyPolicy: settings.hostKeyPolicy, sshConfig: written,
      warnings: warnings.filter { seen.insert($0).inserted })
  }

  private func chain(
    _ specs: [Spec], first: SSHEffectiveConfig?, file: String, depth: Int, note: String?, settings: SSHSettings,
    warnings: inout [String]
  ) async throws(CoreError) -> [SSHHop] {
    var hops: [SSHHop] = []
    for (index, spec) in specs.enumerated() {
      let config: SSHEffectiveConfig
      if index == 0, let first {
        config = first
      } else {
        guard let found = try await lookup(spec, file: file) else {
          throw CoreError(.usage, "the ssh config \(file) disappeared while it was read", fix: "run the command again")
        }
        config = found
      }
      try refuseUnsupported(config, spec: spec)
      warnings += self.warnings(config, spec: spec, settings: settings)
      if let jump = config.value("proxyjump"), jump.lowercased() != "none" {
        if index == 0 {
          guard depth < Self.maximumDepth else {
            throw CoreError(
              .usage, "ProxyJump of \(spec.host) nests more than \(Self.maximumDepth) deep: the ssh config has a loop",
              fix: "check the ProxyJump lines of \(file) (\(jump))")
          }
          let entries = try jumpSpecs(jump, of: spec, config: config)
          hops += try await chain(
            entries, first: nil, file: file, depth: depth + 1, note: "ProxyJump of \(spec.host)", settings: settings,
            warnings: &warnings)
        } else if depth == 0 {
          warnings.append(
            "ProxyJump \(jump) of \(spec.host) is not used: \(spec.host) is reached through the hops listed before it "
              + "in [ssh] (as with ssh -J)")
        }
      }
      hops.append(try hop(config, spec: spec, note: note, settings: settings))
    }
    return hops
  }

  private func lookup(_ spec: Spec, file: String) async throws(CoreError) -> SSHEffectiveConfig? {
    let query = SSHConfigQuery(configFile: file, host: spec.host, user: spec.user, port: spec.port)
    do {
      return try await resolver.effectiveConfig(for: query)
    } catch let error as CoreError {
      throw error
    } catch let error as any UserFacingError {
      throw CoreError(error.category, error.summary, fix: error.fix)
    } catch {
      throw CoreError(
        .usage, "cannot resolve \(spec.host) with the ssh config: \(error)",
        fix: "check it with: \(query), or set ssh_config = \"none\"")
    }
  }

  /// The entries of a `ProxyJump` value, each `[user@]host[:port]` (or `ssh://…`).
  private func jumpSpecs(_ value: String, of spec: Spec, config: SSHEffectiveConfig) throws(CoreError) -> [Spec] {
    var specs: [Spec] = []
    for entry in value.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
      guard let parsed = SSHDestinationText.parse(entry) else {
        throw CoreError(
          .usage,
          "ProxyJump entry \(PrintableText.quotedLiteral(entry)) of \(spec.host) is not [user@]host[:port]"
            + (config.lines["proxyjump"].map { " (\($0))" } ?? ""),
          fix: "write ProxyJump as in ssh -J, e.g. ProxyJump alice@bastion.example.com:22")
      }
      specs.append(Spec(user: parsed.user, host: parsed.host, port: parsed.port))
    }
    return specs
  }

  // MARK: one hop

  private func hop(
    _ config: SSHEffectiveConfig, spec: Spec, note: String?, settings: SSHSettings
  ) throws(CoreError) -> SSHHop {
    let hostName = config.value("hostname").flatMap { $0.isEmpty ? nil : $0 } ?? spec.host
    guard !hostName.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "@" || HostPort.isControl($0) }) else {
      throw CoreError(
        .usage, "the ssh config gives \(spec.host) the HostName \(PrintableText.quotedLiteral(hostName))",
        fix: "fix the HostName of \(spec.host) in the ssh config")
    }
    let user = spec.user ?? config.value("user").flatMap { $0.isEmpty ? nil : $0 }
    let port =
      spec.port ?? config.value("port").flatMap { Int($0) }.flatMap { (1...65535).contains($0) ? $0 : nil } ?? 22
    let alias = config.value("hostkeyalias").flatMap { $0.isEmpty || $0.lowercased() == "none" ? nil : $0 }
    let tokens: [Character: String] = [
      "%": "%", "d": environment["HOME"] ?? "~", "u": localUser, "h": hostName, "r": user ?? localUser,
      "p": String(port), "n": spec.host, "l": localHostName,
      "L": String(localHostName.prefix(while: { $0 != "." })), "i": String(userID), "k": alias ?? spec.host,
      "j": config.value("proxyjump").flatMap { $0.lowercased() == "none" ? nil : $0 } ?? "",
    ]
    func expand(_ value: String, _ keyword: String) throws(CoreError) -> String {
      try Self.expandTokens(value, tokens: tokens, environment: environment, keyword: keyword, host: spec.host)
    }

    let configured = config.values("identityfile")
    var identities: [String] = []
    if let identity = settings.identity {
      identities = [identity]
    } else {
      for file in configured { identities.append(try expand(file, "IdentityFile")) }
    }
    var certificates: [String] = []
    if let certificate = settings.certificate {
      certificates = [certificate]
    } else {
      for file in config.values("certificatefile") where file.lowercased() != "none" {
        certificates.append(try expand(file, "CertificateFile"))
      }
    }
    var knownHosts = [settings.knownHosts]
    var globalKnownHosts: [String] = []
    if !settings.written.knownHosts {
      if let files = config.value("userknownhostsfile") {
        knownHosts = []
        for file in files.split(separator: " ").map(String.init) where file.lowercased() != "none" {
          knownHosts.append(try expand(file, "UserKnownHostsFile"))
        }
      }
      for file in (config.value("globalknownhostsfile") ?? "").split(separator: " ").map(String.init)
      where file.lowercased() != "none" {
        globalKnownHosts.append(try expand(file, "GlobalKnownHostsFile"))
      }
    }
    var keepalive = settings.keepalive
    if !settings.written.keepalive, let seconds = config.value("serveraliveinterval").flatMap({ Int($0) }), seconds > 0
    {
      keepalive = .seconds(seconds)
    }
    var agent: String?
    if let value = config.value("identityagent"), value != "SSH_AUTH_SOCK" {
      if value.lowercased() == "none" {
        agent = "none"
      } else if value.hasPrefix("$"), !value.hasPrefix("${") {
        agent = environment[String(value.dropFirst())].flatMap { $0.isEmpty ? nil : $0 } ?? "none"
      } else {
        agent = try expand(value, "IdentityAgent")
      }
    }
    let origin = (config.origin ?? "ssh -G \(spec.host) (no Host entry names it)") + (note.map { " (\($0))" } ?? "")
    return SSHHop(
      endpoint: SSHEndpoint(user: user, address: HostPort(host: hostName, port: port)), identityFiles: identities,
      identityFilesAreDefaults: settings.identity == nil && configured == Self.openSSHDefaultIdentityFiles,
      identitiesOnly: ["yes", "true"].contains(config.value("identitiesonly")?.lowercased() ?? "no"),
      certificateFiles: certificates, knownHostsFiles: knownHosts, globalKnownHostsFiles: globalKnownHosts,
      hostKeyAlias: alias, keepalive: keepalive,
      identityAgent: agent, origin: origin)
  }

  private func refuseUnsupported(_ config: SSHEffectiveConfig, spec: Spec) throws(CoreError) {
    if let command = config.value("proxycommand"), command.lowercased() != "none" {
      throw CoreError(
        .usage,
        "the ssh config sets ProxyCommand for \(spec.host) (\(config.lines["proxycommand"] ?? "ProxyCommand \(command)")); "
          + "mcp-tunnel connects through libssh2 and cannot run a ProxyCommand",
        fix: "use ProxyJump for \(spec.host) instead, or set ssh_config = \"none\" and list the hops in ssh.jump")
    }
  }

  /// Settings the ssh config makes that are not applied, each said once.
  private func warnings(_ config: SSHEffectiveConfig, spec: Spec, settings: SSHSettings) -> [String] {
    var out: [String] = []
    func at(_ key: String) -> String { config.lines[key].map { " (\($0))" } ?? "" }
    if let strict = config.value("stricthostkeychecking")?.lowercased(),
      ["no", "false", "off", "accept-new"].contains(strict)
    {
      out.append(
        "\(spec.host): StrictHostKeyChecking \(strict == "false" ? "no" : strict) in the ssh config is not applied"
          + "\(at("stricthostkeychecking")); host keys are checked with ssh.host_key_policy = "
          + "\"\(settings.hostKeyPolicy.rawValue)\"")
    }
    if let command = config.value("knownhostscommand"), command.lowercased() != "none" {
      out.append(
        "\(spec.host): KnownHostsCommand is not run\(at("knownhostscommand")); only the known_hosts files are checked")
    }
    if let provider = config.value("pkcs11provider"), provider.lowercased() != "none" {
      out.append(
        "\(spec.host): PKCS11Provider is not used\(at("pkcs11provider")); add the token's key to ssh-agent "
          + "(ssh-add -s \(provider)) and mcp-tunnel offers it from there")
    }
    return out
  }

  // MARK: expansion

  /// `~/` → `home`.
  public static func expandTilde(_ path: String, home: String?) -> String {
    guard let home, !home.isEmpty else { return path }
    if path == "~" { return home }
    if path.hasPrefix("~/") { return home + path.dropFirst(1) }
    return path
  }

  /// OpenSSH's `%x` tokens and `${VAR}` references in a file path (`IdentityFile`, `CertificateFile`,
  /// `UserKnownHostsFile`, `IdentityAgent`). An unknown token or unset variable is an error, as in ssh.
  static func expandTokens(
    _ value: String, tokens: [Character: String], environment: [String: String], keyword: String, host: String
  ) throws(CoreError) -> String {
    var out = ""
    var rest = Substring(value)
    while let c = rest.first {
      rest = rest.dropFirst()
      if c == "%" {
        guard let t = rest.first, let replacement = tokens[t] else {
          throw CoreError(
            .usage,
            "\(keyword) \(PrintableText.quotedLiteral(value)) of \(host) uses %\(rest.first.map(String.init) ?? "") "
              + "which mcp-tunnel does not expand",
            fix: "use %d, %u, %h, %r, %p, %n, %l, %L, %i, %k or a plain path in the ssh config")
        }
        out += replacement
        rest = rest.dropFirst()
      } else if c == "$", rest.first == "{", let close = rest.firstIndex(of: "}") {
        let name = String(rest[rest.index(after: rest.startIndex)..<close])
        guard let v = environment[name] else {
          throw CoreError(
            .usage, "\(keyword) \(PrintableText.quotedLiteral(value)) of \(host) names ${\(name)}, which is not set",
            fix: "set \(name) in the environment or write the path in the ssh config")
        }
        out += v
        rest = rest[rest.index(after: close)...]
      } else {
        out.append(c)
      }
    }
    return out
  }
}
