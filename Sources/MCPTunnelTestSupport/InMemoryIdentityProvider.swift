import Foundation
import Synchronization
import TunnelCore

/// In-memory twin of `IdentityProvider` with one-use refresh tokens, like an IdP that rotates on
/// every refresh and treats reuse as theft: a refresh token works once; presenting it again is
/// refused with `.loginRequired` and kills the chain. Counts every call.
public final class InMemoryIdentityProvider: IdentityProvider {
  public struct Counters: Sendable, Equatable {
    public var refreshes = 0
    public var revocations = 0
    public var deviceLogins = 0
    public var browserLogins = 0
  }

  /// One interactive login as the twin saw it.
  public struct InteractiveLogin: Sendable, Equatable {
    public var flow: String
    public var options: InteractiveLoginOptions
  }

  private struct State {
    var valid: Set<String> = []
    var serial = 0
    var counters = Counters()
    var refreshDelay: Duration = .zero
    var revocationOutcome: RevocationOutcome = .revoked
    var revoked: [String] = []
    var bearerForRevocation = false
    var killChainOnReuse = true
    var refreshResources: [String?] = []
    var refreshFailure: (any UserFacingError & Sendable)?
    var logins: [InteractiveLogin] = []
    /// The `scope` the next interactive logins report; nil: every requested scope (or none).
    var grantedScope: String?
  }

  public let issuer: String
  public let subject: String
  private let state = Mutex(State())

  public init(issuer: String = "https://idp.example.test", subject: String = "dev1") {
    self.issuer = issuer
    self.subject = subject
  }

  public var counters: Counters { state.withLock { $0.counters } }
  /// The `resource` of every refresh, in order.
  public var refreshResources: [String?] { state.withLock { $0.refreshResources } }
  /// Every refresh fails with `error` (an unreachable IdP); nil heals it.
  public func setRefreshFailure(_ error: (any UserFacingError & Sendable)?) {
    state.withLock { $0.refreshFailure = error }
  }
  /// Revoked refresh tokens, in order (test-only view of the secrets).
  public var revokedTokens: [String] { state.withLock { $0.revoked } }

  /// Issues a refresh token as a login would, without any flow.
  public func issueRefreshToken() -> RefreshToken {
    state.withLock { s in
      s.serial += 1
      let token = "rt-\(s.serial)"
      s.valid.insert(token)
      return RefreshToken(revealing: token)
    }
  }

  /// false: a replayed token is refused but other tokens stay valid (an IdP without reuse detection).
  public func setKillChainOnReuse(_ value: Bool) { state.withLock { $0.killChainOnReuse = value } }
  public func setRefreshDelay(_ delay: Duration) { state.withLock { $0.refreshDelay = delay } }
  public func setRevocationOutcome(_ outcome: RevocationOutcome) { state.withLock { $0.revocationOutcome = outcome } }
  public func setRevocationNeedsAccessToken(_ value: Bool) { state.withLock { $0.bearerForRevocation = value } }

  public func checkDiscovery() async throws {}

  /// Every interactive login, in order, with what it asked for.
  public var logins: [InteractiveLogin] { state.withLock { $0.logins } }
  /// The granted `scope` the next interactive logins report (an IdP that drops a scope silently,
  /// as glewlwyd's device flow does); nil reports every requested scope.
  public func setGrantedScope(_ scope: String?) { state.withLock { $0.grantedScope = scope } }

  public func loginWithDevice(
    _ options: InteractiveLoginOptions, present: @escaping @Sendable (DeviceAuthorizationPrompt) -> Void
  ) async throws
    -> IdentityTokens
  {
    state.withLock {
      $0.counters.deviceLogins += 1
      $0.logins.append(InteractiveLogin(flow: "device", options: options))
    }
    present(
      DeviceAuthorizationPrompt(
        verificationURI: URL(string: "\(issuer)/device")!, verificationURIComplete: nil, userCode: "ABCD-EFGH",
        expiresIn: .seconds(600)))
    return interactiveTokens(options)
  }

  public func loginWithBrowser(
    _ options: InteractiveLoginOptions, present: @escaping @Sendable (URL) async -> Void
  ) async throws -> IdentityTokens {
    state.withLock {
      $0.counters.browserLogins += 1
      $0.logins.append(InteractiveLogin(flow: "browser", options: options))
    }
    await present(URL(string: "\(issuer)/authorize?client_id=test")!)
    return interactiveTokens(options)
  }

  private func interactiveTokens(_ options: InteractiveLoginOptions) -> IdentityTokens {
    var result = tokens(refresh: issueRefreshToken())
    result.scope = state.withLock { $0.grantedScope } ?? options.scopes?.joined(separator: " ")
    return result
  }

  public func refresh(_ refreshToken: RefreshToken, resource: String?) async throws -> IdentityTokens {
    let delay = state.withLock { $0.refreshDelay }
    if delay > .zero { try await Task.sleep(for: delay) }
    let accepted = try state.withLock { s -> Bool in
      s.counters.refreshes += 1
      s.refreshResources.append(resource)
      if let failure = s.refreshFailure { throw failure }
      guard s.valid.contains(refreshToken.revealedForTransmission) else {
        if s.killChainOnReuse { s.valid.removeAll() }  // reuse detection: the whole grant dies
        return false
      }
      s.valid.remove(refreshToken.revealedForTransmission)
      return true
    }
    guard accepted else {
      throw CoreError(.loginRequired, "refresh token request: invalid_grant", fix: "run: mcp-tunnel login")
    }
    return tokens(refresh: issueRefreshToken())
  }

  public func revoke(_ refreshToken: RefreshToken, accessToken: AccessToken?) async -> RevocationOutcome {
    state.withLock { s in
      s.counters.revocations += 1
      s.revoked.append(refreshToken.revealedForTransmission)
      if case .revoked = s.revocationOutcome { s.valid.remove(refreshToken.revealedForTransmission) }
      return s.revocationOutcome
    }
  }

  public func revocationNeedsAccessToken() async -> Bool { state.withLock { $0.bearerForRevocation } }

  private func tokens(refresh: RefreshToken) -> IdentityTokens {
    let serial = state.withLock { $0.serial }
    return IdentityTokens(
      accessToken: AccessToken(revealing: "at-\(serial)"), refreshToken: refresh, expiresIn: .seconds(300),
      receivedAt: Date(), subject: subject)
  }
}

/// In-memory twin of `CrossProcessLock`: an async mutex within the process, counting acquisitions.
public final class InMemoryCrossProcessLock: CrossProcessLock {
  private let state = Mutex<(held: Bool, acquisitions: Int)>((false, 0))

  public init() {}

  public var acquisitions: Int { state.withLock { $0.acquisitions } }

  public func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
    while !state.withLock({ s -> Bool in
      guard !s.held else { return false }
      s.held = true
      s.acquisitions += 1
      return true
    }) {
      try await Task.sleep(for: .milliseconds(1))
    }
    defer { state.withLock { $0.held = false } }
    return try await body()
  }
}
