import Foundation

/// Turns a `TOMLDocument` into a typed `Configuration`, refusing anything it does not understand.
///
/// Every error names the dotted key and its line, because a configuration that silently ignores a
/// typo (`keepalve = "5s"`) is how tunnels end up with settings nobody chose.
public struct ConfigurationDecoder: Sendable {
  public var file: String?

  public init(file: String? = nil) { self.file = file }

  public func decode(_ text: String) throws(CoreError) -> Configuration {
    try decode(TOMLDocument(parsing: text, file: file))
  }

  public func decode(_ document: TOMLDocument) throws(CoreError) -> Configuration {
    var root = TableReader(table: document.root, path: [], file: file, tableLine: nil)
    let defaultProfile = try root.string("default_profile")
    var profiles: [Profile] = []
    if var all = try root.table("profiles") {
      for name in all.table.keys {
        guard var reader = try all.table(name) else { continue }
        guard Self.isValidProfileName(name) else {
          throw reader.error(
            at: reader.tableLine, "invalid profile name \(TOMLDocument.quoted(name))",
            fix: "use letters, digits, '-' and '_'")
        }
        profiles.append(try decodeProfile(name: name, &reader))
      }
      try all.rejectUnknown()
    }
    try root.rejectUnknown()
    if let defaultProfile, !profiles.contains(where: { $0.name == defaultProfile }) {
      throw root.error(
        at: root.line(of: "default_profile"),
        "default_profile \(TOMLDocument.quoted(defaultProfile)) has no [profiles.\(TOMLDocument.escaped(defaultProfile))] table",
        fix: "add the profile or change default_profile")
    }
    return Configuration(defaultProfile: defaultProfile, profiles: profiles)
  }

  static func isValidProfileName(_ name: String) -> Bool {
    !name.isEmpty && name.count <= 64
      && name.unicodeScalars.allSatisfy {
        $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_")
      }
  }

  private func decodeProfile(name: String, _ reader: inout TableReader) throws(CoreError) -> Profile {
    var idp: IdentityProviderSettings?
    if var r = try reader.table("idp") {
      idp = try decodeIdP(&r)
      try r.rejectUnknown()
    }
    var session: SessionSettings?
    var limits = SessionLimits()
    if var r = try reader.table("session") {
      limits = try decodeLimits(&r)
      // Only limits: a tcp-mode profile may end its sessions too, without any token settings.
      if !r.table.keys.allSatisfy(SessionLimits.keys.contains) {
        session = try decodeSession(&r)
      }
      try r.rejectUnknown()
    }
    guard var sshReader = try reader.table("ssh") else {
      throw reader.error(
        at: reader.tableLine,
        "profile \(TOMLDocument.quoted(name)) has no [profiles.\(TOMLDocument.escaped(name)).ssh] table",
        fix: "add [profiles.\(TOMLDocument.escaped(name)).ssh] with at least target = \"127.0.0.1:8080\"")
    }
    let ssh = try decodeSSH(&sshReader)
    try sshReader.rejectUnknown()
    var listen = ListenSettings()
    if var r = try reader.table("listen") {
      listen = try decodeListen(&r)
      try r.rejectUnknown()
    }
    var audit = AuditSettings()
    if var r = try reader.table("audit") {
      audit.journal = try r.bool("journal") ?? false
      try r.rejectUnknown()
    }
    try reader.rejectUnknown()
    return Profile(name: name, idp: idp, session: session, ssh: ssh, listen: listen, limits: limits, audit: audit)
  }

  private func decodeLimits(_ r: inout TableReader) throws(CoreError) -> SessionLimits {
    let maxDuration = try r.duration("max_duration") ?? SessionLimits.defaultMaxDuration
    let idleTimeout = try r.duration("idle_timeout") ?? .zero
    for (key, value) in [("max_duration", maxDuration), ("idle_timeout", idleTimeout)]
    where value != .zero && value < .seconds(2) {
      throw r.error(
        at: r.line(of: key), "\(key) \(DurationText.format(value)) is too short to warn before it ends",
        fix: "use \"0s\" for never, or at least \"2s\", e.g. \"12h\" or \"30m\"")
    }
    let elevateMax = try r.duration("elevate_max") ?? SessionLimits.defaultElevateMax
    guard elevateMax >= .seconds(1) else {
      throw r.error(
        at: r.line(of: "elevate_max"),
        "elevate_max \(DurationText.format(elevateMax)) leaves no time to use an elevation",
        fix: "use at least \"1s\", e.g. \"5m\" (the default)")
    }
    return SessionLimits(maxDuration: maxDuration, idleTimeout: idleTimeout, elevateMax: elevateMax)
  }

