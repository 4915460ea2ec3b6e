import Testing
import TunnelCore

@Suite("secrets cannot print")
struct SecretRedactionTests {
  @Test func everyRenderingSaysRedacted() {
    let token = RefreshToken(revealing: "rt-SUPER-SECRET")
    let access = AccessToken(revealing: "at-SUPER-SECRET")
    for rendered in [
      "\(token)", String(describing: token), String(reflecting: token), "\(access)", String(reflecting: access),
      "\([token])", "\(Optional(access) as Any)", "\(StoredLogin(subject: "dev1", refreshToken: token))",
    ] {
      #expect(!rendered.contains("SUPER-SECRET"), "\(rendered)")
    }
    var dumped = ""
    dump(StoredLogin(subject: "dev1", refreshToken: token), to: &dumped)
    #expect(!dumped.contains("SUPER-SECRET"))
    #expect(token.revealedForTransmission == "rt-SUPER-SECRET")
  }
}
