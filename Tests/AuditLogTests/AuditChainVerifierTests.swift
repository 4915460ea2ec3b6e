import Foundation
import Testing
import TunnelCore

@testable import AuditLog

/// Tampering scenarios. `makeLog(count: 6)` gives 7 lines: line 1 starts the chain, lines 2–7
/// hold seq 1–6.
@Suite("audit chain verifier")
struct AuditChainVerifierTests {
  private func tampered(_ edit: (inout [[UInt8]]) -> Void) async throws -> AuditVerification {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      var lines = try makeLog(path, count: 6)
      #expect(AuditChainVerifier.verify(contents: joinLines(lines)) == .init(records: 6, tornLines: []))
      edit(&lines)
      try writeBytes(joinLines(lines), to: path)
      // Streaming the file finds the same as checking it in memory, and names the file.
      let streamed = try AuditChainVerifier.verify(path: path)
      let inMemory = AuditChainVerifier.verify(contents: joinLines(lines))
      #expect(streamed.files == ["dev.jsonl"])
      #expect(streamed.records == inMemory.records)
      #expect(streamed.failure?.line == inMemory.failure?.line)
      #expect(streamed.failure?.problem == inMemory.failure?.problem)
      #expect(streamed.failure.map { $0.file == "dev.jsonl" } ?? true)
      return inMemory
    }
  }

  private func replace(_ line: inout [UInt8], _ old: String, _ new: String) {
    let text = String(decoding: line, as: UTF8.self)
    #expect(text.contains(old))
    line = Array(text.replacingOccurrences(of: old, with: new).utf8)
  }

  @Test func intactLogPasses() async throws {
    let result = try await tampered { _ in }
    #expect(result.isIntact)
    #expect(result.records == 6)
  }

  @Test func emptyFileIsIntactWithNoRecords() {
    #expect(AuditChainVerifier.verify(contents: [UInt8]()) == .init(records: 0, tornLines: []))
  }

  @Test func contentEditOfLineMShowsAtMPlusOne() async throws {
    let result = try await tampered { replace(&$0[3], #""tool":"search""#, #""tool":"delete""#) }
    #expect(result.failure?.line == 5)
    if case .brokenLink = result.failure?.problem {} else { Issue.record("\(String(describing: result.failure))") }
  }

  @Test func flippingOneByteInAMiddleLineIsFound() async throws {
    // The flipped byte breaks the JSON, so the line itself is reported.
    let result = try await tampered { $0[3][0] ^= 0x01 }
    #expect(result.failure == AuditChainBreak(line: 4, problem: .notARecord))
  }

  @Test func editOfLineMsPrevShowsAtM() async throws {
    let result = try await tampered { lines in
      let prev = AuditLine.decode(lines[3])!.previousHash
      replace(&lines[3], prev, String(repeating: "a", count: 64))
    }
    #expect(result.failure?.line == 4)
  }

  @Test func rewritingLineMAndItsSuccessorsPrevShowsAtMPlusTwo() async throws {
    // An editor who also fixes the next line's prev only moves the break one line down.
    let result = try await tampered { lines in
      let oldHash = AuditHash.hexDigest(of: lines[3])
      replace(&lines[3], #""status":200"#, #""status":500"#)
      replace(&lines[4], oldHash, AuditHash.hexDigest(of: lines[3]))
    }
    #expect(result.failure?.line == 6)
  }

  @Test func editOfSeqShowsAtM() async throws {
    let result = try await tampered { replace(&$0[3], #""seq":3"#, #""seq":9"#) }
    #expect(result.failure?.line == 4)
  }

  @Test func deletedLineShowsWhereItWas() async throws {
    let result = try await tampered { _ = $0.remove(at: 3) }
    #expect(result.failure?.line == 4)
  }

  @Test func deletedFirstRecordAndChainStartAreFound() async throws {
    #expect(try await tampered { _ = $0.remove(at: 1) }.failure?.line == 2)
    let withoutStart = try await tampered { _ = $0.remove(at: 0) }
    #expect(withoutStart.failure?.line == 1)
  }

  @Test func reorderedLinesShowAtTheFirstMovedLine() async throws {
    let result = try await tampered { $0.swapAt(3, 4) }
    #expect(result.failure?.line == 4)
  }

  @Test func duplicatedLineIsFound() async throws {
    let result = try await tampered { $0.insert($0[3], at: 4) }
    #expect(result.failure?.line == 5)
  }

  @Test func truncatedTailIsReportedAsIncompleteLastLine() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let bytes = joinLines(try makeLog(path, count: 6))
      let cut = Array(bytes.dropLast(30))
      #expect(
        AuditChainVerifier.verify(contents: cut).failure == AuditChainBreak(line: 7, problem: .incompleteLastLine))
    }
  }

  @Test func garbledLastCompleteLineIsNotARecord() async throws {
    let result = try await tampered { $0[6] = Array("garbage".utf8) }
    #expect(result.failure == AuditChainBreak(line: 7, problem: .notARecord))
  }

  @Test func sequenceGapWithAValidLinkIsFound() {
    // A writer that skipped a number (or a forged file with recomputed links) fails on seq.
    let start = AuditLine(
      sequence: 0, timestamp: "t", body: .chainStart(nonce: "n"), previousHash: AuditLine.genesisHash
    )
    .encode()
    let first = AuditLine(
      sequence: 1, timestamp: "t", body: .event(sampleEvent()), previousHash: AuditHash.hexDigest(of: start)
    )
    .encode()
    let skipped = AuditLine(
      sequence: 3, timestamp: "t", body: .event(sampleEvent()), previousHash: AuditHash.hexDigest(of: first)
    )
    .encode()
    let result = AuditChainVerifier.verify(contents: joinLines([start, first, skipped]))
    #expect(result.failure == AuditChainBreak(line: 3, problem: .sequenceGap(expected: 2, found: 3)))
  }

  @Test func unknownVersionIsReported() {
    let start = AuditLine(
      version: 2, sequence: 0, timestamp: "t", body: .chainStart(nonce: "n"), previousHash: AuditLine.genesisHash)
    let result = AuditChainVerifier.verify(contents: joinLines([start.encode()]))
    #expect(result.failure == AuditChainBreak(line: 1, problem: .unsupportedVersion(2)))
  }

  @Test func messagesNameTheLineAndSayWhatToDo() {
    let failure = AuditChainBreak(line: 12, problem: .brokenLink(expected: "a", found: "b"))
    #expect(failure.description.contains("line 12"))
    #expect(failure.description.contains("line 11"))
    #expect(failure.fix.contains("copy"))
  }
}
