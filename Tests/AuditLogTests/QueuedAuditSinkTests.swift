import Dispatch
import Foundation
import MCPTunnelTestSupport
import Synchronization
import TestTiers
import Testing
import TunnelCore

@testable import AuditLog

/// Passes events on to `inner`, but every `record` waits until `release()` — a disk that hangs.
final class GatedAuditSink: AuditSink {
  private let inner: any AuditSink
  private let gate = DispatchGroup()
  private let entered = Atomic<Int>(0)

  init(_ inner: any AuditSink) {
    self.inner = inner
    gate.enter()
  }

  /// How many `record` calls have started (and are waiting, until released).
  var calls: Int { entered.load(ordering: .relaxed) }

  func record(_ event: AuditEvent) throws {
    entered.add(1, ordering: .relaxed)
    gate.wait()  // off-pool: the sink's writer thread
    try inner.record(event)
  }

  func release() { gate.leave() }
}

/// Collects errors passed to `onError`.
final class ReportedErrors: Sendable {
  private let messages = Mutex<[String]>([])
  func add(_ error: any Error) { messages.withLock { $0.append("\(error)") } }
  var all: [String] { messages.withLock { $0 } }
}

@Suite("queued audit sink", .offPool, .timeLimit(.minutes(5)))
struct QueuedAuditSinkTests {
  @Test func orderIsPreservedFor10000EventsFromEightThreads() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let sink = QueuedAuditSink(wrapping: try AuditFileWriter(path: path, rotation: nil), capacity: 10_000)
      let threads = 8
      let perThread = 1250
      let done = DispatchGroup()
      for thread in 0..<threads {
        done.enter()
        Thread {
          for index in 0..<perThread { sink.record(sampleEvent(index, tool: "t\(thread)")) }
          done.leave()
        }.start()
      }
      done.wait()  // off-pool: the suite runs on OffPoolExecutor (.offPool)
      await sink.flush()
      #expect(sink.droppedCount == 0)
      #expect(sink.failedCount == 0)
      let result = try AuditChainVerifier.verify(path: path)
      #expect(result.isIntact)
      #expect(result.records == threads * perThread)
      var next = [String: Int]()
      for line in try AuditFileReader(path: path).allLines() {
        guard let event = line?.event, let tool = event.tool else { continue }
        #expect(event.rpcID == String(next[tool, default: 0]), "\(tool) out of order")
        next[tool, default: 0] += 1
      }
      #expect(next.count == threads)
      #expect(next.values.allSatisfy { $0 == perThread })
    }
  }

  @Test func aFullQueueDropsCountsAndThenSaysSoInTheLog() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let gated = GatedAuditSink(try AuditFileWriter(path: path))
      let sink = QueuedAuditSink(wrapping: gated, capacity: 10)
      let started = ContinuousClock.now
      for index in 1...100 { sink.record(sampleEvent(index)) }
      let elapsed = ContinuousClock.now - started
      #expect(elapsed < .milliseconds(500), "record waited for the disk: \(elapsed)")
      #expect(sink.droppedCount == 90)

      gated.release()
      await sink.flush()
      sink.record(sampleEvent(101))  // there is room again
      await sink.flush()
      #expect(sink.droppedCount == 90)

      let events = try AuditFileReader(path: path).allLines().compactMap { $0?.event }
      #expect(events.count == 12)
      #expect(events.prefix(10).map(\.rpcID) == (1...10).map { String($0) })
      let notice = events[10]
      #expect(notice.event == .recordsDropped)
      #expect(notice.outcome == .error)
      #expect(notice.profile == "dev")
      #expect(notice.detail == "90 audit records dropped: the audit queue was full")
      #expect(events[11].rpcID == "101")
      #expect(try AuditChainVerifier.verify(path: path).isIntact)
    }
  }

  @Test func dropsWithNoLaterEventAreNotedAtFlush() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let gated = GatedAuditSink(try AuditFileWriter(path: path))
      let sink = QueuedAuditSink(wrapping: gated, capacity: 2)
      for index in 1...5 { sink.record(sampleEvent(index)) }
      gated.release()
      await sink.flush()
      let events = try AuditFileReader(path: path).allLines().compactMap { $0?.event }
      #expect(events.map(\.event) == [.call, .call, .recordsDropped])
      #expect(events.last?.detail == "3 audit records dropped: the audit queue was full")
      #expect(try AuditChainVerifier.verify(path: path).isIntact)
    }
  }

  @Test func writeErrorsAreReportedOncePerMessageCountedAndNotedOnceWritingWorksAgain() async throws {
    let inner = InMemoryAuditSink()
    let reported = ReportedErrors()
    let sink = QueuedAuditSink(wrapping: inner, onError: { reported.add($0) })
    inner.failWith(AuditError(.internalError, "cannot write /x/dev.jsonl: No space left on device"))
    for index in 1...5 { sink.record(sampleEvent(index)) }
    await sink.flush()
    #expect(sink.failedCount == 5)
    #expect(reported.all.count == 1)
    #expect(reported.all.first?.contains("No space left on device") == true)

    inner.failWith(nil)
    sink.record(sampleEvent(6))
    await sink.flush()
    #expect(inner.events.map(\.event) == [.recordsDropped, .call])
    #expect(inner.events.first?.detail == "5 audit records dropped: writing them failed")
    #expect(inner.events.last?.rpcID == "6")
    #expect(sink.droppedCount == 0)
  }

  @Test func flushWaitsUntilEverythingRecordedBeforeItIsWritten() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let sink = QueuedAuditSink(wrapping: try AuditFileWriter(path: path, syncEachRecord: true))
      for index in 1...200 { sink.record(sampleEvent(index)) }
      sink.record(AuditEvent(event: .tunnelDown, profile: "dev", outcome: .ok))
      await sink.flush()
      let events = try AuditFileReader(path: path).allLines().compactMap { $0?.event }
      #expect(events.count == 201)
      #expect(events.last?.event == .tunnelDown)
      await sink.flush()  // an empty queue returns at once
    }
  }

  @Test func releasingTheSinkStillWritesWhatWasQueued() async throws {
    let inner = InMemoryAuditSink()
    do {
      let sink = QueuedAuditSink(wrapping: inner)
      for index in 1...50 { sink.record(sampleEvent(index)) }
    }
    #expect(try await waitUntil { inner.events.count == 50 })
  }

  @Test func noTokenReachesTheFileThroughTheQueue() async throws {
    try await withTemporaryDirectory { dir in
      let path = "\(dir)/dev.jsonl"
      let sink = QueuedAuditSink(wrapping: try AuditFileWriter(path: path))
      var event = sampleEvent()
      event.detail = "upstream said: Authorization: Bearer 9fQx2LmZp0Rt7uVwYk3s"
      sink.record(event)
      await sink.flush()
      #expect(!String(decoding: try fileBytes(path), as: UTF8.self).contains("9fQx2LmZp0Rt7uVwYk3s"))
    }
  }
}
