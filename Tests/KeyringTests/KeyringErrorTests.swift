import Testing
import TunnelCore

@testable import Keyring

/// `KeyringError`'s kind comes from the GError's domain and code (or the call that failed), never
/// from its message: a GDBus message is translated, and its wording changes between GLib releases.
@Suite("Keyring errors: kind by GError domain and code")
struct KeyringErrorTests {
  // GIOErrorEnum values (gio/gioenums.h): FAILED 0, NOT_FOUND 1, INVALID_ARGUMENT 13,
  // PERMISSION_DENIED 14, TIMED_OUT 24, CONNECTION_REFUSED 39.
  @Test(
    "each GError domain and code gets its kind, whatever its message says",
    arguments: [
      ("g-io-error-quark", 0, "Cannot autolaunch D-Bus without X11 $DISPLAY", KeyringError.Kind.noSessionBus),
      ("g-io-error-quark", 1, "Could not connect: No such file or directory", .noSessionBus),
      ("g-io-error-quark", 39, "Could not connect: Connection refused", .noSessionBus),
      ("g-io-error-quark", 14, "Could not connect: Permission denied", .noSessionBus),
      ("g-io-error-quark", 13, "Address element “x” does not contain a colon (:)", .noSessionBus),
      // Text that once decided the kind no longer does: a time-out naming D-Bus is no missing bus.
      ("g-io-error-quark", 24, "Timeout was reached (D-Bus, DBUS)", .unclassified),
      ("g-io-error-quark", 1, "", .noSessionBus),
      ("g-dbus-error-quark", 2, "The name org.freedesktop.secrets was not provided", .noSecretService),
      ("g-dbus-error-quark", 1, "", .noSecretService),
      ("g-dbus-error-quark", 19, "No such object path", .noDefaultKeyring),
      ("secret-error", 2, "Cannot get secret of a locked object", .locked),
      ("secret-error", 1, "Could not connect to the D-Bus session bus", .unclassified),
    ])
  func kindFromDomainAndCode(domain: String, code: Int, message: String, kind: KeyringError.Kind) {
    let error = KeyringError.classified(domain: domain, code: code, message: message, operation: "read the token")
    #expect(error.kind == kind, "\(domain) \(code): \(error.summary)")
    #expect(error.category == .keyringUnavailable)
    #expect(error.domain == domain)
    #expect(error.code == code)
    #expect(error.fix?.isEmpty == false)
  }

  @Test("the factories used at call sites carry their kind")
  func factoriesCarryTheirKind() {
    #expect(KeyringError.noSessionBus("DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are not set").kind == .noSessionBus)
    #expect(KeyringError.noProvider().kind == .noSecretService)
    #expect(KeyringError.noDefaultCollection().kind == .noDefaultKeyring)
    #expect(KeyringError.locked().kind == .locked)
    let refused = KeyringError(.keyringUnavailable, "the Secret Service refused to store the refresh token")
    #expect(refused.kind == .unclassified)
  }

  @Test("the session bus check reports a missing bus as .noSessionBus")
  func sessionBusCheckKind() {
    let error = #expect(throws: KeyringError.self) { try SessionBusCheck.describe(environment: [:]) }
    #expect(error?.kind == .noSessionBus)
  }
}
