import CLibSecret
import TunnelCore

/// The error type of the `Keyring` module. A keyring that cannot be read is never reported as
/// "no entry": that would make a locked keyring look like a logged-out user.
///
/// `kind` says what happened, decided where the error is made (from the GError's domain and code,
/// or by the call that failed), never from a message's text.
public struct KeyringError: UserFacingError, Equatable {
  public var kind: Kind
  public var category: FailureCategory
  public var summary: String
  public var fix: String?
  /// The GError domain and code, when libsecret reported one.
  public var domain: String?
  public var code: Int?

  public init(
    _ category: FailureCategory, _ summary: String, fix: String? = nil, domain: String? = nil, code: Int? = nil,
    kind: Kind = .unclassified
  ) {
    self.kind = kind
    self.category = category
    self.summary = summary
    self.fix = fix
    self.domain = domain
    self.code = code
  }

  /// What went wrong with the keyring. Extensible without breaking a caller's `switch` (a struct
  /// with static members, as `NIOSSHError.ErrorType` does).
  public struct Kind: Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable, CaseIterable {
      case unclassified
      case noSessionBus
      case noSecretService
      case noDefaultKeyring
      case locked
      case noLibsecret
    }

    private let base: Base

    private init(_ base: Base) { self.base = base }

    /// Anything else the Secret Service or libsecret reported (the summary keeps its message).
    public static let unclassified = Kind(.unclassified)
    /// No D-Bus session bus can be reached: none is configured, or its socket is gone or refuses.
    public static let noSessionBus = Kind(.noSessionBus)
    /// The bus answers but no Secret Service owns its name.
    public static let noSecretService = Kind(.noSecretService)
    /// The Secret Service has no `default` collection.
    public static let noDefaultKeyring = Kind(.noDefaultKeyring)
    /// The collection is locked, so whether an entry exists cannot be told.
    public static let locked = Kind(.locked)
    /// libsecret is not installed (or not loadable), so no keyring can be reached at all.
    public static let noLibsecret = Kind(.noLibsecret)

    /// The kind whose `description` is `name`, or nil (the keyring helper's answers carry it so).
    init?(named name: String) {
      guard let base = Base.allCases.first(where: { Kind($0).description == name }) else { return nil }
      self.init(base)
    }

    public var description: String {
      switch base {
      case .unclassified: "unclassified"
      case .noSessionBus: "noSessionBus"
      case .noSecretService: "noSecretService"
      case .noDefaultKeyring: "noDefaultKeyring"
      case .locked: "locked"
      case .noLibsecret: "noLibsecret"
      }
    }
  }

  static let headlessFix =
    "start a session bus and a Secret Service, e.g. `dbus-run-session -- $SHELL`, then "
    + "`printf %s \"$PASSWORD\" | gnome-keyring-daemon --unlock --components=secrets`; or use --no-store"

  static func noSessionBus(_ detail: String) -> KeyringError {
    KeyringError(
      .keyringUnavailable, "no D-Bus session bus, so no Secret Service keyring (\(detail))", fix: headlessFix,
      kind: .noSessionBus)
  }

  static func noProvider(domain: String? = nil, code: Int? = nil) -> KeyringError {
    KeyringError(
      .keyringUnavailable, "no Secret Service is running on the D-Bus session bus",
      fix: "install and start one (`apt install gnome-keyring`, then "
        + "`gnome-keyring-daemon --start --components=secrets`), or enable KeePassXC's Secret Service integration",
      domain: domain, code: code, kind: .noSecretService)
  }

  static func noDefaultCollection(domain: String? = nil, code: Int? = nil) -> KeyringError {
    KeyringError(
      .keyringUnavailable, "the Secret Service has no default keyring (it was never created or unlocked)",
      fix: "create and unlock one: `printf %s \"$PASSWORD\" | gnome-keyring-daemon --replace --unlock "
        + "--components=secrets`, or open Passwords and Keys (seahorse)",
      domain: domain, code: code, kind: .noDefaultKeyring)
  }

  /// libsecret itself cannot be loaded (`LibSecret`): `problem` is the loader's message.
  static func libsecretMissing(_ problem: String) -> KeyringError {
    KeyringError(
      .keyringUnavailable, "libsecret, which mcp-tunnel uses to reach the keyring, cannot be loaded (\(problem))",
      fix: "install it: `apt install libsecret-1-0` (Fedora: `dnf install libsecret`)", kind: .noLibsecret)
  }

  static func locked(domain: String? = nil, code: Int? = nil) -> KeyringError {
    KeyringError(
      .keyringUnavailable, "the keyring is locked, so mcp-tunnel cannot tell whether you are logged in",
      fix: "unlock it (seahorse, or `printf %s \"$PASSWORD\" | gnome-keyring-daemon --replace --unlock`), then retry",
      domain: domain, code: code, kind: .locked)
  }

  /// Classifies a GError from libsecret/GDBus, frees it, and keeps its domain and code.
  static func from(_ error: UnsafeMutablePointer<GError>, operation: String, _ lib: LibSecret) -> KeyringError {
    defer { lib.c.error_free(error) }
    let domain = lib.c.quark_to_string(error.pointee.domain).map { String(cString: $0) } ?? "?"
    let message = error.pointee.message.map { String(cString: $0) } ?? ""
    return classified(domain: domain, code: Int(error.pointee.code), message: message, operation: operation)
  }

  /// GIO codes of a session bus that cannot be reached: GDBus reports a bus it cannot find or
  /// autolaunch ("Cannot autolaunch D-Bus without X11 $DISPLAY") as FAILED, a malformed
  /// DBUS_SESSION_BUS_ADDRESS as INVALID_ARGUMENT, and a bus socket that is gone, refuses or is
  /// not the caller's as the connect errno's code (NOT_FOUND, CONNECTION_REFUSED,
  /// PERMISSION_DENIED). A bus that answers reports Secret Service trouble in g-dbus-error-quark
  /// or secret-error instead; a time-out (TIMED_OUT) is a service that hangs, not a missing bus.
  static let sessionBusIOCodes: Set<Int> = [
    Int(G_IO_ERROR_FAILED.rawValue), Int(G_IO_ERROR_NOT_FOUND.rawValue), Int(G_IO_ERROR_INVALID_ARGUMENT.rawValue),
    Int(G_IO_ERROR_PERMISSION_DENIED.rawValue), Int(G_IO_ERROR_CONNECTION_REFUSED.rawValue),
  ]

  /// The error for a GError of `domain` and `code` while trying to `operation`; `message` is
  /// shown, never read.
  static func classified(domain: String, code: Int, message: String, operation: String) -> KeyringError {
    switch (domain, code) {
    case ("g-io-error-quark", let code) where sessionBusIOCodes.contains(code):
      var e = noSessionBus(message)
      e.domain = domain
      e.code = code
      return e
    case ("g-dbus-error-quark", 2), ("g-dbus-error-quark", 1):  // SERVICE_UNKNOWN, NO_REPLY-less spawn failure
      return noProvider(domain: domain, code: code)
    case ("g-dbus-error-quark", 19):  // UNKNOWN_OBJECT: /org/freedesktop/secrets/collection/login
      return noDefaultCollection(domain: domain, code: code)
    case ("secret-error", 2):  // SECRET_ERROR_IS_LOCKED
      return locked(domain: domain, code: code)
    default:
      return KeyringError(
        .keyringUnavailable, "could not \(operation) in the Secret Service: \(message) [\(domain) \(code)]",
        fix: "run `mcp-tunnel doctor`, or check the keyring with `secret-tool search application mcp-tunnel`",
        domain: domain, code: code)
    }
  }
}
