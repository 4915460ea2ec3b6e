import Crypto
import Foundation
import TunnelCore

/// One private key file to log in with, and the OpenSSH user certificate offered with it.
///
/// A hop tries, in order: every ssh-agent key (certificates included), then for each identity its
/// certificate (when there is one) and then the plain key, as OpenSSH does.
public struct SSHIdentity: Sendable, Equatable {
  /// The private key file (expanded path).
  public var keyPath: String
  /// The certificate for `keyPath` (expanded path), or nil for none.
  public var certificatePath: String?
  /// True when `certificatePath` was named (`ssh.certificate`, `CertificateFile`) rather than found
  /// next to the key: a missing file is then reported instead of silently skipped.
  public var certificateNamed: Bool

  public init(keyPath: String, certificatePath: String? = nil, certificateNamed: Bool = false) {
    self.keyPath = keyPath
    self.certificatePath = certificatePath
    self.certificateNamed = certificateNamed
  }

  /// OpenSSH's default certificate of key `K`: `K-cert.pub`.
  public static func defaultCertificatePath(forKey keyPath: String) -> String { keyPath + "-cert.pub" }

  /// The key of a certificate named on its own: `K` for `K-cert.pub` (else `C` without `.pub`).
  public static func defaultKeyPath(forCertificate path: String) -> String {
    if path.hasSuffix("-cert.pub") { return String(path.dropLast("-cert.pub".count)) }
    if path.hasSuffix(".pub") { return String(path.dropLast(".pub".count)) }
    return path
  }

  /// Pairs identity files with certificate files as OpenSSH does, without connecting:
  ///
  /// - a named certificate goes with the identity whose public key it certifies (`publicKey`
  ///   reads a key's public blob, from `K.pub` or the key file's own header); when that cannot be
  ///   told, a single identity and a single certificate go together (`ssh.identity` +
  ///   `ssh.certificate`);
  /// - an identity with no named certificate gets `K-cert.pub` when that file exists;
  /// - a named certificate that fits no identity brings its own key, `defaultKeyPath(forCertificate:)`.
  ///
  /// Paths are used as given (expand `~` first). Order: identities first, in order.
  public static func resolve(
    identityFiles: [String], certificateFiles: [String],
    fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) },
    publicKey: (String) -> [UInt8]? = { SSHIdentity.publicKeyBlob(keyPath: $0) },
    certificateKey: (String) -> [UInt8]? = { SSHIdentity.certifiedKeyBlob(certificatePath: $0) }
  ) -> [SSHIdentity] {
    var identities = identityFiles.map { SSHIdentity(keyPath: $0) }
    var unpaired: [String] = []
    for certificate in certificateFiles {
      let certified = certificateKey(certificate)
      if let certified,
        let i = identities.firstIndex(where: { $0.certificatePath == nil && publicKey($0.keyPath) == certified })
      {
        identities[i].certificatePath = certificate
        identities[i].certificateNamed = true
      } else if identityFiles.count == 1, certificateFiles.count == 1, identities[0].certificatePath == nil,
        certified == nil || publicKey(identities[0].keyPath) == nil
      {
        identities[0].certificatePath = certificate
        identities[0].certificateNamed = true
      } else {
        unpaired.append(certificate)
      }
    }
    for i in identities.indices where identities[i].certificatePath == nil {
      let candidate = defaultCertificatePath(forKey: identities[i].keyPath)
      if fileExists(candidate) { identities[i].certificatePath = candidate }
    }
    for certificate in unpaired {
      identities.append(
        SSHIdentity(
          keyPath: defaultKeyPath(forCertificate: certificate), certificatePath: certificate, certificateNamed: true))
    }
    return identities
  }
}

extension SSHIdentity {
  /// The public key blob of the private key file at `keyPath` (from `keyPath.pub` or the key
  /// file's `openssh-key-v1` header), or nil when neither tells it.
  public static func publicKeyBlob(keyPath: String) -> [UInt8]? { IdentityFile.publicKeyBlob(keyPath: keyPath) }

  /// The plain public key blob the certificate file at `certificatePath` certifies, or nil.
  public static func certifiedKeyBlob(certificatePath: String) -> [UInt8]? {
    IdentityFile.certificate(at: certificatePath)?.publicKeyBlob
  }
}

/// What a key blob is and whether mcp-tunnel offers it at login; names keys in messages the way
/// `ssh-add -l` does (comment, `SHA256:` fingerprint, type).
enum SSHKeyBlob {
  /// The wire type at the start of a public key or certificate blob.
  static func type(of blob: [UInt8]) -> String? {
    guard blob.count >= 4 else { return nil }
    let length = blob[0..<4].reduce(0) { $0 << 8 | Int($1) }
    guard length > 0, 4 + length <= blob.count else { return nil }
    return String(decoding: blob[4..<(4 + length)], as: UTF8.self)
  }

  /// OpenSSH's fingerprint of a key: SHA-256 of its plain public blob (for a certificate, of the key
  /// it certifies, so a key and its certificate show the same fingerprint, as in `ssh-add -l`).
  static func fingerprint(of blob: [UInt8]) -> String {
    var plain = blob
    if let type = type(of: blob), SSHCertificate.isCertificateType(type),
      let certificate = try? SSHCertificate(blob: blob)
    {
      plain = certificate.publicKeyBlob
    }
    return HostKeyFingerprint.sha256(digest: Array(SHA256.hash(data: plain)))
  }

  /// Why mcp-tunnel does not log in with a key or certificate of `type`, or nil when it does.
  ///
  /// FIDO (`sk-`) keys and their certificates are not offered: libssh2 1.11 can carry a security
  /// key's signature, but mcp-tunnel has not been tried against a token, so the first touch would
  /// be a user's. Every other key type the server accepts (ed25519, ECDSA, RSA with rsa-sha2-256/512)
  /// and their certificates are offered.
  static func libssh2Limitation(type: String) -> String? {
    if type.hasPrefix("sk-") {
      return "a FIDO security-key (sk-) key: mcp-tunnel does not offer security keys yet (not tested against "
        + "a token), so it is not offered and the token is never asked for a touch"
    }
    return nil
  }
}
