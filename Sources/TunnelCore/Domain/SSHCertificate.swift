import Foundation

/// An OpenSSH certificate (`*-cert-v01@openssh.com`, OpenSSH's PROTOCOL.certkeys), read from its
/// wire blob or from a `-cert.pub` file, to say before connecting whether it can log in and, when a
/// server refuses it, why it may have: its validity window and principals.
///
/// Only parsed, never verified: the CA signature is the server's business. Pure value type.
public struct SSHCertificate: Sendable, Equatable {
  public enum Role: UInt32, Sendable {
    case user = 1
    case host = 2
  }

  /// Where `now` falls in the validity window.
  public enum Validity: Sendable, Equatable {
    case valid
    case notYetValid
    case expired
  }

  /// `ecdsa-sha2-nistp256-cert-v01@openssh.com`, …
  public let certificateType: String
  /// The certified key's own type: `ecdsa-sha2-nistp256`, `ssh-ed25519`, …
  public let keyType: String
  /// The certified key's plain public key blob (what `K.pub` holds, base64-decoded).
  public let publicKeyBlob: [UInt8]
  public let nonce: [UInt8]
  public let serial: UInt64
  public let role: Role
  public let keyID: String
  /// Empty means "any principal" to the format, but OpenSSH's `TrustedUserCAKeys` refuses a user
  /// certificate without principals.
  public let principals: [String]
  /// Seconds since the epoch; 0 is "always".
  public let validAfter: UInt64
  /// Seconds since the epoch; `UInt64.max` is "forever".
  public let validBefore: UInt64
  /// Critical option names and their string values (`force-command`, `source-address`).
  public let criticalOptions: [String: String]
  /// Extension names (`permit-port-forwarding`, …).
  public let extensions: [String]
  /// The CA's public key blob.
  public let signatureKeyBlob: [UInt8]
  /// The whole certificate as sent in a login request.
  public let blob: [UInt8]
  /// The comment of the `-cert.pub` line, when read from one.
  public var comment: String?

  /// The key types a certificate can certify, and how many SSH strings make up their public key.
  static let publicKeyFieldCount: [String: Int] = [
    "ssh-rsa": 2, "ssh-dss": 4, "ssh-ed25519": 1,
    "ecdsa-sha2-nistp256": 2, "ecdsa-sha2-nistp384": 2, "ecdsa-sha2-nistp521": 2,
    "sk-ssh-ed25519@openssh.com": 2, "sk-ecdsa-sha2-nistp256@openssh.com": 3,
  ]

  static let certificateSuffix = "-cert-v01@openssh.com"

  /// Whether an SSH key type names a certificate.
  public static func isCertificateType(_ type: String) -> Bool { type.hasSuffix(certificateSuffix) }

  /// The plain key type a certificate type certifies (`ssh-ed25519-cert-v01@openssh.com` →
  /// `ssh-ed25519`, `sk-ssh-ed25519-cert-v01@openssh.com` → `sk-ssh-ed25519@openssh.com`).
  public static func plainKeyType(ofCertificateType type: String) -> String? {
    guard isCertificateType(type) else { return nil }
    let base = String(type.dropLast(certificateSuffix.count))
    return base.hasPrefix("sk-") ? base + "@openssh.com" : base
  }

