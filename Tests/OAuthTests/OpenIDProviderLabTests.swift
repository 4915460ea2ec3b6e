import Foundation
import LabSupport
import Synchronization
import TestTiers
import Testing
import TunnelCore

@testable import OAuth

/// `OpenIDProvider` against the lab's real glewlwyd: discovery order, device login, rotation,
/// replay detection and Bearer-authenticated revocation.
@Suite("OpenIDProvider against glewlwyd", .tags(.lab), .offPool)
struct OpenIDProviderLabTests {
  func start() throws -> (LabEnvironment, IdentityProviderLab, OpenIDProvider) {
    let lab = try LabEnvironment.start([.identityProvider])
    let idp = try lab.idp()
    let settings = IdentityProviderSettings(
      issuer: URL(string: idp.issuer)!, clientID: idp.clientID, scopes: ["openid", "mcp"],
      redirectURI: URL(string: idp.redirectURI))
    return (lab, idp, OpenIDProvider(settings: settings))
  }

  @Test("ASM-02: glewlwyd's path issuer is found at the third candidate, after two 404s")
  func discovery() async throws {
    let (lab, idp, _) = try start()
    defer { lab.stop() }
    let transport = RecordingTransport(AsyncHTTPClientTransport())
    let metadata = try await MetadataDiscovery(transport: transport).discover(issuer: idp.issuer)
    #expect(metadata.tokenEndpoint == idp.tokenEndpoint)
    #expect(metadata.revocationNeedsBearer, "glewlwyd authenticates revocation with a Bearer token")
    #expect(transport.statuses == [404, 404, 200])
  }

  @Test("DEV + RT-03 + RV-01: device login, rotation on refresh, replay refused, revocation with a Bearer")
  func deviceLoginRefreshRevoke() async throws {
    let (lab, idp, provider) = try start()
    defer { lab.stop() }
    let approval = Mutex<Task<Void, any Error>?>(nil)
    let tokens = try await provider.loginWithDevice { prompt in
      approval.withLock { $0 = Task { try await idp.approveDevice(userCode: prompt.userCode) } }
    }
    try await approval.withLock { $0 }?.value
    #expect(tokens.subject?.isEmpty == false, "IDT: the ID token validated and named the user (glewlwyd's opaque sub)")
    let first = try #require(tokens.refreshToken)

    let refreshed = try await provider.refresh(first, resource: nil)
    let second = try #require(refreshed.refreshToken)
    #expect(second != first, "glewlwyd rotates on every refresh")
    #expect(refreshed.expiresAt != nil)

    // Replaying the first token: glewlwyd's empty-body 400 is read as invalid_grant (exit 3).
    do {
      _ = try await provider.refresh(first, resource: nil)
      Issue.record("replayed refresh token accepted")
    } catch let error as OAuthError {
      #expect(error.category == .loginRequired)
    }
  }

  @Test("RV-01/RV-03: revoking with the Bearer access token kills the refresh token")
  func revocation() async throws {
    let (lab, idp, provider) = try start()
    defer { lab.stop() }
    let set = try await idp.deviceLogin()
    let refresh = RefreshToken(revealing: try #require(set.refreshToken))
    #expect(await provider.revocationNeedsAccessToken())
    let outcome = await provider.revoke(refresh, accessToken: AccessToken(revealing: set.accessToken))
    #expect(outcome == .revoked)
    await #expect(throws: OAuthError.self) { try await provider.refresh(refresh, resource: nil) }
  }
}

/// Passes requests through and records the response statuses.
final class RecordingTransport: OAuthHTTPTransport {
  let inner: any OAuthHTTPTransport
  private let seen = Mutex<[Int]>([])
  init(_ inner: any OAuthHTTPTransport) { self.inner = inner }
  var statuses: [Int] { seen.withLock { $0 } }
  func send(_ request: OAuthHTTPRequest) async throws -> OAuthHTTPResponse {
    let response = try await inner.send(request)
    seen.withLock { $0.append(response.status) }
    return response
  }
}
