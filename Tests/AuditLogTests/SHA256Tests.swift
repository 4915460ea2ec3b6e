import Testing

@testable import AuditLog

@Suite("SHA-256 (FIPS 180-4 vectors)")
struct SHA256Tests {
  @Test func abc() {
    #expect(
      SHA256.hexDigest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }

  @Test func empty() {
    #expect(SHA256.hexDigest([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  }

  @Test func twoBlockMessage() {
    let message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    #expect(message.utf8.count * 8 == 448)
    #expect(
      SHA256.hexDigest(Array(message.utf8)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
  }

  @Test func oneMillionA() {
    var hasher = SHA256()
    let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
    for _ in 0..<1000 { hasher.update(chunk) }
    #expect(SHA256.hex(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
  }

  @Test func paddingBoundariesMatchOneShot() {
    // 55, 56 and 64 bytes straddle the padding cases; incremental and one-shot must agree.
    for length in [55, 56, 63, 64, 65, 119, 120] {
      let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
      var hasher = SHA256()
      hasher.update(bytes.prefix(length / 2))
      hasher.update(bytes.dropFirst(length / 2))
      #expect(hasher.finalize() == SHA256.hash(bytes), "length \(length)")
    }
    #expect(
      SHA256.hexDigest(Array(String(repeating: "a", count: 64).utf8))
        == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
  }
}
