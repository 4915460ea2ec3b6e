import Foundation
import Testing
import TunnelCore

@testable import AuditLog

@Suite("audit file reader and follower", .timeLimit(.minutes(5)))
struct AuditFileFollowerTests {
  @Test func tailReturnsTheLastRecordsAndWhereToFollowFrom() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let lines = try makeLog(path, count: 5)
      let tail = try AuditFileReader(path: path).tail(records: 2)
      #expect(tail.lines == Array(lines.suffix(2)))
      #expect(tail.endOffset == joinLines(lines).count)
      let all = try AuditFileReader(path: path).tail(records: 50)
      #expect(all.lines == lines)  // includes the chain-start line; callers skip it
      #expect(try AuditFileReader(path: path).tail(records: 0).lines.isEmpty)
    }
  }

  @Test func tailStopsBeforeAHalfWrittenLine() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let lines = try makeLog(path, count: 3)
      try writeBytes(joinLines(lines) + Array(#"{"v":1,"se"#.utf8), to: path)
      let tail = try AuditFileReader(path: path).tail(records: 1)
      #expect(tail.lines == [lines[3]])
      #expect(tail.endOffset == joinLines(lines).count)
    }
  }

  @Test func missingFileIsAnError() {
    #expect(throws: AuditError.self) { try AuditFileReader(path: "/nonexistent/x.jsonl").tail(records: 1) }
    #expect(!AuditFileReader(path: "/nonexistent/x.jsonl").exists)
  }

  @Test func followYieldsAppendedLinesOnlyOnceComplete() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let initial = try makeLog(path, count: 2)
      let follower = AuditFileFollower(path: path, pollInterval: .milliseconds(20))
      var iterator = follower.lines(from: joinLines(initial).count).makeAsyncIterator()

      let writer = try AuditFileWriter(path: path)
      try writer.record(sampleEvent(3))
      #expect(AuditLine.decode(try #require(try await iterator.next()))?.sequence == 3)

      // A line written in two pieces is yielded once, whole.
      let handle = try #require(FileHandle(forWritingAtPath: path))
      handle.seekToEndOfFile()
      let piece = Array("{\"partial\":".utf8)
      handle.write(Data(piece))
      try await Task.sleep(for: .milliseconds(100))
      handle.write(Data(Array("true}\n".utf8)))
      try handle.close()
      #expect(try await iterator.next() == piece + Array("true}".utf8))
    }
  }

  @Test func followWaitsForTheFileToAppear() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/audit/dev.jsonl"
      var iterator = AuditFileFollower(path: path, pollInterval: .milliseconds(20)).lines().makeAsyncIterator()
      Task {
        try await Task.sleep(for: .milliseconds(100))
        try AuditFileWriter(path: path).record(sampleEvent(1))
      }
      let first = try #require(try await iterator.next())
      #expect(AuditLine.decode(first)?.body.isChainStart == true)
      #expect(AuditLine.decode(try #require(try await iterator.next()))?.sequence == 1)
    }
  }

  @Test func followMovesToANewFileWhenThePathIsReplaced() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      _ = try makeLog(path, count: 1)
      var iterator = AuditFileFollower(path: path, pollInterval: .milliseconds(20)).lines().makeAsyncIterator()
      #expect(try await iterator.next() != nil)  // chain start
      #expect(try await iterator.next() != nil)  // seq 1
      try FileManager.default.moveItem(atPath: path, toPath: "\(dir)/dev.1.jsonl")
      try AuditFileWriter(path: path).record(sampleEvent(7))
      #expect(AuditLine.decode(try #require(try await iterator.next()))?.body.isChainStart == true)
      #expect(AuditLine.decode(try #require(try await iterator.next()))?.event?.rpcID == "7")
    }
  }
}

extension AuditLine.Body {
  var isChainStart: Bool {
    if case .chainStart = self { return true }
    return false
  }
}
