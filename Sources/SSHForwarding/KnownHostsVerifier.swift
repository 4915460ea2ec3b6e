import CLibSSH2
import Foundation
import TunnelCore

/// A server's host key as received during the handshake.
struct HostKey: Equatable {
  /// `LIBSSH2_HOSTKEY_TYPE_*`.
  var type: Int32
  /// The SSH wire encoding of the public key (what known_hosts stores in base64).
  var blob: [UInt8]
  /// SHA-256 of `blob`.
  var sha256: [UInt8]

  /// `SHA256:` + unpadded base64, exactly as `ssh`/`ssh-keygen -l` print it.
  var fingerprint: String { HostKeyFingerprint.sha256(digest: sha256) }
  var algorithmName: String { KnownHostsVerifier.keyTypeName(type) }
}

enum HostKeyFingerprint {
  /// OpenSSH's `SHA256:` format: base64 of the digest with the `=` padding removed.
  static func sha256(digest: [UInt8]) -> String {
    var text = Data(digest).base64EncodedString()
    while text.hasSuffix("=") { text.removeLast() }
    return "SHA256:" + text
  }
}

/// Checks a hop's host key against an OpenSSH `known_hosts` file before anything is sent to it.
///
/// Plain and hashed (`|1|salt|hash`) names and `[host]:port` are handled by libssh2's
/// `libssh2_knownhost_readline`/`checkp`. The file is read line by line here rather than with
/// `libssh2_knownhost_readfile`, because that stops at the first line it cannot parse (a key type
/// libssh2 does not know, an `@cert-authority` line) and would silently ignore the rest of the file.
/// `@revoked` keys are refused; `@cert-authority` lines are skipped (host certificates are not
/// supported by libssh2). Unlike OpenSSH, libssh2 also accepts an entry for the bare host name
/// when the port is not 22.
///
/// Under `accept-new`, an unknown key is appended as one `[host]:port type base64` line (never a
/// rewrite of the whole file, which would drop lines libssh2 cannot read). A changed key is refused
/// under every policy. Used on the I/O thread only.
struct KnownHostsVerifier {
  /// Every file is read; a new key (`accept-new`) is recorded in the first, as OpenSSH does with
  /// `UserKnownHostsFile`.
  var paths: [String]
  /// Read after `paths` and never written, as OpenSSH does with `GlobalKnownHostsFile`.
  var readOnlyPaths: [String]
  var policy: HostKeyPolicy

  init(paths: [String], readOnlyPaths: [String] = [], policy: HostKeyPolicy) {
    self.paths = paths
    self.readOnlyPaths = readOnlyPaths
    self.policy = policy
  }

  init(path: String, policy: HostKeyPolicy) { self.init(paths: [path], policy: policy) }

  /// The file new keys go to, and the name messages use.
  var path: String { paths.first ?? "(no known_hosts file: UserKnownHostsFile none)" }
  /// All files, for messages.
  private var pathList: String {
    let existingGlobal = readOnlyPaths.filter { FileManager.default.fileExists(atPath: $0) }
    return paths.count <= 1 && existingGlobal.isEmpty ? path : (paths + existingGlobal).joined(separator: ", ")
  }

  /// Verifies the host key of `session`, which just finished its handshake with `address`.
  /// `hop` names the hop in error messages.
  func verify(session: SessionHandle, address: HostPort, hop: String) throws(SSHError) -> HostKey {
    guard let key = Self.hostKey(of: session) else {
      throw SSHError(.hostKeyVerification, "\(hop): the server sent no host key", session: session)
    }
    return try check(key, address: address, hop: hop, session: session)
  }

