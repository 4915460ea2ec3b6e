/// Mutual exclusion between processes of the same user, for refresh-token rotation (RT-04): two
/// processes refreshing with the same one-use token would make the IdP revoke the whole grant.
/// The live version is `FileLock` (flock on `$XDG_RUNTIME_DIR/mcp-tunnel/<profile>.lock`); tests of
/// in-process logic use `InMemoryCrossProcessLock`.
public protocol CrossProcessLock: Sendable {
  /// Runs `body` while holding the lock; waits (without blocking the cooperative pool) for it.
  func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T
}
