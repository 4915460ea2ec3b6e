import Foundation

/// A `TaskExecutor` whose jobs run on threads of its own, never on Swift's cooperative pool, and
/// which never runs out of threads: when a job arrives and no thread is idle, it starts another.
///
/// Why: the cooperative pool has one thread per core — two on CI. A test that blocks (a lab
/// helper's `waitpid` loop, a blocking socket read in a test server, `LabCommand.run`) on that pool
/// stalls every other async test in the process, and on two cores two such tests stall the whole
/// run. Tests that block run with this executor as their task's preferred executor (the `.offPool`
/// trait), so their nonisolated code — the test body and its child tasks — runs here, and a
/// blocked thread only blocks itself. Actor-isolated code and unstructured `Task {}`s still run
/// where they always do; those must not block.
///
/// Threads are kept once started (a run needs as many as its peak of blocked jobs, a few dozen).
public final class OffPoolExecutor: TaskExecutor, @unchecked Sendable {
  // @unchecked: `jobs` and `idle` are only touched with `condition` locked.
  public static let shared = OffPoolExecutor(name: "mcp-tunnel-test")

  private let name: String
  private let condition = NSCondition()
  private var jobs: [UnownedJob] = []
  private var head = 0
  private var idle = 0
  private var started = 0

  init(name: String) { self.name = name }

  /// Whether the calling thread is one of this executor's: each of its threads carries the
  /// executor's identity in a thread-specific slot.
  public var isCurrent: Bool {
    pthread_getspecific(Self.threadOwner) == Unmanaged.passUnretained(self).toOpaque()
  }

  private static let threadOwner: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  public func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    condition.lock()
    jobs.append(job)
    // Each idle thread takes one job; any job beyond them gets a new thread, so a job never waits
    // behind a thread that is blocked.
    let spawn = jobs.count - head > idle
    if spawn { started += 1 } else { condition.signal() }
    let number = started
    condition.unlock()
    if spawn {
      let thread = Thread { [self] in work() }
      thread.name = "\(name)-\(number)"
      thread.stackSize = 8 << 20
      thread.start()
    }
  }

  private func work() {
    pthread_setspecific(Self.threadOwner, Unmanaged.passUnretained(self).toOpaque())
    let executor = asUnownedTaskExecutor()
    while true {
      condition.lock()
      while head == jobs.count {
        idle += 1
        condition.wait()  // off-pool: the executor's own threads, idle
        idle -= 1
      }
      let job = jobs[head]
      head += 1
      if head == jobs.count {
        jobs.removeAll(keepingCapacity: true)
        head = 0
      }
      condition.unlock()
      job.runSynchronously(on: executor)
    }
  }
}
