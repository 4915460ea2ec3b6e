import Foundation
import LabSupport
import TestTiers
import Testing
import TunnelCore

/// Issue 17 item 1, done-when: with only `host = "<alias>"` in the TOML and the rest in a sandbox
/// `~/.ssh/config` (aliases, an `Include` with a glob, a `ProxyJump` chain, `HostKeyAlias`,
/// `IdentityFile`, `UserKnownHostsFile`), the built binary's `up` reaches the lab's MCP server
/// through the chain OpenSSH would use: the real OpenSSH bastion, then the target.
@Suite(
  "up through ~/.ssh/config aliases (built binary, whole lab)", .tags(.lab), .wholeLab, .offPool, .serialized,
  .timeLimit(.minutes(6)))
struct SSHConfigUpTests {
  /// Writes the sandbox ssh config and a TOML whose [ssh] names only the alias and the target.
  static func configure(_ lab: CLILab) throws {
    let ssh = try lab.lab.sshLab()
    let home = try #require(lab.environment["HOME"])
    let dot = "\(home)/.ssh"
    try FileManager.default.createDirectory(atPath: "\(dot)/config.d", withIntermediateDirectories: true)
    func key(_ path: String) throws -> String {
      try String(contentsOfFile: path, encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
    }
    // The target's key only under its HostKeyAlias: the path works only if the alias is honoured.
    try """
    [127.0.0.1]:\(ssh.bastionPort) \(try key(ssh.bastionHostKeyPublicPath))
    lab-target \(try key(ssh.targetHostKeyPublicPath))

    """.write(toFile: "\(dot)/known_hosts_lab", atomically: true, encoding: .utf8)
    try """
    # A sandbox ~/.ssh/config as a developer would write it.
    Include config.d/*.conf

    Host mcp
      HostName 127.0.0.1
      Port \(ssh.targetPort)
      ProxyJump edge
      HostKeyAlias lab-target

    Host *
      User \(ssh.user)
      IdentityFile \(ssh.ecdsaKeyPath)
      IdentitiesOnly yes
      UserKnownHostsFile \(dot)/known_hosts_lab
      ServerAliveInterval 20

    """.write(toFile: "\(dot)/config", atomically: true, encoding: .utf8)
    try """
    Host edge
      HostName 127.0.0.1
      Port \(ssh.bastionPort)

    """.write(toFile: "\(dot)/config.d/edge.conf", atomically: true, encoding: .utf8)

    let text = try String(contentsOfFile: lab.config, encoding: .utf8)
    let start = try #require(text.range(of: "[profiles.lab.ssh]"))
    let end = try #require(text.range(of: "[profiles.lab.listen]"))
    let ssh2 = "[profiles.lab.ssh]\nhost = \"mcp\"\ntarget = \"\(ssh.forwardTarget)\"\n"
    try (String(text[..<start.lowerBound]) + ssh2 + String(text[end.lowerBound...]))
      .write(toFile: lab.config, atomically: true, encoding: .utf8)
  }

  @Test("host = \"mcp\" only: ready names both hops and their config lines; whoami answers through the chain")
  func aliasOnly() async throws {
    let lab = try await offPool { try CLILab(peers: [.ssh]) }
    defer { lab.stop() }
    try Self.configure(lab)
    let ssh = try lab.lab.sshLab()
    try await lab.logIn()

    let doctor = try lab.json(["doctor"])
    let checks = try #require(doctor["checks"] as? [[String: Any]], "\(doctor)")
    let path = try #require(checks.first { $0["check"] as? String == "ssh_config" }, "\(checks)")
    #expect(path["status"] as? String == "pass", "\(path)")
    #expect((path["detail"] as? String)?.contains("config.d/edge.conf:1: Host edge") == true, "\(path)")
    let target = try #require(checks.first { $0["check"] as? String == "target" }, "\(checks)")
    #expect(target["status"] as? String == "pass", "\(target)")

    let up = try await offPool { try lab.up() }
    defer { up.kill() }
    let ready = try #require(up.events.first, "\(up.stdout)")
    #expect(
      ready["hops"] as? [String] == [
        "\(ssh.user)@127.0.0.1:\(ssh.bastionPort)", "\(ssh.user)@127.0.0.1:\(ssh.targetPort)",
      ], "\(ready)")
    let origins = try #require(ready["hop_origins"] as? [String], "\(ready)")
    #expect(origins.count == 2)
    #expect(origins.first?.hasSuffix("config.d/edge.conf:1: Host edge (ProxyJump of mcp)") == true, "\(origins)")
    #expect(origins.last?.hasSuffix(".ssh/config:4: Host mcp") == true, "\(origins)")

    let whoami = try await offPool {
      try lab.lab.mcpClient.run(url: lab.url, token: nil, headers: [:], ["call", "whoami"])
    }
    #expect(whoami.ok, "\(whoami)\n\(up.stderr)")
    #expect(whoami.result["tenant"] as? String == "acme")
    // Both hops really carried it: the bastion and the target each logged the ECDSA key of the config.
    #expect(ssh.bastionLog().contains("ECDSA"), "bastion log:\n\(ssh.bastionLog())")
    #expect(ssh.targetLog().contains("ECDSA"), "target log:\n\(ssh.targetLog())")

    up.signal(SIGTERM)
    #expect(try up.waitForExit(timeout: .seconds(15)) == 0, "\(up.stderr)")
  }

  @Test("a ProxyCommand in ~/.ssh/config: up exits 2 naming the host and the line, before anything connects")
  func proxyCommandRefused() async throws {
    let lab = try await offPool { try CLILab(peers: [.ssh]) }
    defer { lab.stop() }
    try Self.configure(lab)
    let home = try #require(lab.environment["HOME"])
    let config = try String(contentsOfFile: "\(home)/.ssh/config", encoding: .utf8)
    try config.replacingOccurrences(of: "  ProxyJump edge\n", with: "  ProxyCommand nc %h %p\n")
      .write(toFile: "\(home)/.ssh/config", atomically: true, encoding: .utf8)
    let result = try await offPool { try lab.run(["up", "--mode", "tcp"]) }
    #expect(result.status == 2, "\(result.output)")
    #expect(result.output.contains("ProxyCommand for mcp (~/.ssh/config:7: ProxyCommand nc %h %p)"), "\(result.output)")
  }
}
