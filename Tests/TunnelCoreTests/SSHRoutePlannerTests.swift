import Foundation
import MCPTunnelTestSupport
import Testing
import TunnelCore

/// `SSHRoutePlanner` against the in-memory `ssh -G` twin: aliases become hops, the TOML wins,
/// ProxyJump chains expand as `ssh -J` does, `none` and a missing default file change nothing,
/// ProxyCommand is refused and weakened host key checking is reported.
@Suite("ssh config → hops (SSHRoutePlanner)")
struct SSHRoutePlannerTests {
  static let config = "/home/dev/.ssh/config"
  typealias Entry = InMemorySSHConfigResolver.Entry

  /// A realistic config: a bastion alias, a target behind it, a two-step chain, a plain default.
  static let hosts: [String: Entry] = [
    "bastion": Entry(
      """
      hostname bastion.example.com
      user alice
      port 2222
      identityfile ~/.ssh/id_bastion
      identitiesonly yes
      certificatefile ~/.ssh/id_bastion-cert.pub
      userknownhostsfile /home/dev/.ssh/known_hosts_corp
      serveraliveinterval 30
      """, origin: "~/.ssh/config:1: Host bastion"),
    "target": Entry(
      """
      hostname 10.0.0.7
      user svc
      proxyjump bastion
      hostkeyalias target-key
      identityfile %d/.ssh/id_%r_%h
      """, origin: "~/.ssh/config:9: Host target"),
    "deep": Entry(
      """
      hostname deep.internal
      proxyjump carol@outer.example.com:2200,bastion
      """, origin: "~/.ssh/config:15: Host deep"),
    "outer.example.com": Entry("proxyjump none"),
  ]

  func planner(_ resolver: InMemorySSHConfigResolver) -> SSHRoutePlanner {
    SSHRoutePlanner(
      resolver: resolver, environment: ["HOME": "/home/dev"], localUser: "dev", localHostName: "laptop.lan",
      userID: 1000)
  }

  func settings(_ toml: String) throws -> SSHSettings {
    let text = "[profiles.p.ssh]\ntarget = \"127.0.0.1:8080\"\n" + toml
    return try #require(try ConfigurationDecoder(file: "config.toml").decode(text).profiles["p"]).ssh
  }

  @Test("host = alias: HostName, User, Port, keys, known_hosts, keepalive and origin come from the config")
  func aliasBecomesHop() async throws {
    let resolver = InMemorySSHConfigResolver(files: [Self.config: Self.hosts])
    let route = try await planner(resolver).route(for: try settings("host = \"bastion\""))
    #expect(route.hopNames(localUser: "dev") == ["alice@bastion.example.com:2222"])
    let hop = try #require(route.hops.first)
    #expect(hop.identityFiles == ["~/.ssh/id_bastion"] && !hop.identityFilesAreDefaults && hop.identitiesOnly)
    #expect(hop.certificateFiles == ["~/.ssh/id_bastion-cert.pub"])
    #expect(hop.knownHostsFiles == ["/home/dev/.ssh/known_hosts_corp"])
    #expect(hop.globalKnownHostsFiles == ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"])
    #expect(hop.keepalive == .seconds(30))
    #expect(hop.origin == "~/.ssh/config:1: Host bastion")
    #expect(route.sshConfig == "~/.ssh/config" && route.warnings.isEmpty)
    #expect(resolver.queries == [SSHConfigQuery(configFile: Self.config, host: "bastion")])
  }

