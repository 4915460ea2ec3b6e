import Foundation
import LabSupport
import SSHForwarding
import TestTiers
import Testing
import TunnelCore

/// Agreement with OpenSSH on a corpus of small client configs: for each, the hops `SSHRoutePlanner`
/// builds through the live `OpenSSHConfigResolver` are the ones written here by hand, and each one
/// equals what the real `ssh -G` prints for it (user, hostname, port), read back independently.
/// This proves the parsing of ssh's output, the `-l`/`-p` precedence and the ProxyJump expansion;
/// the ssh_config(5) rules themselves are OpenSSH's, by construction.
@Suite("ssh config corpus: resolved hops agree with ssh -G", .tags(.lab), .offPool, .serialized)
struct SSHConfigCorpusTests {
  struct Case: Sendable, CustomStringConvertible {
    var name: String
    /// Relative path under `HOME/.ssh` → contents; `config` is the main file.
    var files: [String: String]
    var toml: String
    /// `user@host:port` of every hop; `$USER` stands for the local user.
    var hops: [String]
    /// Substrings of each hop's origin, in order ("" to skip).
    var origins: [String] = []
    var description: String { name }
  }

  static let cases: [Case] = [
    Case(
      name: "Match host after HostName",
      files: [
        "config": """
        Host web
          HostName web.corp.example
        Match host *.corp.example
          User corpuser
          Port 2201
        """
      ], toml: "host = \"web\"", hops: ["corpuser@web.corp.example:2201"], origins: [".ssh/config:1: Host web"]),
    Case(
      name: "Match user sees the user@ written in the TOML",
      files: [
        "config": """
        Match user admin
          Port 2222
          IdentityFile ~/.ssh/admin_key
        """
      ], toml: "host = \"admin@srv.example\"", hops: ["admin@srv.example:2222"], origins: ["no Host entry"]),
    Case(
      name: "Include with a glob, relative to ~/.ssh",
      files: [
        "config": "Include conf.d/*.conf\nHost *\n  ServerAliveInterval 7\n",
        "conf.d/a.conf": "Host alpha\n  HostName alpha.example\n  User ua\n",
        "conf.d/b.conf": "Host beta\n  HostName beta.example\n  Port 2022\n",
      ], toml: "jump = [\"alpha\"]\nhost = \"beta\"", hops: ["ua@alpha.example:22", "$USER@beta.example:2022"],
      origins: ["conf.d/a.conf:1: Host alpha", "conf.d/b.conf:1: Host beta"]),
    Case(
      name: "Host patterns with negation",
      files: [
        "config": """
        Host *.example !secret.example
          User patterned
        Host *
          Port 2200
        """
      ], toml: "jump = [\"open.example\"]\nhost = \"secret.example\"",
      hops: ["patterned@open.example:2200", "$USER@secret.example:2200"],
      origins: [".ssh/config:1: Host *.example !secret.example", "no Host entry"]),
    Case(
      name: "first value wins across blocks",
      files: [
        "config": """
        Host dup
          HostName first.example
          Port 1111
        Host dup
          HostName second.example
          Port 2222
          User second
        Host *
          User starred
        """
      ], toml: "host = \"dup\"", hops: ["second@first.example:1111"], origins: [".ssh/config:1: Host dup"]),
    Case(
      name: "ProxyJump chain with a user@host:port entry; the TOML port wins",
      files: [
        "config": """
        Host gw
          HostName gw.example
          User g
        Host inner
          HostName inner.example
          ProxyJump gw,x@mid.example:2022
          Port 2200
        """
      ], toml: "host = \"inner:22\"", hops: ["g@gw.example:22", "x@mid.example:2022", "$USER@inner.example:22"],
      origins: ["Host gw (ProxyJump of inner)", "no Host entry names it) (ProxyJump of inner)", "Host inner"]),
  ]

  static var localUser: String { String(cString: getpwuid(geteuid()).pointee.pw_name) }

