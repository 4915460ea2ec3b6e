import CLibSSH2
import Foundation
import TunnelCore

/// How one hop logs in (`SSHHop`'s keys and certificates, made into paths), owned by the
/// forwarder's I/O thread.
final class HopCredentials {
  /// Key files in the order they are tried (after the agent), each with its certificate.
  let identities: [SSHIdentity]
  /// `identities` come from OpenSSH's default list: with none of them present, the message says so.
  let identitiesAreDefaults: Bool
  /// `IdentitiesOnly`: only agent keys that match an identity's `.pub` (or a certificate) are offered.
  let identitiesOnly: Bool
  /// The agent socket to use (`SSH_AUTH_SOCK` or the hop's `IdentityAgent`), or nil for no agent.
  let agentSocket: String?
  let passphraseProvider: PassphraseProvider
  /// The clock certificates' validity windows are checked against.
  let now: @Sendable () -> Date
  /// Shared by every hop of the forwarder, so a key used at two hops is asked for once.
  let passphrases: PassphraseCache

  init(
    identities: [SSHIdentity], identitiesAreDefaults: Bool = false, identitiesOnly: Bool = false,
    agentSocket: String?, passphraseProvider: @escaping PassphraseProvider,
    passphrases: PassphraseCache = PassphraseCache(), now: @escaping @Sendable () -> Date = { Date() }
  ) {
    self.identities = identities
    self.identitiesAreDefaults = identitiesAreDefaults
    self.identitiesOnly = identitiesOnly
    self.agentSocket = agentSocket
    self.passphraseProvider = passphraseProvider
    self.passphrases = passphrases
    self.now = now
  }

  func passphrase(for path: String) -> [UInt8]? {
    if let known = passphrases.values[path] { return known }
    let asked = passphraseProvider(path)
    if let asked { passphrases.values[path] = asked }
    return asked
  }

  /// Zeroes and drops the passphrase of `path` (a wrong one), or of every key.
  func forget(_ path: String? = nil) {
    if let path { passphrases.drop(path) } else { passphrases.forget() }
  }

  /// For `IdentitiesOnly`: the public key blobs of the identities (their `.pub`) and of their certificates.
  private(set) lazy var offeredKeyBlobs: Set<[UInt8]> = Set(
    identities.flatMap { [$0.keyPath + ".pub"] + ($0.certificatePath.map { [$0] } ?? []) }.compactMap { path in
      (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: " ").dropFirst().first
        .flatMap { Data(base64Encoded: String($0)) }.map { [UInt8]($0) }
    })
}

/// Key passphrases asked so far, by key path; kept in memory for reconnects, zeroed on `forget()`.
final class PassphraseCache {
  var values: [String: [UInt8]] = [:]

  /// Zeroes and drops the passphrase of `path` (it was wrong).
  func drop(_ path: String) {
    values[path]?.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    values.removeValue(forKey: path)
  }

  func forget() { for path in Array(values.keys) { drop(path) } }

  deinit { forget() }
}

/// The public-key login of one hop, as non-blocking stages: ask the server's methods, try each
/// ssh-agent key (certificates included), then each identity file — its certificate first, then the
/// plain key (asking for a passphrase once per file) — then give up with every attempt named.
///
/// FIDO `sk-` keys and their certificates are not offered (`SSHKeyBlob.libssh2Limitation`), and an
/// expired certificate is not offered either; each is named with the reason. A
/// refused certificate is named with its validity window and principals, and the fix then says to
/// get a new certificate.
///
/// Owned by the hop's `HopConnection` for the length of its login, and confined to the tunnel's
/// I/O thread. Holds the agent connection (and the agent's identity pointer, which belongs to it)
/// until the login ends or `release()`.
final class HopAuthenticator {
  enum Step {
    /// Waiting for the socket.
    case blocked
    /// A stage ended without a result (the next call goes on).
    case progressed
    case authenticated
    case failed(SSHError)
  }

  private let label: String
  private let user: String
  private let host: String
  private let credentials: HopCredentials

