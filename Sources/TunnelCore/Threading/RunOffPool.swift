import Foundation

/// Runs `body` on a thread of its own and hands its result, or its error unchanged, back to the
/// awaiting task.
///
/// For calls that block their thread: a D-Bus round trip (libsecret's sync API), an `flock` that
/// waits for another process, a socket or child-process wait. Swift's cooperative pool has one
/// thread per core (two on CI); a task blocked in such a call holds one of them for the whole
/// wait and stalls every other task of the process, the proxy's included. A fresh `Thread` costs
/// far less than the calls this is for; quick non-blocking work stays where it is.
///
/// Cancelling the awaiting task does not interrupt `body`; the task resumes when `body` returns.
@discardableResult
public func runOffPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    let thread = Thread { continuation.resume(with: Result { try body() }) }
    thread.name = "mcp-tunnel off-pool"
    thread.start()
  }
}
