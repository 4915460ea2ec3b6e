import CLibSecret
import TunnelCore

/// The error type of the `Keyring` module. A keyring that cannot be read is never reported as
/// "no entry": that would make a locked keyring look like a logged-out user.
public struct KeyringError: UserFacingError, Equatable {
  public var category: FailureCategory
  public var summary: String
  public var fix: String?
  /// The GError domain and code, when libsecret reported one.
  public var domain: String?
  public var code: Int?

  public init(
    _ category: FailureCategory, _ summary: String, fix: String? = nil, domain: String? = nil, code: Int? = nil
  ) {
    self.category = category
    self.summary = summary
    self.fix = fix
    self.domain = domain
    self.code = code
  }

  static let headlessFix =
    "start a session bus and a Secret Service, e.g. `dbus-run-session -- $SHELL`, then "
    + "`printf %s \"$PASSWORD\" | gnome-keyring-daemon --unlock --components=secrets`; or use --no-store"

  static func noSessionBus(_ detail: String) -> KeyringError {
    KeyringError(
      .keyringUnavailable, "no D-Bus session bus, so no Secret Service keyring (\(detail))", fix: headlessFix)
  }

  static func noProvider(domain: String? = nil, code: Int? = nil) -> KeyringError {
    KeyringError(
      .keyringUnavailable, "no Secret Service is running on the D-Bus session bus",
      fix: "install and start one (`apt install gnome-keyring`, then "
        + "`gnome-keyring-daemon --start --components=secrets`), or enable KeePassXC's Secret Service integration",
      domain: domain, code: code)
  }

  static func noDefaultCollection(domain: String? = nil, code: Int? = nil) -> KeyringError {
    KeyringError(
      .keyringUnavailable, "the Secret Service has no default keyring (it was never created or unlocked)",
      fix: "create and unlock one: `printf %s \"$PASSWORD\" | gnome-keyring-daemon --replace --unlock "
        + "--components=secrets`, or open Passwords and Keys (seahorse)",
      domain: domain, code: code)
  }

  static func locked(domain: String? = nil, code: Int? = nil) -> KeyringError {
    KeyringError(
      .keyringUnavailable, "the keyring is locked, so mcp-tunnel cannot tell whether you are logged in",
      fix: "unlock it (seahorse, or `printf %s \"$PASSWORD\" | gnome-keyring-daemon --replace --unlock`), then retry",
      domain: domain, code: code)
  }

  /// Classifies a GError from libsecret/GDBus, frees it, and keeps its domain and code.
  static func from(_ error: UnsafeMutablePointer<GError>, operation: String) -> KeyringError {
    defer { g_error_free(error) }
    let domain = g_quark_to_string(error.pointee.domain).map { String(cString: $0) } ?? "?"
    let code = Int(error.pointee.code)
    let message = error.pointee.message.map { String(cString: $0) } ?? ""
    switch (domain, code) {
    // GDBus names the bus when it cannot find one ("Cannot autolaunch D-Bus…"), but a
    // DBUS_SESSION_BUS_ADDRESS whose socket is gone or refuses only says "Could not connect: …".
    case ("g-io-error-quark", _)
    where message.contains("D-Bus") || message.contains("DBUS") || message.hasPrefix("Could not connect"):
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
