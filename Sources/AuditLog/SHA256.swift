import Crypto

/// SHA-256, the hash that links audit lines, over swift-crypto (already a dependency for PKCE).
///
/// A thin byte-array facade so the audit code and its tests speak `[UInt8]` and lowercase hex.
/// A value type: copy it to fork a running hash. `update` may be called any number of times.
public struct SHA256: Sendable {
  private var hasher = Crypto.SHA256()

  public init() {}

  /// The digest of `bytes`, 32 bytes.
  public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
    var hasher = SHA256()
    hasher.update(bytes)
    return hasher.finalize()
  }

  /// The digest of `bytes` as 64 lowercase hexadecimal characters.
  public static func hexDigest(_ bytes: some Sequence<UInt8>) -> String {
    hex(hash(bytes))
  }

  /// Lowercase hexadecimal text of `bytes`.
  public static func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
      out.append(digits[Int(byte >> 4)])
      out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  public mutating func update(_ bytes: some Sequence<UInt8>) {
    hasher.update(data: Array(bytes))
  }

  /// The 32-byte digest of everything passed to `update`; the running hash is left as it was.
  public func finalize() -> [UInt8] {
    Array(hasher.finalize())
  }
}
