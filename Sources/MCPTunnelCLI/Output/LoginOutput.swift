import Foundation

// `login --json` prints its prompt event, then `logged_in`; `logout --json` one `logged_out` per
// profile (SPEC §2).

/// The device grant's prompt. Its text goes to stderr with and without `--json` (DEV-04: the
/// user code is always shown, with the plain URL, even when the complete URL exists).
struct DeviceAuthorizationEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "device_authorization"
  var verificationUri: String
  @NullWhenAbsent var verificationUriComplete: String?
  var userCode: String
  var expiresIn: Int
  /// Named in the text, so a user can tell whose login this is.
  var hostName: String

  var text: String {
    var text = "To sign in, open \(verificationUri) and enter the code:\n\n    \(userCode)\n\n"
    if let verificationUriComplete {
      text += "or open this URL, which carries the code: \(verificationUriComplete)\n"
    }
    return text
      + "Only enter the code if you started this login yourself (mcp-tunnel on \(hostName)). "
      + "It expires in \(expiresIn / 60) min \(expiresIn % 60) s.\n"
  }

  private enum CodingKeys: String, CodingKey {
    case event, verificationUri, verificationUriComplete, userCode, expiresIn
  }
}

/// The browser flow's URL. Its text goes to stderr with and without `--json`.
struct BrowserAuthorizationEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "browser_authorization"
  var url: String

  var text: String { "Open this URL in your browser to sign in:\n\n  \(url)\n\n" }
}

/// The login is done and the refresh token kept (`keyring` is `none` with `--no-store`).
struct LoggedInEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "logged_in"
  var issuer: String
  var subject: String
  var keyring: String

  var text: String { "Logged in to \(issuer) as \(subject) (refresh token in \(keyring))." }
}

/// One profile's logout: whether there was a login, whether the IdP revoked it, and why not.
struct LoggedOutEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "logged_out"
  var profile: String
  var issuer: String
  var wasLoggedIn: Bool
  var revoked: Bool
  /// Left out when revocation succeeded or there was nothing to revoke.
  var revocationError: String?
  /// The IdP has no revocation endpoint (the text says so; `revocation_error` too).
  var unsupported = false

  var text: String {
    guard wasLoggedIn else { return "Profile \(profile): not logged in; nothing to revoke." }
    if revoked { return "Profile \(profile): refresh token revoked at \(issuer) and deleted from the keyring." }
    if unsupported {
      return "Profile \(profile): deleted from the keyring (the identity provider offers no revocation endpoint)."
    }
    return "Profile \(profile): deleted from the keyring."
  }

  private enum CodingKeys: String, CodingKey {
    case event, profile, issuer, wasLoggedIn, revoked, revocationError
  }
}
