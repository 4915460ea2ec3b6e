import Foundation
import Synchronization
import TunnelCore

/// An `AuditSink` whose `record` never waits for the disk: events go into a bounded queue and one
/// writer thread hands them, in order, to the wrapped sink (the live one is `AuditFileWriter`).
///
/// Guarantees:
/// * `record` takes a lock for a few instructions and returns; it never does I/O and never throws.
/// * Order: events reach the wrapped sink in the order `record` calls returned (one queue, one
///   writer), so each caller's events keep their order.
/// * Bounded: at most `capacity` events are accepted and not yet written. When the queue is full
///   the event is dropped and counted (`droppedCount`) — never silently: before the next event
///   that is written (or at `flush`, or when the sink is released), the writer records one
///   `records_dropped` event per profile, outcome `error`, detail
///   `"N audit records dropped: the audit queue was full"`, exactly where the gap is.
/// * Write errors of the wrapped sink are counted (`failedCount`), reported through `onError`
///   once per distinct message (the first 64 messages; a failing disk repeats itself), and
///   noted in the log the same way once writing works again
///   (`"N audit records dropped: writing them failed"`).
/// * `flush()` returns once every event recorded before it is written (or failed), so a
///   `tunnel_down` record is on disk before the process exits.
///
/// Why a dedicated `Thread` rather than a task: the wrapped sink blocks — on `write`/`fsync` of a
/// slow or network disk, and on the `flock` another mcp-tunnel process holds. A task doing that
/// would occupy a thread of Swift's cooperative pool (two on a two-core machine) for the whole
/// wait and stall every other task, the proxy's included. One thread, mostly asleep on a
/// condition variable, costs nothing and keeps the order trivially.
///
/// Threading: `record`, `flush`, the counters and `deinit` are safe from any thread. Releasing the
/// sink lets the writer finish what is queued and end; call `flush()` first to know when.
public final class QueuedAuditSink: AuditSink {
  /// The most events accepted and not yet written.
  public let capacity: Int
  private let queue: AuditRecordQueue

  /// Starts the writer thread.
  ///
  /// - Parameters:
  ///   - sink: where events are written, on the writer thread only.
  ///   - capacity: the queue bound (at least 1).
  ///   - onError: called on the writer thread when the wrapped sink throws, once per distinct
  ///     message; must not block for long (the queue fills meanwhile).
  public init(
    wrapping sink: any AuditSink, capacity: Int = 4096,
    onError: @escaping @Sendable (any Error) -> Void = { _ in }
  ) {
    self.capacity = max(1, capacity)
    queue = AuditRecordQueue(capacity: self.capacity)
    let writer = AuditQueueWriter(queue: queue, sink: sink, onError: onError)
    let thread = Thread { writer.run() }
    thread.name = "mcp-tunnel audit writer"
    thread.start()
  }

  deinit { queue.stop() }

  /// Queues `event` for writing, or drops and counts it when the queue is full. Never blocks on
  /// I/O and never throws.
  public func record(_ event: AuditEvent) {
    queue.enqueue(event)
  }

  /// Waits until every event recorded before this call has been handed to the wrapped sink,
  /// including the `records_dropped` notice for drops so far. It waits as long as the sink does:
  /// a caller that must exit even when the disk hangs races it against a timeout.
  public func flush() async {
    await withCheckedContinuation { queue.enqueueFlush($0) }
  }

  /// Events dropped because the queue was full, since the start.
  public var droppedCount: Int { queue.dropped.load(ordering: .relaxed) }

  /// Events the wrapped sink failed to write, since the start (failed `records_dropped` notices
  /// are retried, not counted).
  public var failedCount: Int { queue.failed.load(ordering: .relaxed) }
}

/// Events lost for one profile, waiting to be noted in the log.
struct DroppedRecords: Sendable, Equatable {
  enum Reason: Sendable { case queueFull, writeFailed }

  var profile: String
  var count: Int
  var reason: Reason

  var notice: AuditEvent {
    let why =
      switch reason {
      case .queueFull: "the audit queue was full"
      case .writeFailed: "writing them failed"
      }
    return AuditEvent(
      event: .recordsDropped, profile: profile, outcome: .error, detail: "\(count) audit records dropped: \(why)")
  }

  /// Adds `count` lost records of `profile` for `reason` to `list`, one entry per profile and reason.
  static func add(_ profile: String, _ count: Int, _ reason: Reason, to list: inout [DroppedRecords]) {
    if let index = list.firstIndex(where: { $0.profile == profile && $0.reason == reason }) {
      list[index].count += count
    } else {
      list.append(DroppedRecords(profile: profile, count: count, reason: reason))
    }
  }
}

