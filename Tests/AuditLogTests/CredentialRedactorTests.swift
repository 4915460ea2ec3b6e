import Testing
import TunnelCore

@testable import AuditLog

@Suite("credential redaction")
struct CredentialRedactorTests {
  static let jwt =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhbGljZSIsImF1ZCI6Im1jcCJ9.MEUCIQDx7yZ0bR4k2pWq9sLm3nVt8aYc"

  @Test(arguments: [
    jwt,
    "token=\(jwt)&x=1",
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.",  // unsigned JWT, empty signature
    "aGVsbG8td29ybGQtMTIzNA.c2Vjb25kLXNlZ21lbnQtMTIz.dGhpcmQtc2VnbWVudC0xMjM0",  // opaque three-part
    "Bearer 8xLmQ2rT5vWz1Yb4",
    "authorization: bearer ya29.a0AfH6SMBx",
    "Basic YWxpY2U6c2VjcmV0",
    "DPoP eyJhbGciOiJFUzI1NiJ9Zm9vYmFy",
  ])
  func credentialShapedValuesAreCaught(_ value: String) {
    #expect(CredentialRedactor.looksLikeCredential(value))
  }

  @Test(arguments: [
    "search", "files.read.v2", "com.example.mcp.tool", "tools/call", "3f2a9c41d0b8e7a2",
    "9b2f6d3e-8c1a-4f7b-9e2d-5a6c7b8d9e0f", "Bearer realm=\"mcp\", error=\"invalid_token\"",
    "Basic authentication failed", "bearer", "upstream returned 503", "v1.2.3",
  ])
  func ordinaryValuesAreKept(_ value: String) {
    #expect(!CredentialRedactor.looksLikeCredential(value))
  }

  @Test func everyStringFieldIsScrubbedAndNamed() {
    let secret = Self.jwt
    let event = AuditEvent(
      event: .call, profile: secret, tenant: secret, actor: secret, session: secret, method: secret, tool: secret,
      rpcID: secret, status: 200, outcome: .ok, durationMilliseconds: 3, tokenID: secret, detail: "x \(secret)")
    let (clean, fields) = CredentialRedactor.redact(event)
    let values = [
      clean.profile, clean.tenant, clean.actor, clean.session, clean.method, clean.tool, clean.rpcID, clean.tokenID,
      clean.detail,
    ]
    #expect(values.allSatisfy { $0 == CredentialRedactor.placeholder })
    #expect(
      fields == ["profile", "tenant", "actor", "session", "method", "tool", "rpc_id", "token_id", "detail"])
    #expect(clean.status == 200 && clean.durationMilliseconds == 3)
    let ordinary = sampleEvent()
    #expect(CredentialRedactor.redact(ordinary).event == ordinary)
    #expect(CredentialRedactor.redact(ordinary).redactedFields.isEmpty)
  }
}
