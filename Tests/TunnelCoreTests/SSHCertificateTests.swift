import Foundation
import MCPTunnelTestSupport
import Testing
import TunnelCore

@Suite("OpenSSH certificates (PROTOCOL.certkeys)")
struct SSHCertificateTests {
  private func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

  @Test("an ECDSA user certificate: every field as ssh-keygen -L shows it")
  func ecdsaFields() throws {
    let c = try SSHCertificate(publicKeyFileText: CertificateFixtures.ecdsa + "\n")
    #expect(c.certificateType == "ecdsa-sha2-nistp256-cert-v01@openssh.com")
    #expect(c.keyType == "ecdsa-sha2-nistp256")
    #expect(c.role == .user)
    #expect(c.keyID == "fixture-ec")
    #expect(c.serial == 42)
    #expect(c.principals == ["alice", "deploy"])
    #expect(c.validAfter == 1_735_689_600)
    #expect(c.validBefore == 1_735_693_200)
    #expect(c.criticalOptions == ["force-command": "/bin/true", "source-address": "10.0.0.0/8"])
    #expect(c.extensions.contains("permit-port-forwarding"))
    #expect(c.nonce.count == 32)
    #expect(c.comment == "alice@laptop")
    let plain = try #require(Data(base64Encoded: String(CertificateFixtures.ecdsaPublicKey.split(separator: " ")[1])))
    #expect(c.publicKeyBlob == [UInt8](plain))
    #expect(SSHCertificate.plainKeyType(ofCertificateType: c.certificateType) == "ecdsa-sha2-nistp256")
  }

  @Test("validity: not yet valid before valid_after, expired from valid_before on (as sshd decides)")
  func validityWindow() throws {
    let c = try SSHCertificate(publicKeyFileText: CertificateFixtures.ecdsa)
    #expect(c.validity(at: date("2024-12-31T23:59:59Z")) == .notYetValid)
    #expect(c.validity(at: date("2025-01-01T00:00:00Z")) == .valid)
    #expect(c.validity(at: date("2025-01-01T00:59:59Z")) == .valid)
    #expect(c.validity(at: date("2025-01-01T01:00:00Z")) == .expired)
    #expect(c.validityWindow == "valid from 2025-01-01 00:00:00 UTC to 2025-01-01 01:00:00 UTC")
    let expired = c.describe(at: date("2025-01-01T03:00:00Z"))
    #expect(expired.contains("\"fixture-ec\""), "\(expired)")
    #expect(expired.contains("serial 42"))
    #expect(expired.contains("principals alice, deploy"))
    #expect(expired.contains("EXPIRED 2h 0m ago"), "\(expired)")
    let early = c.describe(at: date("2024-12-31T23:00:00Z"))
    #expect(early.contains("NOT YET VALID: starts in 1h 0m"), "\(early)")
    #expect(!c.describe(at: date("2025-01-01T00:30:00Z")).contains("EXPIRED"))
  }

  @Test("ed25519 valid forever; principals are matched exactly")
  func ed25519Forever() throws {
    let c = try SSHCertificate(publicKeyFileText: CertificateFixtures.ed25519)
    #expect(c.keyType == "ssh-ed25519")
    #expect(c.validAfter == 0 && c.validBefore == UInt64.max)
    #expect(c.validityWindow == "valid forever")
    #expect(c.validity(at: Date.distantFuture) == .valid)
    #expect(c.names(principal: "alice"))
    #expect(!c.names(principal: "Alice") && !c.names(principal: "bob"))
    #expect(c.principalList == "principal alice")
  }

  @Test("RSA and host certificates parse with their own key layout and role")
  func rsaAndHost() throws {
    let rsa = try SSHCertificate(publicKeyFileText: CertificateFixtures.rsa)
    #expect(rsa.keyType == "ssh-rsa")
    #expect(rsa.validBefore - rsa.validAfter == 86_400)
    let host = try SSHCertificate(publicKeyFileText: CertificateFixtures.host)
    #expect(host.role == .host)
    #expect(host.principals == ["host.example.com"])
  }

  @Test("a plain public key, a cut certificate and a mislabelled line are refused with the reason")
  func refusals() throws {
    let plain = #expect(throws: CoreError.self) {
      try SSHCertificate(publicKeyFileText: CertificateFixtures.ecdsaPublicKey)
    }
    #expect(plain?.summary.contains("is not an OpenSSH certificate type") == true, "\(String(describing: plain))")
    let fields = CertificateFixtures.ecdsa.split(separator: " ")
    let blob = [UInt8](try #require(Data(base64Encoded: String(fields[1]))))
    let cut = #expect(throws: CoreError.self) { try SSHCertificate(blob: Array(blob.prefix(200))) }
    #expect(cut?.summary.contains("cut short") == true, "\(String(describing: cut))")
    #expect(throws: CoreError.self) { try SSHCertificate(blob: blob + [0]) }
    let relabelled = "ssh-ed25519-cert-v01@openssh.com " + fields[1]
    let mismatch = #expect(throws: CoreError.self) { try SSHCertificate(publicKeyFileText: relabelled) }
    #expect(mismatch?.summary.contains("holds a ecdsa-sha2-nistp256-cert-v01@openssh.com") == true)
    #expect(throws: CoreError.self) { try SSHCertificate(publicKeyFileText: "") }
    #expect(throws: CoreError.self) { try SSHCertificate(publicKeyFileText: "ssh-ed25519-cert-v01@openssh.com !!!") }
  }

  @Test("a key id with a terminal escape is refused, not printed")
  func unprintableKeyID() throws {
    var w: [UInt8] = []
    func u32(_ v: UInt32) {
      w += [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }
    func str(_ b: [UInt8]) { u32(UInt32(b.count)); w += b }
    str(Array("ssh-ed25519-cert-v01@openssh.com".utf8))
    str([UInt8](repeating: 1, count: 32))  // nonce
    str([UInt8](repeating: 2, count: 32))  // pk
    u32(0); u32(1)  // serial
    u32(1)  // user
    str(Array("evil\u{1B}[2J".utf8))
    let error = #expect(throws: CoreError.self) { try SSHCertificate(blob: w) }
    #expect(error?.summary.contains("key id holds unprintable characters") == true, "\(String(describing: error))")
  }
}
