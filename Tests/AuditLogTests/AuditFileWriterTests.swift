import Foundation
import TestTiers
import Testing
import TunnelCore

@testable import AuditLog

@Suite("audit file writer", .offPool)
struct AuditFileWriterTests {
  @Test func firstLineStartsTheChainAndRecordsLinkToTheLineBefore() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/audit/dev.jsonl"
      let lines = try makeLog(path, count: 3)
      #expect(lines.count == 4)
      let start = try #require(AuditLine.decode(lines[0]))
      guard case .chainStart(let nonce, nil) = start.body else {
        Issue.record("line 1 is not a chain start")
        return
      }
      #expect(nonce.count == 32)
      #expect(start.sequence == 0)
      #expect(start.previousHash == AuditLine.genesisHash)
      for index in 1..<lines.count {
        let line = try #require(AuditLine.decode(lines[index]))
        #expect(line.sequence == index)
        #expect(line.previousHash == AuditHash.hexDigest(of: lines[index - 1]))
      }
      #expect(AuditChainVerifier.verify(contents: try fileBytes(path)) == .init(records: 3, tornLines: []))
    }
  }

  @Test func nonceDiffersPerFile() async throws {
    try await withTemporaryDirectory { dir in
      let a = try makeLog("\(dir)/a.jsonl", count: 1)[0]
      let b = try makeLog("\(dir)/b.jsonl", count: 1)[0]
      #expect(AuditLine.decode(a)?.body != AuditLine.decode(b)?.body)
    }
  }

  @Test func chainContinuesAcrossReopen() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      _ = try makeLog(path, count: 2)
      let reopened = try AuditFileWriter(path: path)
      let line = try reopened.append(sampleEvent(3))
      let lines = try fileLines(path)
      #expect(line.sequence == 3)
      #expect(line.previousHash == AuditHash.hexDigest(of: lines[2]))
      #expect(lines.count == 4)  // no second chain-start line
      #expect(try AuditChainVerifier.verify(path: path) == .init(records: 3, files: ["dev.jsonl"]))
    }
  }

  /// The process umask is left alone (tests run in parallel); it can only remove bits, so the
  /// modes checked here are what the writer asked for.
  @Test func fileIs0600AndEveryDirectoryItCreatesIs0700() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/state/mcp-tunnel/audit/dev.jsonl"
      try AuditFileWriter(path: path).record(sampleEvent())
      #expect(mode(of: path) == 0o600)
      #expect(mode(of: "\(dir)/state/mcp-tunnel/audit") == 0o700)
      #expect(mode(of: "\(dir)/state/mcp-tunnel") == 0o700)
    }
  }

  @Test func tightensALooseExistingFileAndDirectory() async throws {
    try await withTemporaryDirectory { dir in
      let audit = "\(dir)/audit"
      try FileManager.default.createDirectory(atPath: audit, withIntermediateDirectories: true)
      chmod(audit, 0o755)
      try writeBytes([], to: "\(audit)/dev.jsonl")
      chmod("\(audit)/dev.jsonl", 0o644)
      try AuditFileWriter(path: "\(audit)/dev.jsonl").record(sampleEvent())
      #expect(mode(of: "\(audit)/dev.jsonl") == 0o600)
      #expect(mode(of: audit) == 0o700)
    }
  }

  @Test func refusesASymlinkedLog() async throws {
    try await withTemporaryDirectory { dir in
      try writeBytes([], to: "\(dir)/elsewhere")
      symlink("\(dir)/elsewhere", "\(dir)/dev.jsonl")
      #expect(throws: AuditError.self) { try AuditFileWriter(path: "\(dir)/dev.jsonl") }
    }
  }

  @Test func appendsAreOAppendAndNeverRewriteEarlierBytes() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let writer = try AuditFileWriter(path: path)
      try writer.record(sampleEvent(1))
      let before = try fileBytes(path)
      try writer.record(sampleEvent(2))
      let after = try fileBytes(path)
      #expect(Array(after.prefix(before.count)) == before)
      #expect(after.count > before.count)
    }
  }

  @Test func writersOnSeveralThreadsWithTheirOwnInstancesKeepOneChain() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let threads = 4
      let perThread = 250
      let failures = await recordConcurrently(threads: threads, perThread: perThread) {
        try AuditFileWriter(path: path)
      }
      #expect(failures.isEmpty)
      let result = try AuditChainVerifier.verify(path: path)
      #expect(result == .init(records: threads * perThread, files: ["dev.jsonl"]))
      let ids = try AuditFileReader(path: path).allLines().compactMap { $0?.event?.rpcID }
      #expect(Set(ids).count == threads * perThread)
    }
  }

  @Test func oneSharedInstanceIsSafeFromManyTasks() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let writer = try AuditFileWriter(path: path)
      await withTaskGroup(of: Void.self) { group in
        for index in 0..<100 { group.addTask { try? writer.record(sampleEvent(index)) } }
      }
      #expect(try AuditChainVerifier.verify(path: path) == .init(records: 100, files: ["dev.jsonl"]))
    }
  }

  /// Several processes appending to one file: children are this test binary re-run with a filter
  /// that selects `childProcessWriter` and an environment variable naming the file. Without
  /// rotation here; `AuditRotationTests` runs the same children through rotation.
  @Test func writersInSeveralProcessesKeepOneChain() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let children = try (0..<2).map { child in
        try startChildTest(
          "AuditFileWriterTests/childProcessWriter",
          environment: [ChildWriter.pathVariable: path, ChildWriter.tagVariable: "child\(child)"])
      }
      let writer = try AuditFileWriter(path: path)
      for index in 0..<ChildWriter.count { try writer.record(sampleEvent(index, tool: "parent")) }
      for child in children {
        child.waitUntilExit()  // off-pool: the suite runs on OffPoolExecutor (.offPool)
        #expect(child.terminationStatus == 0)
      }
      let result = try AuditChainVerifier.verify(path: path)
      #expect(result == .init(records: 3 * ChildWriter.count, files: ["dev.jsonl"]))
      let tools = try AuditFileReader(path: path).allLines().compactMap { $0?.event?.tool }
      #expect(Set(tools) == ["parent", "child0", "child1"])
    }
  }

  @Test func childProcessWriter() throws {
    guard let path = ProcessInfo.processInfo.environment[ChildWriter.pathVariable],
      let tag = ProcessInfo.processInfo.environment[ChildWriter.tagVariable]
    else { return }  // only does something when spawned by a several-processes test
    let rotation = ProcessInfo.processInfo.environment[ChildWriter.rotateBytesVariable].flatMap(Int.init).map {
      AuditRotationPolicy(maxFileBytes: $0, keptFiles: 1000)
    }
    let writer = try AuditFileWriter(path: path, rotation: rotation)
    for index in 0..<ChildWriter.count { try writer.record(sampleEvent(index, tool: tag)) }
  }

  @Test func tornLastLineIsSealedAndTheChainContinues() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      var lines = try makeLog(path, count: 3)
      // A writer killed mid-write leaves half a line and no newline.
      let torn = Array(
        AuditLine(sequence: 4, timestamp: "t", body: .event(sampleEvent()), previousHash: "x").encode().prefix(40))
      try writeBytes(joinLines(lines) + torn, to: path)
      #expect(
        try AuditChainVerifier.verify(path: path).failure
          == AuditChainBreak(file: "dev.jsonl", line: 5, problem: .incompleteLastLine))

      let line = try AuditFileWriter(path: path).append(sampleEvent(9))
      lines = try fileLines(path)
      #expect(lines.count == 6)
      #expect(lines[4] == torn)
      #expect(line.sequence == 4)
      #expect(line.previousHash == AuditHash.hexDigest(of: torn))
      #expect(
        try AuditChainVerifier.verify(path: path)
          == .init(records: 4, tornLines: [.init(file: "dev.jsonl", line: 5)], files: ["dev.jsonl"]))
    }
  }

  @Test func aLineCutJustBeforeItsNewlineJoinsTheChainUnchanged() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let lines = try makeLog(path, count: 2)
      try writeBytes(Array(joinLines(lines).dropLast()), to: path)
      let line = try AuditFileWriter(path: path).append(sampleEvent())
      #expect(line.sequence == 3)
      #expect(try AuditChainVerifier.verify(path: path) == .init(records: 3, files: ["dev.jsonl"]))
    }
  }

  @Test func noTokenLikeValueIsEverWritten() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let jwt =
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkZXYxIiwidGVuYW50IjoiYWNtZSJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
      let opaque = "Bearer 9fQx2LmZp0Rt7uVwYk3s"
      let event = AuditEvent(
        event: .denied, profile: "dev", tenant: "acme", actor: jwt, session: opaque, method: "tools/call",
        tool: "search", rpcID: jwt, status: 401, outcome: .denied, tokenID: jwt,
        detail: "upstream said: Authorization: \(opaque)")
      try AuditFileWriter(path: path).record(event)
      let text = String(decoding: try fileBytes(path), as: UTF8.self)
      #expect(!text.contains("eyJhbGci"))
      #expect(!text.contains("9fQx2LmZp0Rt7uVwYk3s"))
      #expect(text.contains(#""tool":"search""#))
      #expect(text.contains(#""actor":"<redacted>""#))
      #expect(try AuditChainVerifier.verify(path: path).isIntact)
    }
  }
}

enum ChildWriter {
  static let pathVariable = "MCP_TUNNEL_AUDIT_TEST_CHILD_PATH"
  static let tagVariable = "MCP_TUNNEL_AUDIT_TEST_CHILD_TAG"
  /// When set, the child rotates at this many bytes (keeping every file).
  static let rotateBytesVariable = "MCP_TUNNEL_AUDIT_TEST_CHILD_ROTATE_BYTES"
  static let count = 60
}
