import MCPTunnelTestSupport
import Testing
import TunnelCore

@testable import MCPTunnelCLI

/// The in-process command tests fail closed: reaching a factory the test did not install is a
/// test failure, never a call into the live keyring, IdP or SSH.
@Suite("fail-closed twin environment")
struct TwinEnvironmentTests {
  static let config = """
    default_profile = "t"
    [profiles.t.idp]
    issuer = "https://idp.example.test"
    client_id = "mcp-tunnel"
    [profiles.t.ssh]
    target = "127.0.0.1:8080"
    """

  @Test("status without a declared secret store records an issue for each undeclared factory it reaches")
  func undeclaredSecretStore() async {
    await withKnownIssue {
      _ = await runCLI(["status"], files: InMemoryConfigurationStore([defaultConfigPath: Self.config]))
    } matching: { issue in
      // The first factory status reaches is the secret store; the IdP and the lock follow.
      issue.comments.contains { $0.rawValue.contains("which this test did not install") }
    }
  }
}
