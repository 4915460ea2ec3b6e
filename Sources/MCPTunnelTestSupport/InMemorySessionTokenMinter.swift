import Foundation
import Synchronization
import TunnelCore

/// In-memory twin of `SessionTokenMinter` (the live one is `TokenExchangeClient`): mints
/// `mcp-<tenant>-<n>` tokens with a settable `expires_in`, records every request, and can be told
/// to refuse the subject token, refuse tenants, fail as if unreachable, be slow, or hold a
/// tenant's exchanges until the test releases them (so a test orders a race by events).
public final class InMemorySessionTokenMinter: SessionTokenMinter {
  public struct Exchange: Sendable, Equatable {
    public var request: SessionTokenRequest
    /// The subject token's value (test-only view of the secret).
    public var subjectToken: String
  }

  private struct State {
    var serial = 0
    var expiresIn: Duration? = .seconds(300)
    var exchanges: [Exchange] = []
    var subjectRejections = 0
    var refusedTenants: Set<TenantID> = []
    var unreachable = false
    var delay: Duration = .zero
    var held: Set<TenantID> = []
    /// Exchanges waiting for `release` of their tenant.
    var parked: [(tenant: TenantID, resume: CheckedContinuation<Void, Never>)] = []
    /// Tests waiting in `heldExchangeStarted(for:)`.
    var watchers: [(tenant: TenantID, resume: CheckedContinuation<Void, Never>)] = []
  }

  private let state = Mutex(State())
  private let now: @Sendable () -> Date

  /// `now` stamps `receivedAt` (a test clock keeps the broker's view of expiry consistent).
  public init(expiresIn: Duration? = .seconds(300), now: @escaping @Sendable () -> Date = { Date() }) {
    self.now = now
    state.withLock { $0.expiresIn = expiresIn }
  }

  public var exchanges: [Exchange] { state.withLock { $0.exchanges } }
  public var count: Int { state.withLock { $0.exchanges.count } }

  public func setExpiresIn(_ value: Duration?) { state.withLock { $0.expiresIn = value } }
  /// The next `count` exchanges answer `invalid_request` (subject token refused).
  public func rejectSubject(times count: Int) { state.withLock { $0.subjectRejections = count } }
  public func refuse(_ tenant: TenantID) { state.withLock { _ = $0.refusedTenants.insert(tenant) } }
  public func setUnreachable(_ value: Bool) { state.withLock { $0.unreachable = value } }
  public func setDelay(_ value: Duration) { state.withLock { $0.delay = value } }

  /// From now on, exchanges for `tenant` wait when they start, until `release(tenant)`.
  public func hold(_ tenant: TenantID) { state.withLock { _ = $0.held.insert(tenant) } }

  /// Lets the waiting exchanges for `tenant` and later ones go on.
  public func release(_ tenant: TenantID) {
    let waiting = state.withLock { s in
      s.held.remove(tenant)
      let waiting = s.parked.filter { $0.tenant == tenant }.map(\.resume)
      s.parked.removeAll { $0.tenant == tenant }
      return waiting
    }
    for resume in waiting { resume.resume() }
  }

  /// Returns once an exchange for `tenant` waits in `hold` (at once if one already does).
  public func heldExchangeStarted(for tenant: TenantID) async {
    await withCheckedContinuation { resume in
      let parked = state.withLock { s in
        if s.parked.contains(where: { $0.tenant == tenant }) { return true }
        s.watchers.append((tenant, resume))
        return false
      }
      if parked { resume.resume() }
    }
  }

  public func exchange(_ request: SessionTokenRequest, subjectToken: AccessToken) async throws -> TokenExchangeOutcome {
    await withCheckedContinuation { resume in
      let watchers = state.withLock { s -> [CheckedContinuation<Void, Never>]? in
        guard s.held.contains(request.tenant) else { return nil }
        s.parked.append((request.tenant, resume))
        let watchers = s.watchers.filter { $0.tenant == request.tenant }.map(\.resume)
        s.watchers.removeAll { $0.tenant == request.tenant }
        return watchers
      }
      guard let watchers else { return resume.resume() }
      for watcher in watchers { watcher.resume() }
    }
    let delay = state.withLock { $0.delay }
    if delay > .zero { try await Task.sleep(for: delay) }
    let receivedAt = now()
    return try state.withLock { s in
      s.exchanges.append(Exchange(request: request, subjectToken: subjectToken.revealedForTransmission))
      if s.unreachable {
        throw CoreError(.identityProvider, "cannot reach the token exchange endpoint", fix: "try again later")
      }
      if s.subjectRejections > 0 {
        s.subjectRejections -= 1
        return .subjectTokenRejected(reason: "invalid_request")
      }
      if s.refusedTenants.contains(request.tenant) {
        throw CoreError(.accessDenied, "token exchange for tenant \(request.tenant): invalid_target")
      }
      s.serial += 1
      return .minted(
        MintedSessionToken(
          token: AccessToken(revealing: "mcp-\(request.tenant)-\(s.serial)"), expiresIn: s.expiresIn,
          receivedAt: receivedAt))
    }
  }
}
