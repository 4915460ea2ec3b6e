/// Which stored login a refresh token belongs to (SPEC §6 attributes). Two issuers, clients or
/// profiles never share an entry.
public struct StoredLoginKey: Sendable, Hashable {
  public var profile: String
  public var issuer: String
  public var clientID: String

  public init(profile: String, issuer: String, clientID: String) {
    self.profile = profile
    self.issuer = issuer
    self.clientID = clientID
  }
}

/// A refresh token as found in the store, with the subject it was issued to.
public struct StoredLogin: Sendable, Hashable {
  public var subject: String
  public var refreshToken: RefreshToken

  public init(subject: String, refreshToken: RefreshToken) {
    self.subject = subject
    self.refreshToken = refreshToken
  }
}

/// Where the refresh token lives. The live adapter is the Secret Service keyring; there is no
/// file-backed implementation and never will be (SPEC §6: no plaintext fallback).
///
/// Contract: "not found" returns nil; "cannot tell" — no session bus, no Secret Service, locked
/// collection — throws an error with category `.keyringUnavailable`. A locked keyring must never
/// look like a logged-out user.
///
/// The methods are synchronous and the live store blocks in them (D-Bus round trips): async code
/// calls them through `runOffPool`.
public protocol SecretStore: Sendable {
  /// A human name for status output, e.g. "secret-service".
  var backendName: String { get }
  /// Fails with `.keyringUnavailable` when storing would fail; called before any login prompt so
  /// nobody authenticates only to lose the token.
  func checkAvailable() throws
  /// Replaces any entry for `key` (one login per profile, issuer and client).
  func store(_ login: StoredLogin, for key: StoredLoginKey) throws
  func load(_ key: StoredLoginKey) throws -> StoredLogin?
  /// Returns whether an entry existed. Errors thrown by these methods conform to `UserFacingError`.
  @discardableResult
  func delete(_ key: StoredLoginKey) throws -> Bool
}