  private var agent: AgentHandle?
  private var agentIdentity: UnsafeMutablePointer<libssh2_agent_publickey>?
  /// How the agent key being tried is named in messages.
  private var agentKeyName = ""
  private var agentCertificate: SSHCertificate?
  private var agentKeysListed = 0
  private var stage: Stage = .listMethods
  private var serverMethods: [String] = []
  private var attempts: [String] = []
  /// Certificates that were refused or not offered because of their window or principals.
  private var certificateProblems: [String] = []
  /// Certificates not offered because of their key type (security keys).
  private var unsignableCertificates = 0
  /// The key files still to try, in order; planned when the agent is done (nil until then).
  private var fileAttempts: [FileAttempt]?

  /// One libssh2 login call with key files: the certificate (as the public key) or the plain key.
  private struct FileAttempt {
    var keyPath: String
    /// The certificate file offered as the public key, or nil for the plain key.
    var certificatePath: String?
    var certificate: SSHCertificate?
    var name: String
  }

  private enum Stage {
    case listMethods
    case agentNextIdentity
    case agentTrying
    case nextFile
    case tryingFile(FileAttempt)
    case exhausted
  }

  init(label: String, user: String, host: String, credentials: HopCredentials) {
    self.label = label
    self.user = user
    self.host = host
    self.credentials = credentials
  }

  /// Drops the agent connection (login finished or the hop torn down).
  func release() {
    agentIdentity = nil
    agent = nil
  }

  /// Makes whatever progress the login allows on `session`. Call again after the socket is ready.
  func advance(session: SessionHandle) -> Step {
    while true {
      switch stage {
      case .listMethods:
        let list = user.withCString { libssh2_userauth_list(session.raw, $0, UInt32(strlen($0))) }
        if let list {
          serverMethods = String(cString: list).split(separator: ",").map(String.init)
        } else if libssh2_userauth_authenticated(session.raw) != 0 {
          return authenticated()
        } else if session.lastErrno == libssh2EAGAIN {
          return .blocked
        } else {
          return .failed(SSHError(.sshConnection, "\(label): the server ended the login", session: session))
        }
        guard serverMethods.contains("publickey") else {
          return .failed(
            SSHError(
              .sshConnection,
              "\(label): authentication failed: the server accepts only \(serverMethods.joined(separator: ", ")), "
                + "and mcp-tunnel logs in with public keys (ssh-agent or ssh.identity)",
              fix: "ask the server's administrator to allow publickey logins for \(user)", retryable: false))
        }
        stage = .agentNextIdentity
        if let socket = credentials.agentSocket {
          let handle = try? AgentHandle(session: session)
          // off-pool: runs on the tunnel's I/O thread
          if let handle, handle.connect(path: socket), libssh2_agent_list_identities(handle.raw) == 0 {
            agent = handle
          } else {
            attempts.append("ssh-agent at \(socket) (could not connect or list keys)")
          }
        } else {
          attempts.append("ssh-agent (none: SSH_AUTH_SOCK is not set)")
        }

      case .agentNextIdentity:
        guard let agent else {
          stage = .nextFile
          continue
        }
        var next: UnsafeMutablePointer<libssh2_agent_publickey>?
        let rc = libssh2_agent_get_identity(agent.raw, &next, agentIdentity)
        guard rc == 0, let next else {
          if agentKeysListed == 0 { attempts.append("ssh-agent (no keys loaded)") }
          self.agent = nil
          agentIdentity = nil
          stage = .nextFile
          continue
        }
        agentIdentity = next
        agentKeysListed += 1
        if credentials.identitiesOnly,
          !credentials.offeredKeyBlobs.contains(
            next.pointee.blob.map { Array(UnsafeBufferPointer(start: $0, count: next.pointee.blob_len)) } ?? [])
        {
          continue
        }
        if let skip = prepareAgentKey(next.pointee) {
          attempts.append(skip)
        } else {
          stage = .agentTrying
        }

      case .agentTrying:
        guard let agent, let identity = agentIdentity else {
          stage = .nextFile
          continue
        }
        // off-pool: runs on the tunnel's I/O thread
        let rc = user.withCString { libssh2_agent_userauth(agent.raw, $0, identity) }
        if rc == libssh2EAGAIN { return .blocked }
        if rc == 0 { return authenticated() }
        attempts.append("\(agentKeyName) (\(refusal(certificate: agentCertificate)))")
        stage = .agentNextIdentity

      case .nextFile:
        if fileAttempts == nil { fileAttempts = planFileAttempts() }
        guard let attempt = fileAttempts?.first else {
          stage = .exhausted
          continue
        }
        fileAttempts?.removeFirst()
        if let skip = prepareFile(attempt) {
          attempts.append(skip)
        } else {
          stage = .tryingFile(attempt)
        }

      case .tryingFile(let attempt):
        return tryKeyFile(attempt, session: session)

      case .exhausted:
        return .failed(exhaustedError())
      }
    }
  }

