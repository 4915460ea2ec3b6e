import Foundation
import LabSupport
import TestTiers
import Testing

/// glewlwyd, provisioned by the lab, speaks the OAuth flows mcp-tunnel needs — proven with real
/// HTTP requests, the user's side played by the lab's browser helpers.
@Suite("Lab IdP (glewlwyd)", .tags(.lab), .offPool, .serialized)
struct IdentityProviderLabTests {
  @Test("device code approved over HTTP yields a JWT access token, a refresh token and an ID token")
  func deviceGrant() async throws {
    let dir = try LabDirectory(prefix: "idp")
    let idp = try IdentityProviderLab.start(in: dir)
    defer { idp.stop() }

    let discovery = try await LabHTTPClient().get(idp.discoveryURL).json()
    #expect(discovery["issuer"] as? String == idp.issuer)
    #expect(discovery["token_endpoint"] as? String == idp.tokenEndpoint.absoluteString)
    #expect(discovery["device_authorization_endpoint"] as? String == idp.deviceAuthorizationEndpoint.absoluteString)
    #expect(discovery["jwks_uri"] as? String == idp.jwksURL.absoluteString)
    #expect((discovery["code_challenge_methods_supported"] as? [String]) == ["S256"])

    let authorization = try await idp.startDeviceAuthorization()
    let poll: [(String, String)] = [
      ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", idp.clientID),
      ("device_code", authorization.deviceCode),
    ]
    let pending = try await idp.tokenRequest(poll)
    #expect(pending.status == 400)
    #expect(pending.string("error") == "authorization_pending")

    try await idp.approveDevice(userCode: authorization.userCode)
    let tokens = try LabTokenSet(try await idp.tokenRequest(poll), what: "device token", log: idp.log())
    #expect(tokens.refreshToken?.isEmpty == false)
    #expect(tokens.idToken?.isEmpty == false)
    let header = try LabJWT.header(tokens.accessToken)
    #expect(header["alg"] as? String == "RS256")
    #expect(header["typ"] as? String == "at+jwt")
    let claims = try LabJWT.claims(tokens.accessToken)
    #expect(claims["iss"] as? String == idp.issuer)
    #expect((claims["sub"] as? String)?.isEmpty == false)
    #expect(claims["client_id"] as? String == idp.clientID)
    #expect((claims["scope"] as? String)?.split(separator: " ").contains("mcp") == true)
    #expect(!tokens.description.contains(tokens.accessToken))
  }

  @Test("auth code + PKCE: the right verifier gets tokens, a wrong one is refused")
  func pkce() async throws {
    let dir = try LabDirectory(prefix: "idp")
    let idp = try IdentityProviderLab.start(in: dir)
    defer { idp.stop() }

    func authorize(_ pkce: LabPKCE, state: String) async throws -> String {
      var components = URLComponents(url: idp.authorizationEndpoint, resolvingAgainstBaseURL: false)
      components?.queryItems = [
        URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: idp.clientID),
        URLQueryItem(name: "redirect_uri", value: idp.redirectURI), URLQueryItem(name: "scope", value: "openid mcp"),
        URLQueryItem(name: "state", value: state), URLQueryItem(name: "nonce", value: "n-\(state)"),
        URLQueryItem(name: "code_challenge", value: pkce.challenge),
        URLQueryItem(name: "code_challenge_method", value: "S256"),
        URLQueryItem(name: "resource", value: IdentityProviderLab.defaultResource),
      ]
      let url = try #require(components?.url)
      let redirect = try await idp.completeBrowserLogin(authorizationURL: url)
      #expect(redirect.absoluteString.hasPrefix(idp.redirectURI))
      let query = LabForm.query(of: redirect)
      #expect(query["state"] == state)
      return try #require(query["code"], "no code in \(redirect)")
    }
    func redeem(_ code: String, verifier: String) async throws -> LabHTTPResponse {
      try await idp.tokenRequest([
        ("grant_type", "authorization_code"), ("client_id", idp.clientID), ("code", code),
        ("redirect_uri", idp.redirectURI), ("code_verifier", verifier),
      ])
    }

    let good = try LabPKCE()
    let code = try await authorize(good, state: "s-good")
    let tokens = try LabTokenSet(try await redeem(code, verifier: good.verifier), what: "PKCE redeem", log: idp.log())
    #expect(tokens.refreshToken != nil)
    #expect(try LabJWT.claims(tokens.accessToken)["aud"] as? String == IdentityProviderLab.defaultResource)

    let other = try LabPKCE()
    let code2 = try await authorize(other, state: "s-bad")
    let refused = try await redeem(code2, verifier: good.verifier)
    #expect(refused.status == 403 || refused.status == 400, "wrong verifier: \(refused.status) \(refused.text)")
    #expect(refused.string("access_token") == nil)
  }

  @Test("refresh rotates the refresh token; the old one is refused with 400 and kills the chain")
  func refreshRotation() async throws {
    let dir = try LabDirectory(prefix: "idp")
    let idp = try IdentityProviderLab.start(in: dir)
    defer { idp.stop() }

    let login = try await idp.deviceLogin()
    let rt1 = try #require(login.refreshToken)
    let rotated = try LabTokenSet(try await idp.refresh(rt1), what: "first refresh", log: idp.log())
    let rt2 = try #require(rotated.refreshToken)
    #expect(rt2 != rt1)

    let replay = try await idp.refresh(rt1)
    #expect(replay.status == 400)
    // glewlwyd's reuse detection also disables the newest token of the chain.
    let afterReuse = try await idp.refresh(rt2)
    #expect(afterReuse.status == 400)
  }

  @Test("RFC 8707: a tenant resource at login becomes aud; refresh cannot switch tenant (glewlwyd limit)")
  func tenantResource() async throws {
    let dir = try LabDirectory(prefix: "idp")
    let idp = try IdentityProviderLab.start(in: dir)
    defer { idp.stop() }

    let acme = IdentityProviderLab.tenantResource("acme")
    let login = try await idp.deviceLogin(resource: acme)
    #expect(try LabJWT.claims(login.accessToken)["aud"] as? String == acme)
    let rt = try #require(login.refreshToken)

    let other = try await idp.refresh(rt, resource: IdentityProviderLab.tenantResource("globex"))
    #expect(other.status == 400, "glewlwyd 2.7.5 binds the refresh token to its grant's resource")
    let same = try LabTokenSet(
      try await idp.refresh(rt, resource: acme), what: "refresh for the same resource", log: idp.log())
    #expect(try LabJWT.claims(same.accessToken)["aud"] as? String == acme)
  }

  @Test("RFC 7009 revocation authenticated with a Bearer access token; the revoked RT no longer refreshes")
  func revocation() async throws {
    let dir = try LabDirectory(prefix: "idp")
    let idp = try IdentityProviderLab.start(in: dir)
    defer { idp.stop() }

    let login = try await idp.deviceLogin()
    let rt = try #require(login.refreshToken)
    let unauthenticated = try await LabHTTPClient().postForm(
      idp.revocationEndpoint, [("token", rt), ("token_type_hint", "refresh_token"), ("client_id", idp.clientID)])
    #expect(unauthenticated.status == 401)
    let revoked = try await LabHTTPClient().postForm(
      idp.revocationEndpoint, [("token", rt), ("token_type_hint", "refresh_token")],
      headers: ["Authorization": "Bearer \(login.accessToken)"])
    #expect(revoked.status == 200)
    #expect(try await idp.refresh(rt).status == 400)
  }
}
