import Foundation
import Testing
import TunnelCore

/// Certificates written by OpenSSH 9.2's `ssh-keygen -s` (CA key `SHA256:qP6vNTTasMQ5UZdXszEqHRe6Sax95FrxQOiT7r/McSg`).
enum CertificateFixtures {
  /// `ssh-keygen -s ca -I fixture-ec -z 42 -n alice,deploy -V 20250101000000Z:20250101010000Z
  ///  -O force-command=/bin/true -O source-address=10.0.0.0/8 ec.pub`
  static let ecdsa = [
    "ecdsa-sha2-nistp256-cert-v01@openssh.com AAAAKGVjZHNhLXNoYTItbmlzdHAyNTYtY2VydC12MDFAb3BlbnNzaC5jb20",
    "AAAAgL/tJbv4Nz8mJ+0jCmVHmin17VKuFEHXLKdGTl3bJgfwAAAAIbmlzdHAyNTYAAABBBHLWc0n9y5A03tmE3pMunun5lPbd6C+",
    "KUSfkqHD1+JPeJwGRk7QRvDSocZAMzF5FInKqBgNGVDnMcpZmWTnhhh0AAAAAAAAAKgAAAAEAAAAKZml4dHVyZS1lYwAAABMAAAA",
    "FYWxpY2UAAAAGZGVwbG95AAAAAGd0hYAAAAAAZ3STkAAAAEYAAAANZm9yY2UtY29tbWFuZAAAAA0AAAAJL2Jpbi90cnVlAAAADnN",
    "vdXJjZS1hZGRyZXNzAAAADgAAAAoxMC4wLjAuMC84AAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1",
    "hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5AAAAAAAAAA5wZXJ",
    "taXQtdXNlci1yYwAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDl6QQb5eA2GRnJ1ZDTwz48QyI4bzTy0mosepsUenk40wA",
    "AAFMAAAALc3NoLWVkMjU1MTkAAABAyK01bHkXxVsBOjEVt2W2N2CqTeciQ/Jx0RFIPkU0MbLQINW5TgAZs2MJNwNHzUa7RGn2HlY",
    "71dZyNlVmu440Cg== alice@laptop",
  ].joined()
  /// `ec.pub`: the key `ecdsa` certifies (`SHA256:5m/qqTS/9rTCsweTsPj/vTrD6LNoL+dUFqx0fYhds6k`).
  static let ecdsaPublicKey = [
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHLWc0n9y5A03tmE3pMunun5lPbd",
    "6C+KUSfkqHD1+JPeJwGRk7QRvDSocZAMzF5FInKqBgNGVDnMcpZmWTnhhh0= alice@laptop",
  ].joined()
  /// `ssh-keygen -s ca -I fixture-ed -n alice ed.pub` (valid forever).
  static let ed25519 = [
    "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIDjRN+ZMyFuCHC9",
    "5nAyqddzbLA1cFBmwjPUJiPATaz2nAAAAIJ490f5AH6297AvmEcW4l+lWnNrNJjjHrcis0l6i0k/bAAAAAAAAAAAAAAABAAAACmZ",
    "peHR1cmUtZWQAAAAJAAAABWFsaWNlAAAAAAAAAAD//////////wAAAAAAAACCAAAAFXBlcm1pdC1YMTEtZm9yd2FyZGluZwAAAAA",
    "AAAAXcGVybWl0LWFnZW50LWZvcndhcmRpbmcAAAAAAAAAFnBlcm1pdC1wb3J0LWZvcndhcmRpbmcAAAAAAAAACnBlcm1pdC1wdHk",
    "AAAAAAAAADnBlcm1pdC11c2VyLXJjAAAAAAAAAAAAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIOXpBBvl4DYZGcnVkNPDPjxDIjhvNPL",
    "Saix6mxR6eTjTAAAAUwAAAAtzc2gtZWQyNTUxOQAAAEAqC0srDRj/3rNhjfLUCu+NMDTJ5qaWmnV1wIIlTlqYltdwPlS1Rjoy3Rf",
    "edxo2ayvpddnM0TwD9kzTL5Hv9EAO ed",
  ].joined()
  /// `ssh-keygen -s ca -I fixture-rsa -n alice -V 20250101000000Z:20250102000000Z rsa.pub` (RSA 1024).
  static let rsa = [
    "ssh-rsa-cert-v01@openssh.com AAAAHHNzaC1yc2EtY2VydC12MDFAb3BlbnNzaC5jb20AAAAgk4UCu9KIv2MwpoX4g1OCjxD",
    "Y6X2D5k0XZXTFY6I5j6oAAAADAQABAAAAgQCuEn3j5tAOZ35U2pTA3KfKXQd4XbgeE93Vp91AL6/d1uEDCRF4nobFtMxYl14rSQb",
    "UWAeDSFPap7pZUVnZ4p3zAaa5atTm0pXhIPLi+CSI8vg8jZu4tsDiIsUMCtBdHh/0OxbdzE1mvo9XaMpqv2AUo2/oQ2bgYZ7kYMC",
    "mFc/vSwAAAAAAAAAAAAAAAQAAAAtmaXh0dXJlLXJzYQAAAAkAAAAFYWxpY2UAAAAAZ3SFgAAAAABnddcAAAAAAAAAAIIAAAAVcGV",
    "ybWl0LVgxMS1mb3J3YXJkaW5nAAAAAAAAABdwZXJtaXQtYWdlbnQtZm9yd2FyZGluZwAAAAAAAAAWcGVybWl0LXBvcnQtZm9yd2F",
    "yZGluZwAAAAAAAAAKcGVybWl0LXB0eQAAAAAAAAAOcGVybWl0LXVzZXItcmMAAAAAAAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAA",
    "g5ekEG+XgNhkZydWQ08M+PEMiOG808tJqLHqbFHp5ONMAAABTAAAAC3NzaC1lZDI1NTE5AAAAQFA5ducJj1/dYG+6vecDTz+/ozD",
    "8fEYG/QqIcERWT6ui0t1mkNuyYj3ve3Abt24wk6RxSUl+LR1sOIjKPQoW3QI= rsa",
  ].joined()
  /// `ssh-keygen -s ca -I fixture-host -h -n host.example.com -V always:forever hostk.pub`
  static let host = [
    "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAINdH0gxBWWJ1VYu",
    "7UB/c7aJZaleUYWo3XwFttGBLd6bYAAAAIJ490f5AH6297AvmEcW4l+lWnNrNJjjHrcis0l6i0k/bAAAAAAAAAAAAAAACAAAADGZ",
    "peHR1cmUtaG9zdAAAABQAAAAQaG9zdC5leGFtcGxlLmNvbQAAAAAAAAAA//////////8AAAAAAAAAAAAAAAAAAAAzAAAAC3NzaC1",
    "lZDI1NTE5AAAAIOXpBBvl4DYZGcnVkNPDPjxDIjhvNPLSaix6mxR6eTjTAAAAUwAAAAtzc2gtZWQyNTUxOQAAAED8+h5A/tyJmNF",
    "daqXBKuiWZ4ISlIphB9i7RnVxieYemq8nIm9ivoRdl7fJR+wt1wIZkdN8GgMNZOGt8M6y0agE ed",
  ].joined()
}

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