  /// The known_hosts decision for `key`, offered by `address`. Needs no handshake (`session` only
  /// hosts libssh2's known-hosts collection), so the file handling is testable without a server.
  func check(_ key: HostKey, address: HostPort, hop: String, session: SessionHandle) throws(SSHError) -> HostKey {
    let hosts = try KnownHostsHandle(session: session)
    let revoked = load(into: hosts)
    if revoked.contains(Data(key.blob).base64EncodedString()) {
      throw SSHError(
        .hostKeyVerification,
        "\(hop): host key \(key.algorithmName) \(key.fingerprint) is marked @revoked in \(pathList)",
        fix: "the host key was revoked; ask the server's administrator for its current key", retryable: false)
    }
    let typeMask =
      Int32(LIBSSH2_KNOWNHOST_TYPE_PLAIN) | Int32(LIBSSH2_KNOWNHOST_KEYENC_RAW) | Self.knownHostKeyBits(key.type)
    let result = key.blob.withUnsafeBufferPointer { blob in
      address.host.withCString { host in
        blob.withMemoryRebound(to: CChar.self) {
          libssh2_knownhost_checkp(hosts.raw, host, Int32(address.port), $0.baseAddress, $0.count, typeMask, nil)
        }
      }
    }
    let name = Self.knownHostsName(address)
    switch result {
    case Int32(LIBSSH2_KNOWNHOST_CHECK_MATCH):
      return key
    case Int32(LIBSSH2_KNOWNHOST_CHECK_MISMATCH):
      throw SSHError(
        .hostKeyVerification,
        "\(hop): the host key has CHANGED: the server offers \(key.algorithmName) \(key.fingerprint), which does not "
          + "match \(pathList). Someone may be intercepting the connection, or the host was reinstalled. Nothing was sent.",
        fix:
          "confirm the new fingerprint with the server's administrator, then run: ssh-keygen -R '\(name)' -f \(path)",
        retryable: false)
    case Int32(LIBSSH2_KNOWNHOST_CHECK_NOTFOUND):
      if policy == .acceptNew {
        try append(key, name: name, hosts: hosts, hop: hop)
        return key
      }
      throw SSHError(
        .hostKeyVerification,
        "\(hop): the host key is unknown: \(key.algorithmName) \(key.fingerprint) is not in \(pathList). Nothing was sent.",
        fix:
          "check the fingerprint with the server's administrator, then add it (ssh -o StrictHostKeyChecking=accept-new "
          + "-p \(address.port) \(address.host) records it), or set host_key_policy = \"accept-new\" in [ssh]",
        retryable: false)
    default:
      throw SSHError(.hostKeyVerification, "\(hop): cannot check the host key against \(pathList)", session: session)
    }
  }

  /// `host` for port 22, `[host]:port` otherwise: how OpenSSH names entries.
  static func knownHostsName(_ address: HostPort) -> String {
    address.port == 22 ? address.host : "[\(address.host)]:\(address.port)"
  }

  /// Host key algorithms to offer, the types known_hosts already lists for `address` first, so a
  /// server with several host keys presents the one we can verify (as OpenSSH does). Nil when
  /// nothing is known (then libssh2's default order applies). Must be called before the handshake.
  func preferredAlgorithms(for address: HostPort, session: SessionHandle) -> String? {
    guard let hosts = try? KnownHostsHandle(session: session) else { return nil }
    _ = load(into: hosts)
    let dummy: [CChar] = [0x2A]
    var known: [String] = []
    for (type, algorithms) in Self.algorithmsByKeyType {
      let mask = Int32(LIBSSH2_KNOWNHOST_TYPE_PLAIN) | Int32(LIBSSH2_KNOWNHOST_KEYENC_RAW) | Self.knownHostKeyBits(type)
      // A dummy key never matches: MISMATCH means "an entry of this type exists for this host".
      let rc = address.host.withCString { host in
        libssh2_knownhost_checkp(hosts.raw, host, Int32(address.port), dummy, dummy.count, mask, nil)
      }
      if rc == Int32(LIBSSH2_KNOWNHOST_CHECK_MISMATCH) { known += algorithms }
    }
    guard !known.isEmpty else { return nil }
    let supported = Self.supportedHostKeyAlgorithms(session: session)
    let rest = Self.algorithmsByKeyType.flatMap(\.1).filter { !known.contains($0) }
    let ordered = (known + rest).filter { supported.isEmpty || supported.contains($0) }
    return ordered.isEmpty ? nil : ordered.joined(separator: ",")
  }

