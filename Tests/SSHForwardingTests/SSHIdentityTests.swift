import Foundation
import MCPTunnelTestSupport
import Testing
import TunnelCore

@testable import SSHForwarding

@Suite("SSH identities and certificates (units)")
struct SSHIdentityTests {
  private let k1: [UInt8] = [0, 0, 0, 1, 0x61]
  private let k2: [UInt8] = [0, 0, 0, 1, 0x62]

  @Test("K-cert.pub next to K is picked up, as OpenSSH does; absent, the key goes alone")
  func defaultCertificate() {
    #expect(SSHIdentity.defaultCertificatePath(forKey: "/h/.ssh/id_ecdsa") == "/h/.ssh/id_ecdsa-cert.pub")
    let found = SSHIdentity.resolve(
      identityFiles: ["/h/k"], certificateFiles: [], fileExists: { $0 == "/h/k-cert.pub" })
    #expect(found == [SSHIdentity(keyPath: "/h/k", certificatePath: "/h/k-cert.pub", certificateNamed: false)])
    let none = SSHIdentity.resolve(identityFiles: ["/h/k"], certificateFiles: [], fileExists: { _ in false })
    #expect(none == [SSHIdentity(keyPath: "/h/k")])
    #expect(SSHIdentity.resolve(identityFiles: [], certificateFiles: [], fileExists: { _ in true }).isEmpty)
  }

  @Test("ssh.certificate goes with ssh.identity, replacing the default")
  func namedCertificateOverridesDefault() {
    let r = SSHIdentity.resolve(
      identityFiles: ["/h/k"], certificateFiles: ["/ca/issued.pub"], fileExists: { _ in true },
      publicKey: { _ in nil }, certificateKey: { _ in nil })
    #expect(r == [SSHIdentity(keyPath: "/h/k", certificatePath: "/ca/issued.pub", certificateNamed: true)])
  }

  @Test("several identities: each certificate goes with the key it certifies; the rest get K-cert.pub")
  func pairsByPublicKey() {
    let keys = ["/h/a": k1, "/h/b": k2]
    let r = SSHIdentity.resolve(
      identityFiles: ["/h/a", "/h/b"], certificateFiles: ["/ca/b.pub"], fileExists: { $0 == "/h/a-cert.pub" },
      publicKey: { keys[$0] }, certificateKey: { $0 == "/ca/b.pub" ? self.k2 : nil })
    #expect(
      r == [
        SSHIdentity(keyPath: "/h/a", certificatePath: "/h/a-cert.pub"),
        SSHIdentity(keyPath: "/h/b", certificatePath: "/ca/b.pub", certificateNamed: true),
      ])
  }

  @Test("a certificate that fits no identity brings its own key: K for K-cert.pub")
  func certificateAlone() {
    let r = SSHIdentity.resolve(
      identityFiles: [], certificateFiles: ["/h/id_ecdsa-cert.pub"], fileExists: { _ in true },
      publicKey: { _ in nil }, certificateKey: { _ in nil })
    #expect(r == [SSHIdentity(keyPath: "/h/id_ecdsa", certificatePath: "/h/id_ecdsa-cert.pub", certificateNamed: true)])
    let mismatched = SSHIdentity.resolve(
      identityFiles: ["/h/a", "/h/b"], certificateFiles: ["/h/c-cert.pub"], fileExists: { _ in false },
      publicKey: { _ in self.k1 }, certificateKey: { _ in self.k2 })
    #expect(mismatched.last == SSHIdentity(keyPath: "/h/c", certificatePath: "/h/c-cert.pub", certificateNamed: true))
    #expect(SSHIdentity.defaultKeyPath(forCertificate: "/x/key.pub") == "/x/key")
  }

  @Test("only FIDO (sk-) keys and their certificates are not offered, and why is named")
  func libssh2Limitations() {
    for type in [
      "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ssh-ed25519",
      "ecdsa-sha2-nistp256", "ssh-rsa", "ssh-ed25519-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com",
    ] {
      #expect(SSHKeyBlob.libssh2Limitation(type: type) == nil, "\(type)")
    }
    for sk in [
      "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
    ] {
      let why = SSHKeyBlob.libssh2Limitation(type: sk)
      #expect(why?.contains("FIDO") == true && why?.contains("never asked for a touch") == true, "\(sk)")
    }
  }

  @Test("a certificate's fingerprint is its key's, as ssh-keygen -l and ssh-add -l print it")
  func fingerprints() throws {
    let certificate = try SSHCertificate(publicKeyFileText: CertificateFixtures.ecdsa)
    #expect(SSHKeyBlob.type(of: certificate.blob) == "ecdsa-sha2-nistp256-cert-v01@openssh.com")
    #expect(SSHKeyBlob.fingerprint(of: certificate.blob) == "SHA256:5m/qqTS/9rTCsweTsPj/vTrD6LNoL+dUFqx0fYhds6k")
    #expect(
      SSHKeyBlob.fingerprint(of: certificate.publicKeyBlob) == "SHA256:5m/qqTS/9rTCsweTsPj/vTrD6LNoL+dUFqx0fYhds6k")
    #expect(SSHKeyBlob.type(of: [0, 0, 0, 9, 1]) == nil)
  }

  @Test("passphrases are kept per key file and forgotten one by one")
  func passphrasesPerKey() {
    let asked = AskedPaths()
    let credentials = HopCredentials(
      identities: [], agentSocket: nil,
      passphraseProvider: { path in
        asked.add(path)
        return Array(path.utf8)
      })
    #expect(credentials.passphrase(for: "/a") == Array("/a".utf8))
    #expect(credentials.passphrase(for: "/a") == Array("/a".utf8))
    #expect(credentials.passphrase(for: "/b") == Array("/b".utf8))
    credentials.forget("/a")
    _ = credentials.passphrase(for: "/a")
    _ = credentials.passphrase(for: "/b")
    #expect(asked.paths == ["/a", "/b", "/a"])
  }
}

private final class AskedPaths: @unchecked Sendable {
  private let lock = NSLock()
  private var list: [String] = []
  func add(_ path: String) { lock.withLock { list.append(path) } }
  var paths: [String] { lock.withLock { list } }
}
