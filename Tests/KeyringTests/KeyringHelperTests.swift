import Foundation
import Synchronization
import Testing
import TunnelCore

@testable import Keyring

/// The keyring helper's protocol (`KeyringHelper`): what the child answers for each request, on a
/// store twin. The child process itself (`HelperProcessKeyring`, the built binary's
/// `--internal-keyring-helper`) is exercised by the lab tier against gnome-keyring: every login,
/// `up`, logout and keyring fault test goes through it.
@Suite("keyring helper protocol")
struct KeyringHelperTests {
  /// A `SecretStore` twin: entries in a dictionary, or one error for every call.
  final class Twin: SecretStore {
    let entries = Mutex<[StoredLoginKey: StoredLogin]>([:])
    let failure: KeyringError?
    init(failure: KeyringError? = nil) { self.failure = failure }
    var backendName: String { "twin" }
    func checkAvailable() throws { if let failure { throw failure } }
    func store(_ login: StoredLogin, for key: StoredLoginKey) throws {
      try checkAvailable()
      entries.withLock { $0[key] = login }
    }
    func load(_ key: StoredLoginKey) throws -> StoredLogin? {
      try checkAvailable()
      return entries.withLock { $0[key] }
    }
    func delete(_ key: StoredLoginKey) throws -> Bool {
      try checkAvailable()
      return entries.withLock { $0.removeValue(forKey: key) } != nil
    }
  }

  let key = StoredLoginKey(profile: "lab", issuer: "https://idp.example/api/oidc", clientID: "mcp-tunnel")

  private func ask(_ request: KeyringHelper.Request, _ store: any SecretStore) throws -> KeyringHelper.Response {
    let body = try KeyringHelper.encoder.encode(request)
    return try KeyringHelper.decoder.decode(
      KeyringHelper.Response.self, from: KeyringHelper.answer(body, using: store))
  }

  @Test("store, load, delete and check through the protocol do what the store does")
  func roundTrip() throws {
    let twin = Twin()
    let login = StoredLogin(subject: "alice", refreshToken: RefreshToken(revealing: "rt-1"))
    #expect(try ask(.init(operation: .load, key: key), twin) == KeyringHelper.Response())
    #expect(try ask(.init(operation: .store, key: key, login: login), twin).error == nil)
    #expect(twin.entries.withLock { $0[key] } == login)
    let loaded = try ask(.init(operation: .load, key: key), twin)
    #expect(loaded.login?.value == login)
    #expect(try ask(.init(operation: .check), twin) == KeyringHelper.Response())
    #expect(try ask(.init(operation: .delete, key: key), twin).existed == true)
    #expect(try ask(.init(operation: .delete, key: key), twin).existed == false)
  }

  @Test(
    "a keyring error comes back whole: kind, category, message, fix, GError domain and code",
    arguments: [
      KeyringError.locked(), KeyringError.noDefaultCollection(), KeyringError.noSessionBus("nothing listens"),
      KeyringError(.keyringUnavailable, "odd", fix: "do x", domain: "secret-error", code: 7, kind: .unclassified),
    ])
  func errorsRoundTrip(error: KeyringError) throws {
    let response = try ask(.init(operation: .load, key: key), Twin(failure: error))
    let record = try #require(response.error)
    #expect(record.value == error)
    #expect(response.login == nil)
  }

  @Test("an unreadable request is an internal error, answered, not a crash")
  func garbage() throws {
    let answer = KeyringHelper.answer(Data("not json".utf8), using: Twin())
    let response = try KeyringHelper.decoder.decode(KeyringHelper.Response.self, from: answer)
    #expect(response.error?.value.category == .internalError)
    #expect(response.error?.value.summary.contains("unreadable request") == true)
  }

  @Test("every kind survives its name")
  func kindNames() {
    let kinds: [KeyringError.Kind] = [
      .unclassified, .noSessionBus, .noSecretService, .noDefaultKeyring, .locked, .noLibsecret,
    ]
    for kind in kinds {
      #expect(KeyringError.Kind(named: kind.description) == kind)
    }
    #expect(KeyringError.Kind(named: "no such kind") == nil)
  }

  @Test("the refresh token is in the request and answer bodies only, never in a description of them")
  func tokenStaysInTheBody() throws {
    let login = StoredLogin(subject: "alice", refreshToken: RefreshToken(revealing: "rt-secret-9"))
    let request = KeyringHelper.Request(operation: .store, key: key, login: login)
    #expect(String(decoding: try KeyringHelper.encoder.encode(request), as: UTF8.self).contains("rt-secret-9"))
    #expect(!"\(login)".contains("rt-secret-9"))
  }
}
