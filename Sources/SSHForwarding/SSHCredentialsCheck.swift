import CLibSSH2
import Foundation
import TunnelCore

/// What the hops can log in with, found without connecting anywhere (`mcp-tunnel doctor`): the
/// ssh-agent named by `SSH_AUTH_SOCK` and how many keys (and certificates) it holds, and
/// `ssh.identity` when set, with its certificate (`ssh.certificate` or `<identity>-cert.pub`) and
/// that certificate's validity window and principals. Hops try the agent first, then the key file,
/// as `HopAuthenticator` does.
public enum SSHCredentialsCheck {
  /// One line naming every usable credential, e.g. "ssh-agent at /tmp/agent.sock (2 keys); key
  /// file ~/.ssh/id_ed25519". Throws when none is usable, naming what was tried and the fix.
  /// Blocks on the agent's socket: async code calls it through `runOffPool`.
  public static func describe(
    settings: SSHSettings, environment: [String: String] = ProcessInfo.processInfo.environment, now: Date = Date()
  ) throws(SSHError) -> String {
    var usable: [String] = []
    var problems: [String] = []
    if let socket = environment["SSH_AUTH_SOCK"], !socket.isEmpty {
      switch agentKeyTypes(socket: socket) {
      case .some(let types) where !types.isEmpty:
        let count = types.count
        let certificates = types.filter(SSHCertificate.isCertificateType).count
        usable.append(
          "ssh-agent at \(socket) (\(count) key\(count == 1 ? "" : "s")"
            + (certificates == 0
              ? "" : ", \(certificates) of them \(certificates == 1 ? "a certificate" : "certificates")") + ")")
      case .some: problems.append("ssh-agent at \(socket) holds no keys")
      case .none: problems.append("ssh-agent at \(socket) does not answer")
      }
    } else {
      problems.append("SSH_AUTH_SOCK is not set (no ssh-agent)")
    }
    let expand = { (path: String?) -> [String] in
      guard let path, !path.isEmpty else { return [] }
      return [IdentityFile.expandTilde(path, environment: environment)]
    }
    let identities = SSHIdentity.resolve(
      identityFiles: expand(settings.identity), certificateFiles: expand(settings.certificate))
    if identities.isEmpty { problems.append("ssh.identity is not set") }
    for identity in identities {
      let path = identity.keyPath
      if !FileManager.default.fileExists(atPath: path) {
        problems.append("ssh.identity \(path) does not exist")
      } else if !FileManager.default.isReadableFile(atPath: path) {
        problems.append("ssh.identity \(path) is not readable")
      } else {
        usable.append("key file \(path)" + certificateNote(identity, now: now))
      }
    }
    guard usable.isEmpty else { return usable.joined(separator: "; ") }
    throw SSHError(
      .sshConnection, "no SSH credentials to log in with: " + problems.joined(separator: "; "),
      fix: "load a key into ssh-agent (`ssh-add`) or set ssh.identity to a private key file", retryable: false)
  }

  /// " with certificate C (…)" for an identity's certificate, saying when it cannot be used.
  static func certificateNote(_ identity: SSHIdentity, now: Date) -> String {
    guard let path = identity.certificatePath else { return "" }
    switch IdentityFile.readCertificate(at: path) {
    case .missing: return identity.certificateNamed ? " (ssh.certificate \(path) does not exist)" : ""
    case .unreadable(let why): return " (certificate \(path): \(why))"
    case .certificate(let certificate):
      var note = " with certificate \(path) (\(certificate.describe(at: now))"
      if let limitation = SSHKeyBlob.libssh2Limitation(type: certificate.certificateType) {
        note += "; not usable: \(limitation)"
      }
      return note + ")"
    }
  }

  /// The key types the agent at `socket` lists, or nil when it cannot be reached.
  static func agentKeyTypes(socket: String) -> [String]? {
    guard let session = try? SessionHandle(abstract: nil), let agent = try? AgentHandle(session: session),
      // off-pool: doctor runs this check through runOffPool
      agent.connect(path: socket), libssh2_agent_list_identities(agent.raw) == 0
    else { return nil }
    var types: [String] = []
    var previous: UnsafeMutablePointer<libssh2_agent_publickey>?
    while true {
      var next: UnsafeMutablePointer<libssh2_agent_publickey>?
      guard libssh2_agent_get_identity(agent.raw, &next, previous) == 0, let key = next?.pointee else { break }
      let blob = key.blob.map { Array(UnsafeBufferPointer(start: $0, count: key.blob_len)) } ?? []
      types.append(SSHKeyBlob.type(of: blob) ?? "unknown")
      previous = next
    }
    return types
  }
}
