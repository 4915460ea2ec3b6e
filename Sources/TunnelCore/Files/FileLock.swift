import Foundation
import Glibc

/// `flock(2)`, the one implementation: the refresh lock (`CrossProcessLock`, SPEC §6), the lock
/// that serializes `up`s claiming a control socket, and the audit log's writer lock.
///
/// `flock` locks belong to the open file description, so two descriptors opened separately in one
/// process exclude each other exactly like two processes do, and closing the descriptor releases
/// the lock (a crashed process never leaves one held).
public struct FileLock: CrossProcessLock {
  public let path: String

  public init(path: String) { self.path = path }

  /// The refresh lock of `profile`, in the private runtime directory. Without `$XDG_RUNTIME_DIR`
  /// (a bare `su`, some containers) that is `/tmp/mcp-tunnel-<uid>`, which must be ours.
  public static func refreshLock(profile: String, paths: XDGPaths) throws(CoreError) -> FileLock {
    try PrivateDirectory.ensure(paths.runtimeDirectory)
    return FileLock(path: paths.refreshLock(profile: profile))
  }

  /// Opens the lock file (it holds nothing; it only names the lock) for this acquisition, waits
  /// for the lock by polling (`lockExclusive(_:pollEvery:giveUpAfter:)`), and runs `body`.
  public func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
    let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard descriptor >= 0 else {
      throw CoreError(
        .internalError, "cannot open the refresh lock \(path): \(Failure(code: errno).text)",
        fix: "check that the directory is yours and writable")
    }
    defer { close(descriptor) }
    do {
      _ = try await Self.lockExclusive(descriptor, pollEvery: .milliseconds(25), giveUpAfter: nil)
    } catch let failure as Failure {
      throw CoreError(.internalError, "cannot lock \(path): \(failure.text)")
    }
    defer { Self.unlock(descriptor) }
    return try await body()
  }

  /// A failed `flock`: its `errno`.
  public struct Failure: Error, Equatable {
    public let code: Int32
    public init(code: Int32) { self.code = code }
    public var text: String { String(cString: strerror(code)) }
  }

  /// Takes the exclusive lock on `descriptor` without waiting: true when taken, false when another
  /// open file description holds it.
  public static func tryLockExclusive(_ descriptor: Int32) throws(Failure) -> Bool {
    while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
      switch errno {
      case EINTR: continue
      case EWOULDBLOCK: return false
      case let code: throw Failure(code: code)
      }
    }
    return true
  }

  /// Waits for the exclusive lock on `descriptor` by trying every `interval` — there is no
  /// readiness notification for `flock` — so no cooperative-pool thread is ever parked. Returns
  /// false when `limit` passed first (nil: wait as long as it takes); throws `Failure` for an
  /// `flock` error and `CancellationError` when the task is cancelled.
  public static func lockExclusive(
    _ descriptor: Int32, pollEvery interval: Duration, giveUpAfter limit: Duration?
  ) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = limit.map { clock.now.advanced(by: $0) }
    while try !tryLockExclusive(descriptor) {
      if let deadline, clock.now >= deadline { return false }
      try await Task.sleep(for: interval)
    }
    return true
  }

  /// Waits for the exclusive lock on `descriptor` in the kernel. It blocks its thread: only for
  /// callers already off the cooperative pool (a dedicated thread, `runOffPool`).
  public static func lockExclusiveBlocking(_ descriptor: Int32) throws(Failure) {
    // off-pool: documented precondition; the audit writer calls it on its own thread or in runOffPool
    while flock(descriptor, LOCK_EX) != 0 {
      guard errno == EINTR else { throw Failure(code: errno) }
    }
  }

  /// Drops the lock on `descriptor` (closing it does too).
  public static func unlock(_ descriptor: Int32) {
    _ = flock(descriptor, LOCK_UN)
  }
}
