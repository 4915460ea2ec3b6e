import Foundation
import LabSupport
import TestTiers
import Testing
import TunnelCore

@testable import SSHForwarding

@Suite("SSHForwarding units")
struct SSHUnitTests {
  @Test("known_hosts names: bare host for port 22, [host]:port otherwise")
  func knownHostsNames() {
    #expect(KnownHostsVerifier.knownHostsName(HostPort(host: "bastion.example.com", port: 22)) == "bastion.example.com")
    #expect(KnownHostsVerifier.knownHostsName(HostPort(host: "127.0.0.1", port: 2222)) == "[127.0.0.1]:2222")
  }

  @Test("the direct-tcpip payload follows RFC 4254 §7.2")
  func directTCPIPMessage() {
    let m = ForwardingLoop.directTCPIPMessage(host: "10.0.0.1", port: 8080)
    #expect(
      m == [0, 0, 0, 8] + Array("10.0.0.1".utf8) + [0, 0, 0x1F, 0x90] + [0, 0, 0, 9] + Array("127.0.0.1".utf8) + [
        0, 0, 0, 0,
      ])
  }

  @Test func tildeExpansion() {
    #expect(
      IdentityFile.expandTilde("~/.ssh/known_hosts", environment: ["HOME": "/home/a"]) == "/home/a/.ssh/known_hosts")
    #expect(IdentityFile.expandTilde("/etc/x", environment: ["HOME": "/home/a"]) == "/etc/x")
  }

  @Test("no hops configured is a usage error")
  func noHops() {
    #expect(throws: SSHError.self) {
      _ = try BastionPortForwarder(settings: SSHSettings(target: HostPort(host: "127.0.0.1", port: 1)))
    }
  }
}

/// The key helpers checked against OpenSSH's own `ssh-keygen` (a real peer, so the lab tier).
@Suite("SSHForwarding keys against ssh-keygen", .tags(.lab), .offPool)
struct SSHKeygenTests {
  @Test("SHA256 fingerprints are unpadded base64, exactly as ssh-keygen -l prints them")
  func fingerprintFormat() throws {
    let dir = try LabDirectory(prefix: "fp")
    let key = dir.path("k")
    let made = try runTool("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
    #expect(made.status == 0)
    let printed = try runTool("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", key + ".pub"]).output
    // The digest of the key blob (second field of the .pub line), computed independently with sha256sum.
    let blob = try String(contentsOfFile: key + ".pub", encoding: .utf8).split(separator: " ")[1]
    try Data(base64Encoded: String(blob))!.write(to: URL(fileURLWithPath: dir.path("blob")))
    let hex = try runTool("/usr/bin/sha256sum", [dir.path("blob")]).output.prefix(64)
    var digest: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
      let next = hex.index(index, offsetBy: 2)
      digest.append(UInt8(hex[index..<next], radix: 16)!)
      index = next
    }
    let ours = HostKeyFingerprint.sha256(digest: digest)
    #expect(printed.contains(ours), "\(ours) vs \(printed)")
    #expect(!ours.hasSuffix("="))
    #expect(ours.hasPrefix("SHA256:"))
  }

  @Test("encrypted and plain OpenSSH keys are told apart without a passphrase")
  func keyInspection() throws {
    let dir = try LabDirectory(prefix: "keys")
    _ = try runTool("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir.path("plain")])
    _ = try runTool("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret-words", "-f", dir.path("locked")])
    _ = try runTool(
      "/usr/bin/ssh-keygen", ["-q", "-t", "ecdsa", "-m", "PEM", "-N", "secret-words", "-f", dir.path("pem")])
    #expect(IdentityFile.inspect(dir.path("plain")) == .plain)
    #expect(IdentityFile.inspect(dir.path("locked")) == .encrypted)
    #expect(IdentityFile.inspect(dir.path("pem")) == .encrypted)
    #expect(IdentityFile.inspect(dir.path("absent")) == .missing)
  }
}

/// The unit tier starts no process: `LabSupport` refuses for a test whose suite lacks `.tags(.lab)`.
@Suite("lab tier guard")
struct LabTierGuardTests {
  @Test("a test without the lab tag cannot start a process through LabSupport")
  func untaggedTestCannotStartAProcess() {
    let error = #expect(throws: LabError.self) { try LabCommand.run("/bin/true", []) }
    #expect(error?.description.contains(".tags(.lab)") == true, "\(String(describing: error))")
  }
}
