import CLibSSH2
import Foundation
import TunnelCore

/// How one hop logs in (`SSHHop`'s keys, made into paths), owned by the forwarder's I/O thread.
final class HopCredentials {
  /// Expanded key files to try after the agent, in order: `ssh.identity`, or the hop's IdentityFiles.
  let identityPaths: [String]
  /// `identityPaths` is OpenSSH's default list: a missing one is skipped without being named.
  let identityPathsAreDefaults: Bool
  /// `IdentitiesOnly`: only agent keys that match an identity's `.pub` (or a certificate) are offered.
  let identitiesOnly: Bool
  /// Expanded `CertificateFile`s of the hop, in order (for certificate authentication).
  let certificatePaths: [String]
  /// `SSH_AUTH_SOCK` to use, or nil for no agent.
  let agentSocket: String?
  let passphraseProvider: PassphraseProvider
  /// Shared by every hop of the forwarder, so a key used at two hops is asked for once.
  let passphrases: PassphraseCache

  init(
    identityPaths: [String], identityPathsAreDefaults: Bool = false, identitiesOnly: Bool = false,
    certificatePaths: [String] = [], agentSocket: String?, passphraseProvider: @escaping PassphraseProvider,
    passphrases: PassphraseCache = PassphraseCache()
  ) {
    self.identityPaths = identityPaths
    self.identityPathsAreDefaults = identityPathsAreDefaults
    self.identitiesOnly = identitiesOnly
    self.certificatePaths = certificatePaths
    self.agentSocket = agentSocket
    self.passphraseProvider = passphraseProvider
    self.passphrases = passphrases
  }

  func passphrase(for path: String) -> [UInt8]? {
    if let known = passphrases.values[path] { return known }
    let asked = passphraseProvider(path)
    if let asked { passphrases.values[path] = asked }
    return asked
  }

  func forget() { passphrases.forget() }

  /// For `IdentitiesOnly`: the public key blobs of `identityPaths` (their `.pub`) and of the certificates.
  private(set) lazy var offeredKeyBlobs: Set<[UInt8]> = Set(
    (identityPaths.map { $0 + ".pub" } + certificatePaths).compactMap { path in
      (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: " ").dropFirst().first
        .flatMap { Data(base64Encoded: String($0)) }.map { [UInt8]($0) }
    })
}

/// Key passphrases asked so far, by key path; kept in memory for reconnects, zeroed on `forget()`.
final class PassphraseCache {
  var values: [String: [UInt8]] = [:]

  /// Zeroes and drops the passphrase of `path` (it was wrong).
  func drop(_ path: String) {
    if var secret = values.removeValue(forKey: path) { for i in secret.indices { secret[i] = 0 } }
  }

  func forget() { for path in Array(values.keys) { drop(path) } }

  deinit { forget() }
}

