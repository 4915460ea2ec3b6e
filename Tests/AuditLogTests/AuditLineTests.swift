import Foundation
import Testing
import TunnelCore

@testable import AuditLog

@Suite("audit line format")
struct AuditLineTests {
  @Test func encodesSpecFieldsInAFixedOrder() {
    var event = sampleEvent(7)
    event.tokenID = "3f2a9c"
    event.detail = "said \"no\"\n"
    let line = AuditLine(
      sequence: 3, timestamp: "2026-11-21T10:00:00.123Z", body: .event(event), previousHash: AuditLine.genesisHash)
    let text = String(decoding: line.encode(), as: UTF8.self)
    #expect(
      text
        == #"{"v":1,"seq":3,"ts":"2026-11-21T10:00:00.123Z","event":"call","profile":"dev","tenant":"acme","#
        + #""actor":"dev1","session":"s-1","method":"tools/call","tool":"search","rpc_id":"7","status":200,"#
        + #""outcome":"ok","duration_ms":12,"token_id":"3f2a9c","detail":"said \"no\"\n","prev":""#
        + AuditLine.genesisHash + #""}"#)
    #expect(line.encode() == line.encode())
    #expect(!line.encode().contains(UInt8(ascii: "\n")))
  }

  @Test func omitsAbsentFieldsAndRoundTrips() throws {
    let event = AuditEvent(event: .login, profile: "dev", actor: "alice", outcome: .ok)
    let line = AuditLine(
      sequence: 1, timestamp: "2026-01-02T03:04:05.006Z", body: .event(event), previousHash: AuditLine.genesisHash)
    let text = String(decoding: line.encode(), as: UTF8.self)
    #expect(!text.contains("tenant"))
    #expect(!text.contains("null"))
    #expect(AuditLine.decode(line.encode()) == line)
    let parsed = try #require(JSONSerialization.jsonObject(with: Data(line.encode())) as? [String: Any])
    #expect(parsed["event"] as? String == "login")
  }

  @Test func aListenerDenialCarriesThePeerUIDBeforeDetail() throws {
    let event = AuditEvent(
      event: .denied, profile: "dev", session: "s-1", outcome: .denied,
      detail: "connection from uid 65534 refused: listen.peers is same-user", peerUID: 65534)
    let line = AuditLine(sequence: 2, timestamp: "t", body: .event(event), previousHash: AuditLine.genesisHash)
    let text = String(decoding: line.encode(), as: UTF8.self)
    #expect(
      text.contains(#""event":"denied","profile":"dev","session":"s-1","outcome":"denied","peer_uid":65534,"detail":"#),
      "\(text)")
    #expect(AuditLine.decode(line.encode()) == line)
  }

  @Test func viaFollowsConnectionAndRoundTrips() throws {
    var event = sampleEvent(7)
    event.connection = 2
    event.via = "stdio"
    let line = AuditLine(
      sequence: 4, timestamp: "2026-11-21T10:00:00.123Z", body: .event(event), previousHash: AuditLine.genesisHash)
    let text = String(decoding: line.encode(), as: UTF8.self)
    #expect(text.contains(#""session":"s-1","connection":2,"via":"stdio","method":"tools/call""#), "\(text)")
    #expect(AuditLine.decode(line.encode()) == line)
  }

  @Test("SPEC §10: a call made with an elevated token carries \"elevated\":true after via; absent otherwise")
  func elevatedFollowsViaAndRoundTrips() throws {
    var event = sampleEvent(8)
    event.connection = 3
    event.elevated = true
    let line = AuditLine(
      sequence: 5, timestamp: "2026-11-21T10:00:00.123Z", body: .event(event), previousHash: AuditLine.genesisHash)
    let text = String(decoding: line.encode(), as: UTF8.self)
    #expect(text.contains(#""connection":3,"elevated":true,"method":"tools/call""#), "\(text)")
    #expect(AuditLine.decode(line.encode()) == line)
    let plain = String(
      decoding: AuditLine(
        sequence: 6, timestamp: "2026-11-21T10:00:00.123Z", body: .event(sampleEvent(9)),
        previousHash: AuditLine.genesisHash
      ).encode(), as: UTF8.self)
    #expect(!plain.contains("elevated"))
  }

  @Test func everyEventKindAndOddCharactersRoundTrip() {
    for kind in AuditEventKind.allCases {
      let event = AuditEvent(
        event: kind, profile: "p", tenant: "t\u{1}\u{7f}", tool: "ünïcode \u{2028} ✓", rpcID: "\\", outcome: .denied)
      let line = AuditLine(sequence: 9, timestamp: "x", body: .event(event), previousHash: AuditLine.genesisHash)
      #expect(AuditLine.decode(line.encode()) == line, "\(kind)")
    }
  }

  @Test func decodeRejectsGarbageAndTornLines() {
    let line = AuditLine(
      sequence: 1, timestamp: "t", body: .event(sampleEvent()), previousHash: AuditLine.genesisHash
    ).encode()
    #expect(AuditLine.decode(line.dropLast(5)) == nil)
    #expect(AuditLine.decode(Array("not json".utf8)) == nil)
    #expect(AuditLine.decode(Array(#"{"v":1,"seq":1}"#.utf8)) == nil)
  }

  @Test func timestampIsRFC3339UTCWithMillisecondsTruncated() {
    #expect(AuditLine.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    #expect(AuditLine.timestamp(Date(timeIntervalSince1970: 1_795_255_200.1239)) == "2026-11-21T10:00:00.123Z")
    #expect(AuditLine.timestamp(Date(timeIntervalSince1970: 951_782_399.9999)) == "2000-02-28T23:59:59.999Z")
  }
}
