import Testing

extension Tag {
  /// The lab tier: the test starts a lab peer (sshd, glewlwyd, gnome-keyring, the MCP server, the
  /// token-exchange fixture, any child process of `LabSupport`) or runs the built binary.
  /// `make test-unit` skips these suites (`scripts/test-tiers.sh`), `make test` runs them after the
  /// unit tier, and `LabSupport` refuses to start a process for a test without this tag.
  @Tag public static var lab: Self
}

/// Runs each test of a suite with `OffPoolExecutor.shared` as its task's preferred executor, so a
/// test body that blocks (lab helpers, blocking test servers and clients) blocks a thread of its
/// own instead of one of the cooperative pool's two. Also for a body that computes for seconds
/// without a suspension point (the seeded property tests): on the pool it would hold one of the
/// two threads for all that time, and two of them at once stall every other test — a reply
/// served from the pool then misses a deadline kept off it (a NIO timer). Off the pool it shares
/// the CPU with the pool's threads by the kernel's time slices.
public struct OffPoolTrait: SuiteTrait, TestTrait, TestScoping {
  public var isRecursive: Bool { true }

  public func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    try await withTaskExecutorPreference(OffPoolExecutor.shared) { try await function() }
  }
}

extension Trait where Self == OffPoolTrait {
  /// See `OffPoolTrait`.
  public static var offPool: Self { Self() }
}

/// Lets one suite at a time run among all the suites that carry it — for the heaviest lab suites
/// (the built binary against the whole lab), which only add load and timing noise to each other
/// when run at once; other suites run beside them. Waiting for the turn suspends (an async lock),
/// it blocks no thread.
///
/// Not recursive, so Swift Testing scopes the suite once, around all of its tests, and the wait
/// happens before any of them starts: a test's `timeLimit` covers the test case alone, so time
/// spent in the queue never counts against it.
public struct WholeLabTrait: SuiteTrait, TestScoping {
  public var isRecursive: Bool { false }

  public func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    await WholeLabTurn.shared.acquire()
    do {
      try await function()
    } catch {
      await WholeLabTurn.shared.release()
      throw error
    }
    await WholeLabTurn.shared.release()
  }
}

extension Trait where Self == WholeLabTrait {
  /// See `WholeLabTrait`.
  public static var wholeLab: Self { Self() }
}

/// A first-come, first-served async lock.
actor WholeLabTurn {
  static let shared = WholeLabTurn()
  private var held = false
  private var waiting: [CheckedContinuation<Void, Never>] = []

  func acquire() async {
    if !held {
      held = true
      return
    }
    await withCheckedContinuation { waiting.append($0) }
  }

  func release() {
    if waiting.isEmpty {
      held = false
    } else {
      waiting.removeFirst().resume()
    }
  }
}
