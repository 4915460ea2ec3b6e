import Testing
import TunnelCore

@Suite("Configuration values")
struct ConfigValueTests {
  @Test(arguments: [
    ("15s", Duration.seconds(15)), ("15m", .seconds(900)), ("1h", .seconds(3600)), ("500ms", .milliseconds(500)),
    ("1m30s", .seconds(90)), ("0s", .zero),
  ])
  func parsesDurations(text: String, expected: Duration) {
    #expect(DurationText.parse(text) == expected)
  }

  @Test(arguments: ["", "15", "15 s", "s", "1d", "-5s", "1.5m", "99999999999999999999h"])
  func rejectsBadDurations(text: String) {
    #expect(DurationText.parse(text) == nil)
  }

  @Test func formatsDurationsShortest() {
    #expect(DurationText.format(.seconds(90)) == "1m30s")
    #expect(DurationText.format(.seconds(900)) == "15m")
    #expect(DurationText.format(.milliseconds(250)) == "250ms")
  }

  @Test func parsesHostPorts() {
    #expect(HostPort(parsing: "127.0.0.1:7700") == HostPort(host: "127.0.0.1", port: 7700))
    #expect(HostPort(parsing: "[::1]:7700") == HostPort(host: "::1", port: 7700))
    #expect(HostPort(parsing: "[::1]:7700")?.description == "[::1]:7700")
    #expect(HostPort(parsing: "bastion", defaultPort: 22)?.port == 22)
    #expect(HostPort(parsing: "bastion") == nil)
    #expect(HostPort(parsing: "host:0") == nil)
    #expect(HostPort(parsing: "host:65536") == nil)
    #expect(HostPort(parsing: "::1:7700") == nil)
    #expect(HostPort(parsing: "a b:1") == nil)
  }

  @Test func loopbackDetectionNeedsNoDNS() {
    for host in ["127.0.0.1", "127.9.9.9", "localhost", "::1", "LOCALHOST"] {
      #expect(HostPort.isLoopbackHost(host), "\(host)")
    }
    for host in ["0.0.0.0", "10.0.0.1", "128.0.0.1", "localhost.evil.com", "127.0.0.1.nip.io", "::"] {
      #expect(!HostPort.isLoopbackHost(host), "\(host)")
    }
  }

  @Test func parsesSSHEndpoints() {
    let e = SSHEndpoint(parsing: "alice@bastion.example.com:2222")
    #expect(e?.user == "alice")
    #expect(e?.address == HostPort(host: "bastion.example.com", port: 2222))
    #expect(SSHEndpoint(parsing: "bastion")?.address.port == 22)
    #expect(SSHEndpoint(parsing: "@bastion") == nil)
    #expect(SSHEndpoint(parsing: "alice@") == nil)
  }

  @Test func tenantNamesAreURISafe() {
    #expect(TenantID("acme") != nil)
    #expect(TenantID("acme-eu.1") != nil)
    #expect(TenantID("Acme") == nil)
    #expect(TenantID("-acme") == nil)
    #expect(TenantID("ac/me") == nil)
    #expect(TenantID("") == nil)
    #expect(TenantID("a?b") == nil)
  }

  @Test func xdgPathsFollowTheSpec() {
    let p = XDGPaths(environment: [
      "HOME": "/home/a", "XDG_CONFIG_HOME": "relative/ignored", "XDG_RUNTIME_DIR": "/run/user/1",
    ])
    #expect(p.configFile == "/home/a/.config/mcp-tunnel/config.toml")
    #expect(p.auditFile(profile: "prod") == "/home/a/.local/state/mcp-tunnel/audit/prod.jsonl")
    #expect(p.controlSocket(profile: "prod") == "/run/user/1/mcp-tunnel/prod.sock")
    #expect(p.expandTilde("~/.ssh/known_hosts") == "/home/a/.ssh/known_hosts")
    #expect(XDGPaths(environment: ["HOME": "/h"]).runtimeDir == nil)
  }
}
