import Foundation
import Testing
import TunnelCore

@testable import OAuth

@Suite("Device authorization grant (RFC 8628) with a fake clock")
struct DeviceFlowTests {
  func flow(_ transport: ScriptedTransport, _ sleeper: RecordingSleeper) throws -> DeviceAuthorizationFlow {
    DeviceAuthorizationFlow(
      metadata: try Fixture.parsedMetadata(), clientID: "mcp-tunnel", scopes: ["openid"], resource: nil,
      transport: transport, sleeper: sleeper)
  }

  func device(interval: Int?) -> ScriptedTransport.Responder {
    var body: [String: Any] = [
      "device_code": "dc-secret", "user_code": "WDJB-MJHT", "verification_uri": "https://idp.example.test/device",
      "verification_uri_complete": "https://idp.example.test/device?user_code=WDJB-MJHT", "expires_in": 1800,
    ]
    if let interval { body["interval"] = interval }
    return ScriptedTransport.json(200, body)
  }

  static let pending = ScriptedTransport.json(400, ["error": "authorization_pending"])
  static let slowDown = ScriptedTransport.json(400, ["error": "slow_down"])
  static let success = ScriptedTransport.json(
    200, ["access_token": "at", "token_type": "Bearer", "refresh_token": "rt", "expires_in": 300])

  @Test("DEV-06/07/08: waits [5,5,10,10,10] for pending, slow_down, pending, pending, success")
  func slowDownIsCumulative() async throws {
    let transport = ScriptedTransport()
    transport.on("/device", device(interval: 5))
    transport.on("/token", Self.pending, Self.slowDown, Self.pending, Self.pending, Self.success)
    let sleeper = RecordingSleeper()
    let prompts = PromptBox()
    let tokens = try await flow(transport, sleeper).run { prompts.set($0) }
    #expect(tokens.accessToken.revealedForTransmission == "at")
    #expect(sleeper.recorded == [5, 5, 10, 10, 10])
    let polls = transport.requests(to: "/token")
    #expect(polls.count == 5)
    #expect(polls.allSatisfy { $0.form["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code" })
    #expect(polls.allSatisfy { $0.form["device_code"] == "dc-secret" && $0.form["client_id"] == "mcp-tunnel" })
    #expect(prompts.value?.userCode == "WDJB-MJHT", "DEV-04: the user code is shown even with a complete URI")
    #expect(transport.requests(to: "/device").first?.form["scope"] == "openid")
  }

  @Test("DEV-03: no interval means 5 s; DEV-08: a second slow_down makes 15 for good")
  func defaultIntervalAndSecondSlowDown() async throws {
    let transport = ScriptedTransport()
    transport.on("/device", device(interval: nil))
    transport.on("/token", Self.slowDown, Self.slowDown, Self.pending, Self.success)
    let sleeper = RecordingSleeper()
    _ = try await flow(transport, sleeper).run { _ in }
    #expect(sleeper.recorded == [5, 10, 15, 15])
  }

  @Test("DEV-08 [REC]: slow_down with a larger server interval uses the larger value")
  func serverInterval() async throws {
    let transport = ScriptedTransport()
    transport.on("/device", device(interval: 5))
    transport.on("/token", ScriptedTransport.json(400, ["error": "slow_down", "interval": 20]), Self.success)
    let sleeper = RecordingSleeper()
    _ = try await flow(transport, sleeper).run { _ in }
    #expect(sleeper.recorded == [5, 20])
  }

  @Test("DEV-10: a connection failure at interval 10 doubles the next wait")
  func connectionFailureBacksOff() async throws {
    let transport = ScriptedTransport()
    transport.on("/device", device(interval: 10))
    transport.on("/token", ScriptedTransport.unreachable(), Self.success)
    let sleeper = RecordingSleeper()
    _ = try await flow(transport, sleeper).run { _ in }
    #expect(sleeper.recorded == [10, 20])
  }

