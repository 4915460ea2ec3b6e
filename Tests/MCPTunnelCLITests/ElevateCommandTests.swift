import Foundation
import MCPTunnelTestSupport
import Testing
import TunnelCore

@testable import MCPTunnelCLI

/// `mcp-tunnel elevate` in-process against a running `up` (SPEC §10), with the twins of
/// `UpInProcessTests`: the handover over the control socket, the clamp to `session.elevate_max`,
/// `status`, a tenant switch ending it, the granted-scope check, and no prompt without `up`.
@Suite("elevate in-process (twins)", .timeLimit(.minutes(5)))
struct ElevateCommandTests {
  typealias World = UpInProcessTests.World

  static func objects(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { UpInProcessTests.object(String($0)) }
  }

  @Test("with no up running: exit 2 naming `mcp-tunnel up`, before any prompt")
  func noUp() async throws {
    let world = try World(mode: "http")
    defer { world.remove() }
    let run = await world.run(["elevate", "--scope", "mcp-admin", "--flow", "device"])
    #expect(run.status == 2, "\(run.stderr)")
    #expect(run.stderr.contains("mcp-tunnel up"), "\(run.stderr)")
    #expect(world.idp.counters.deviceLogins == 0 && world.idp.counters.browserLogins == 0)
    #expect(world.minter.count == 0)
  }

  @Test("elevate hands the token to up: status shows it, --for is clamped, tenant use ends it")
  func handover() async throws {
    let world = try World(mode: "http")
    defer { world.remove() }
    let output = CapturingOutputSink()
    let up = UpInProcessTests.startUp(["up", "--json"], world.environment(output), output)
    try await UpInProcessTests.waitForReady(output)

    let run = await world.run(["elevate", "--scope", "mcp-admin", "--for", "10m", "--flow", "device", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stderr.contains("--for 10m is above session.elevate_max 5m; using 5m"), "\(run.stderr)")
    let events = Self.objects(run.stdout)
    #expect(events.map { $0["event"] as? String } == ["device_authorization", "elevated"])
    #expect(events.last?["tenant"] as? String == "acme")
    #expect(events.last?["scope"] as? [String] == ["mcp-admin"])
    #expect(run.stdout.contains("mcp-acme") == false, "no token on stdout")

    // The login asked for the union of scopes with prompt=login, and kept no refresh token.
    let login = try #require(world.idp.logins.last)
    #expect(login.flow == "device")
    #expect(login.options.scopes == ["openid", "offline_access", "mcp-admin"])
    #expect(login.options.forceLogin && !login.options.requireRefreshToken)
    // The exchange asked for the step-up scope.
    #expect(world.minter.exchanges.last?.request.scope == "mcp-admin")

    await output.waitForResult(containingAny: [#""event":"elevated""#])
    let status = await world.run(["status", "--json"])
    let tunnel = try #require(UpInProcessTests.object(status.stdout)?["tunnel"] as? [String: Any])
    let elevation = try #require(tunnel["elevation"] as? [String: Any], "\(status.stdout)")
    #expect(elevation["tenant"] as? String == "acme" && elevation["ends_at"] is String)
    let text = await world.run(["status"])
    #expect(text.stdout.contains("Elevated:      tenant acme"), "\(text.stdout)")

    let use = await world.run(["tenant", "use", "globex"])
    #expect(use.status == 0, "\(use.stderr)")
    await output.waitForResult(containingAny: [#""event":"elevation_ended""#])
    #expect(output.stdout.contains(#"{"event":"elevation_ended","reason":"tenant_switch","tenant":"acme"}"#))
    let after = await world.run(["status", "--json"])
    let afterTunnel = UpInProcessTests.object(after.stdout)?["tunnel"] as? [String: Any]
    #expect(afterTunnel?["elevation"] == nil, "\(after.stdout)")
    #expect(world.audit.events.map(\.event).contains(.elevated))
    #expect(world.audit.events.last(where: { $0.event == .elevationEnded })?.detail == "tenant_switch")

    // Another tenant than the one served: refused before any prompt.
    let logins = world.idp.logins.count
    let other = await world.run(["elevate", "--tenant", "acme", "--flow", "device"])
    #expect(other.status == 2 && other.stderr.contains("mcp-tunnel tenant use acme"), "\(other.stderr)")
    #expect(world.idp.logins.count == logins)

    world.signals.send("SIGTERM")
    #expect(await up.value == 0)
  }

  @Test("a step-up scope the IdP did not grant fails with exit 9 and nothing reaches up")
  func scopeNotGranted() async throws {
    let world = try World(mode: "http")
    defer { world.remove() }
    let output = CapturingOutputSink()
    let up = UpInProcessTests.startUp(["up", "--json"], world.environment(output), output)
    try await UpInProcessTests.waitForReady(output)
    world.idp.setGrantedScope("openid offline_access")
    let exchanges = world.minter.count
    let run = await world.run(["elevate", "--scope", "mcp-admin", "--flow", "device"])
    #expect(run.status == 9, "\(run.stderr)")
    #expect(run.stderr.contains("did not grant mcp-admin"), "\(run.stderr)")
    #expect(world.minter.count == exchanges, "no exchange for a login without the scope")
    let status = await world.run(["status", "--json"])
    #expect((UpInProcessTests.object(status.stdout)?["tunnel"] as? [String: Any])?["elevation"] == nil)
    world.signals.send("SIGTERM")
    #expect(await up.value == 0)
  }
}