  private func decodeIdP(_ r: inout TableReader) throws(CoreError) -> IdentityProviderSettings {
    let issuer = try r.requiredURL("issuer", rule: .httpsOrLoopbackHTTP)
    let clientID = try r.requiredString("client_id")
    let scopes = try r.stringArray("scopes") ?? ["openid", "offline_access"]
    var redirect: URL?
    if let text = try r.string("redirect_uri"), !text.isEmpty {
      guard let url = URL(string: text), url.scheme == "http", let host = url.host,
        HostPort.isLoopbackHost(host), url.port != nil
      else {
        throw r.error(
          at: r.line(of: "redirect_uri"),
          "redirect_uri \(TOMLDocument.quoted(text)) must be http://127.0.0.1:PORT/PATH (RFC 8252 loopback)",
          fix: "register a loopback redirect such as http://127.0.0.1:53682/callback at the IdP and use it here")
      }
      redirect = url
    }
    let override = try r.bool("pkce_metadata_override") ?? false
    return IdentityProviderSettings(
      issuer: issuer, clientID: clientID, scopes: scopes, redirectURI: redirect, pkceMetadataOverride: override)
  }

  private func decodeSession(_ r: inout TableReader) throws(CoreError) -> SessionSettings {
    var method = SessionMethod.tokenExchange
    if let text = try r.string("method") {
      guard let m = SessionMethod(rawValue: text) else {
        throw r.error(
          at: r.line(of: "method"),
          "method \(TOMLDocument.quoted(text)) is not one of: token-exchange, resource-refresh",
          fix: "set method = \"token-exchange\" or \"resource-refresh\"")
      }
      method = m
    }
    var endpoint: URL?
    if try r.string("endpoint").map({ !$0.isEmpty }) == true {
      endpoint = try r.requiredURL("endpoint", rule: .httpsOrLoopbackHTTP)
    }
    let resourceText = try r.requiredString("resource")
    guard let probe = URL(string: TenantTemplate(resourceText).expand(for: TenantID("t")!)), probe.scheme == "https",
      probe.host?.isEmpty == false, probe.fragment == nil
    else {
      throw r.error(
        at: r.line(of: "resource"),
        "resource \(TOMLDocument.quoted(resourceText)) is not an absolute https URI without a fragment",
        fix: "use the MCP server's canonical URI, e.g. https://mcp.example.com/t/{tenant}/mcp")
    }
    let audience = try r.string("audience").flatMap { $0.isEmpty ? nil : TenantTemplate($0) }
    let scope = try r.string("scope").flatMap { $0.isEmpty ? nil : TenantTemplate($0) }
    let maxTTL = try r.duration("max_ttl") ?? SessionSettings.maximumTTL
    guard maxTTL > .zero, maxTTL <= SessionSettings.maximumTTL else {
      throw r.error(
        at: r.line(of: "max_ttl"), "max_ttl \(DurationText.format(maxTTL)) must be above 0 and at most 15m",
        fix: "tenant tokens live at most 15 minutes; use a value such as \"15m\" or \"5m\"")
    }
    var tenants: [TenantID] = []
    if let names = try r.stringArray("tenants") {
      for name in names {
        guard let t = TenantID(name) else {
          throw r.error(
            at: r.line(of: "tenants"), "tenant \(TOMLDocument.quoted(name)) is not a valid tenant name",
            fix: "tenant names use lowercase letters, digits, '-', '_' and '.'")
        }
        tenants.append(t)
      }
    }
    var defaultTenant: TenantID?
    if let name = try r.string("default_tenant"), !name.isEmpty {
      guard let t = TenantID(name), tenants.isEmpty || tenants.contains(t) else {
        throw r.error(
          at: r.line(of: "default_tenant"), "default_tenant \(TOMLDocument.quoted(name)) is not in tenants",
          fix: "add it to tenants or pick one of: \(tenants.map(\.rawValue).joined(separator: ", "))")
      }
      defaultTenant = t
    }
    return SessionSettings(
      method: method, endpoint: endpoint, resource: TenantTemplate(resourceText), audience: audience, scope: scope,
      maxTTL: maxTTL, tenants: tenants, defaultTenant: defaultTenant)
  }

