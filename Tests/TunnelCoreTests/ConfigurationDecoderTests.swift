import Foundation
import Testing
import TunnelCore

/// A complete, valid profile; tests change one line at a time.
let sampleConfig = """
  default_profile = "prod"

  [profiles.prod.idp]
  issuer = "https://idp.example.com/realms/eng"
  client_id = "mcp-tunnel"
  scopes = ["openid", "offline_access"]

  [profiles.prod.session]
  method = "token-exchange"
  resource = "https://mcp.example.com/t/{tenant}/mcp"
  scope = "mcp:tools"
  max_ttl = "10m"
  tenants = ["acme", "globex"]
  default_tenant = "acme"

  [profiles.prod.ssh]
  jump = ["alice@bastion.example.com:2222", "hop2.example.com"]
  target = "127.0.0.1:8080"
  keepalive = "1m30s"

  [profiles.prod.listen]
  address = "127.0.0.1:7701"
  mode = "tcp"
  """

@Suite("Configuration decoding")
struct ConfigurationDecoderTests {
  let decoder = ConfigurationDecoder(file: "config.toml")

  @Test func decodesEveryKeyOfAValidProfile() throws {
    let config = try decoder.decode(sampleConfig)
    #expect(config.defaultProfile == "prod")
    let p = try #require(config.profiles["prod"])
    #expect(p.idp?.issuer.absoluteString == "https://idp.example.com/realms/eng")
    #expect(p.idp?.clientID == "mcp-tunnel")
    #expect(p.session?.method == .tokenExchange)
    #expect(p.session?.maxTTL == .seconds(600))
    #expect(p.session?.tenants.map(\.rawValue) == ["acme", "globex"])
    #expect(p.session?.resource.expand(for: TenantID("globex")!) == "https://mcp.example.com/t/globex/mcp")
    #expect(
      p.ssh.jump == [
        SSHEndpoint(user: "alice", address: HostPort(host: "bastion.example.com", port: 2222)),
        SSHEndpoint(user: nil, address: HostPort(host: "hop2.example.com", port: 22)),
      ])
    #expect(p.ssh.target == HostPort(host: "127.0.0.1", port: 8080))
    #expect(p.ssh.keepalive == .seconds(90))
    #expect(p.ssh.hostKeyPolicy == .strict)
    #expect(p.listen.address.port == 7701)
    #expect(p.listen.mode == .tcp)
  }

  @Test func fillsDefaultsForAMinimalProfile() throws {
    let config = try decoder.decode("[profiles.lab.ssh]\ntarget = \"127.0.0.1:8080\"\n")
    let p = try #require(config.profiles["lab"])
    #expect(p.idp == nil && p.session == nil)
    #expect(p.listen.address == ListenSettings.defaultAddress)
    #expect(p.listen.mode == .http)
    #expect(p.listen.peers == .sameUser, "SPEC §5: only the user who runs up, unless the profile says otherwise")
    #expect(p.ssh.knownHosts == "~/.ssh/known_hosts")
    #expect(p.ssh.keepalive == .seconds(15))
    #expect(p.ssh.identity == nil && p.ssh.certificate == nil)
  }

  @Test func decodesTheCertificateNextToTheIdentity() throws {
    let config = try decoder.decode(
      "[profiles.lab.ssh]\ntarget = \"127.0.0.1:8080\"\nidentity = \"~/.ssh/id_ecdsa\"\n"
        + "certificate = \"~/.ssh/ca/id_ecdsa-cert.pub\"\n")
    let p = try #require(config.profiles["lab"])
    #expect(p.ssh.identity == "~/.ssh/id_ecdsa")
    #expect(p.ssh.certificate == "~/.ssh/ca/id_ecdsa-cert.pub")
  }

  /// Each malformed line must produce an error naming the key (or problem) and the line.
  @Test(arguments: [
    ("keepalve = \"5s\"", "[profiles.prod.ssh]", "unknown key \"profiles.prod.ssh.keepalve\""),
    ("keepalive = \"5 minutes\"", "[profiles.prod.ssh]", "profiles.prod.ssh.keepalive \"5 minutes\" is not a duration"),
    ("keepalive = 5", "[profiles.prod.ssh]", "profiles.prod.ssh.keepalive must be a duration string"),
    ("jump = \"bastion\"", "[profiles.prod.ssh]", "profiles.prod.ssh.jump must be an array of strings, found string"),
    ("host_key_policy = \"yolo\"", "[profiles.prod.ssh]", "host_key_policy \"yolo\" is not one of"),
    ("certificate = 5", "[profiles.prod.ssh]", "profiles.prod.ssh.certificate must be a string, found integer"),
    ("certficate = \"x\"", "[profiles.prod.ssh]", "unknown key \"profiles.prod.ssh.certficate\""),
    ("address = \"0.0.0.0:7700\"", "[profiles.prod.listen]", "0.0.0.0:7700 is not a loopback address"),
    ("address = \"10.1.2.3:7700\"", "[profiles.prod.listen]", "is not a loopback address"),
    ("mode = \"udp\"", "[profiles.prod.listen]", "mode \"udp\" is not one of: http, tcp"),
    ("peers = \"everyone\"", "[profiles.prod.listen]", "peers \"everyone\" is not one of: same-user, any-local-user"),
    ("peers = true", "[profiles.prod.listen]", "profiles.prod.listen.peers must be a string"),
    ("resource = \"http://mcp.example.com/t/{tenant}/mcp\"", "[profiles.prod.session]", "is not an absolute https URI"),
    ("resource = \"/t/{tenant}/mcp\"", "[profiles.prod.session]", "is not an absolute https URI"),
    ("max_ttl = \"1h\"", "[profiles.prod.session]", "max_ttl 1h must be above 0 and at most 15m"),
    ("max_duration = \"1s\"", "[profiles.prod.session]", "max_duration 1s is too short to warn before it ends"),
    (
      "idle_timeout = \"soon\"", "[profiles.prod.session]",
      "profiles.prod.session.idle_timeout \"soon\" is not a duration"
    ),
    ("elevate_max = \"0s\"", "[profiles.prod.session]", "elevate_max 0s leaves no time to use an elevation"),
    ("max_duration = 60", "[profiles.prod.session]", "profiles.prod.session.max_duration must be a duration string"),
    ("idle_timout = \"5m\"", "[profiles.prod.session]", "unknown key \"profiles.prod.session.idle_timout\""),
    (
      "issuer = \"http://idp.example.com\"", "[profiles.prod.idp]",
      "must use https (http is allowed only for loopback hosts)"
    ),
    ("pkce_metadata_override = \"yes\"", "[profiles.prod.idp]", "must be true or false, found string"),
  ])
  func badValueIsNamedWithItsLine(line: String, table: String, expected: String) throws {
    // Replace the key's line in its table (or append it) so the error lands on a known line.
    var lines = sampleConfig.components(separatedBy: "\n")
    let key = String(line.prefix(while: { $0 != " " }))
    let tableIndex = try #require(lines.firstIndex(of: table))
    var target = tableIndex + 1
    while target < lines.count, !lines[target].hasPrefix("["), !lines[target].isEmpty {
      if lines[target].hasPrefix(key + " ") { break }
      target += 1
    }
    if target < lines.count, lines[target].hasPrefix(key + " ") {
      lines[target] = line
    } else {
      lines.insert(line, at: target)
    }
    let error = #expect(throws: CoreError.self) { try decoder.decode(lines.joined(separator: "\n")) }
    #expect(error?.category == .usage)
    #expect(error?.summary.hasPrefix("config.toml:\(target + 1): ") == true, "\(error?.summary ?? "")")
    #expect(error?.summary.contains(expected) == true, "\(error?.summary ?? "") should contain \(expected)")
    #expect(error?.fix?.isEmpty == false)
  }

  @Test("elevate_max: 5m by default, written values kept")
  func elevateMax() throws {
    #expect(try decoder.decode(sampleConfig).profiles["prod"]?.limits.elevateMax == .seconds(300))
    let written = sampleConfig.replacingOccurrences(
      of: "max_ttl = \"10m\"", with: "max_ttl = \"10m\"\nelevate_max = \"90s\"")
    #expect(try decoder.decode(written).profiles["prod"]?.limits.elevateMax == .seconds(90))
  }

  @Test("session limits: 12h and never by default; written values; alone in [session] for a tcp profile")
  func sessionLimits() throws {
    #expect(try decoder.decode(sampleConfig).profiles["prod"]?.limits == SessionLimits(maxDuration: .seconds(43200)))
    let written = sampleConfig.replacingOccurrences(
      of: "max_ttl = \"10m\"", with: "max_ttl = \"10m\"\nmax_duration = \"20s\"\nidle_timeout = \"1h30m\"")
    let p = try #require(try decoder.decode(written).profiles["prod"])
    #expect(p.limits == SessionLimits(maxDuration: .seconds(20), idleTimeout: .seconds(5400)))
    #expect(p.session?.maxTTL == .seconds(600))
    let tcp = try decoder.decode(
      "[profiles.lab.session]\nmax_duration = \"0s\"\nidle_timeout = \"10m\"\n[profiles.lab.ssh]\ntarget = \"127.0.0.1:8080\"\n"
    )
    let lab = try #require(tcp.profiles["lab"])
    #expect(lab.session == nil)
    #expect(lab.limits == SessionLimits(maxDuration: .zero, idleTimeout: .seconds(600)))
    // Any token key makes it a full [session] table again, with its required keys.
    let error = #expect(throws: CoreError.self) {
      try decoder.decode(
        "[profiles.lab.session]\nmax_duration = \"1h\"\nscope = \"x\"\n[profiles.lab.ssh]\ntarget = \"127.0.0.1:8080\"\n"
      )
    }
    #expect(error?.summary.contains("resource") == true, "\(error?.summary ?? "")")
  }

  @Test("[profiles.P.audit] journal: false by default, true when written, anything else a typed error")
  func auditJournal() throws {
    #expect(try decoder.decode(sampleConfig).profiles["prod"]?.audit == AuditSettings(journal: false))
    let on = try decoder.decode(sampleConfig + "\n[profiles.prod.audit]\njournal = true\n")
    #expect(on.profiles["prod"]?.audit.journal == true)
    let wrongType = #expect(throws: CoreError.self) {
      try decoder.decode(sampleConfig + "\n[profiles.prod.audit]\njournal = \"yes\"\n")
    }
    #expect(wrongType?.summary.contains("journal") == true, "\(wrongType?.summary ?? "")")
    let unknown = #expect(throws: CoreError.self) {
      try decoder.decode(sampleConfig + "\n[profiles.prod.audit]\nsyslog = true\n")
    }
    #expect(unknown?.summary.contains("syslog") == true, "\(unknown?.summary ?? "")")
  }

  @Test func listenPeersAcceptsBothValues() throws {
    for value in ListenPeers.allCases {
      let text =
        "[profiles.lab.ssh]\ntarget = \"127.0.0.1:8080\"\n[profiles.lab.listen]\npeers = \"\(value.rawValue)\"\n"
      #expect(try decoder.decode(text).profiles["lab"]?.listen.peers == value)
    }
  }

  @Test func unknownTopLevelKeyNamesLine() {
    let error = #expect(throws: CoreError.self) { try decoder.decode("color = true\n" + sampleConfig) }
    #expect(error?.summary == "config.toml:1: unknown key \"color\"")
  }

  @Test func unknownTableNamesLine() {
    let error = #expect(throws: CoreError.self) {
      try decoder.decode(sampleConfig + "\n[profiles.prod.proxy]\nport = 1\n")
    }
    #expect(error?.summary.contains("unknown key \"profiles.prod.proxy\"") == true)
    #expect(error?.summary.hasPrefix("config.toml:24:") == true, "\(error?.summary ?? "")")
  }

  @Test func missingSSHTableIsNamed() {
    let error = #expect(throws: CoreError.self) {
      try decoder.decode("[profiles.dev.listen]\nmode = \"tcp\"\n")
    }
    #expect(error?.summary.contains("profile \"dev\" has no [profiles.dev.ssh] table") == true)
  }

  @Test func missingTargetIsNamed() {
    let error = #expect(throws: CoreError.self) { try decoder.decode("[profiles.dev.ssh]\njump = []\n") }
    #expect(error?.summary.contains("missing required key profiles.dev.ssh.target") == true)
  }

  @Test func defaultTenantMustBeAllowed() {
    let text = sampleConfig.replacingOccurrences(of: "default_tenant = \"acme\"", with: "default_tenant = \"initech\"")
    let error = #expect(throws: CoreError.self) { try decoder.decode(text) }
    #expect(error?.summary.contains("default_tenant \"initech\" is not in tenants") == true)
  }

  @Test func defaultProfileMustExist() {
    let text = sampleConfig.replacingOccurrences(of: "default_profile = \"prod\"", with: "default_profile = \"stage\"")
    let error = #expect(throws: CoreError.self) { try decoder.decode(text) }
    #expect(error?.summary.hasPrefix("config.toml:1:") == true)
  }

  @Test func loopbackHTTPIssuerIsAllowedForLocalIdPs() throws {
    let text = sampleConfig.replacingOccurrences(
      of: "https://idp.example.com/realms/eng", with: "http://127.0.0.1:4593/api/oidc")
    let config = try decoder.decode(text)
    #expect(config.profiles["prod"]?.idp?.issuer.host == "127.0.0.1")
  }

  @Test func duplicateKeyNamesBothLines() {
    let error = #expect(throws: CoreError.self) {
      try decoder.decode("[profiles.a.ssh]\ntarget = \"127.0.0.1:1\"\ntarget = \"127.0.0.1:2\"\n")
    }
    #expect(error?.summary == "config.toml:3: key \"target\" is already defined on line 2")
  }
}
