import Foundation
import Testing
import TunnelCore

@testable import OAuth

@Suite("PKCE, URL policy, form encoding")
struct PKCEAndPolicyTests {
  @Test("AZ-02/AZ-03: RFC 7636 Appendix B vector")
  func rfc7636AppendixB() {
    let octets: [UInt8] = [
      116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214, 191, 240,
      91, 88, 5, 88, 83, 132, 141, 121,
    ]
    let pkce = PKCE(octets: octets)
    #expect(pkce.verifier == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    #expect(pkce.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    #expect(pkce.method == "S256")
  }

  @Test("AZ-03: OAuth 2.1 draft example verifier → challenge")
  func oauth21Vector() {
    #expect(
      PKCE.challenge(for: "3641a2d12d66101249cdf7a79c000c1f8c05d2aafcf14bf146497bed")
        == "6fdkQaPm51l13DSukcAH3Mdx7_ntecHYd1vi3n0hMZY")
  }

  @Test("AZ-02: generated verifiers are fresh, 43 unreserved characters; the validator rejects the negatives")
  func generatedVerifiers() {
    let verifiers = (0..<50).map { _ in PKCE().verifier }
    #expect(Set(verifiers).count == 50)
    for verifier in verifiers {
      #expect(verifier.count == 43)
      #expect(PKCE.isValidVerifier(verifier))
    }
    #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 42)))
    #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 129)))
    #expect(PKCE.isValidVerifier(String(repeating: "a", count: 128)))
    for bad in ["+", "/", "=", " "] {
      #expect(!PKCE.isValidVerifier(String(repeating: "a", count: 42) + bad))
    }
  }

  @Test("GEN-01/AZ-13: https anywhere, http only on loopback, every other scheme refused")
  func urlPolicy() {
    let allowed = [
      "https://idp.example.com/x", "http://127.0.0.1:8080/cb", "http://127.5.6.7/", "http://[::1]:9/x",
      "http://localhost:3000/",
    ]
    let refused = [
      "http://idp.example.com/", "javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "vbscript:x",
      "ftp://idp.example.com/", "http://127.0.0.1.evil.example/", "https:///nohost",
    ]
    for text in allowed { #expect(URLPolicy.isAllowed(URL(string: text)!), "\(text)") }
    for text in refused {
      if let url = URL(string: text) { #expect(!URLPolicy.isAllowed(url), "\(text)") }
    }
  }

  @Test("form encoding escapes everything but unreserved characters")
  func formEncoding() {
    #expect(
      FormEncoding.encode([("resource", "https://mcp.example.com/t/acme/mcp"), ("scope", "openid mcp")])
        == "resource=https%3A%2F%2Fmcp.example.com%2Ft%2Facme%2Fmcp&scope=openid%20mcp")
    #expect(FormEncoding.escape("a+b=c&d~é") == "a%2Bb%3Dc%26d%7E%C3%A9")
  }

  @Test("ASM-02/03/04: well-known candidates in the MCP order")
  func discoveryCandidates() {
    func list(_ issuer: String) -> [String] {
      DiscoveryLocations.candidates(for: URL(string: issuer)!).map(\.absoluteString)
    }
    #expect(
      list("https://auth.example.com/tenant1") == [
        "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
        "https://auth.example.com/.well-known/openid-configuration/tenant1",
        "https://auth.example.com/tenant1/.well-known/openid-configuration",
      ])
    #expect(list("https://auth.example.com/tenant1/") == list("https://auth.example.com/tenant1"))
    #expect(
      list("https://auth.example.com") == [
        "https://auth.example.com/.well-known/oauth-authorization-server",
        "https://auth.example.com/.well-known/openid-configuration",
      ])
  }
}
