import Foundation
import Synchronization
import TunnelCore

/// The in-memory twin of `TenantTokenSource` (the live one is `TokenBroker`): a settable tenant,
/// token and generation, call counters, injectable failures and tenant switches.
///
/// `replaceRejected` hands out the next queued replacement (`queueReplacements`), else a derived
/// value `<token>.remint<N>`; it throws when the rejected token's generation is no longer current,
/// as the live broker does. Thread safety: state behind a `Mutex`; any thread may call.
public final class InMemoryTenantTokenSource: TenantTokenSource {
  private struct State {
    var current: TenantSessionToken
    var replacements: [String] = []
    var failure: (any UserFacingError & Sendable)?
    var replaceFailure: (any UserFacingError & Sendable)?
    var currentTokenCalls = 0
    var replaceRejectedCalls = 0
    var remints = 0
    var rejected: [TenantSessionToken] = []
    var delay: Duration?
  }

  private let state: Mutex<State>

  public init(
    tenant: TenantID, token: String, generation: UInt64 = 1, expiresAt: Date = Date().addingTimeInterval(900)
  ) {
    state = Mutex(
      State(
        current: TenantSessionToken(
          tenant: tenant, token: AccessToken(revealing: token), expiresAt: expiresAt, generation: generation)))
  }

  /// Convenience for tests: `tenant` must be a valid tenant name.
  public convenience init(tenant: String, token: String, generation: UInt64 = 1) {
    guard let id = TenantID(tenant) else { preconditionFailure("invalid tenant name \(tenant)") }
    self.init(tenant: id, token: token, generation: generation)
  }

  // MARK: TenantTokenSource

  public func currentToken() async throws -> TenantSessionToken {
    let (delay, failure, token) = state.withLock { s in
      s.currentTokenCalls += 1
      return (s.delay, s.failure, s.current)
    }
    if let delay { try await Task.sleep(for: delay) }
    if let failure { throw failure }
    return token
  }

  public func replaceRejected(_ rejected: TenantSessionToken) async throws -> TenantSessionToken {
    try state.withLock { s in
      s.replaceRejectedCalls += 1
      s.rejected.append(rejected)
      if let failure = s.replaceFailure ?? s.failure { throw failure }
      guard rejected.generation == s.current.generation, rejected.tenant == s.current.tenant else {
        throw CoreError(
          .accessDenied, "the tenant changed while a token for \(rejected.tenant) was being replaced",
          fix: "retry the request")
      }
      s.remints += 1
      let value =
        s.replacements.isEmpty
        ? "\(s.current.token.revealedForTransmission).remint\(s.remints)" : s.replacements.removeFirst()
      s.current.token = AccessToken(revealing: value)
      return s.current
    }
  }

  // MARK: test controls

  /// The token `currentToken()` hands out now.
  public var current: TenantSessionToken { state.withLock { $0.current } }
  public var currentTokenCalls: Int { state.withLock { $0.currentTokenCalls } }
  public var replaceRejectedCalls: Int { state.withLock { $0.replaceRejectedCalls } }
  /// The tokens passed to `replaceRejected`, in order.
  public var rejectedTokens: [TenantSessionToken] { state.withLock { $0.rejected } }

  /// Replaces the token of the current tenant and generation (a routine re-mint).
  public func setToken(_ value: String, expiresAt: Date? = nil) {
    state.withLock { s in
      s.current.token = AccessToken(revealing: value)
      if let expiresAt { s.current.expiresAt = expiresAt }
    }
  }

  /// Values handed out by the next `replaceRejected` calls, in order.
  public func queueReplacements(_ values: [String]) { state.withLock { $0.replacements += values } }

  /// Simulates `tenant use`: a new tenant and token under the next generation, which is returned.
  @discardableResult
  public func switchTenant(to tenant: TenantID, token: String) -> UInt64 {
    state.withLock { s in
      s.current = TenantSessionToken(
        tenant: tenant, token: AccessToken(revealing: token), expiresAt: s.current.expiresAt,
        generation: s.current.generation + 1)
      return s.current.generation
    }
  }

  /// While set, both calls throw `error` (e.g. `.loginRequired` with the fix `run: mcp-tunnel login`).
  public func fail(with error: (any UserFacingError & Sendable)?) { state.withLock { $0.failure = error } }

  /// While set, only `replaceRejected` throws `error`.
  public func failReplacement(with error: (any UserFacingError & Sendable)?) {
    state.withLock { $0.replaceFailure = error }
  }

  /// Makes every `currentToken()` wait `delay` first (nil: answer at once).
  public func delayCurrentToken(by delay: Duration?) { state.withLock { $0.delay = delay } }
}