  /// Reads the file into `hosts` line by line; returns the base64 blobs of `@revoked` keys.
  ///
  /// The file is taken as bytes, not text: one line that is not UTF-8 (a binary blob pasted in, a
  /// Latin-1 comment) must not make every entry of the file unreadable, which would turn every
  /// known host into an unknown one. Lines end at LF, CRLF or a lone CR; a line holding a NUL
  /// is skipped whole rather than cut short at it.
  private func load(into hosts: KnownHostsHandle) -> Set<String> {
    var revoked: Set<String> = []
    for path in paths + readOnlyPaths { revoked.formUnion(load(path, into: hosts)) }
    return revoked
  }

  private func load(_ path: String, into hosts: KnownHostsHandle) -> Set<String> {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    var revoked: Set<String> = []
    for rawLine in data.split(whereSeparator: { $0 == 0x0A || $0 == 0x0D }) {
      let line = Self.trimmingBlanks(Array(rawLine))
      if line.isEmpty || line[0] == UInt8(ascii: "#") || line.contains(0) { continue }
      if line[0] == UInt8(ascii: "@") {
        let fields = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
        if fields.count >= 4, fields[0].elementsEqual("@revoked".utf8) {
          revoked.insert(String(decoding: fields[3], as: UTF8.self))
        }
        continue
      }
      // A line libssh2 cannot parse is skipped, like OpenSSH skips it.
      let terminated = line + [0]
      _ = terminated.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) {
          libssh2_knownhost_readline(hosts.raw, $0.baseAddress, line.count, LIBSSH2_KNOWNHOST_FILE_OPENSSH)
        }
      }
    }
    return revoked
  }

  private static func trimmingBlanks(_ bytes: [UInt8]) -> [UInt8] {
    let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
    guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) })
    else { return [] }
    return Array(bytes[first...last])
  }

  /// Appends `key` for `name` to the file (created 0600, parent directory 0700).
  private func append(_ key: HostKey, name: String, hosts: KnownHostsHandle, hop: String) throws(SSHError) {
    guard let path = paths.first else {
      throw SSHError(
        .hostKeyVerification, "\(hop): the host key is unknown and there is no known_hosts file to record it in",
        fix: "set UserKnownHostsFile for this host in the ssh config, or ssh.known_hosts", retryable: false)
    }
    var entry: UnsafeMutablePointer<libssh2_knownhost>?
    let typeMask =
      Int32(LIBSSH2_KNOWNHOST_TYPE_PLAIN) | Int32(LIBSSH2_KNOWNHOST_KEYENC_RAW) | Self.knownHostKeyBits(key.type)
    let added = key.blob.withUnsafeBufferPointer { blob in
      blob.withMemoryRebound(to: CChar.self) { b in
        libssh2_knownhost_addc(hosts.raw, name, nil, b.baseAddress, b.count, nil, 0, typeMask, &entry)
      }
    }
    var buffer = [CChar](repeating: 0, count: 16 * 1024)
    var length = 0
    guard added == 0, let entry,
      libssh2_knownhost_writeline(hosts.raw, entry, &buffer, buffer.count, &length, LIBSSH2_KNOWNHOST_FILE_OPENSSH) == 0
    else {
      throw SSHError(.hostKeyVerification, "\(hop): could not format a known_hosts line", session: hosts.session)
    }
    let line = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let directory = (path as NSString).deletingLastPathComponent
    if !directory.isEmpty {
      try? FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
    // Read-write, not write-only: the last byte is read back below, and `pread` on a write-only
    // descriptor fails, which used to glue the new entry onto a last line without a newline.
    let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      throw SSHError(
        .hostKeyVerification, "\(hop): cannot record the new host key in \(path): \(String(cString: strerror(errno)))",
        fix: "check the file's permissions", retryable: false)
    }
    defer { close(fd) }
    var text = line.hasSuffix("\n") ? line : line + "\n"
    // Keep one entry per line even if the file did not end with a newline.
    var last: UInt8 = 0x0A
    let size = lseek(fd, 0, SEEK_END)
    // off-pool: runs on the tunnel's I/O thread
    if size > 0, pread(fd, &last, 1, size - 1) == 1, last != 0x0A { text = "\n" + text }
    let bytes = Array(text.utf8)
    guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
      throw SSHError(
        .hostKeyVerification, "\(hop): cannot record the new host key in \(path): \(String(cString: strerror(errno)))",
        retryable: false)
    }
  }

  // MARK: libssh2 key types

  static func hostKey(of session: SessionHandle) -> HostKey? {
    var length = 0
    var type: Int32 = 0
    guard let raw = libssh2_session_hostkey(session.raw, &length, &type), length > 0,
      let hash = libssh2_hostkey_hash(session.raw, LIBSSH2_HOSTKEY_HASH_SHA256)
    else { return nil }
    let blob = UnsafeRawBufferPointer(start: raw, count: length).map { $0 }
    let digest = UnsafeRawBufferPointer(start: hash, count: 32).map { $0 }
    return HostKey(type: type, blob: blob, sha256: digest)
  }

  /// The `LIBSSH2_HOSTKEY_TYPE_*` of a key type name (`keyTypeName`'s inverse), nil when unknown.
  static func keyType(named name: String) -> Int32? {
    let types = [
      LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_HOSTKEY_TYPE_ECDSA_256,
      LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_HOSTKEY_TYPE_ED25519,
    ]
    return types.first { keyTypeName($0) == name }
  }

  static func keyTypeName(_ type: Int32) -> String {
    switch type {
    case LIBSSH2_HOSTKEY_TYPE_RSA: "ssh-rsa"
    case LIBSSH2_HOSTKEY_TYPE_DSS: "ssh-dss"
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: "ecdsa-sha2-nistp256"
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: "ecdsa-sha2-nistp384"
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: "ecdsa-sha2-nistp521"
    case LIBSSH2_HOSTKEY_TYPE_ED25519: "ssh-ed25519"
    default: "unknown-key-type"
    }
  }

  static func knownHostKeyBits(_ type: Int32) -> Int32 {
    switch type {
    case LIBSSH2_HOSTKEY_TYPE_RSA: Int32(LIBSSH2_KNOWNHOST_KEY_SSHRSA)
    case LIBSSH2_HOSTKEY_TYPE_DSS: Int32(LIBSSH2_KNOWNHOST_KEY_SSHDSS)
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: Int32(LIBSSH2_KNOWNHOST_KEY_ECDSA_256)
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: Int32(LIBSSH2_KNOWNHOST_KEY_ECDSA_384)
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: Int32(LIBSSH2_KNOWNHOST_KEY_ECDSA_521)
    case LIBSSH2_HOSTKEY_TYPE_ED25519: Int32(LIBSSH2_KNOWNHOST_KEY_ED25519)
    default: Int32(LIBSSH2_KNOWNHOST_KEY_UNKNOWN)
    }
  }

  /// Host key algorithm names per key type, in OpenSSH's preference order.
  static let algorithmsByKeyType: [(Int32, [String])] = [
    (LIBSSH2_HOSTKEY_TYPE_ED25519, ["ssh-ed25519"]),
    (LIBSSH2_HOSTKEY_TYPE_ECDSA_256, ["ecdsa-sha2-nistp256"]),
    (LIBSSH2_HOSTKEY_TYPE_ECDSA_384, ["ecdsa-sha2-nistp384"]),
    (LIBSSH2_HOSTKEY_TYPE_ECDSA_521, ["ecdsa-sha2-nistp521"]),
    (LIBSSH2_HOSTKEY_TYPE_RSA, ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]),
  ]

  static func supportedHostKeyAlgorithms(session: SessionHandle) -> Set<String> {
    var list: UnsafeMutablePointer<UnsafePointer<CChar>?>?
    let count = libssh2_session_supported_algs(session.raw, LIBSSH2_METHOD_HOSTKEY, &list)
    guard count > 0, let list else { return [] }
    defer { libssh2_free(session.raw, list) }
    var names: Set<String> = []
    for i in 0..<Int(count) { if let p = list[i] { names.insert(String(cString: p)) } }
    return names
  }
}
