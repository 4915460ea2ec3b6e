import Foundation
import TunnelCore

/// Waits between polls. The live one sleeps; tests record the waits (STANDARDS §4.6).
public protocol PollingSleeper: Sendable {
  func sleep(for duration: Duration) async throws
}

public struct TaskSleeper: PollingSleeper {
  public init() {}
  public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

/// The device authorization grant (RFC 8628), STANDARDS DEV-01..11.
struct DeviceAuthorizationFlow: Sendable {
  var metadata: AuthorizationServerMetadata
  var clientID: String
  var scopes: [String]
  var resource: String?
  var transport: any OAuthHTTPTransport
  var sleeper: any PollingSleeper

  static let grantType = "urn:ietf:params:oauth:grant-type:device_code"

  /// Requests a device code, shows the prompt through `present`, then polls until the user
  /// approves, denies, or the code expires.
  func run(present: @Sendable (DeviceAuthorizationPrompt) -> Void) async throws -> TokenResponse {
    guard let endpoint = metadata.deviceAuthorizationEndpoint else {
      throw OAuthError(
        .identityProvider, "the identity provider offers no device authorization endpoint",
        fix: "use the browser flow: mcp-tunnel login --flow browser")
    }
    if let grants = metadata.grantTypes, !grants.contains(Self.grantType) {
      throw OAuthError(
        .identityProvider, "the identity provider does not list the device_code grant in grant_types_supported",
        fix: "use the browser flow: mcp-tunnel login --flow browser")
    }
    var fields = [("client_id", clientID), ("scope", scopes.joined(separator: " "))]
    if let resource { fields.append(("resource", resource)) }
    let response = try await transport.send(.form(endpoint, fields))
    guard response.status == 200, let json = response.json() else {
      throw TokenEndpointFailure.error(for: response, json: response.json(), what: "device authorization request")
    }
    guard let deviceCode = json["device_code"] as? String, !deviceCode.isEmpty,
      let rawUserCode = json["user_code"] as? String, !ServerText.sanitized(rawUserCode, limit: 64).isEmpty,
      let expires = TokenResponse.lifetime(json["expires_in"])
    else {
      throw OAuthError(
        .identityProvider, "the device authorization response lacks device_code, user_code or expires_in",
        fix: "the identity provider misbehaves; use --flow browser")
    }
    let prompt = DeviceAuthorizationPrompt(
      verificationURI: try URLPolicy.parse(json["verification_uri"] as? String, "verification_uri"),
      verificationURIComplete: try (json["verification_uri_complete"] as? String).map {
        try URLPolicy.parse($0, "verification_uri_complete")
      },
      userCode: ServerText.sanitized(rawUserCode, limit: 64), expiresIn: expires)
    present(prompt)
    return try await poll(
      deviceCode: deviceCode, interval: Self.pollInterval(json["interval"]) ?? .seconds(5), expiresIn: expires)
  }

  /// A server-sent polling `interval` (RFC 8628 §3.2), believed only as whole seconds in 1…60:
  /// a boolean, a fraction below 1 or a huge number must neither make us poll every second nor
  /// wait for ever (the same reading as `expires_in`, GEN-07/08).
  static func pollInterval(_ value: Any?) -> Duration? {
    guard let lifetime = TokenResponse.lifetime(value), lifetime <= .seconds(60) else { return nil }
    return lifetime
  }

  /// Waits at least `interval` before each poll (DEV-06); `slow_down` adds 5 s for good, or takes a
  /// larger server-sent interval (DEV-08); a connection failure doubles the wait (DEV-10); gives up
  /// when `expires_in` has passed (DEV-11) and on any error but pending/slow_down (DEV-09).
  func poll(deviceCode: String, interval start: Duration, expiresIn: Duration) async throws -> TokenResponse {
    var interval = start
    var wait = start
    var waited = Duration.zero
    var fields = [("grant_type", Self.grantType), ("device_code", deviceCode), ("client_id", clientID)]
    if let resource { fields.append(("resource", resource)) }
    while true {
      if waited + wait > expiresIn {
        throw OAuthError(
          .loginRequired, "the device code expired before the login was approved",
          fix: "run mcp-tunnel login again and approve it within \(expiresIn.components.seconds) s")
      }
      try await sleeper.sleep(for: wait)
      waited += wait
      let response: OAuthHTTPResponse
      do {
        response = try await transport.send(.form(metadata.tokenEndpoint, fields))
      } catch let error as OAuthError where error.category == .identityProvider {
        wait = wait * 2
        continue
      }
      wait = interval
      if response.status == 200 { return try TokenResponse.parse(response, what: "device token request") }
      let json = response.json()
      switch json?["error"] as? String {
      case "authorization_pending":
        continue
      case "slow_down":
        interval += .seconds(5)
        if let server = Self.pollInterval(json?["interval"]) { interval = max(interval, server) }
        wait = interval
      case "access_denied":
        throw OAuthError(
          .accessDenied, "the login was denied at the identity provider",
          fix: "run mcp-tunnel login again if that was a mistake",
          oauthError: "access_denied")
      case "expired_token":
        throw OAuthError(
          .loginRequired, "the device code expired before the login was approved", fix: "run mcp-tunnel login again",
          oauthError: "expired_token")
      default:
        throw TokenEndpointFailure.error(for: response, json: json, what: "device token request")
      }
    }
  }
}
