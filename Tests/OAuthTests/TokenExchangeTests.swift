import Foundation
import Testing
import TunnelCore

@testable import OAuth

/// `TokenExchangeClient` against scripted responses (STANDARDS TX-01..08, §4.8).
@Suite("RFC 8693 token exchange")
struct TokenExchangeTests {
  let endpoint = URL(string: "https://sts.example.test/oauth/token")!
  let request = SessionTokenRequest(
    tenant: TenantID("acme")!, resource: "https://mcp.example.test/t/acme/mcp", audience: nil, scope: "mcp")
  let subject = AccessToken(revealing: "idp-access-token")

  func client(_ transport: ScriptedTransport) -> TokenExchangeClient {
    let url = endpoint
    return TokenExchangeClient(clientID: "mcp-tunnel", endpoint: { url }, transport: transport)
  }

  static func issued(
    tokenType: String = "Bearer", issued: String? = "urn:ietf:params:oauth:token-type:access_token",
    expiresIn: Int = 300
  ) -> ScriptedTransport.Responder {
    var body: [String: Any] = ["access_token": "tenant-token", "token_type": tokenType, "expires_in": expiresIn]
    if let issued { body["issued_token_type"] = issued }
    return ScriptedTransport.json(200, body)
  }

  @Test("TX-01/02/04/05/06: the request form, with no actor token and no audience when unset")
  func requestShape() async throws {
    let transport = ScriptedTransport()
    transport.on("/oauth/token", Self.issued())
    let outcome = try await client(transport).exchange(request, subjectToken: subject)
    guard case .minted(let minted) = outcome else {
      Issue.record("expected a token")
      return
    }
    #expect(minted.token.revealedForTransmission == "tenant-token")
    #expect(minted.expiresIn == .seconds(300))
    let sent = try #require(transport.requests.first)
    #expect(sent.method == "POST")
    #expect(
      sent.form == [
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": "idp-access-token",
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "resource": "https://mcp.example.test/t/acme/mcp", "scope": "mcp", "client_id": "mcp-tunnel",
      ])
    #expect(sent.form["actor_token_type"] == nil && sent.form["audience"] == nil)
    #expect(sent.headers.contains { $0.0 == "Content-Type" && $0.1 == "application/x-www-form-urlencoded" })
  }

  @Test("TX-03: audience is sent when configured")
  func audienceSent() async throws {
    let transport = ScriptedTransport()
    transport.on("/oauth/token", Self.issued())
    var withAudience = request
    withAudience.audience = "mcp-acme"
    _ = try await client(transport).exchange(withAudience, subjectToken: subject)
    #expect(transport.requests.first?.form["audience"] == "mcp-acme")
  }

  @Test(
    "TX-07: issued_token_type must be access_token and token_type Bearer (N_A refused)",
    arguments: [
      (tokenType: "N_A", issued: "urn:ietf:params:oauth:token-type:access_token"),
      (tokenType: "Bearer", issued: "urn:ietf:params:oauth:token-type:id_token"),
      (tokenType: "Bearer", issued: "urn:ietf:params:oauth:token-type:id-jag"),
    ])
  func responseChecks(tokenType: String, issued: String) async {
    let transport = ScriptedTransport()
    transport.on("/oauth/token", Self.issued(tokenType: tokenType, issued: issued))
    await #expect(throws: OAuthError.self) { try await client(transport).exchange(request, subjectToken: subject) }
  }

  @Test("TX-07: a response without issued_token_type is refused")
  func missingIssuedType() async {
    let transport = ScriptedTransport()
    transport.on("/oauth/token", Self.issued(issued: nil))
    do {
      _ = try await client(transport).exchange(request, subjectToken: subject)
      Issue.record("expected a refusal")
    } catch let error as OAuthError {
      #expect(error.summary.contains("issued_token_type is missing"))
      #expect(!error.summary.contains("tenant-token"), "the token never appears in a message")
    } catch {
      Issue.record("unexpected \(error)")
    }
  }

  @Test("TX-08: invalid_request is a subject-token refusal the broker may retry once")
  func invalidRequest() async throws {
    let transport = ScriptedTransport()
    transport.on(
      "/oauth/token", ScriptedTransport.json(400, ["error": "invalid_request", "error_description": "bad subject"]))
    guard case .subjectTokenRejected(let reason) = try await client(transport).exchange(request, subjectToken: subject)
    else {
      Issue.record("expected subjectTokenRejected")
      return
    }
    #expect(reason.contains("invalid_request"))
  }

  @Test(
    "TX-08/TOK-04: invalid_target and access_denied are exit 9, not retried; other errors are IdP errors",
    arguments: [
      ("invalid_target", FailureCategory.accessDenied), ("access_denied", .accessDenied),
      ("unauthorized_client", .accessDenied), ("invalid_grant", .loginRequired), ("server_error", .identityProvider),
    ])
  func errorCategories(code: String, category: FailureCategory) async {
    let transport = ScriptedTransport()
    transport.on("/oauth/token", ScriptedTransport.json(400, ["error": code]))
    do {
      _ = try await client(transport).exchange(request, subjectToken: subject)
      Issue.record("expected \(code) to throw")
    } catch let error as OAuthError {
      #expect(error.category == category)
    } catch {
      Issue.record("unexpected \(error)")
    }
    #expect(transport.requests.count == 1)
  }

  @Test("GEN-01: an unreachable endpoint names session.endpoint; a plain-http remote endpoint is refused")
  func transportFailures() async {
    let transport = ScriptedTransport()
    transport.on("/oauth/token", ScriptedTransport.unreachable())
    do {
      _ = try await client(transport).exchange(request, subjectToken: subject)
    } catch let error as OAuthError {
      #expect(error.category == .identityProvider)
      #expect(error.fix?.contains("session.endpoint") == true)
    } catch {
      Issue.record("unexpected \(error)")
    }
    let insecure = TokenExchangeClient(
      clientID: "mcp-tunnel", endpoint: { URL(string: "http://sts.example.test/token")! }, transport: transport)
    await #expect(throws: OAuthError.self) { try await insecure.exchange(request, subjectToken: subject) }
    #expect(transport.requests.count == 1, "nothing was sent to the http endpoint")
  }
}

