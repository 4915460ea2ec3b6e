import Foundation
import Testing
import TunnelCore

@testable import OAuth

@Suite("Discovery, token responses, callbacks")
struct DiscoveryAndTokenTests {
  let issuerWithPath = "https://auth.example.com/tenant1"

  @Test("ASM-02/ASM-06: 404s move on in order; the third candidate is used")
  func discoveryFallsThroughNotFound() async throws {
    let transport = ScriptedTransport()
    transport.on("/.well-known/oauth-authorization-server/tenant1", ScriptedTransport.status(404))
    transport.on("/.well-known/openid-configuration/tenant1", ScriptedTransport.status(405))
    transport.on(
      "/tenant1/.well-known/openid-configuration", ScriptedTransport.json(200, Fixture.metadata(issuer: issuerWithPath))
    )
    let metadata = try await MetadataDiscovery(transport: transport).discover(issuer: issuerWithPath)
    #expect(metadata.tokenEndpoint.absoluteString == "\(issuerWithPath)/token")
    #expect(
      transport.requests.map(\.url.path) == [
        "/.well-known/oauth-authorization-server/tenant1", "/.well-known/openid-configuration/tenant1",
        "/tenant1/.well-known/openid-configuration",
      ])
  }

  @Test("ASM-06: a 5xx aborts discovery instead of trying a weaker candidate")
  func discoveryAbortsOnServerError() async {
    let transport = ScriptedTransport()
    transport.on("/.well-known/oauth-authorization-server/tenant1", ScriptedTransport.status(502))
    await #expect(throws: OAuthError.self) {
      try await MetadataDiscovery(transport: transport).discover(issuer: issuerWithPath)
    }
    #expect(transport.requests.count == 1)
  }

  @Test("ASM-05: a document naming another issuer is refused, whichever way round")
  func issuerMismatch() async {
    for (configured, published) in [
      ("https://honest.example", "https://attacker.example"), ("https://attacker.example", "https://honest.example"),
      ("https://honest.example", "https://honest.example/"),
    ] {
      let transport = ScriptedTransport()
      transport.on(
        "/.well-known/oauth-authorization-server", ScriptedTransport.json(200, Fixture.metadata(issuer: published)))
      do {
        _ = try await MetadataDiscovery(transport: transport).discover(issuer: configured)
        Issue.record("accepted \(published) for \(configured)")
      } catch let error as OAuthError {
        #expect(error.summary.contains("not the configured"))
      } catch {
        Issue.record("\(error)")
      }
    }
  }

  @Test("ASM-09/GEN-01: an http token endpoint on a public host in the metadata is refused")
  func endpointPolicy() {
    #expect(throws: OAuthError.self) {
      try Fixture.parsedMetadata(["token_endpoint": "http://idp.example.test/token"])
    }
    #expect(throws: OAuthError.self) {
      try Fixture.parsedMetadata(["authorization_endpoint": "javascript:alert(1)"])
    }
  }

  @Test("ASM-07/AZ-03: PKCE metadata absent → refuse (unless overridden); plain only → refuse; S256 → proceed")
  func pkceMetadata() throws {
    let absent = try Fixture.parsedMetadata(["code_challenge_methods_supported": NSNull()])
    #expect(throws: OAuthError.self) { try absent.requireS256(override: false) }
    try absent.requireS256(override: true)
    let plain = try Fixture.parsedMetadata(["code_challenge_methods_supported": ["plain"]])
    #expect(throws: OAuthError.self) { try plain.requireS256(override: false) }
    #expect(throws: OAuthError.self) { try plain.requireS256(override: true) }
    try Fixture.parsedMetadata(["code_challenge_methods_supported": ["S256", "plain"]]).requireS256(override: false)
  }

  @Test("TOK-05/GEN-05: token response parsed, unknown members ignored, token_type case-insensitive")
  func tokenResponse() throws {
    let body = try JSONSerialization.data(withJSONObject: [
      "access_token": "at", "token_type": "bearer", "expires_in": 300, "refresh_token": "rt", "scope": "openid mcp",
      "something_new": ["x": 1],
    ])
    let parsed = try TokenResponse.parse(OAuthHTTPResponse(status: 200, headers: [], body: body), what: "t")
    #expect(parsed.accessToken.revealedForTransmission == "at")
    #expect(parsed.refreshToken?.revealedForTransmission == "rt")
    #expect(parsed.expiresIn == .seconds(300))
    #expect(parsed.scope == "openid mcp")
    #expect("\(parsed.accessToken)" == "<redacted>")
  }

  @Test("TOK-06/RT-05: each token error code maps to its action and exit category")
  func tokenErrors() {
    func category(_ status: Int, _ json: [String: Any]?, what: String = "refresh token request") -> FailureCategory {
      let body = json.flatMap { try? JSONSerialization.data(withJSONObject: $0) } ?? Data()
      let response = OAuthHTTPResponse(status: status, headers: [], body: body)
      return TokenEndpointFailure.error(for: response, json: response.json(), what: what).category
    }
    #expect(category(400, ["error": "invalid_grant"]) == .loginRequired)
    #expect(category(400, nil) == .loginRequired, "glewlwyd's empty-body 400 for a replayed refresh token")
    #expect(category(400, nil, what: "device token request") == .identityProvider)
    #expect(category(401, ["error": "invalid_client"]) == .usage)
    #expect(category(400, ["error": "invalid_scope"]) == .usage)
    #expect(category(400, ["error": "invalid_target"]) == .usage)
    #expect(category(400, ["error": "unsupported_grant_type"]) == .identityProvider)
    #expect(category(500, nil) == .identityProvider)
  }

  @Test("TOK-05: a non-Bearer token_type (N_A) is refused")
  func nonBearer() throws {
    let body = try JSONSerialization.data(withJSONObject: ["access_token": "x", "token_type": "N_A"])
    #expect(throws: OAuthError.self) {
      try TokenResponse.parse(OAuthHTTPResponse(status: 200, headers: [], body: body), what: "t")
    }
  }

  @Test("AZ-09: RFC 9207 iss matrix (STANDARDS §4.5)")
  func issMatrix() throws {
    let issuer = "https://honest.example"
    let code = ["code": "c", "state": "s"]
    func with(_ extra: [String: String]) -> [String: String] { code.merging(extra) { $1 } }
    #expect(
      try BrowserAuthorizationFlow.checkCallback(with(["iss": issuer]), issuer: issuer, issAdvertised: true) == "c")
    #expect(throws: OAuthError.self) {
      try BrowserAuthorizationFlow.checkCallback(code, issuer: issuer, issAdvertised: true)
    }
    #expect(try BrowserAuthorizationFlow.checkCallback(code, issuer: issuer, issAdvertised: false) == "c")
    #expect(throws: OAuthError.self) {
      try BrowserAuthorizationFlow.checkCallback(
        with(["iss": "https://evil.example"]), issuer: issuer, issAdvertised: false)
    }
    for variant in ["https://honest.example/", "HTTPS://honest.example", "https://honest.example:443"] {
      #expect(throws: OAuthError.self) {
        try BrowserAuthorizationFlow.checkCallback(with(["iss": variant]), issuer: issuer, issAdvertised: true)
      }
    }
    do {
      _ = try BrowserAuthorizationFlow.checkCallback(
        ["error": "access_denied", "error_description": "SECRET-LOOKING TEXT", "iss": "https://evil.example"],
        issuer: issuer, issAdvertised: true)
      Issue.record("accepted a mismatched iss")
    } catch {
      #expect(!"\(error)".contains("SECRET-LOOKING TEXT"), "on an iss mismatch the error text is not shown")
    }
  }

  @Test("AZ-05/AZ-10/AZ-13: the authorization URL carries PKCE S256, state, nonce and the IP-literal redirect")
  func authorizationURL() throws {
    let metadata = try Fixture.parsedMetadata()
    let flow = BrowserAuthorizationFlow(
      metadata: metadata, clientID: "mcp-tunnel", scopes: ["openid", "mcp"],
      resource: "https://mcp.example.test/t/acme/mcp",
      fixedRedirect: nil, pkceOverride: false, transport: ScriptedTransport())
    let pkce = PKCE()
    let url = try flow.authorizationURL(
      endpoint: metadata.authorizationEndpoint!, redirect: "http://127.0.0.1:4711/callback", state: "st", nonce: "nn",
      pkce: pkce)
    let items = Dictionary(
      uniqueKeysWithValues: (URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems ?? []).map {
        ($0.name, $0.value ?? "")
      })
    #expect(items["code_challenge"] == pkce.challenge)
    #expect(items["code_challenge_method"] == "S256")
    #expect(items["redirect_uri"] == "http://127.0.0.1:4711/callback")
    #expect(items["state"] == "st")
    #expect(items["nonce"] == "nn")
    #expect(items["scope"] == "openid mcp")
    #expect(items["resource"] == "https://mcp.example.test/t/acme/mcp")
    #expect(items["response_type"] == "code")
    #expect(items["prompt"] == nil && items["max_age"] == nil && items["acr_values"] == nil, "a plain login asks none")
  }

  @Test("SPEC §10: a step-up login's URL adds prompt=login, max_age and acr_values (from InteractiveLoginOptions)")
  func stepUpAuthorizationURL() throws {
    let metadata = try Fixture.parsedMetadata()
    let options = InteractiveLoginOptions(
      scopes: ["openid", "mcp", "mcp-admin"], forceLogin: true, maxAge: 300, acrValues: ["phr", "mfa"])
    let flow = BrowserAuthorizationFlow(
      metadata: metadata, clientID: "mcp-tunnel", scopes: options.scopes ?? [], resource: nil,
      fixedRedirect: nil, pkceOverride: false, transport: ScriptedTransport(),
      extraParameters: options.authorizationParameters.map { ($0.name, $0.value) })
    let url = try flow.authorizationURL(
      endpoint: metadata.authorizationEndpoint!, redirect: "http://127.0.0.1:4711/callback", state: "st", nonce: "nn",
      pkce: PKCE())
    let items = Dictionary(
      uniqueKeysWithValues: (URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems ?? []).map {
        ($0.name, $0.value ?? "")
      })
    #expect(items["scope"] == "openid mcp mcp-admin")
    #expect(items["prompt"] == "login")
    #expect(items["max_age"] == "300")
    #expect(items["acr_values"] == "phr mfa")
  }
}