  @Test("user@ and :port written in the TOML go to ssh -G as -l/-p and win; identity, known_hosts, keepalive too")
  func tomlWins() async throws {
    let resolver = InMemorySSHConfigResolver(files: [Self.config: Self.hosts])
    let route = try await planner(resolver).route(
      for: try settings(
        """
        host = "root@bastion:22"
        identity = "~/.ssh/mine"
        known_hosts = "/tmp/kh"
        keepalive = "5s"
        """))
    #expect(resolver.queries == [SSHConfigQuery(configFile: Self.config, host: "bastion", user: "root", port: 22)])
    let hop = try #require(route.hops.first)
    #expect(hop.endpoint.description == "root@bastion.example.com:22")
    #expect(hop.identityFiles == ["~/.ssh/mine"])
    #expect(hop.knownHostsFiles == ["/tmp/kh"])
    #expect(hop.globalKnownHostsFiles.isEmpty, "a written known_hosts replaces GlobalKnownHostsFile too")
    #expect(hop.keepalive == .seconds(5))
    #expect(
      hop.certificateFiles == ["~/.ssh/id_bastion-cert.pub"], "what the TOML does not write still comes from the config"
    )
  }

  @Test("ProxyJump expands to hops before the alias, each resolved with its own ssh -G; %tokens are expanded")
  func proxyJumpChain() async throws {
    let resolver = InMemorySSHConfigResolver(files: [Self.config: Self.hosts])
    let route = try await planner(resolver).route(for: try settings("host = \"target\""))
    #expect(route.hopNames(localUser: "dev") == ["alice@bastion.example.com:2222", "svc@10.0.0.7:22"])
    #expect(route.hops[0].origin == "~/.ssh/config:1: Host bastion (ProxyJump of target)")
    #expect(route.hops[1].origin == "~/.ssh/config:9: Host target")
    #expect(route.hops[1].hostKeyAlias == "target-key")
    #expect(route.hops[1].identityFiles == ["/home/dev/.ssh/id_svc_10.0.0.7"])
    #expect(route.hops[1].knownHostsFiles == ["/home/dev/.ssh/known_hosts", "/home/dev/.ssh/known_hosts2"])
    #expect(route.hops[1].keepalive == .seconds(15), "ServerAliveInterval 0 (unset): ssh.keepalive's default")
  }

  @Test("a ProxyJump entry with user@host:port is parsed, looked up with -l/-p, and its first hop's own chain expands")
  func nestedChain() async throws {
    let resolver = InMemorySSHConfigResolver(files: [Self.config: Self.hosts])
    let route = try await planner(resolver).route(for: try settings("jump = [\"deep\"]"))
    // deep: ProxyJump carol@outer:2200,bastion → outer (own chain: none), then bastion (reached through outer).
    #expect(
      route.hopNames(localUser: "dev") == [
        "carol@outer.example.com:2200", "alice@bastion.example.com:2222", "dev@deep.internal:22",
      ])
    #expect(
      resolver.queries.contains(
        SSHConfigQuery(configFile: Self.config, host: "outer.example.com", user: "carol", port: 2200)))
    #expect(route.hops[0].origin == "ssh -G outer.example.com (no Host entry names it) (ProxyJump of deep)")
    #expect(route.hops[0].identityFilesAreDefaults, "no IdentityFile: OpenSSH's default list")
  }

  @Test("jump + host: the host is reached through the jumps and its own ProxyJump is not used (as ssh -J), and said so")
  func tomlJumpsOverrideProxyJump() async throws {
    let resolver = InMemorySSHConfigResolver(files: [Self.config: Self.hosts])
    let route = try await planner(resolver).route(for: try settings("jump = [\"deep\"]\nhost = \"target\""))
    #expect(route.hopNames(localUser: "dev").suffix(2) == ["dev@deep.internal:22", "svc@10.0.0.7:22"])
    #expect(route.hops.count == 4)
    #expect(route.warnings.contains { $0.contains("ProxyJump bastion of target is not used") }, "\(route.warnings)")
  }

  @Test("a name that is no Host alias is a plain host with the config's defaults, as with ssh")
  func plainHost() async throws {
    let resolver = InMemorySSHConfigResolver(files: [Self.config: Self.hosts])
    let route = try await planner(resolver).route(for: try settings("host = \"db.example.com\""))
    #expect(route.hopNames(localUser: "dev") == ["dev@db.example.com:22"])
    #expect(route.hops[0].origin == "ssh -G db.example.com (no Host entry names it)")
  }

  @Test("ssh_config = \"none\" uses [ssh] as written and runs no ssh -G")
  func none() async throws {
    let resolver = InMemorySSHConfigResolver(files: [Self.config: Self.hosts])
    let route = try await planner(resolver).route(for: try settings("host = \"bastion\"\nssh_config = \"none\""))
    #expect(resolver.queries.isEmpty)
    #expect(route.hopNames(localUser: "dev") == ["dev@bastion:22"])
    #expect(route.hops[0].origin == "ssh.host" && route.sshConfig == nil)
    #expect(route.hops[0].knownHostsFiles == ["~/.ssh/known_hosts"] && route.hops[0].identityFiles.isEmpty)
  }

  @Test("the default ~/.ssh/config missing: [ssh] as written; another file missing: exit 2 naming it")
  func missingFile() async throws {
    let resolver = InMemorySSHConfigResolver()
    let route = try await planner(resolver).route(for: try settings("jump = [\"a@b:2\"]"))
    #expect(route == SSHRoute(settings: try settings("jump = [\"a@b:2\"]")))
    let error = await #expect(throws: CoreError.self) {
      try await planner(resolver).route(for: try settings("host = \"x\"\nssh_config = \"~/corp/ssh.conf\""))
    }
    #expect(error?.category == .usage)
    #expect(error?.summary.contains("/home/dev/corp/ssh.conf") == true, "\(error?.summary ?? "")")
  }

  @Test("ProxyCommand is refused (exit 2) naming the host and the config line")
  func proxyCommandRefused() async throws {
    let resolver = InMemorySSHConfigResolver(files: [
      Self.config: [
        "legacy": Entry(
          "proxycommand nc -X 5 -x proxy:1080 %h %p", origin: "~/.ssh/config:20: Host legacy",
          optionLines: ["proxycommand": "~/.ssh/config:21: ProxyCommand nc -X 5 -x proxy:1080 %h %p"])
      ]
    ])
    let error = await #expect(throws: CoreError.self) {
      try await planner(resolver).route(for: try settings("host = \"legacy\""))
    }
    #expect(error?.category == .usage)
    #expect(error?.summary.contains("ProxyCommand for legacy (~/.ssh/config:21:") == true, "\(error?.summary ?? "")")
    #expect(error?.fix?.contains("ProxyJump") == true)
  }

  @Test("StrictHostKeyChecking no / accept-new, KnownHostsCommand, PKCS11Provider are reported, never silently dropped")
  func weakeningReported() async throws {
    let resolver = InMemorySSHConfigResolver(files: [
      Self.config: [
        "lax": Entry(
          "stricthostkeychecking false\nknownhostscommand /usr/bin/fetch-keys %H\npkcs11provider /usr/lib/p11.so",
          optionLines: ["stricthostkeychecking": "~/.ssh/config:3: StrictHostKeyChecking no"]),
        "tofu": Entry("stricthostkeychecking accept-new"),
      ]
    ])
    let route = try await planner(resolver).route(for: try settings("jump = [\"lax\"]\nhost = \"tofu\""))
    #expect(route.warnings.count == 4, "\(route.warnings)")
    #expect(
      route.warnings.contains {
        $0.contains("lax: StrictHostKeyChecking no in the ssh config is not applied (~/.ssh/config:3:")
          && $0.contains("ssh.host_key_policy = \"strict\"")
      })
    #expect(route.warnings.contains { $0.contains("tofu: StrictHostKeyChecking accept-new") })
    #expect(route.warnings.contains { $0.contains("KnownHostsCommand is not run") })
    #expect(route.warnings.contains { $0.contains("ssh-add -s /usr/lib/p11.so") })
  }

  @Test("a ProxyJump loop is an error, not a hang")
  func loop() async throws {
    let resolver = InMemorySSHConfigResolver(files: [
      Self.config: ["a": Entry("proxyjump b"), "b": Entry("proxyjump a")]
    ])
    let error = await #expect(throws: CoreError.self) {
      try await planner(resolver).route(for: try settings("host = \"a\""))
    }
    #expect(error?.summary.contains("loop") == true, "\(error?.summary ?? "")")
  }

  @Test("what ssh -G refuses, an unknown %token and a bad ProxyJump entry are usage errors with a fix")
  func errors() async throws {
    let failing = InMemorySSHConfigResolver(
      files: [Self.config: [:]], failure: CoreError(.usage, "ssh config line 3: Bad configuration option: Hostnme"))
    let refused = await #expect(throws: CoreError.self) {
      try await planner(failing).route(for: try settings("host = \"x\""))
    }
    #expect(refused?.summary.contains("Hostnme") == true)

    let tokens = InMemorySSHConfigResolver(files: [Self.config: ["t": Entry("identityfile ~/.ssh/%C")]])
    let token = await #expect(throws: CoreError.self) {
      try await planner(tokens).route(for: try settings("host = \"t\""))
    }
    #expect(token?.summary.contains("%C") == true, "\(token?.summary ?? "")")

    let badJump = InMemorySSHConfigResolver(files: [Self.config: ["j": Entry("proxyjump a b@")]])
    let jump = await #expect(throws: CoreError.self) {
      try await planner(badJump).route(for: try settings("host = \"j\""))
    }
    #expect(jump?.summary.contains("is not [user@]host[:port]") == true, "\(jump?.summary ?? "")")
  }

  @Test("IdentityAgent: none, a path, or SSH_AUTH_SOCK (the default)")
  func identityAgent() async throws {
    let resolver = InMemorySSHConfigResolver(files: [
      Self.config: [
        "a": Entry("identityagent none"), "b": Entry("identityagent ~/.agent.sock"),
        "c": Entry("identityagent SSH_AUTH_SOCK"),
      ]
    ])
    let route = try await planner(resolver).route(for: try settings("jump = [\"a\", \"b\"]\nhost = \"c\""))
    #expect(route.hops.map(\.identityAgent) == ["none", "~/.agent.sock", nil])
  }
}

