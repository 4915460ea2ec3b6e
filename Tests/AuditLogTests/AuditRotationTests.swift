import Foundation
import MCPTunnelTestSupport
import TestTiers
import Testing
import TunnelCore

@testable import AuditLog

/// Size-based rotation with a tiny limit: a record line is about 260 bytes, so 1500 bytes hold a
/// chain-start line and four or five records.
@Suite("audit log rotation", .offPool, .timeLimit(.minutes(5)))
struct AuditRotationTests {
  static let tiny = AuditRotationPolicy(maxFileBytes: 1500, keptFiles: 50)

  private func writeRotatedLog(_ path: String, count: Int, rotation: AuditRotationPolicy = tiny) throws {
    let writer = try AuditFileWriter(path: path, rotation: rotation)
    for index in 1...count { try writer.record(sampleEvent(index)) }
  }

  @Test func theChainVerifiesAcrossThreeOrMoreFiles() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 30)
      let rotated = AuditRotatedFiles(path: path).rotatedIndices()
      #expect(rotated.count >= 3)
      #expect(rotated == Array(1...rotated.count))
      for index in [0] + rotated {
        #expect(try fileBytes(AuditRotatedFiles(path: path).path(index: index)).count <= Self.tiny.maxFileBytes)
      }
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(result.isIntact, "\(String(describing: result.failure))")
      #expect(result.records == 30)
      #expect(result.files == rotated.reversed().map { "dev.jsonl.\($0)" } + ["dev.jsonl"])
      #expect(result.continuation == nil)
      // Records count on across files: rpc ids 1…30 in order, seq 1…30.
      let decoded = try rotatedLogLines(path).compactMap { AuditLine.decode($0) }
      #expect(decoded.compactMap { $0.event?.rpcID } == (1...30).map(String.init))
      #expect(decoded.filter { $0.event != nil }.map(\.sequence) == Array(1...30))
    }
  }

  @Test func aNewFileStartsWithAChainStartLinkingToTheRotatedFilesLastLine() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 8)
      let previous = try fileLines("\(path).1")
      let current = try fileLines(path)
      let start = try #require(AuditLine.decode(current[0]))
      let lastLine = try #require(previous.last)
      let lastRecord = try #require(AuditLine.decode(lastLine))
      #expect(start.body == .chainStart(nonce: nonceOf(start), previousFile: "dev.jsonl.1"))
      #expect(start.previousHash == AuditHash.hexDigest(of: lastLine))
      #expect(start.sequence == lastRecord.sequence)
      #expect(AuditLine.decode(current[1])?.sequence == lastRecord.sequence + 1)
      #expect(mode(of: path) == 0o600)
      #expect(mode(of: "\(path).1") == 0o600)
    }
  }

  private func nonceOf(_ line: AuditLine) -> String {
    if case .chainStart(let nonce, _) = line.body { return nonce }
    return ""
  }

  @Test func aByteFlippedInARotatedFileIsReportedWithItsFileAndLine() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 30)
      let victim = "\(path).2"
      var lines = try fileLines(victim)
      #expect(lines.count >= 4)
      // Change one character of a value: line 3 still parses, so line 4's link breaks.
      let text = String(decoding: lines[2], as: UTF8.self)
      lines[2] = Array(text.replacingOccurrences(of: #""tool":"search""#, with: #""tool":"seasch""#).utf8)
      try writeBytes(joinLines(lines), to: victim)
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(result.failure?.file == "dev.jsonl.2")
      #expect(result.failure?.line == 4)
      if case .brokenLink = result.failure?.problem {} else { Issue.record("\(String(describing: result.failure))") }
      #expect(result.failure?.location.description == "dev.jsonl.2:4")
    }
  }

  @Test func aChangedLastLineOfARotatedFileShowsAtLineOneOfTheNextFile() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 30)
      var lines = try fileLines("\(path).3")
      let last = String(decoding: lines[lines.count - 1], as: UTF8.self)
      #expect(last.contains(#""status":200"#))
      lines[lines.count - 1] = Array(last.replacingOccurrences(of: #""status":200"#, with: #""status":201"#).utf8)
      try writeBytes(joinLines(lines), to: "\(path).3")
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(
        result.failure
          == AuditChainBreak(
            file: "dev.jsonl.2", line: 1,
            problem: .brokenLinkToPreviousFile(previousFile: "dev.jsonl.3", missingFiles: [])))
    }
  }

  @Test func aMissingMiddleFileIsReported() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 30)
      try FileManager.default.removeItem(atPath: "\(path).2")
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      let failure = try #require(result.failure)
      #expect(
        failure
          == AuditChainBreak(
            file: "dev.jsonl.1", line: 1,
            problem: .brokenLinkToPreviousFile(previousFile: "dev.jsonl.3", missingFiles: ["dev.jsonl.2"])))
      #expect(failure.description.contains("dev.jsonl.2 is missing"))
    }
  }

  @Test func theOldestFileMayContinueADeletedOneAndThatIsSaid() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 30, rotation: AuditRotationPolicy(maxFileBytes: 1500, keptFiles: 2))
      #expect(AuditRotatedFiles(path: path).rotatedIndices() == [1, 2])
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(result.isIntact, "\(String(describing: result.failure))")
      let oldest = try #require(AuditLine.decode(try fileLines("\(path).2")[0]))
      #expect(
        result.continuation
          == AuditChainContinuation(file: "dev.jsonl.2", sequence: oldest.sequence, previousFile: "dev.jsonl.1"))
      #expect(result.records == 30 - oldest.sequence)

      // Only the oldest present file may do that: the same line further on is a break.
      try FileManager.default.removeItem(atPath: "\(path).1")
      let gap = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(gap.failure?.file == "dev.jsonl")
      #expect(gap.failure?.line == 1)
    }
  }

  /// Shifts the rotated files from `.first` up by one, as a rotation stopped part-way does.
  private func shiftRotatedFiles(_ path: String, from first: Int = 1) throws {
    let names = AuditRotatedFiles(path: path)
    for index in names.rotatedIndices().reversed() where index >= first {
      try FileManager.default.moveItem(atPath: names.path(index: index), toPath: names.path(index: index + 1))
    }
  }

  @Test func aRotationStoppedAfterShiftingLeavesAGapThatLinksAndIsClosedNextTime() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 20)
      try shiftRotatedFiles(path)
      let gap = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(gap.isIntact, "\(String(describing: gap.failure))")
      #expect(gap.absentNames == ["dev.jsonl.1"])
      #expect(gap.records == 20)

      let writer = try AuditFileWriter(path: path, rotation: Self.tiny)
      for index in 21...30 { try writer.record(sampleEvent(index)) }
      let indices = AuditRotatedFiles(path: path).rotatedIndices()
      #expect(indices == Array(1...indices.count))
      let closed = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(closed == .init(records: 30, files: closed.files))
    }
  }

  @Test func aGapInTheMiddleIsClosedAndTheKeepLimitCountsFiles() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 20)
      let count = AuditRotatedFiles(path: path).rotatedIndices().count
      try shiftRotatedFiles(path, from: 2)
      #expect(try AuditChainVerifier.verifyWithRotatedFiles(path: path).absentNames == ["dev.jsonl.2"])
      let writer = try AuditFileWriter(path: path, rotation: AuditRotationPolicy(maxFileBytes: 1500, keptFiles: count))
      let before = AuditRotatedFiles.identity(of: path)
      while AuditRotatedFiles.identity(of: path) == before { try writer.record(sampleEvent(99)) }
      #expect(AuditRotatedFiles(path: path).rotatedIndices() == Array(1...count))
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(result.isIntact, "\(String(describing: result.failure))")
      #expect(result.absentNames.isEmpty)
      #expect(result.continuation != nil)  // the oldest file went, as the keep limit says
    }
  }

  @Test func aRotationStoppedAfterNamingTheFullFileDotOneIsCheckedOnceAndFinishedNextTime() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 20)
      try shiftRotatedFiles(path)
      try FileManager.default.linkItem(atPath: path, toPath: "\(path).1")
      let doubled = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(doubled.isIntact, "\(String(describing: doubled.failure))")
      #expect(!doubled.files.contains("dev.jsonl.1"))
      #expect(doubled.records == 20)
      let tail = try AuditFileReader(path: path).tail(records: 100)
      #expect(tail.lines.compactMap { AuditLine.decode($0)?.event?.rpcID } == (1...20).map(String.init))

      let writer = try AuditFileWriter(path: path, rotation: Self.tiny)
      for index in 21...30 { try writer.record(sampleEvent(index)) }
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(result == .init(records: 30, files: result.files))
      #expect(AuditRotatedFiles.identity(of: path) != AuditRotatedFiles.identity(of: "\(path).1"))
    }
  }

  @Test func keepingNoRotatedFilesStillContinuesTheSequence() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 12, rotation: AuditRotationPolicy(maxFileBytes: 1500, keptFiles: 0))
      #expect(AuditRotatedFiles(path: path).rotatedIndices().isEmpty)
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(result.isIntact)
      #expect(result.continuation != nil)
      #expect(result.continuation?.previousFile == nil)
      #expect(AuditLine.decode(try fileLines(path).last ?? [])?.sequence == 12)
    }
  }

  @Test func aRecordLargerThanTheLimitGetsAFileOfItsOwn() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 4, rotation: AuditRotationPolicy(maxFileBytes: 100, keptFiles: 10))
      #expect(AuditRotatedFiles(path: path).rotatedIndices() == [1, 2, 3])
      #expect(try fileLines(path).count == 2)  // chain start + the record
      #expect(try AuditChainVerifier.verifyWithRotatedFiles(path: path).records == 4)
    }
  }

  @Test func aWriterHoldingTheRotatedFileReopensBeforeAppending() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let early = try AuditFileWriter(path: path, rotation: Self.tiny)
      try early.record(sampleEvent(0, tool: "early"))
      try writeRotatedLog(path, count: 12)  // another writer rotates the file `early` holds
      let names = AuditRotatedFiles(path: path)
      #expect(names.rotatedIndices().count >= 2)
      let rotatedBefore = try names.rotatedIndices().map { try fileBytes(names.path(index: $0)) }
      try early.record(sampleEvent(99, tool: "early"))
      #expect(try names.rotatedIndices().map { try fileBytes(names.path(index: $0)) } == rotatedBefore)
      #expect(AuditLine.decode(try fileLines(path).last ?? [])?.event?.rpcID == "99")
      #expect(try AuditChainVerifier.verifyWithRotatedFiles(path: path).records == 14)
    }
  }

  @Test func aRemovedLogIsCreatedAgainRatherThanWrittenIntoTheVoid() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let writer = try AuditFileWriter(path: path)
      try writer.record(sampleEvent(1))
      try FileManager.default.removeItem(atPath: path)
      try writer.record(sampleEvent(2))
      #expect(try AuditFileReader(path: path).allLines().compactMap { $0?.event?.rpcID } == ["2"])
    }
  }

  @Test func anAbandonedRotationTemporaryFileIsRemovedByTheNextRotation() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeBytes(Array("half a rotation".utf8), to: "\(dir)/.dev.jsonl.0123456789ab.new")
      try writeRotatedLog(path, count: 10)
      #expect(!FileManager.default.fileExists(atPath: "\(dir)/.dev.jsonl.0123456789ab.new"))
      #expect(AuditRotatedFiles(path: path).abandonedTemporaryPaths().isEmpty)
    }
  }

  @Test func threadsWithTheirOwnWritersKeepOneChainThroughRotation() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let threads = 4
      let perThread = 150
      let failures = await recordConcurrently(threads: threads, perThread: perThread) {
        try AuditFileWriter(path: path, rotation: AuditRotationPolicy(maxFileBytes: 4000, keptFiles: 1000))
      }
      #expect(failures.isEmpty)
      #expect(AuditRotatedFiles(path: path).rotatedIndices().count >= 10)
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(result.isIntact, "\(String(describing: result.failure))")
      #expect(result.records == threads * perThread)
      let ids = try rotatedLogLines(path).compactMap { AuditLine.decode($0)?.event?.rpcID }
      #expect(Set(ids).count == threads * perThread)
    }
  }

  @Test func processesWritingConcurrentlyKeepOneChainThroughRotation() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let children = try (0..<2).map { child in
        try startChildTest(
          "AuditFileWriterTests/childProcessWriter",
          environment: [
            ChildWriter.pathVariable: path, ChildWriter.tagVariable: "child\(child)",
            ChildWriter.rotateBytesVariable: "2000",
          ])
      }
      let writer = try AuditFileWriter(path: path, rotation: AuditRotationPolicy(maxFileBytes: 2000, keptFiles: 1000))
      for index in 0..<ChildWriter.count { try writer.record(sampleEvent(index, tool: "parent")) }
      for child in children {
        child.waitUntilExit()  // off-pool: the suite runs on OffPoolExecutor (.offPool)
        #expect(child.terminationStatus == 0)
      }
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(result.isIntact, "\(String(describing: result.failure))")
      #expect(result.records == 3 * ChildWriter.count)
      #expect(result.files.count >= 10)
      let tools = try rotatedLogLines(path).compactMap { AuditLine.decode($0)?.event?.tool }
      #expect(Set(tools) == ["parent", "child0", "child1"])
    }
  }

  // MARK: reading and following across rotation

  @Test func tailReachesIntoRotatedFilesWhenTheCurrentOneHasTooFew() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 30)
      let tail = try AuditFileReader(path: path).tail(records: 12)
      let records = tail.lines.compactMap { AuditLine.decode($0)?.event?.rpcID }
      #expect(records == (19...30).map(String.init))
      #expect(tail.endOffset == (try fileBytes(path)).count)
      let everything = try AuditFileReader(path: path).tail(records: 1000)
      #expect(everything.lines == (try rotatedLogLines(path)))
    }
  }

  @Test func followingReadsTheOldFileToItsEndThenTheNewOne() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 1)
      var cursor = FollowCursor(path: path, offset: 0, file: nil)
      var seen: [Int] = []
      func drain() throws {
        while true {
          let lines = try cursor.poll()
          if lines.isEmpty, try cursor.poll().isEmpty { return }
          seen += lines.compactMap { AuditLine.decode($0) }.filter { $0.event != nil }.map(\.sequence)
        }
      }
      try drain()
      // Several rotations between two polls (a stopped `tail -f`): nothing is skipped.
      let writer = try AuditFileWriter(path: path, rotation: Self.tiny)
      for index in 2...25 { try writer.record(sampleEvent(index)) }
      #expect(AuditRotatedFiles(path: path).rotatedIndices().count >= 4)
      try drain()
      #expect(seen == Array(1...25))
    }
  }

  @Test func followAfterATailFinishesTheTailedFileEvenIfItWasRotatedMeanwhile() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      try writeRotatedLog(path, count: 2)
      let tail = try AuditFileReader(path: path).tail(records: 1)
      let writer = try AuditFileWriter(path: path, rotation: Self.tiny)
      for index in 3...12 { try writer.record(sampleEvent(index)) }
      var iterator = AuditFileFollower(path: path, pollInterval: .milliseconds(10)).lines(after: tail)
        .makeAsyncIterator()
      var sequences: [Int] = []
      while sequences.last != 12 {
        let line = try #require(try await iterator.next())
        if let record = AuditLine.decode(line), record.event != nil { sequences.append(record.sequence) }
      }
      #expect(sequences == Array(3...12))
    }
  }

  @Test func liveFollowSeesEveryRecordWhileTheWriterRotates() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      var iterator = AuditFileFollower(path: path, pollInterval: .milliseconds(5)).lines().makeAsyncIterator()
      // The writer keeps at most two records ahead of what the follower has seen, so rotations
      // (every 3-4 records here) happen with the follower at or just behind the end of the old file:
      // it must finish that file, then follow the new one. Not further ahead: like `tail -F`, a
      // follower that falls a whole file behind skips it, and a test must not hope it keeps up.
      let (seen, reportSeen) = AsyncStream.makeStream(of: Int.self)
      let writing = Task {
        let writer = try AuditFileWriter(path: path, rotation: Self.tiny)
        var follower = seen.makeAsyncIterator()
        var followed = 0
        for index in 1...60 {
          while followed < index - 2, let next = await follower.next() { followed = next }
          try writer.record(sampleEvent(index))
        }
      }
      var sequences: [Int] = []
      while sequences.last != 60 {
        let line = try #require(try await iterator.next())
        if let record = AuditLine.decode(line), record.event != nil {
          sequences.append(record.sequence)
          reportSeen.yield(record.sequence)
        }
      }
      reportSeen.finish()
      try await writing.value
      #expect(sequences == Array(1...60))
    }
  }

  // MARK: format

  /// A rotated set produced by an independent implementation (Python `hashlib`), as in
  /// `GoldenLogTests`: pins the chain-start line of a continued file.
  @Test func anIndependentlyWrittenRotatedSetVerifiesAndReEncodesByteForByte() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      for (name, lines) in [
        ("dev.jsonl.2", GoldenRotatedAuditLog.rotated2), ("dev.jsonl.1", GoldenRotatedAuditLog.rotated1),
      ]
        + [("dev.jsonl", GoldenRotatedAuditLog.current)]
      {
        try writeBytes(lines.flatMap { Array($0.utf8) + [UInt8(ascii: "\n")] }, to: "\(dir)/\(name)")
        for text in lines { #expect(AuditLine.decode(Array(text.utf8))?.encode() == Array(text.utf8)) }
      }
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(result == .init(records: 6, files: ["dev.jsonl.2", "dev.jsonl.1", "dev.jsonl"]))
      // The writer continues that chain.
      let line = try AuditFileWriter(path: path).append(sampleEvent(7))
      #expect(line.sequence == 7)
      #expect(try AuditChainVerifier.verifyWithRotatedFiles(path: path).records == 7)
    }
  }
}
