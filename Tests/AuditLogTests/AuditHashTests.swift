import Testing

@testable import AuditLog

@Suite("AuditHash: SHA-256 as lowercase hex (FIPS 180-4 vectors)")
struct AuditHashTests {
  @Test func abc() {
    #expect(
      AuditHash.hexDigest(of: Array("abc".utf8))
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }

  @Test func emptyAndSlices() {
    #expect(AuditHash.hexDigest(of: [UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    let bytes = Array("xxabcxx".utf8)
    #expect(AuditHash.hexDigest(of: bytes[2..<5]) == AuditHash.hexDigest(of: Array("abc".utf8)))
  }

  @Test func hexIsLowercaseTwoDigitsPerByte() {
    #expect(AuditHash.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
  }
}