/// The public-key login of one hop, as non-blocking stages: ask the server's methods, try each
/// ssh-agent key, then `ssh.identity` (asking for its passphrase once), then give up with every
/// attempt named.
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
  private var agentKeysTried = 0
  private var keyFileIndex = 0
  private var keyFilePath = ""
  private var stage: Stage = .listMethods
  private var serverMethods: [String] = []
  private var attempts: [String] = []

  private enum Stage {
    case listMethods
    case agentNextIdentity
    case agentTrying
    case keyFile
    case keyFileTrying
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
          stage = .keyFile
          continue
        }
        var next: UnsafeMutablePointer<libssh2_agent_publickey>?
        let rc = libssh2_agent_get_identity(agent.raw, &next, agentIdentity)
        if rc == 0, let next {
          agentIdentity = next
          agentKeysTried += 1
          stage = .agentTrying
        } else {
          attempts.append(
            agentKeysTried == 0 ? "ssh-agent (no keys loaded)" : "ssh-agent (\(agentKeysTried) key(s), all refused)")
          self.agent = nil
          agentIdentity = nil
          stage = .keyFile
        }

      case .agentTrying:
        guard let agent, let identity = agentIdentity else {
          stage = .keyFile
          continue
        }
        if credentials.identitiesOnly,
          !credentials.offeredKeyBlobs.contains(
            Array(UnsafeBufferPointer(start: identity.pointee.blob, count: identity.pointee.blob_len)))
        {
          stage = .agentNextIdentity
          continue
        }
        // off-pool: runs on the tunnel's I/O thread
        let rc = user.withCString { libssh2_agent_userauth(agent.raw, $0, identity) }
        if rc == libssh2EAGAIN { return .blocked }
        if rc == 0 { return authenticated() }
        stage = .agentNextIdentity

      case .keyFile:
        guard keyFileIndex < credentials.identityPaths.count else {
          if credentials.identityPaths.isEmpty {
            attempts.append(
              credentials.identityPathsAreDefaults
                ? "identity file (no IdentityFile configured, and none of OpenSSH's default keys exists)"
                : "identity file (none configured: ssh.identity is empty)")
          }
          stage = .exhausted
          continue
        }
        let path = credentials.identityPaths[keyFileIndex]
        keyFileIndex += 1
        switch IdentityFile.inspect(path) {
        case .missing:
          if !credentials.identityPathsAreDefaults { attempts.append("identity file \(path) (does not exist)") }
          continue
        case .unreadable(let why):
          attempts.append("identity file \(path) (\(why))")
          continue
        case .plain, .encrypted:
          stage = .keyFileTrying
          keyFilePath = path
          return tryKeyFile(path: path, session: session)
        }

      case .keyFileTrying:
        return tryKeyFile(path: keyFilePath, session: session)

      case .exhausted:
        return .failed(
          SSHError(
            .sshConnection,
            "\(label): authentication failed for \(user) (server accepts: \(serverMethods.joined(separator: ", "))); "
              + "tried: \(attempts.joined(separator: "; "))",
            fix: "load an authorized key into ssh-agent (ssh-add), or set ssh.identity to a key listed in "
              + "~\(user)/.ssh/authorized_keys on \(host)",
            retryable: false))
      }
    }
  }

  /// One try of the key file; when it cannot log in, the next call reports every attempt.
  private func tryKeyFile(path: String, session: SessionHandle) -> Step {
    var passphrase: [CChar]?
    if IdentityFile.inspect(path) == .encrypted {
      guard let secret = credentials.passphrase(for: path) else {
        attempts.append("identity file \(path) (encrypted, and there is no terminal to ask for its passphrase)")
        stage = .keyFile
        return .progressed
      }
      passphrase = secret.map { CChar(bitPattern: $0) } + [0]
    }
    defer {
      if passphrase != nil { for i in passphrase!.indices { passphrase![i] = 0 } }
    }
    let rc = user.withCString { u in
      path.withCString { p in
        libssh2_userauth_publickey_fromfile_ex(session.raw, u, UInt32(strlen(u)), nil, p, passphrase)
      }
    }
    if rc == libssh2EAGAIN { return .blocked }
    if rc == 0 { return authenticated() }
    switch rc {
    case Int32(LIBSSH2_ERROR_FILE):
      attempts.append(
        "identity file \(path) (cannot load it: \(passphrase == nil ? "unsupported format" : "wrong passphrase or unsupported format"))"
      )
      if passphrase != nil { credentials.passphrases.drop(path) }
    default:
      if IdentityFile.keyType(path) == "ssh-rsa" {
        // libssh2 1.10 signs RSA user keys only as ssh-rsa (SHA-1); rsa-sha2-256/512 came in 1.11.
        attempts.append(
          "identity file \(path) (refused by the server: libssh2 1.10 can sign RSA keys only with SHA-1 "
            + "(ssh-rsa), which OpenSSH 8.8 and later refuse; use an ed25519 or ECDSA key)")
      } else {
        attempts.append("identity file \(path) (refused by the server)")
      }
    }
    stage = .keyFile
    return .progressed
  }

  private func authenticated() -> Step {
    release()
    return .authenticated
  }
}
