import Crypto
import Foundation

/// RFC 7636 proof key: a fresh verifier per authorization request and its S256 challenge
/// (AZ-02/03). `plain` does not exist here.
struct PKCE: Sendable {
  /// 43–128 characters of `[A-Z a-z 0-9 - . _ ~]` (RFC 7636 §4.1).
  let verifier: String
  var challenge: String { Self.challenge(for: verifier) }
  let method = "S256"

  /// 32 octets from the system CSPRNG, base64url: 43 characters.
  init() { self.init(octets: RandomBytes.generate(32)) }

  /// For the RFC 7636 Appendix B vector.
  init(octets: [UInt8]) { verifier = Base64URL.encode(octets) }

  static func challenge(for verifier: String) -> String {
    Base64URL.encode(Array(SHA256.hash(data: Data(verifier.utf8))))
  }

  /// RFC 7636 §4.1 ABNF `43*128unreserved`.
  static func isValidVerifier(_ text: String) -> Bool {
    (43...128).contains(text.utf8.count)
      && text.unicodeScalars.allSatisfy {
        ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0)
          || "-._~".unicodeScalars.contains($0)
      }
  }
}

enum RandomBytes {
  /// `SystemRandomNumberGenerator` reads getrandom(2) on Linux: a CSPRNG.
  static func generate(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
  }

  /// 128+ bits for `state` and `nonce` (AZ-06).
  static func token() -> String { Base64URL.encode(generate(24)) }
}

enum Base64URL {
  static func encode(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }

  static func decode(_ text: String) -> Data? {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    return Data(base64Encoded: base64)
  }
}
