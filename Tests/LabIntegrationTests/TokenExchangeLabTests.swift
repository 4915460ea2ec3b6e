import Foundation
import LabSupport
import Synchronization
import TestTiers
import Testing

/// The RFC 8693 fixture exchanges real glewlwyd access tokens for tenant tokens, refuses what it
/// must, and its fault modes work.
@Suite("Lab token exchange (RFC 8693 fixture)", .tags(.lab), .offPool, .serialized)
struct TokenExchangeLabTests {
  @Test("a glewlwyd access token is exchanged for an acme token with the documented claims")
  func exchangesForTenant() async throws {
    let lab = try LabEnvironment.start(.tokenExchange)
    defer { lab.stop() }
    let idp = try lab.idp()
    let sts = try lab.sts()

    let login = try await idp.deviceLogin()
    let response = try await sts.exchange(subjectToken: login.accessToken, tenant: "acme")
    #expect(response.status == 200, "\(response.text)")
    let body = try response.json()
    #expect(body["issued_token_type"] as? String == TokenExchangeLab.accessTokenType)
    #expect(body["token_type"] as? String == "Bearer")
    #expect((body["expires_in"] as? NSNumber)?.intValue == sts.ttl)
    let token = try #require(body["access_token"] as? String)
    #expect(try LabJWT.header(token)["alg"] as? String == "RS256")
    let claims = try LabJWT.claims(token)
    #expect(claims["iss"] as? String == sts.issuer)
    #expect(claims["aud"] as? String == sts.audience)
    #expect(claims["tenant"] as? String == "acme")
    #expect(claims["scope"] as? String == "mcp")
    #expect(claims["sub"] as? String == (try LabJWT.claims(login.accessToken)["sub"] as? String))
    #expect((claims["act"] as? [String: Any])?["sub"] as? String == "mcp-tunnel")
    let iat = try #require((claims["iat"] as? NSNumber)?.intValue)
    #expect((claims["exp"] as? NSNumber)?.intValue == iat + sts.ttl)
    #expect((claims["jti"] as? String)?.isEmpty == false)

    // The request log identifies tokens by fingerprint only.
    let logText = try String(contentsOf: sts.logFile, encoding: .utf8)
    #expect(!logText.contains(login.accessToken))
    #expect(!logText.contains(token))
    #expect(sts.requestLog().last?["tenant"] as? String == "acme")
  }

  @Test("RFC 8693 / RFC 6749 errors: invalid_target, invalid_request, unsupported_grant_type")
  func refusals() async throws {
    let lab = try LabEnvironment.start(.tokenExchange)
    defer { lab.stop() }
    let sts = try lab.sts()
    let login = try await lab.idp().deviceLogin()

    let unknownTenant = try await sts.exchange(subjectToken: login.accessToken, tenant: "initech")
    #expect(unknownTenant.status == 400)
    #expect(unknownTenant.string("error") == "invalid_target")
    let unknownResource = try await sts.exchange(
      subjectToken: login.accessToken, resource: "https://elsewhere.test/t/acme/mcp")
    #expect(unknownResource.string("error") == "invalid_target")

    let garbage = try await sts.exchange(subjectToken: "not-a-jwt", tenant: "acme")
    #expect(garbage.status == 400)
    #expect(garbage.string("error") == "invalid_request")
    var tampered = login.accessToken
    tampered.removeLast(4)
    tampered += "AAAA"
    #expect(try await sts.exchange(subjectToken: tampered, tenant: "acme").string("error") == "invalid_request")
    let noResource = try await sts.exchange(subjectToken: login.accessToken)
    #expect(noResource.string("error") == "invalid_request")
    let wrongGrant = try await sts.exchange(
      subjectToken: login.accessToken, tenant: "acme", extra: [("grant_type", "client_credentials")])
    #expect(wrongGrant.status == 400)
    #expect(wrongGrant.string("error") == "unsupported_grant_type")
  }

  @Test("fault modes: fail answers 503, stall holds the request until the mode changes")
  func faultModes() async throws {
    let lab = try LabEnvironment.start(.tokenExchange)
    defer { lab.stop() }
    let sts = try lab.sts()
    let subject = try await lab.idp().deviceLogin().accessToken

    try await sts.setMode(.fail(status: 503))
    let failed = try await sts.exchange(subjectToken: subject, tenant: "acme")
    #expect(failed.status == 503)
    #expect(failed.string("error") == "temporarily_unavailable")

    try await sts.setMode(.stall(seconds: 60))
    let finished = Atomic<Bool>(false)
    let started = ContinuousClock.now
    let stalled = Task {
      defer { finished.store(true, ordering: .sequentiallyConsistent) }
      return try await sts.exchange(subjectToken: subject, tenant: "acme", timeout: 90)
    }
    try await Task.sleep(for: .milliseconds(1500))
    let answeredWhileStalled = finished.load(ordering: .sequentiallyConsistent)
    #expect(!answeredWhileStalled, "a stalled exchange must not answer")
    try await sts.setMode(.normal)
    let released = try await stalled.value
    #expect(released.status == 200)
    #expect(ContinuousClock.now - started >= .milliseconds(1500))
    #expect(sts.requestLog().contains { $0["stalled"] as? Bool == true })
  }
}