  // MARK: planning and naming

  /// Each identity's certificate, then its plain key.
  private func planFileAttempts() -> [FileAttempt] {
    guard !credentials.identities.isEmpty else {
      attempts.append(
        credentials.identitiesAreDefaults
          ? "identity file (no IdentityFile configured, and none of OpenSSH's default keys exists)"
          : "identity file (none configured: ssh.identity is empty)")
      return []
    }
    var plan: [FileAttempt] = []
    for identity in credentials.identities {
      if let certificatePath = identity.certificatePath {
        switch IdentityFile.readCertificate(at: certificatePath) {
        case .missing:
          if identity.certificateNamed { attempts.append("certificate \(certificatePath) (does not exist)") }
        case .unreadable(let why):
          attempts.append("certificate \(certificatePath) (\(why))")
        case .certificate(let certificate):
          plan.append(
            FileAttempt(
              keyPath: identity.keyPath, certificatePath: certificatePath, certificate: certificate,
              name: "certificate \(certificatePath) for \(identity.keyPath)"))
        }
      }
      plan.append(FileAttempt(keyPath: identity.keyPath, name: "identity file \(identity.keyPath)"))
    }
    return plan
  }

  /// Names the agent key about to be tried; returns why it is skipped instead, if it is.
  private func prepareAgentKey(_ key: libssh2_agent_publickey) -> String? {
    let blob = key.blob.map { Array(UnsafeBufferPointer(start: $0, count: key.blob_len)) } ?? []
    let type = SSHKeyBlob.type(of: blob) ?? "unknown type"
    let comment = key.comment.map { PrintableText.quotedLiteral(String(cString: $0)) } ?? "\"\""
    let fingerprint = SSHKeyBlob.fingerprint(of: blob)
    agentCertificate = SSHCertificate.isCertificateType(type) ? try? SSHCertificate(blob: blob) : nil
    if let certificate = agentCertificate {
      agentKeyName = "ssh-agent certificate \(comment) \(fingerprint) (\(certificate.describe(at: credentials.now())))"
    } else {
      agentKeyName = "ssh-agent key \(comment) \(type) \(fingerprint)"
    }
    if let limitation = SSHKeyBlob.libssh2Limitation(type: type) {
      if agentCertificate != nil { unsignableCertificates += 1 }
      return "\(agentKeyName) (not offered: \(limitation))"
    }
    if let certificate = agentCertificate, let reason = notOffered(certificate) {
      return "\(agentKeyName) (not offered: \(reason))"
    }
    return nil
  }

  /// Why a file attempt is skipped, or nil to try it.
  private func prepareFile(_ attempt: FileAttempt) -> String? {
    switch IdentityFile.inspect(attempt.keyPath) {
    case .missing:
      if attempt.certificatePath != nil {
        return "\(attempt.name) (its private key does not exist; a certificate file is used with its key file only: "
          + "to use a key held by the agent, ssh-add the key with the certificate next to it)"
      }
      return "identity file \(attempt.keyPath) (does not exist)"
    case .unreadable(let why):
      return attempt.certificatePath == nil ? "\(attempt.name) (\(why))" : "\(attempt.name) (its key file: \(why))"
    case .plain, .encrypted: break
    }
    guard let certificate = attempt.certificate else { return nil }
    let described = "\(attempt.name) (\(certificate.describe(at: credentials.now())))"
    if let limitation = SSHKeyBlob.libssh2Limitation(type: certificate.certificateType) {
      unsignableCertificates += 1
      return "\(described) (not offered: \(limitation))"
    }
    if let reason = notOffered(certificate) { return "\(described) (not offered: \(reason))" }
    if let certified = IdentityFile.publicKeyBlob(keyPath: attempt.keyPath), certified != certificate.publicKeyBlob {
      return "\(described) (not offered: it certifies \(SSHKeyBlob.fingerprint(of: certificate.publicKeyBlob)), "
        + "not this key's \(SSHKeyBlob.fingerprint(of: certified)))"
    }
    return nil
  }

