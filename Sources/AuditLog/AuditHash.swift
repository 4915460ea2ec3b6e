import Crypto
import Foundation

/// SHA-256 as the audit log writes it (SPEC §7): 64 lowercase hex digits of swift-crypto's
/// `SHA256`. It links each line to the one before and identifies a token without revealing it.
public enum AuditHash {
  /// The SHA-256 of `bytes` as 64 lowercase hexadecimal characters.
  public static func hexDigest(of bytes: some Sequence<UInt8>) -> String {
    var hasher = SHA256()
    if bytes.withContiguousStorageIfAvailable({ hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) == nil {
      hasher.update(data: Array(bytes))
    }
    return hex(hasher.finalize())
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
}