@Suite("ssh config keys in the TOML")
struct SSHConfigDecodingTests {
  let decoder = ConfigurationDecoder(file: "config.toml")

  func ssh(_ lines: String) throws -> SSHSettings {
    try #require(try decoder.decode("[profiles.p.ssh]\ntarget = \"127.0.0.1:1\"\n" + lines).profiles["p"]).ssh
  }

  @Test func defaultsAndWrittenKeys() throws {
    let plain = try ssh("host = \"bastion\"\njump = [\"a@j:2022\", \"k\"]")
    #expect(plain.sshConfig == "~/.ssh/config")
    #expect(plain.written == SSHSettings.WrittenKeys(knownHosts: false, keepalive: false, hopsWithoutPort: [1, 2]))
    #expect(plain.hopText(0) == "a@j:2022" && plain.hopText(1) == "k" && plain.hopText(2) == "bastion")
    let written = try ssh("host = \"b:22\"\nknown_hosts = \"/k\"\nkeepalive = \"5s\"\nssh_config = \"none\"")
    #expect(written.sshConfig == nil)
    #expect(written.written == SSHSettings.WrittenKeys(knownHosts: true, keepalive: true, hopsWithoutPort: []))
    #expect(try ssh("ssh_config = \"/etc/corp/ssh.conf\"").sshConfig == "/etc/corp/ssh.conf")
  }

  @Test func badValuesNameKeyAndLine() throws {
    for (line, message) in [
      ("ssh_config = 1", "profiles.p.ssh.ssh_config must be a string"),
      ("ssh_config = \"\"", "ssh_config \"\" is not a file path or \"none\""),
      ("ssh_confg = \"none\"", "unknown key \"profiles.p.ssh.ssh_confg\""),
    ] {
      let error = #expect(throws: CoreError.self) { try ssh(line) }
      #expect(error?.summary.hasPrefix("config.toml:3: \(message)") == true, "\(error?.summary ?? "")")
    }
  }
}
