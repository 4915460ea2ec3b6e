import Foundation
import Synchronization
import TestTiers
import Testing
import TunnelCore

@testable import AuditLog

// off-pool-file: the suite runs on OffPoolExecutor (.offPool); the datagrams wait in the socket

/// `audit.journal = true`: the records the file writer wrote, as the journal's native protocol
/// datagrams — checked field by field on a unixgram socket of this test standing in for
/// `/run/systemd/journal/socket` (no journald runs on this machine).
@Suite("audit to the journal (native protocol)", .offPool)
struct JournalMirrorSinkTests {
  /// A bound `AF_UNIX` datagram socket: what journald listens on.
  final class FakeJournal {
    let path: String
    let fd: Int32

    init(path: String) throws {
      self.path = path
      fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
      var address = sockaddr_un()
      address.sun_family = sa_family_t(AF_UNIX)
      withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, b) in path.utf8.enumerated() { raw[i] = b }
      }
      let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
      }
      guard bound == 0 else { throw AuditError(.internalError, "bind \(path): errno \(errno)") }
    }

    /// The next datagram, waiting at most 2 minutes (a deadline that only catches a hang).
    func receive() throws -> [UInt8] {
      var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&poller, 1, 120_000) == 1 else { throw AuditError(.internalError, "no datagram within 2 minutes") }
      var buffer = [UInt8](repeating: 0, count: 1 << 16)
      let count = recv(fd, &buffer, buffer.count, 0)
      guard count >= 0 else { throw AuditError(.internalError, "recv: errno \(errno)") }
      return Array(buffer.prefix(count))
    }

    /// Whether a datagram is waiting.
    var hasDatagram: Bool {
      var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      return poll(&poller, 1, 0) == 1
    }

    deinit { close(fd) }
  }

  /// Parses a native-protocol datagram: `KEY=value\n`, or `KEY\n` + 64-bit LE length + value + `\n`.
  static func parse(_ datagram: [UInt8]) -> [(String, String)] {
    var fields: [(String, String)] = []
    var i = 0
    while i < datagram.count {
      let end = datagram[i...].firstIndex { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") } ?? datagram.count
      let name = String(decoding: datagram[i..<end], as: UTF8.self)
      if end < datagram.count, datagram[end] == UInt8(ascii: "=") {
        let stop = datagram[(end + 1)...].firstIndex(of: UInt8(ascii: "\n")) ?? datagram.count
        fields.append((name, String(decoding: datagram[(end + 1)..<stop], as: UTF8.self)))
        i = stop + 1
      } else {
        var length: UInt64 = 0
        for k in 0..<8 { length |= UInt64(datagram[end + 1 + k]) << (8 * UInt64(k)) }
        let start = end + 9
        fields.append((name, String(decoding: datagram[start..<(start + Int(length))], as: UTF8.self)))
        i = start + Int(length) + 1
      }
    }
    return fields
  }

  @Test("each record: the exact fields, in order, with the chain values of the line the file holds")
  func fieldsOfWrittenRecords() async throws {
    try await withTemporaryDirectory { dir in
      let journal = try FakeJournal(path: "\(dir)/journal.socket")
      let file = try AuditFileWriter(path: "\(dir)/audit/dev.jsonl")
      let socket = JournalSocket(path: journal.path)
      #expect(socket.problem() == nil)
      let sink = JournalMirrorSink(file: file, journal: socket)
      try sink.record(
        AuditEvent(
          event: .call, profile: "dev", tenant: "acme", actor: "alice", session: "s1", method: "tools/call",
          tool: "search", status: 200, outcome: .ok, durationMilliseconds: 12, tokenID: "sha256:0123"))
      try sink.record(
        AuditEvent(event: .denied, profile: "dev", outcome: .denied, detail: "peer uid 65534", peerUID: 65534))

      let lines = try fileLines("\(dir)/audit/dev.jsonl")
      #expect(lines.count == 3)  // chain start + 2 records
      let first = Self.parse(try journal.receive())
      #expect(
        first.map(\.0) == [
          "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "MCP_TUNNEL_EVENT", "MCP_TUNNEL_OUTCOME", "MCP_TUNNEL_PROFILE",
          "MCP_TUNNEL_TENANT", "MCP_TUNNEL_ACTOR", "MCP_TUNNEL_SESSION", "MCP_TUNNEL_METHOD", "MCP_TUNNEL_TOOL",
          "MCP_TUNNEL_STATUS", "MCP_TUNNEL_SEQ", "MCP_TUNNEL_TS", "MCP_TUNNEL_PREV", "MCP_TUNNEL_HASH",
          "MCP_TUNNEL_RECORD",
        ])
      let values = Dictionary(first, uniquingKeysWith: { a, _ in a })
      #expect(values["MESSAGE"] == "mcp-tunnel audit: call tools/call search profile=dev tenant=acme outcome=ok")
      #expect(values["PRIORITY"] == "6" && values["SYSLOG_IDENTIFIER"] == "mcp-tunnel")
      #expect(values["MCP_TUNNEL_EVENT"] == "call" && values["MCP_TUNNEL_TENANT"] == "acme")
      #expect(values["MCP_TUNNEL_TOOL"] == "search" && values["MCP_TUNNEL_SEQ"] == "1")
      #expect(values["MCP_TUNNEL_RECORD"] == String(decoding: lines[1], as: UTF8.self))
      #expect(values["MCP_TUNNEL_PREV"] == AuditHash.hexDigest(of: lines[0]))
      #expect(values["MCP_TUNNEL_HASH"] == AuditHash.hexDigest(of: lines[1]))

      let second = Dictionary(Self.parse(try journal.receive()), uniquingKeysWith: { a, _ in a })
      #expect(second["PRIORITY"] == "5" && second["MCP_TUNNEL_EVENT"] == "denied")
      #expect(second["MCP_TUNNEL_PEER_UID"] == "65534" && second["MCP_TUNNEL_DETAIL"] == "peer uid 65534")
      #expect(second["MCP_TUNNEL_SEQ"] == "2" && second["MCP_TUNNEL_PREV"] == values["MCP_TUNNEL_HASH"])
      #expect(second["MCP_TUNNEL_RECORD"] == String(decoding: lines[2], as: UTF8.self))
    }
  }

  @Test("a value with a newline uses the length-prefixed form")
  func newlineValue() {
    let datagram = JournalSocket.encode([("MESSAGE", "a\nb"), ("PRIORITY", "4")])
    #expect(datagram == Array("MESSAGE\n".utf8) + [3, 0, 0, 0, 0, 0, 0, 0] + Array("a\nb\nPRIORITY=4\n".utf8))
    #expect(Self.parse(datagram).map { "\($0.0)=\($0.1)" } == ["MESSAGE=a\nb", "PRIORITY=4"])
  }

  @Test("no journal: a problem to warn about at start, every call still succeeds, the file has every record")
  func missingJournal() async throws {
    try await withTemporaryDirectory { dir in
      let socket = JournalSocket(path: "\(dir)/no-journal.socket")
      #expect(socket.problem()?.contains("no systemd journal at \(dir)/no-journal.socket") == true)
      let reported = Mutex<[String]>([])
      let sink = JournalMirrorSink(
        file: try AuditFileWriter(path: "\(dir)/audit/dev.jsonl"), journal: socket,
        onJournalError: { error in reported.withLock { $0.append(error.summary) } })
      for _ in 0..<3 { try sink.record(AuditEvent(event: .call, profile: "dev", method: "tools/list")) }
      #expect(try fileLines("\(dir)/audit/dev.jsonl").count == 4)
      #expect(sink.journalFailures == 3)
      #expect(reported.withLock { $0.count } == 1, "one warning per distinct failure, not one per record")
    }
  }

  @Test("a credential-shaped value reaches neither the file nor the journal")
  func redacted() async throws {
    try await withTemporaryDirectory { dir in
      let journal = try FakeJournal(path: "\(dir)/journal.socket")
      let sink = JournalMirrorSink(
        file: try AuditFileWriter(path: "\(dir)/audit/dev.jsonl"), journal: JournalSocket(path: journal.path))
      let secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
      try sink.record(AuditEvent(event: .call, profile: "dev", outcome: .error, detail: "Bearer \(secret)"))
      let datagram = String(decoding: try journal.receive(), as: UTF8.self)
      #expect(!datagram.contains(secret))
      #expect(!journal.hasDatagram)
    }
  }
}