  /// Parses a certificate blob (the base64-decoded second field of a `-cert.pub` line).
  public init(blob: [UInt8]) throws(CoreError) {
    var r = SSHWireReader(blob)
    let type = try r.string("certificate type")
    guard let keyType = Self.plainKeyType(ofCertificateType: type), let fields = Self.publicKeyFieldCount[keyType]
    else {
      throw CoreError(
        .usage, "\(PrintableText.quotedLiteral(type)) is not an OpenSSH certificate type",
        fix: "give the `-cert.pub` file your SSH CA issued (it starts with a type ending in -cert-v01@openssh.com)")
    }
    certificateType = type
    self.keyType = keyType
    nonce = try r.bytes("nonce")
    var plain = SSHWireWriter()
    plain.string(Array(keyType.utf8))
    for i in 0..<fields { plain.string(try r.bytes("public key field \(i + 1)")) }
    publicKeyBlob = plain.bytes
    serial = try r.uint64("serial")
    let roleValue = try r.uint32("certificate role")
    guard let role = Role(rawValue: roleValue) else {
      throw CoreError(.usage, "the certificate's role is \(roleValue), neither user (1) nor host (2)")
    }
    self.role = role
    keyID = try r.text("key id")
    var principalReader = SSHWireReader(try r.bytes("principals"))
    var principals: [String] = []
    while !principalReader.atEnd { principals.append(try principalReader.text("principal")) }
    self.principals = principals
    validAfter = try r.uint64("valid after")
    validBefore = try r.uint64("valid before")
    var optionReader = SSHWireReader(try r.bytes("critical options"))
    var options: [String: String] = [:]
    while !optionReader.atEnd {
      let name = try optionReader.text("critical option name")
      var value = SSHWireReader(try optionReader.bytes("critical option value"))
      options[name] = value.atEnd ? "" : ((try? value.text("value")) ?? "")
    }
    criticalOptions = options
    var extensionReader = SSHWireReader(try r.bytes("extensions"))
    var extensions: [String] = []
    while !extensionReader.atEnd {
      extensions.append(try extensionReader.text("extension name"))
      _ = try extensionReader.bytes("extension value")
    }
    self.extensions = extensions
    _ = try r.bytes("reserved")
    signatureKeyBlob = try r.bytes("signature key")
    _ = try r.bytes("signature")
    guard r.atEnd else { throw CoreError(.usage, "the certificate has \(r.remaining) bytes after its signature") }
    self.blob = blob
  }

  /// Parses the text of a `-cert.pub` file: `TYPE BASE64 [COMMENT]` on its first non-empty line.
  public init(publicKeyFileText text: String) throws(CoreError) {
    guard
      let line = text.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) })
        .first(where: { !$0.isEmpty && !$0.hasPrefix("#") })
    else { throw CoreError(.usage, "the file is empty") }
    let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
    guard fields.count >= 2, let data = Data(base64Encoded: String(fields[1])) else {
      throw CoreError(.usage, "the file is not `TYPE BASE64 [COMMENT]` as ssh-keygen writes a certificate")
    }
    try self.init(blob: [UInt8](data))
    guard String(fields[0]) == certificateType else {
      throw CoreError(
        .usage, "the file says \(PrintableText.quotedLiteral(String(fields[0]))) but holds a \(certificateType)")
    }
    comment =
      fields.count > 2
      ? String(fields[2]).filter { !$0.unicodeScalars.contains(where: PrintableText.isUnprintable) } : nil
  }

  public func validity(at now: Date) -> Validity {
    let seconds = now.timeIntervalSince1970
    if seconds < Double(validAfter) { return .notYetValid }
    if validBefore != UInt64.max && seconds >= Double(validBefore) { return .expired }
    return .valid
  }

  /// Whether OpenSSH's `TrustedUserCAKeys` check would let this certificate log in as `user`
  /// (without an `AuthorizedPrincipalsFile`, which may map other principals).
  public func names(principal user: String) -> Bool { principals.contains(user) }

  /// "valid from 2026-01-01 10:00:00 UTC to 2026-01-01 11:00:00 UTC", as `ssh-keygen -L` tells it.
  public var validityWindow: String {
    switch (validAfter, validBefore) {
    case (0, UInt64.max): "valid forever"
    case (0, let before): "valid until \(Self.format(before))"
    case (let after, UInt64.max): "valid from \(Self.format(after)) on"
    case (let after, let before): "valid from \(Self.format(after)) to \(Self.format(before))"
    }
  }

  /// "principals root, deploy" or "no principals".
  public var principalList: String {
    principals.isEmpty
      ? "no principals" : "principal\(principals.count == 1 ? "" : "s") " + principals.joined(separator: ", ")
  }

  /// One line for messages: type, key id, serial, principals, window, and where `now` falls.
  public func describe(at now: Date) -> String {
    let id = PrintableText.quotedLiteral(keyID)
    var text = "\(keyType) certificate \(id) serial \(serial), \(principalList), \(validityWindow)"
    switch validity(at: now) {
    case .valid: break
    case .expired: text += " (EXPIRED \(Self.span(from: Double(validBefore), to: now.timeIntervalSince1970)) ago)"
    case .notYetValid:
      text += " (NOT YET VALID: starts in \(Self.span(from: now.timeIntervalSince1970, to: Double(validAfter))))"
    }
    return text
  }

  static func format(_ seconds: UInt64) -> String {
    Timestamp.humanUTC(Date(timeIntervalSince1970: Double(min(seconds, 253_402_300_799))))
  }

  /// "3h 5m", "2d 4h", "40s": the time from `start` to `end` (seconds since the epoch).
  static func span(from start: Double, to end: Double) -> String {
    let total = max(0, Int(end - start))
    let (d, h, m, s) = (total / 86_400, total % 86_400 / 3_600, total % 3_600 / 60, total % 60)
    if d > 0 { return "\(d)d \(h)h" }
    if h > 0 { return "\(h)h \(m)m" }
    if m > 0 { return "\(m)m \(s)s" }
    return "\(s)s"
  }
}

