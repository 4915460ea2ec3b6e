import Testing
import TunnelCore

@testable import AuditLog

/// A log produced by an independent implementation (Python: `json` + `hashlib.sha256`), so the
/// format and the hashing are checked against something other than this module itself.
@Suite("golden audit log")
struct GoldenLogTests {
  static let lines: [String] = [
    #"{"v":1,"seq":0,"ts":"2026-11-21T09:59:59.000Z","event":"chain_start","nonce":"5f0c3a9e2b7d41c8a6e9f1d2b3c4a5e6","prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
    #"{"v":1,"seq":1,"ts":"2026-11-21T10:00:00.123Z","event":"tunnel_up","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","outcome":"ok","prev":"b1ae7e2636db4955dd9295cd5a407b31a0cefbd30e31b512e65ec676141a05e1"}"#,
    #"{"v":1,"seq":2,"ts":"2026-11-21T10:00:01.123Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"tools/call","tool":"search","rpc_id":"1","status":200,"outcome":"ok","duration_ms":12,"prev":"e5b39d89003a05c9dcadf2e5cf5b3b5923330d16ab2877429b6c051e4a7266f8"}"#,
    #"{"v":1,"seq":3,"ts":"2026-11-21T10:00:02.123Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"resources/read","rpc_id":"2","status":200,"outcome":"ok","duration_ms":3,"prev":"f45c7a3f5c218eb6bd6c9dbe60fd2732d31ac00e90357b736894ebc339ff8f71"}"#,
    #"{"v":1,"seq":4,"ts":"2026-11-21T10:00:03.123Z","event":"denied","profile":"dev","tenant":"globex","actor":"dev1","session":"s-1","method":"tools/call","tool":"drop","rpc_id":"3","status":403,"outcome":"denied","duration_ms":1,"detail":"tenant not allowed","prev":"a58dee38240f63139a32e926a20c4e31c38ae2ce194fb3f4e883d667c39da597"}"#,
  ]

  @Test func verifiesAndReEncodesByteForByte() throws {
    let bytes = Self.lines.flatMap { Array($0.utf8) + [UInt8(ascii: "\n")] }
    #expect(AuditChainVerifier.verify(contents: bytes) == .init(records: 4, tornLines: []))
    for text in Self.lines {
      let line = try #require(AuditLine.decode(Array(text.utf8)))
      #expect(line.encode() == Array(text.utf8))
    }
    let denied = try #require(AuditLine.decode(Array(Self.lines[4].utf8))?.event)
    #expect(denied.outcome == .denied)
    #expect(denied.detail == "tenant not allowed")
  }
}