  /// Why a certificate is not worth offering: not a user certificate, or expired by this clock.
  /// A certificate that is not valid yet is still offered (the server's clock decides).
  private func notOffered(_ certificate: SSHCertificate) -> String? {
    if certificate.role != .user { return "it is a host certificate, not a user certificate" }
    if certificate.validity(at: credentials.now()) == .expired {
      certificateProblems.append("expired")
      return "it has expired"
    }
    return nil
  }

  /// What to say about a refused key: for a certificate, what may be wrong with it.
  private func refusal(certificate: SSHCertificate?) -> String {
    guard let certificate else { return "refused by the server" }
    var reasons: [String] = []
    if certificate.validity(at: credentials.now()) == .notYetValid { reasons.append("it is not valid yet") }
    if !certificate.names(principal: user) {
      reasons.append(
        certificate.principals.isEmpty
          ? "it names no principal, and OpenSSH wants the login user \(user) among them"
          : "its principals do not include the login user \(user)")
    }
    certificateProblems.append(reasons.isEmpty ? "refused" : reasons.joined(separator: ", "))
    if reasons.isEmpty {
      return "refused by the server: is its CA in the server's TrustedUserCAKeys, and do the clocks agree?"
    }
    return "refused by the server: " + reasons.joined(separator: "; ")
  }

  private func exhaustedError() -> SSHError {
    let fix: String
    if !certificateProblems.isEmpty {
      fix =
        "get a new certificate for \(user) from your SSH CA (its signing command, e.g. "
        + "`ssh-keygen -s CA_KEY -I ID -n \(user) -V +8h KEY.pub`), valid now and naming \(user) as a principal; "
        + "or load an authorized key into ssh-agent (ssh-add)"
    } else if unsignableCertificates > 0 {
      fix =
        "have your SSH CA certify a key that is not a security key (`ssh-keygen -t ed25519`, then sign its "
        + ".pub); or load an authorized key into ssh-agent (ssh-add)"
    } else {
      fix =
        "load an authorized key into ssh-agent (ssh-add), or set ssh.identity to a key listed in "
        + "~\(user)/.ssh/authorized_keys on \(host) (or one with a certificate from a CA the server trusts)"
    }
    return SSHError(
      .sshConnection,
      "\(label): authentication failed for \(user) (server accepts: \(serverMethods.joined(separator: ", "))); "
        + "tried: \(attempts.joined(separator: "; "))",
      fix: fix, retryable: false)
  }

  // MARK: key files

  /// One try of a key file (with its certificate as the public key, when there is one).
  private func tryKeyFile(_ attempt: FileAttempt, session: SessionHandle) -> Step {
    let path = attempt.keyPath
    var passphrase: [CChar]?
    if IdentityFile.inspect(path) == .encrypted {
      guard let secret = credentials.passphrase(for: path) else {
        attempts.append("\(attempt.name) (encrypted, and there is no terminal to ask for its passphrase)")
        stage = .nextFile
        return .progressed
      }
      passphrase = secret.map { CChar(bitPattern: $0) } + [0]
    }
    defer {
      if passphrase != nil { for i in passphrase!.indices { passphrase![i] = 0 } }
    }
    // With the certificate as the public key, libssh2 puts the certificate into the login request
    // and signs with the private key.
    let rc = user.withCString { u in
      path.withCString { p in
        if let certificatePath = attempt.certificatePath {
          return certificatePath.withCString { c in
            libssh2_userauth_publickey_fromfile_ex(session.raw, u, UInt32(strlen(u)), c, p, passphrase)
          }
        }
        return libssh2_userauth_publickey_fromfile_ex(session.raw, u, UInt32(strlen(u)), nil, p, passphrase)
      }
    }
    if rc == libssh2EAGAIN { return .blocked }
    if rc == 0 { return authenticated() }
    let described =
      attempt.certificate.map { "\(attempt.name) (\($0.describe(at: credentials.now())))" } ?? attempt.name
    switch rc {
    case Int32(LIBSSH2_ERROR_FILE):
      attempts.append(
        "\(described) (cannot load the key: \(passphrase == nil ? "unsupported format" : "wrong passphrase or unsupported format"))"
      )
      if passphrase != nil { credentials.forget(path) }
    default:
      attempts.append("\(described) (\(refusal(certificate: attempt.certificate)))")
    }
    stage = .nextFile
    return .progressed
  }

  private func authenticated() -> Step {
    release()
    return .authenticated
  }
}