/// Reads SSH wire encoding (RFC 4251 §5): big-endian integers and length-prefixed strings.
public struct SSHWireReader {
  private let bytes: [UInt8]
  private var offset = 0

  public init(_ bytes: [UInt8]) { self.bytes = bytes }

  public var atEnd: Bool { offset >= bytes.count }
  public var remaining: Int { bytes.count - offset }

  private mutating func take(_ count: Int, _ what: String) throws(CoreError) -> ArraySlice<UInt8> {
    guard count >= 0, count <= remaining else {
      throw CoreError(.usage, "cut short at the \(what)")
    }
    defer { offset += count }
    return bytes[offset..<(offset + count)]
  }

  public mutating func uint32(_ what: String) throws(CoreError) -> UInt32 {
    try take(4, what).reduce(0) { $0 << 8 | UInt32($1) }
  }

  public mutating func uint64(_ what: String) throws(CoreError) -> UInt64 {
    try take(8, what).reduce(0) { $0 << 8 | UInt64($1) }
  }

  public mutating func bytes(_ what: String) throws(CoreError) -> [UInt8] {
    let length = try uint32(what)
    guard length <= UInt32(Int32.max) else { throw CoreError(.usage, "the \(what) is too long") }
    return Array(try take(Int(length), what))
  }

  public mutating func string(_ what: String) throws(CoreError) -> String {
    String(decoding: try bytes(what), as: UTF8.self)
  }

  /// A string that must be printable text (key id, principals): control characters are refused.
  public mutating func text(_ what: String) throws(CoreError) -> String {
    let value = try string(what)
    guard !value.unicodeScalars.contains(where: PrintableText.isUnprintable) else {
      throw CoreError(.usage, "the \(what) holds unprintable characters")
    }
    return value
  }
}

/// Writes SSH wire encoding (the inverse of `SSHWireReader`).
struct SSHWireWriter {
  private(set) var bytes: [UInt8] = []

  mutating func uint32(_ value: UInt32) {
    bytes += [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
  }

  mutating func uint64(_ value: UInt64) {
    uint32(UInt32(value >> 32))
    uint32(UInt32(value & 0xFFFF_FFFF))
  }

  mutating func string(_ value: [UInt8]) {
    uint32(UInt32(value.count))
    bytes += value
  }
}