  private func decodeSSH(_ r: inout TableReader) throws(CoreError) -> SSHSettings {
    var jump: [SSHEndpoint] = []
    for text in try r.stringArray("jump") ?? [] {
      guard let e = SSHEndpoint(parsing: text) else {
        throw r.error(
          at: r.line(of: "jump"), "jump entry \(TOMLDocument.quoted(text)) is not [user@]host[:port]",
          fix: "write hops as in ssh -J, e.g. \"alice@bastion.example.com:22\"")
      }
      jump.append(e)
    }
    var host: SSHEndpoint?
    if let text = try r.string("host"), !text.isEmpty {
      guard let e = SSHEndpoint(parsing: text) else {
        throw r.error(
          at: r.line(of: "host"), "host \(TOMLDocument.quoted(text)) is not [user@]host[:port]",
          fix: "write the last hop as for ssh, e.g. \"alice@mcp-host.example.com:22\"")
      }
      host = e
    }
    let targetText = try r.requiredString("target")
    guard let target = HostPort(parsing: targetText) else {
      throw r.error(
        at: r.line(of: "target"), "target \(TOMLDocument.quoted(targetText)) is not host:port",
        fix: "give the MCP server's address as seen from the last hop, e.g. \"127.0.0.1:8080\"")
    }
    let knownHosts = try r.string("known_hosts").flatMap { $0.isEmpty ? nil : $0 } ?? "~/.ssh/known_hosts"
    let identity = try r.string("identity").flatMap { $0.isEmpty ? nil : $0 }
    let certificate = try r.string("certificate").flatMap { $0.isEmpty ? nil : $0 }
    let keepalive = try r.duration("keepalive") ?? .seconds(15)
    var policy = HostKeyPolicy.strict
    if let text = try r.string("host_key_policy") {
      guard let p = HostKeyPolicy(rawValue: text) else {
        throw r.error(
          at: r.line(of: "host_key_policy"),
          "host_key_policy \(TOMLDocument.quoted(text)) is not one of: strict, accept-new",
          fix: "use \"strict\" (default) or \"accept-new\"")
      }
      policy = p
    }
    var sshConfig: String? = SSHSettings.defaultSSHConfig
    if let text = try r.string("ssh_config") {
      guard !text.isEmpty, !text.contains(where: { HostPort.isControl($0) }) else {
        throw r.error(
          at: r.line(of: "ssh_config"), "ssh_config \(TOMLDocument.quoted(text)) is not a file path or \"none\"",
          fix: "use \"~/.ssh/config\" (the default), another OpenSSH client config file, or \"none\"")
      }
      sshConfig = text == "none" ? nil : text
    }
    let hopTexts = (try r.stringArray("jump") ?? []) + (host == nil ? [] : [try r.string("host") ?? ""])
    let written = SSHSettings.WrittenKeys(
      knownHosts: try r.string("known_hosts").map { !$0.isEmpty } ?? false,
      keepalive: r.line(of: "keepalive") != nil,
      hopsWithoutPort: Set(hopTexts.indices.filter { SSHDestinationText.parse(hopTexts[$0])?.port == nil }))
    return SSHSettings(
      jump: jump, host: host, target: target, knownHosts: knownHosts, identity: identity, certificate: certificate,
      keepalive: keepalive, hostKeyPolicy: policy, sshConfig: sshConfig, written: written)
  }

  private func decodeListen(_ r: inout TableReader) throws(CoreError) -> ListenSettings {
    var settings = ListenSettings()
    if let text = try r.string("address") {
      guard let a = HostPort(parsing: text) else {
        throw r.error(
          at: r.line(of: "address"), "address \(TOMLDocument.quoted(text)) is not host:port",
          fix: "e.g. \"127.0.0.1:7700\"")
      }
      guard a.isLoopback else {
        throw r.error(
          at: r.line(of: "address"),
          "address \(TOMLDocument.escaped("\(a)")) is not a loopback address; mcp-tunnel listens on loopback only",
          fix: "use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT")
      }
      settings.address = a
    }
    if let text = try r.string("mode") {
      guard let m = ListenMode(rawValue: text) else {
        throw r.error(
          at: r.line(of: "mode"), "mode \(TOMLDocument.quoted(text)) is not one of: http, tcp",
          fix: "use \"http\" or \"tcp\"")
      }
      settings.mode = m
    }
    if let text = try r.string("peers") {
      guard let p = ListenPeers(rawValue: text) else {
        throw r.error(
          at: r.line(of: "peers"), "peers \(TOMLDocument.quoted(text)) is not one of: same-user, any-local-user",
          fix: "use \"same-user\" (only you may connect) or \"any-local-user\"")
      }
      settings.peers = p
    }
    return settings
  }
}

/// Reads typed keys from one table, remembers which it consumed, and reports the rest.
struct TableReader {
  enum URLRule { case httpsOrLoopbackHTTP }