  @Test(
    "DEV-09: access_denied, expired_token and unknown errors stop polling at once",
    arguments: [
      ("access_denied", FailureCategory.accessDenied), ("expired_token", .loginRequired),
      ("server_on_fire", .identityProvider),
    ])
  func terminalErrors(code: String, category: FailureCategory) async throws {
    let transport = ScriptedTransport()
    transport.on("/device", device(interval: 5))
    transport.on("/token", Self.pending, ScriptedTransport.json(400, ["error": code]), Self.success)
    let sleeper = RecordingSleeper()
    do {
      _ = try await flow(transport, sleeper).run { _ in }
      Issue.record("no error for \(code)")
    } catch let error as OAuthError {
      #expect(error.category == category)
    }
    #expect(transport.requests(to: "/token").count == 2, "no poll after \(code)")
  }

  @Test("DEV-11: polling stops locally once expires_in has passed")
  func localExpiry() async throws {
    let transport = ScriptedTransport()
    transport.on(
      "/device",
      ScriptedTransport.json(
        200,
        [
          "device_code": "d", "user_code": "U", "verification_uri": "https://idp.example.test/device", "expires_in": 12,
          "interval": 5,
        ]))
    transport.on("/token", Self.pending)
    let sleeper = RecordingSleeper()
    await #expect(throws: OAuthError.self) { try await flow(transport, sleeper).run { _ in } }
    #expect(sleeper.recorded == [5, 5])
  }

  @Test("DEV-05: a verification_uri with a bad scheme is never shown")
  func badVerificationURI() async throws {
    let transport = ScriptedTransport()
    transport.on(
      "/device",
      ScriptedTransport.json(
        200, ["device_code": "d", "user_code": "U", "verification_uri": "javascript:alert(1)", "expires_in": 60]))
    let prompts = PromptBox()
    await #expect(throws: OAuthError.self) { try await flow(transport, RecordingSleeper()).run { prompts.set($0) } }
    #expect(prompts.value == nil)
  }

  @Test(
    "DEV-03, GEN-07/08: a hostile interval (true, 0.5, 0, 1e300, 2^64, 3600, \"x\") means the default 5 s, never 1 s or for ever",
    arguments: ["true", "0.5", "0", "1e300", "18446744073709551616", "3600", "\"x\""])
  func hostileInterval(_ json: String) async throws {
    let interval = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
    let body: [String: Any] = [
      "device_code": "dc", "user_code": "WDJB-MJHT", "verification_uri": "https://idp.example.test/device",
      "expires_in": 1800, "interval": interval,
    ]
    let transport = ScriptedTransport()
    transport.on("/device", ScriptedTransport.json(200, body))
    transport.on("/token", Self.pending, Self.success)
    let sleeper = RecordingSleeper()
    _ = try await flow(transport, sleeper).run { _ in }
    #expect(sleeper.recorded == [5, 5])
    #expect(DeviceAuthorizationFlow.pollInterval("7") == .seconds(7))
  }

  @Test("WWWA-04: a user_code with terminal escapes is shown cleaned; a hostile expires_in is refused")
  func hostileUserCodeAndExpiry() async throws {
    let transport = ScriptedTransport()
    transport.on(
      "/device",
      ScriptedTransport.json(
        200,
        [
          "device_code": "dc", "user_code": "\u{1B}[2J\u{1B}]0;pwned\u{07}WDJB\nMJHT",
          "verification_uri": "https://idp.example.test/device", "expires_in": 1800,
        ]))
    transport.on("/token", Self.success)
    let prompts = PromptBox()
    _ = try await flow(transport, RecordingSleeper()).run { prompts.set($0) }
    let shown = try #require(prompts.value?.userCode)
    #expect(!shown.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(shown.debugDescription)")
    #expect(shown.contains("WDJB") && shown.contains("MJHT"))

    for expires in [true as Any, 0, -5, 1e300, "soon"] {
      let bad = ScriptedTransport()
      bad.on(
        "/device",
        ScriptedTransport.json(
          200,
          [
            "device_code": "dc", "user_code": "U", "verification_uri": "https://idp.example.test/device",
            "expires_in": expires,
          ]))
      await #expect(throws: OAuthError.self, "expires_in \(expires)") {
        try await flow(bad, RecordingSleeper()).run { _ in }
      }
    }
  }
}

final class PromptBox: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: DeviceAuthorizationPrompt?
  func set(_ prompt: DeviceAuthorizationPrompt) { lock.withLock { stored = prompt } }
  var value: DeviceAuthorizationPrompt? { lock.withLock { stored } }
}
