import Foundation
import TunnelCore

/// Asks for the passphrase of an encrypted private key. Returns nil when nobody can be asked.
///
/// Called on the tunnel's I/O thread during the first connection (the answer is kept in memory for
/// reconnects). The passphrase never goes to argv, the environment or a log.
public typealias PassphraseProvider = @Sendable (_ keyPath: String) -> [UInt8]?

/// Reads a passphrase from the controlling terminal (`/dev/tty`) with echo off, like `ssh` does.
public enum TerminalPassphrasePrompt {
  /// Nil when the process has no controlling terminal (CI, a service), so the caller can fail with
  /// a clear message instead of waiting for input that never comes.
  public static func read(keyPath: String) -> [UInt8]? {
    let tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard tty >= 0 else { return nil }
    defer { close(tty) }
    let prompt = Array("Enter passphrase for key '\(keyPath)': ".utf8)
    _ = prompt.withUnsafeBytes { write(tty, $0.baseAddress, $0.count) }
    var saved = termios()
    let haveTermios = tcgetattr(tty, &saved) == 0
    if haveTermios {
      var quiet = saved
      quiet.c_lflag &= ~tcflag_t(ECHO)
      quiet.c_lflag |= tcflag_t(ECHONL)
      _ = tcsetattr(tty, TCSAFLUSH, &quiet)
    }
    defer { if haveTermios { _ = tcsetattr(tty, TCSAFLUSH, &saved) } }
    var answer: [UInt8] = []
    var byte: UInt8 = 0
    while true {
      // off-pool: the passphrase prompt runs on the tunnel's I/O thread (PassphraseProvider)
      let n = Glibc.read(tty, &byte, 1)
      if n < 0 && errno == EINTR { continue }
      if n <= 0 || byte == 0x0A || byte == 0x0D { break }
      answer.append(byte)
    }
    return answer
  }
}

/// What can be learned about a private key file without decrypting it.
enum IdentityFile {
  enum Inspection: Equatable {
    case missing
    case unreadable(String)
    case plain
    case encrypted
  }

  static func inspect(_ path: String) -> Inspection {
    guard FileManager.default.fileExists(atPath: path) else { return .missing }
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
      return .unreadable("cannot read it (check its permissions)")
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("BEGIN ENCRYPTED PRIVATE KEY") { return .encrypted }
    if text.contains("BEGIN OPENSSH PRIVATE KEY") {
      return openSSHKeyIsEncrypted(text) ? .encrypted : .plain
    }
    return .plain
  }

  /// The `openssh-key-v1` format: magic, then the cipher name as an SSH string; "none" means plain.
  static func openSSHKeyIsEncrypted(_ text: String) -> Bool {
    let body = text.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("-----") }.joined()
    guard let data = Data(base64Encoded: body) else { return false }
    let bytes = [UInt8](data)
    let magic = Array("openssh-key-v1\0".utf8)
    guard bytes.count > magic.count + 4, Array(bytes[0..<magic.count]) == magic else { return false }
    let lengthBytes = bytes[magic.count..<(magic.count + 4)]
    let length = lengthBytes.reduce(0) { $0 << 8 | Int($1) }
    let start = magic.count + 4
    guard length > 0, start + length <= bytes.count else { return false }
    return String(decoding: bytes[start..<(start + length)], as: UTF8.self) != "none"
  }

  /// The public key blob of the private key at `keyPath`: from `keyPath.pub`, else from the
  /// unencrypted header of an `openssh-key-v1` file (present even when the key is encrypted).
  /// Nil for a PEM key without a `.pub` file.
  static func publicKeyBlob(keyPath: String) -> [UInt8]? {
    if let pub = try? String(contentsOfFile: keyPath + ".pub", encoding: .utf8) {
      let fields = pub.split(whereSeparator: { $0 == " " || $0.isNewline })
      if fields.count >= 2, let data = Data(base64Encoded: String(fields[1])) { return [UInt8](data) }
    }
    guard let text = try? String(contentsOfFile: keyPath, encoding: .utf8), text.contains("BEGIN OPENSSH PRIVATE KEY")
    else { return nil }
    let body = text.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("-----") }.joined()
    guard let data = Data(base64Encoded: body) else { return nil }
    let bytes = [UInt8](data)
    let magic = Array("openssh-key-v1\0".utf8)
    guard bytes.count > magic.count, Array(bytes[0..<magic.count]) == magic else { return nil }
    var r = SSHWireReader(Array(bytes[magic.count...]))
    guard (try? r.bytes("cipher")) != nil, (try? r.bytes("kdf")) != nil, (try? r.bytes("kdf options")) != nil,
      let count = try? r.uint32("key count"), count >= 1
    else { return nil }
    return try? r.bytes("public key")
  }

  /// What reading a certificate file gave.
  enum CertificateRead {
    case missing
    case unreadable(String)
    case certificate(SSHCertificate)
  }

  static func readCertificate(at path: String) -> CertificateRead {
    guard FileManager.default.fileExists(atPath: path) else { return .missing }
    guard let data = FileManager.default.contents(atPath: path) else {
      return .unreadable("cannot read it (check its permissions)")
    }
    do {
      return .certificate(try SSHCertificate(publicKeyFileText: String(decoding: data, as: UTF8.self)))
    } catch {
      return .unreadable("not an OpenSSH certificate: \(error.summary)")
    }
  }

  static func certificate(at path: String) -> SSHCertificate? {
    if case .certificate(let c) = readCertificate(at: path) { return c }
    return nil
  }

  /// Expands a leading `~/` with `$HOME`.
  static func expandTilde(_ path: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String
  {
    guard path == "~" || path.hasPrefix("~/") else { return path }
    let home = environment["HOME"] ?? NSHomeDirectory()
    return home + path.dropFirst()
  }
}
