import Foundation
import TunnelCore

/// One keyring call handed to a child process (the same binary, `--internal-keyring-helper`), so that the
/// process that asks — a long-running `up` or `stdio` — never loads libsecret and the GLib, GIO and
/// libgcrypt beneath it (~4 MiB resident, and GDBus's worker thread, for the rest of its life).
///
/// The child reads one request, JSON, on stdin until EOF; answers with one response, JSON, on
/// stdout; exits 0. A refresh token crosses only these two pipes: never argv, the environment or a
/// file. A `KeyringError` the child's `SecretServiceKeyring` throws comes back with every field, so
/// the caller sees exactly the error (kind, category, message, fix) an in-process call would give.
public enum KeyringHelper {
  /// What the parent asks.
  public struct Request: Codable, Equatable, Sendable {
    public enum Operation: String, Codable, Sendable { case check, load, store, delete }
    public var operation: Operation
    public var key: Key?
    public var login: Login?

    public init(operation: Operation, key: StoredLoginKey? = nil, login: StoredLogin? = nil) {
      self.operation = operation
      self.key = key.map(Key.init)
      self.login = login.map(Login.init)
    }
  }

  /// What the child answers: exactly one of `error`, `login` (load; absent: no entry), `existed`
  /// (delete), or nothing (check, store).
  public struct Response: Codable, Equatable, Sendable {
    public var error: ErrorRecord?
    public var login: Login?
    public var existed: Bool?

    public init(error: ErrorRecord? = nil, login: Login? = nil, existed: Bool? = nil) {
      self.error = error
      self.login = login
      self.existed = existed
    }
  }

  public struct Key: Codable, Equatable, Sendable {
    var profile: String
    var issuer: String
    var clientID: String

    init(_ key: StoredLoginKey) {
      profile = key.profile
      issuer = key.issuer
      clientID = key.clientID
    }

    var value: StoredLoginKey { StoredLoginKey(profile: profile, issuer: issuer, clientID: clientID) }
  }

  public struct Login: Codable, Equatable, Sendable {
    var subject: String
    var refreshToken: String

    init(_ login: StoredLogin) {
      subject = login.subject
      refreshToken = login.refreshToken.revealedForTransmission
    }

    var value: StoredLogin { StoredLogin(subject: subject, refreshToken: RefreshToken(revealing: refreshToken)) }
  }

  /// A `UserFacingError` carried across the pipe. A `KeyringError` keeps its kind and GError
  /// domain/code; any other error arrives as a `KeyringError` of the same category and text.
  public struct ErrorRecord: Codable, Equatable, Sendable {
    var kind: String
    var category: String
    var summary: String
    var fix: String?
    var domain: String?
    var code: Int?

    init(_ error: any Error) {
      if let keyring = error as? KeyringError {
        kind = keyring.kind.description
        category = keyring.category.rawValue
        summary = keyring.summary
        fix = keyring.fix
        domain = keyring.domain
        code = keyring.code
      } else if let facing = error as? any UserFacingError {
        kind = KeyringError.Kind.unclassified.description
        category = facing.category.rawValue
        summary = facing.summary
        fix = facing.fix
      } else {
        kind = KeyringError.Kind.unclassified.description
        category = FailureCategory.keyringUnavailable.rawValue
        summary = "the keyring failed: \(error)"
      }
    }

    var value: KeyringError {
      KeyringError(
        FailureCategory(rawValue: category) ?? .keyringUnavailable, summary, fix: fix, domain: domain, code: code,
        kind: KeyringError.Kind(named: kind) ?? .unclassified)
    }
  }

  // Between two processes of the same binary only: field names as declared, no contract beyond it.
  static let encoder = JSONEncoder()
  static let decoder = JSONDecoder()

  /// The child's side: performs `request` (the bytes read from stdin) on `store` and returns the
  /// bytes to write to stdout. Never throws: every failure is an answer.
  public static func answer(_ request: Data, using store: any SecretStore) -> Data {
    let response: Response
    do {
      let request = try decoder.decode(Request.self, from: request)
      switch request.operation {
      case .check:
        try store.checkAvailable()
        response = Response()
      case .load:
        guard let key = request.key else { throw KeyringError(.internalError, "keyring helper: load without a key") }
        response = Response(login: try store.load(key.value).map(Login.init))
      case .store:
        guard let key = request.key, let login = request.login else {
          throw KeyringError(.internalError, "keyring helper: store without a key and a login")
        }
        try store.store(login.value, for: key.value)
        response = Response()
      case .delete:
        guard let key = request.key else { throw KeyringError(.internalError, "keyring helper: delete without a key") }
        response = Response(existed: try store.delete(key.value))
      }
    } catch let error as DecodingError {
      let unreadable = KeyringError(.internalError, "keyring helper: unreadable request (\(error))")
      response = Response(error: ErrorRecord(unreadable))
    } catch {
      response = Response(error: ErrorRecord(error))
    }
    // Encoding these plain values cannot fail.
    return (try? encoder.encode(response)) ?? Data("{}".utf8)
  }
}
