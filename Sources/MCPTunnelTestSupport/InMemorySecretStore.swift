import Synchronization
import TunnelCore

/// In-memory twin of `SecretStore`. `unavailable` simulates a missing or locked keyring.
public final class InMemorySecretStore: SecretStore {
  private let entries = Mutex<[StoredLoginKey: StoredLogin]>([:])
  private let failure = Mutex<CoreError?>(nil)

  public init() {}

  public var backendName: String { "memory" }

  /// While set, every call throws this error (e.g. a locked keyring).
  public func makeUnavailable(_ error: CoreError?) { failure.withLock { $0 = error } }

  private func check() throws {
    if let error = failure.withLock({ $0 }) { throw error }
  }

  public func checkAvailable() throws { try check() }

  public func store(_ login: StoredLogin, for key: StoredLoginKey) throws {
    try check()
    entries.withLock { $0[key] = login }
  }

  public func load(_ key: StoredLoginKey) throws -> StoredLogin? {
    try check()
    return entries.withLock { $0[key] }
  }

  public func delete(_ key: StoredLoginKey) throws -> Bool {
    try check()
    return entries.withLock { $0.removeValue(forKey: key) != nil }
  }
}