@Suite("one provider per IdP: the login and the exchange share discovery and the HTTP client")
struct SharedProviderTests {
  @Test("TokenExchangeClient without an endpoint uses the provider's discovery (once) and its transport")
  func sharedDiscovery() async throws {
    let transport = ScriptedTransport()
    transport.on(
      "/.well-known/oauth-authorization-server",
      ScriptedTransport.json(
        200,
        [
          "issuer": "https://idp.example.test", "token_endpoint": "https://idp.example.test/token",
          "authorization_endpoint": "https://idp.example.test/auth",
          "code_challenge_methods_supported": ["S256"],
        ]))
    transport.on("/token", TokenExchangeTests.issued())
    let settings = IdentityProviderSettings(
      issuer: URL(string: "https://idp.example.test")!, clientID: "mcp-tunnel", scopes: ["openid"])
    let provider = OpenIDProvider(settings: settings, transport: transport)
    try await provider.checkDiscovery()
    let client = TokenExchangeClient(endpoint: nil, provider: provider)
    let request = SessionTokenRequest(
      tenant: TenantID("acme")!, resource: "https://mcp.example.test/t/acme/mcp", audience: nil, scope: nil)
    for _ in 0..<2 { _ = try await client.exchange(request, subjectToken: AccessToken(revealing: "idp-token")) }
    #expect(transport.requests(to: "/.well-known/oauth-authorization-server").count == 1)
    #expect(transport.requests(to: "/token").count == 2)
  }

  @Test("OpenIDProviders hands out one provider per IdP settings")
  func onePerSettings() {
    let providers = OpenIDProviders()
    let a = IdentityProviderSettings(issuer: URL(string: "https://a.example.test")!, clientID: "c", scopes: [])
    let b = IdentityProviderSettings(issuer: URL(string: "https://b.example.test")!, clientID: "c", scopes: [])
    #expect(providers.provider(for: a) === providers.provider(for: a))
    #expect(providers.provider(for: a) !== providers.provider(for: b))
  }
}
