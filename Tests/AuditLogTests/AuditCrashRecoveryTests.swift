import Foundation
import TestTiers
import Testing
import TunnelCore

@testable import AuditLog

#if canImport(Glibc)
  import Glibc
#endif

/// A writer process SIGKILLed in the middle of an append, again and again, into one rotating log;
/// after each kill a fresh writer appends and the whole log must verify, torn lines reported as
/// torn-and-sealed.
///
/// The writer is the real `AuditFileWriter` in a child process — this test binary re-run with a
/// filter selecting `crashingChildWriter`, as the several-processes tests do. To kill it at a
/// chosen point rather than by luck (one small `write(2)` is rarely interrupted), the child's
/// writer gets an `AuditWriterCrashPoint`: it writes part of its payload (or stops between the
/// steps of a rotation), creates a "ready" file, and sleeps until the test kills it. A few
/// iterations kill a freely appending writer at a random moment instead.
@Suite("audit writer killed mid-write", .offPool, .timeLimit(.minutes(3)))
struct AuditCrashRecoveryTests {
  enum Child {
    static let pathVariable = "MCP_TUNNEL_AUDIT_TEST_CRASH_PATH"
    static let pointVariable = "MCP_TUNNEL_AUDIT_TEST_CRASH_POINT"
    static let readyVariable = "MCP_TUNNEL_AUDIT_TEST_CRASH_READY"
  }

  static let rotation = AuditRotationPolicy(maxFileBytes: 1500, keptFiles: 10_000)

  /// Where each iteration's child stops: `bytes:<n>:<records first>` stops an ordinary append
  /// after n bytes of its single write (negative: all but the last -n), `rotation-…` between the
  /// steps of a rotation, `loop` appends 300 records (a few milliseconds) and is killed at a
  /// random moment during or after them. `torn`: whether the kill leaves a torn line.
  static let points: [(point: String, torn: Bool)] = [
    ("bytes:40:0", true),  // a fresh log: half a chain-start line
    ("bytes:0:2", false),  // killed holding the lock, nothing written
    ("bytes:1:1", true),
    ("bytes:120:1", true),  // mid-record
    ("bytes:-1:1", false),  // everything but the newline: the line is whole once sealed
    ("rotation-before-renames", false),  // the new file complete under its temporary name
    ("bytes:-20:1", true),
    ("rotation-after-link", false),  // the full file named both .1 and the log
    ("bytes:200:3", true),
    ("loop", false),
    ("loop", false),
    ("loop", false),
    ("loop", false),
  ]

  @Test func killedWritersLeaveALogThatTheNextWriterSealsAndThatVerifies() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/audit/dev.jsonl"
      for (iteration, (point, _)) in Self.points.enumerated() {
        let ready = "\(dir)/ready-\(iteration)"
        let child = try startChildTest(
          "AuditCrashRecoveryTests/crashingChildWriter",
          environment: [Child.pathVariable: path, Child.pointVariable: point, Child.readyVariable: ready])
        let stopped = try await waitUntil(seconds: 60) {
          FileManager.default.fileExists(atPath: ready) || !child.isRunning
        }
        #expect(
          stopped && child.isRunning, "iteration \(iteration) (\(point)): the child did not reach its crash point")
        if point == "loop" { try await Task.sleep(for: .microseconds(Int.random(in: 0...30_000))) }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()  // off-pool: the suite runs on OffPoolExecutor (.offPool)
        #expect(child.terminationReason == .uncaughtSignal)

        // Before any recovery the log already verifies, except for a torn last line (which the
        // next append seals): no crash point leaves a broken rotation behind.
        let killed = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
        if let failure = killed.failure {
          #expect(failure.problem == .incompleteLastLine && failure.file == "dev.jsonl", "\(point): \(failure)")
        }

        try AuditFileWriter(path: path, rotation: Self.rotation).record(sampleEvent(iteration, tool: "recovery"))
        let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
        #expect(result.isIntact, "iteration \(iteration) (\(point)): \(String(describing: result.failure))")
        if !result.isIntact { return }
      }
      let result = try AuditChainVerifier.verifyWithRotatedFiles(path: path)
      #expect(result.files.count >= 3)
      #expect(result.tornLines.count >= Self.points.filter(\.torn).count)
      let recovered = try rotatedLogLines(path).compactMap { AuditLine.decode($0)?.event }.filter {
        $0.tool == "recovery"
      }
      #expect(recovered.map(\.rpcID) == Self.points.indices.map { String($0) })
      // Each torn line is reported where it is: a line of one of the files that does not parse.
      for torn in result.tornLines {
        let lines = try fileLines("\(dir)/audit/\(try #require(torn.file))")
        #expect(AuditLine.decode(lines[torn.line - 1]) == nil, "\(torn)")
      }
    }
  }

  /// The child: does nothing unless spawned by the test above.
  @Test func crashingChildWriter() throws {
    let environment = ProcessInfo.processInfo.environment
    guard let path = environment[Child.pathVariable], let point = environment[Child.pointVariable],
      let ready = environment[Child.readyVariable]
    else { return }
    let stop: @Sendable () -> Void = {
      _ = FileManager.default.createFile(atPath: ready, contents: nil)
      while true { sleep(60) }  // off-pool: the child test process, killed by the parent
    }
    let parts = point.split(separator: ":")
    let crashPoint: AuditWriterCrashPoint?
    switch parts.first {
    case "bytes":
      let normal = try AuditFileWriter(path: path, rotation: Self.rotation)
      for index in 0..<(Int(parts[2]) ?? 0) { try normal.record(sampleEvent(index, tool: "before-crash")) }
      crashPoint = .afterPayloadBytes(Int(parts[1]) ?? 0, stop: stop)
    case "rotation-before-renames": crashPoint = .rotationBeforeRenames(stop: stop)
    case "rotation-after-link": crashPoint = .rotationAfterLink(stop: stop)
    default:
      crashPoint = nil
      _ = FileManager.default.createFile(atPath: ready, contents: nil)
    }
    let writer = try AuditFileWriter(
      path: path, now: { Date() }, syncEachRecord: false, rotation: Self.rotation, crashPoint: crashPoint)
    // A rotation does not stop at a byte point, nor an ordinary append at a rotation point: append
    // until the crash point is reached (or, for `loop`, 300 times, then wait to be killed).
    for index in 0..<(point == "loop" ? 300 : 1000) { try writer.record(sampleEvent(index, tool: "child")) }
    while true { sleep(60) }  // off-pool: the child test process, killed by the parent
  }
}