  @Test("each corpus config resolves to the hops OpenSSH uses", arguments: cases)
  func agreesWithOpenSSH(_ c: Case) async throws {
    let dir = try LabDirectory(prefix: "sshcfg")
    let home = dir.url.path
    for (name, text) in c.files {
      let path = "\(home)/.ssh/\(name)"
      try FileManager.default.createDirectory(
        atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
      try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
    let environment = ["HOME": home, "USER": Self.localUser]
    let toml = "[profiles.p.ssh]\ntarget = \"127.0.0.1:1\"\n" + c.toml
    let settings = try #require(try ConfigurationDecoder().decode(toml).profiles["p"]).ssh
    let route = try await SSHRoutePlanner(
      resolver: OpenSSHConfigResolver(environment: environment), environment: environment, localUser: Self.localUser
    ).route(for: settings)

    let expected = c.hops.map { $0.replacingOccurrences(of: "$USER", with: Self.localUser) }
    #expect(route.hopNames(localUser: Self.localUser) == expected, "\(c.name)")
    for (hop, want) in zip(route.hops, c.origins) where !want.isEmpty {
      #expect(hop.origin?.contains(want) == true, "\(c.name): origin \(hop.origin ?? "nil") lacks \(want)")
    }

    // Read ssh -G back independently for every hop written in the TOML (the hops not added by a ProxyJump).
    let written = route.hops.filter { $0.origin?.contains("ProxyJump of") != true }
    #expect(written.count == settings.hops.count)
    for (index, resolved) in zip(settings.hops.indices, written) {
      let hop = settings.hops[index]
      var arguments = ["-G", "-F", "\(home)/.ssh/config"]
      if let user = hop.user { arguments += ["-l", user] }
      if !settings.written.hopsWithoutPort.contains(index) { arguments += ["-p", String(hop.address.port)] }
      let printed = try runTool("/usr/bin/ssh", arguments + [hop.address.host], environment: environment)
      #expect(printed.status == 0, "\(printed.output)")
      func field(_ key: String) -> String? {
        printed.output.split(separator: "\n").first { $0.hasPrefix(key + " ") }.map {
          String($0.dropFirst(key.count + 1))
        }
      }
      #expect(resolved.endpoint.user == field("user"), "\(c.name): user of \(hop.address.host)")
      #expect(resolved.endpoint.address.host == field("hostname"), "\(c.name): hostname of \(hop.address.host)")
      #expect(String(resolved.endpoint.address.port) == field("port"), "\(c.name): port of \(hop.address.host)")
    }
  }

  @Test("ProxyCommand in a real config: refused with the host and the file:line that sets it")
  func proxyCommandNamesLine() async throws {
    let dir = try LabDirectory(prefix: "sshcfg")
    let home = dir.url.path
    try FileManager.default.createDirectory(atPath: "\(home)/.ssh", withIntermediateDirectories: true)
    try "Host legacy\n  HostName 10.1.1.1\n  ProxyCommand nc -x proxy:1080 %h %p\nHost *\n  StrictHostKeyChecking no\n"
      .write(toFile: "\(home)/.ssh/config", atomically: true, encoding: .utf8)
    let environment = ["HOME": home, "USER": Self.localUser]
    let planner = SSHRoutePlanner(
      resolver: OpenSSHConfigResolver(environment: environment), environment: environment, localUser: Self.localUser)
    let settings = try #require(
      try ConfigurationDecoder().decode("[profiles.p.ssh]\ntarget = \"127.0.0.1:1\"\nhost = \"legacy\"").profiles["p"]
    ).ssh
    let error = await #expect(throws: CoreError.self) { try await planner.route(for: settings) }
    #expect(
      error?.summary.contains("ProxyCommand for legacy (~/.ssh/config:3: ProxyCommand nc -x proxy:1080 %h %p)") == true,
      "\(error?.summary ?? "")")

    let lax = try #require(
      try ConfigurationDecoder().decode("[profiles.p.ssh]\ntarget = \"127.0.0.1:1\"\nhost = \"other\"").profiles["p"]
    ).ssh
    let route = try await planner.route(for: lax)
    #expect(
      route.warnings == [
        "other: StrictHostKeyChecking no in the ssh config is not applied (~/.ssh/config:5: StrictHostKeyChecking no); "
          + "host keys are checked with ssh.host_key_policy = \"strict\""
      ])
  }

  @Test("a config ssh refuses is a usage error carrying ssh's own message")
  func syntaxError() async throws {
    let dir = try LabDirectory(prefix: "sshcfg")
    let home = dir.url.path
    try FileManager.default.createDirectory(atPath: "\(home)/.ssh", withIntermediateDirectories: true)
    try "Host x\n  Hostnme typo.example\n".write(toFile: "\(home)/.ssh/config", atomically: true, encoding: .utf8)
    let environment = ["HOME": home, "USER": Self.localUser]
    let error = await #expect(throws: SSHError.self) {
      try await OpenSSHConfigResolver(environment: environment).effectiveConfig(
        for: SSHConfigQuery(configFile: "\(home)/.ssh/config", host: "x"))
    }
    #expect(error?.category == .usage)
    #expect(
      error?.summary.lowercased().contains("bad configuration option: hostnme") == true, "\(error?.summary ?? "")")
  }

  @Test("ssh -G starts with no signal blocked, although the threads that start it block them all")
  func childSignalMask() async throws {
    let dir = try LabDirectory(prefix: "sshcfg")
    let home = dir.url.path
    try FileManager.default.createDirectory(atPath: "\(home)/.ssh", withIntermediateDirectories: true)
    try "Host x\n  HostName 127.0.0.1\n".write(toFile: "\(home)/.ssh/config", atomically: true, encoding: .utf8)
    // A stand-in for ssh -G that records its own signal mask, then prints what ssh -G would. Only
    // shell builtins read the mask: a `grep` child would read it while the shell waits in vfork,
    // with every signal blocked for that moment.
    let fake = "\(home)/fake-ssh"
    try """
    #!/bin/sh
    while read -r key value; do case $key in SigBlk:) echo "$value" > "$HOME/mask";; esac; done < /proc/$$/status
    printf 'user someone\\nhostname 127.0.0.1\\nport 22\\n'
    """.write(toFile: fake, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: fake)
    let environment = ["HOME": home, "USER": Self.localUser]
    let resolved = try await OpenSSHConfigResolver(executable: fake, environment: environment).effectiveConfig(
      for: SSHConfigQuery(configFile: "\(home)/.ssh/config", host: "x"))
    #expect(resolved != nil)
    let mask = try String(contentsOfFile: "\(home)/mask", encoding: .utf8)
    #expect(mask.trimmingCharacters(in: .whitespacesAndNewlines) == "0000000000000000", "\(mask)")
  }
}
