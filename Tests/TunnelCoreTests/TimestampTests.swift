import Foundation
import Testing
import TunnelCore

/// `Timestamp` formats RFC 3339 UTC itself (no ICU); Foundation's ISO 8601 formatter is the oracle.
@Suite struct TimestampTests {
  @Test func knownInstants() {
    #expect(Timestamp.string(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
    #expect(Timestamp.string(Date(timeIntervalSince1970: 1_764_786_894.999)) == "2025-12-03T18:34:54Z")
    #expect(Timestamp.string(Date(timeIntervalSince1970: 253_402_300_799)) == "9999-12-31T23:59:59Z")
    #expect(Timestamp.humanUTC(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29 00:00:00 UTC")
  }

  @Test func agreesWithFoundationsFormatter() {
    let oracle = ISO8601DateFormatter()
    oracle.formatOptions = [.withInternetDateTime]
    oracle.timeZone = TimeZone(identifier: "UTC")
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<2000 {
      let date = Date(timeIntervalSince1970: Double.random(in: 0..<4_102_444_800, using: &generator).rounded(.down))
      #expect(Timestamp.string(date) == oracle.string(from: date))
    }
  }
}
