import Foundation
import TunnelCore

/// The live `SessionTokenMinter`: RFC 8693 token exchange of the IdP access token for a
/// tenant-scoped MCP token (SPEC §4, STANDARDS TX-01..08).
///
/// The request carries `subject_token_type` and `requested_token_type` `…:access_token`,
/// `resource` (the tenant's canonical MCP URI), `audience`/`scope` only when configured, and
/// `client_id`; never `actor_token`/`actor_token_type` (TX-06). The response is accepted only with
/// `issued_token_type == …:access_token` and `token_type` Bearer (TX-07; `N_A` is refused).
/// `invalid_request` is the subject-token refusal the broker retries once after a refresh (TX-08);
/// `invalid_target`, `access_denied` and `unauthorized_client` mean the issuer will not mint for
/// this tenant (exit 9), and are never retried (TOK-04).
public final class TokenExchangeClient: SessionTokenMinter {
  static let grantType = "urn:ietf:params:oauth:grant-type:token-exchange"
  static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"

  private let clientID: String
  private let endpoint: @Sendable () async throws -> URL
  private let transport: any OAuthHTTPTransport

  /// Exchanges at `endpoint`, or at the IdP's `token_endpoint` when nil, found by `provider`'s
  /// discovery (cached there, so a login and its exchanges discover the IdP once). Requests go over
  /// `provider`'s HTTP client: one client per identity provider and process.
  public convenience init(endpoint: URL?, provider: OpenIDProvider) {
    self.init(
      clientID: provider.settings.clientID,
      endpoint: { if let endpoint { return endpoint } else { return try await provider.metadata().tokenEndpoint } },
      transport: provider.transport)
  }

  init(clientID: String, endpoint: @escaping @Sendable () async throws -> URL, transport: any OAuthHTTPTransport) {
    self.clientID = clientID
    self.endpoint = endpoint
    self.transport = transport
  }

  public func exchange(_ request: SessionTokenRequest, subjectToken: AccessToken) async throws -> TokenExchangeOutcome {
    let url = try await endpoint()
    try URLPolicy.require(url, "session.endpoint")
    var fields = [
      ("grant_type", Self.grantType), ("subject_token", subjectToken.revealedForTransmission),
      ("subject_token_type", Self.accessTokenType), ("requested_token_type", Self.accessTokenType),
      ("resource", request.resource),
    ]
    if let audience = request.audience { fields.append(("audience", audience)) }
    if let scope = request.scope { fields.append(("scope", scope)) }
    fields.append(("client_id", clientID))
    let what = "token exchange for tenant \(request.tenant)"
    let response: OAuthHTTPResponse
    do {
      response = try await transport.send(.form(url, fields))
    } catch let error as OAuthError {
      throw OAuthError(
        .identityProvider, "\(what): \(error.summary)",
        fix: "check session.endpoint (\(url.absoluteString)) is reachable; `mcp-tunnel doctor` tests each step")
    }
    guard response.status == 200 else { return try Self.failure(response, what: what, request: request) }
    let parsed = try TokenResponse.parse(response, what: what)
    guard parsed.issuedTokenType == Self.accessTokenType else {
      throw OAuthError(
        .identityProvider,
        "\(what): issued_token_type is \(parsed.issuedTokenType.map { "\"\($0)\"" } ?? "missing"), not \(Self.accessTokenType)",
        fix: "the token exchange endpoint must issue access tokens (RFC 8693 §2.2.1); report it to its administrator")
    }
    return .minted(
      MintedSessionToken(
        token: parsed.accessToken, expiresIn: parsed.expiresIn, receivedAt: parsed.receivedAt, scope: parsed.scope))
  }

  private static func failure(
    _ response: OAuthHTTPResponse, what: String, request: SessionTokenRequest
  ) throws(OAuthError) -> TokenExchangeOutcome {
    let json = response.json()
    let code = json?["error"] as? String
    let description = TokenEndpointFailure.describe(json)
    switch code {
    case "invalid_request" where response.status == 400:
      return .subjectTokenRejected(reason: "invalid_request" + description)
    case "invalid_target", "access_denied", "unauthorized_client":
      throw OAuthError(
        .accessDenied, "\(what): the issuer refused to mint it (\(code ?? ""))" + description,
        fix:
          "check that tenant \(request.tenant) is one you may use, and session.resource/audience (\(request.resource)); ask the issuer's administrator",
        oauthError: code)
    default:
      throw TokenEndpointFailure.error(for: response, json: json, what: what)
    }
  }
}