  let table: TOMLDocument.Table
  let path: [String]
  let file: String?
  let tableLine: Int?
  private var consumed: Set<String> = []

  init(table: TOMLDocument.Table, path: [String], file: String?, tableLine: Int?) {
    self.table = table
    self.path = path
    self.file = file
    self.tableLine = tableLine
  }

  /// The key's full name for a message (escaped: key names are free text in TOML).
  func dotted(_ key: String) -> String { TOMLDocument.escaped((path + [key]).joined(separator: "."), limit: 120) }
  func line(of key: String) -> Int? { table[key]?.line }

  func error(at line: Int?, _ what: String, fix: String?) -> CoreError {
    CoreError.config(file: file, line: line, what, fix: fix)
  }

  private func typeError(_ key: String, _ found: TOMLDocument.Located, expected: String) -> CoreError {
    error(
      at: found.line, "\(dotted(key)) must be \(expected), found \(found.value.typeName)",
      fix: "see `mcp-tunnel config init` for the expected form")
  }

  mutating func string(_ key: String) throws(CoreError) -> String? {
    consumed.insert(key)
    guard let v = table[key] else { return nil }
    guard case .string(let s) = v.value else { throw typeError(key, v, expected: "a string") }
    return s
  }

  mutating func requiredString(_ key: String) throws(CoreError) -> String {
    guard let s = try string(key), !s.isEmpty else {
      throw error(
        at: tableLine, "missing required key \(dotted(key))",
        fix: "add \(key) = \"…\" under [\(TOMLDocument.escaped(path.joined(separator: "."), limit: 120))]")
    }
    return s
  }

  mutating func bool(_ key: String) throws(CoreError) -> Bool? {
    consumed.insert(key)
    guard let v = table[key] else { return nil }
    guard case .boolean(let b) = v.value else { throw typeError(key, v, expected: "true or false") }
    return b
  }

  mutating func stringArray(_ key: String) throws(CoreError) -> [String]? {
    consumed.insert(key)
    guard let v = table[key] else { return nil }
    guard case .array(let items) = v.value else { throw typeError(key, v, expected: "an array of strings") }
    var out: [String] = []
    for item in items {
      guard case .string(let s) = item.value else { throw typeError(key, item, expected: "an array of strings") }
      out.append(s)
    }
    return out
  }

  mutating func duration(_ key: String) throws(CoreError) -> Duration? {
    consumed.insert(key)
    guard let v = table[key] else { return nil }
    guard case .string(let text) = v.value else {
      throw typeError(key, v, expected: "a duration string such as \"15s\"")
    }
    guard let d = DurationText.parse(text) else {
      throw error(
        at: line(of: key), "\(dotted(key)) \(TOMLDocument.quoted(text)) is not a duration",
        fix: "write a number with a unit: \"500ms\", \"15s\", \"15m\", \"1h\", \"1m30s\"")
    }
    return d
  }

  mutating func requiredURL(_ key: String, rule: URLRule) throws(CoreError) -> URL {
    let text = try requiredString(key)
    guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty,
      url.fragment == nil
    else {
      throw error(
        at: line(of: key), "\(dotted(key)) \(TOMLDocument.quoted(text)) is not an absolute URL",
        fix: "e.g. https://idp.example.com/realms/eng")
    }
    switch rule {
    case .httpsOrLoopbackHTTP:
      guard scheme == "https" || (scheme == "http" && HostPort.isLoopbackHost(host)) else {
        throw error(
          at: line(of: key),
          "\(dotted(key)) \(TOMLDocument.quoted(text)) must use https (http is allowed only for loopback hosts)",
          fix: "use the https:// URL of the server")
      }
    }
    return url
  }

  mutating func table(_ key: String) throws(CoreError) -> TableReader? {
    consumed.insert(key)
    guard let v = table[key] else { return nil }
    guard case .table(let t) = v.value else {
      throw error(
        at: v.line, "\(dotted(key)) must be a table, found \(v.value.typeName)", fix: "write it as [\(dotted(key))]")
    }
    return TableReader(table: t, path: path + [key], file: file, tableLine: v.line)
  }

  /// Fails on the first key (in file order) that was never read.
  func rejectUnknown() throws(CoreError) {
    for key in table.keys where !consumed.contains(key) {
      let l = table[key]?.line
      throw error(
        at: l, "unknown key \(TOMLDocument.quoted(dotted(key)))",
        fix: "remove it or check the spelling; `mcp-tunnel config init --stdout` prints every valid key")
    }
  }
}
