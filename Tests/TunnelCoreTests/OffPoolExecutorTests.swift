import Foundation
import Synchronization
import TestTiers
import Testing

/// The test-side executor behind `.offPool` (Tests/TestTiers): bodies and their child tasks run on
/// its threads, and it grows rather than letting a blocked thread hold up another job.
@Suite("OffPoolExecutor: tests that block run on threads of their own", .offPool, .timeLimit(.minutes(5)))
struct OffPoolExecutorTests {
  @Test("a test body and its child tasks run on the executor's threads, not the cooperative pool")
  func bodiesRunOffThePool() async {
    #expect(OffPoolExecutor.shared.isCurrent, "the body ran on another thread")
    let children = await withTaskGroup(of: Bool.self) { group in
      for _ in 0..<4 { group.addTask { OffPoolExecutor.shared.isCurrent } }
      return await group.reduce(into: [Bool]()) { $0.append($1) }
    }
    #expect(children == [true, true, true, true])
  }

  @Test("a synchronous test body runs there too (most lab tests are synchronous and block)")
  func synchronousBodiesRunOffThePool() {
    #expect(OffPoolExecutor.shared.isCurrent)
  }

  @Test("16 child tasks that each block until all 16 have started all finish (a fixed pool would deadlock)")
  func blockedJobsDoNotStarveTheOthers() async {
    let started = Arrivals()
    let condition = NSCondition()
    let parties = 16
    let finished = await withTaskGroup(of: Bool.self) { group in
      for _ in 0..<parties {
        group.addTask { Self.arriveAndWait(started: started, condition: condition, parties: parties) }
      }
      return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
    }
    #expect(finished == parties)
  }

  /// Counts this party in and blocks its thread until every party has arrived.
  static func arriveAndWait(started: Arrivals, condition: NSCondition, parties: Int) -> Bool {
    started.count.withLock { $0 += 1 }
    condition.lock()
    defer { condition.unlock() }
    condition.broadcast()
    // The deadline only turns a starved executor into a failure instead of a hang.
    let deadline = Date().addingTimeInterval(120)
    // off-pool: the suite runs on OffPoolExecutor (.offPool)
    while started.count.withLock({ $0 }) < parties, Date() < deadline { _ = condition.wait(until: deadline) }
    return started.count.withLock { $0 } == parties
  }
}

final class Arrivals: Sendable {
  let count = Mutex(0)
}
