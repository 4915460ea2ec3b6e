import CLibSSH2
import Foundation
import TunnelCore

/// What the hops can log in with, found without connecting anywhere (`mcp-tunnel doctor`): each
/// hop's ssh-agent (`SSH_AUTH_SOCK` or `IdentityAgent`) and how many keys (and certificates) it
/// holds, and each hop's identity files with their certificates (`ssh.certificate`,
/// `CertificateFile` or `<identity>-cert.pub`) and each certificate's validity window and
/// principals. Hops try the agent first, then the key files, as `HopAuthenticator` does.
public enum SSHCredentialsCheck {
  /// One line naming every usable credential, e.g. "ssh-agent at /tmp/agent.sock (2 keys); key
  /// file ~/.ssh/id_ed25519". Throws when none is usable, naming what was tried and the fix.
  /// Blocks on the agent's socket: async code calls it through `runOffPool`.
  public static func describe(
    settings: SSHSettings, environment: [String: String] = ProcessInfo.processInfo.environment, now: Date = Date()
  ) throws(SSHError) -> String {
    try describe(route: SSHRoute(settings: settings), environment: environment, now: now)
  }

  /// As `describe(settings:)`, for hops resolved through the ssh config: each hop's `IdentityAgent`
  /// and `IdentityFile`s (OpenSSH's default list only where those files exist).
  public static func describe(
    route: SSHRoute, environment: [String: String] = ProcessInfo.processInfo.environment, now: Date = Date()
  ) throws(SSHError) -> String {
    var usable: [String] = []
    var problems: [String] = []
    var sockets: [String] = []
    let environmentSocket = environment["SSH_AUTH_SOCK"].flatMap { $0.isEmpty ? nil : $0 }
    for hop in route.hops {
      let socket: String? =
        switch hop.identityAgent {
        case nil: environmentSocket
        case "none": nil
        case .some(let path): IdentityFile.expandTilde(path, environment: environment)
        }
      if let socket, !sockets.contains(socket) { sockets.append(socket) }
    }
    if route.hops.allSatisfy({ $0.identityAgent == nil }) && environmentSocket == nil {
      problems.append("SSH_AUTH_SOCK is not set (no ssh-agent)")
    } else if sockets.isEmpty {
      problems.append("no ssh-agent (IdentityAgent none)")
    }
    for socket in sockets {
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
    }
    var files: [(identity: SSHIdentity, optional: Bool)] = []
    for hop in route.hops {
      let identities = SSHIdentity.resolve(
        identityFiles: hop.identityFiles.filter { !$0.isEmpty }.map {
          IdentityFile.expandTilde($0, environment: environment)
        },
        certificateFiles: hop.certificateFiles.map { IdentityFile.expandTilde($0, environment: environment) })
      for identity in identities where !files.contains(where: { $0.identity == identity }) {
        files.append((identity, hop.identityFilesAreDefaults))
      }
    }
    let name = route.sshConfig == nil ? "ssh.identity" : "identity file"
    for (identity, optional) in files {
      let path = identity.keyPath
      if !FileManager.default.fileExists(atPath: path) {
        if !optional { problems.append("\(name) \(path) does not exist") }
      } else if !FileManager.default.isReadableFile(atPath: path) {
        problems.append("\(name) \(path) is not readable")
      } else {
        usable.append("key file \(path)" + certificateNote(identity, now: now))
      }
    }
    if files.isEmpty { problems.append("ssh.identity is not set") }
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