/// The queue between callers and the writer thread.
///
/// `@unchecked Sendable`: every mutable property is read and written only while `condition` is
/// locked (an `NSCondition` rather than a `Mutex`, because the writer must sleep until there is
/// work). The counters are atomics.
final class AuditRecordQueue: @unchecked Sendable {
  enum Item {
    /// `droppedBefore`: events dropped between the previous accepted item and this one.
    case event(AuditEvent, droppedBefore: [DroppedRecords])
    case flush(CheckedContinuation<Void, Never>, droppedBefore: [DroppedRecords])
  }

  let capacity: Int
  let dropped = Atomic<Int>(0)
  let failed = Atomic<Int>(0)
  private let condition = NSCondition()
  private var items: [Item] = []
  private var unwritten = 0
  private var droppedSinceLastItem: [DroppedRecords] = []
  private var stopping = false

  init(capacity: Int) { self.capacity = capacity }

  func enqueue(_ event: AuditEvent) {
    condition.lock()
    defer { condition.unlock() }
    guard unwritten < capacity, !stopping else {
      DroppedRecords.add(event.profile, 1, .queueFull, to: &droppedSinceLastItem)
      dropped.add(1, ordering: .relaxed)
      return
    }
    items.append(.event(event, droppedBefore: droppedSinceLastItem))
    droppedSinceLastItem.removeAll()
    unwritten += 1
    condition.signal()
  }

  /// Flush markers do not count against the capacity: a flush is never dropped.
  func enqueueFlush(_ continuation: CheckedContinuation<Void, Never>) {
    condition.lock()
    defer { condition.unlock() }
    items.append(.flush(continuation, droppedBefore: droppedSinceLastItem))
    droppedSinceLastItem.removeAll()
    condition.signal()
  }

  /// Everything queued, oldest first; waits while there is nothing. nil once stopped and empty.
  func nextBatch() -> [Item]? {
    condition.lock()
    defer { condition.unlock() }
    // off-pool: only the audit writer thread waits here
    while items.isEmpty, !stopping { condition.wait() }
    guard !items.isEmpty else { return nil }
    defer { items.removeAll(keepingCapacity: true) }
    return items
  }

  /// One event of a batch was handed to the sink: its place in the queue is free again.
  func markWritten() {
    condition.lock()
    unwritten -= 1
    condition.unlock()
  }

  /// Drops counted after the last queued item; taken by the writer when it stops.
  func takeRemainingDrops() -> [DroppedRecords] {
    condition.lock()
    defer { condition.unlock() }
    defer { droppedSinceLastItem.removeAll() }
    return droppedSinceLastItem
  }

  func stop() {
    condition.lock()
    stopping = true
    condition.broadcast()
    condition.unlock()
  }
}

/// The writer thread's side: owns the wrapped sink and the notices not yet written.
///
/// `@unchecked Sendable`: handed to the writer thread at start and used only there afterwards.
final class AuditQueueWriter: @unchecked Sendable {
  private let queue: AuditRecordQueue
  private let sink: any AuditSink
  private let onError: @Sendable (any Error) -> Void
  private var unwrittenNotices: [DroppedRecords] = []
  private var reportedMessages: Set<String> = []

  init(queue: AuditRecordQueue, sink: any AuditSink, onError: @escaping @Sendable (any Error) -> Void) {
    self.queue = queue
    self.sink = sink
    self.onError = onError
  }

  func run() {
    while let batch = queue.nextBatch() {
      for item in batch {
        switch item {
        case .event(let event, let droppedBefore):
          note(droppedBefore)
          if !write(event) {
            queue.failed.add(1, ordering: .relaxed)
            DroppedRecords.add(event.profile, 1, .writeFailed, to: &unwrittenNotices)
          }
          queue.markWritten()
        case .flush(let continuation, let droppedBefore):
          note(droppedBefore)
          continuation.resume()
        }
      }
    }
    note(queue.takeRemainingDrops())
  }

  /// Writes the notices for `dropped` and any earlier ones not written yet; those that fail stay
  /// for the next attempt.
  private func note(_ dropped: [DroppedRecords]) {
    for entry in dropped { DroppedRecords.add(entry.profile, entry.count, entry.reason, to: &unwrittenNotices) }
    unwrittenNotices.removeAll { write($0.notice) }
  }

  /// Hands `event` to the sink; false (reported) when it throws.
  private func write(_ event: AuditEvent) -> Bool {
    do {
      try sink.record(event)
      return true
    } catch {
      let message = (error as? any UserFacingError)?.summary ?? String(describing: error)
      if reportedMessages.count < 64, reportedMessages.insert(message).inserted { onError(error) }
      return false
    }
  }
}
