import Foundation
import LabSupport
import MCPTunnelTestSupport
import Synchronization
import Testing
import TunnelCore

@testable import MCPTunnelCLI

/// `up`, `status`, `tenant use` and `token` in-process: the real parser, commands and runtime, with
/// twins for the keyring, the IdP, the exchange, the SSH path, the audit log and signals. What is
/// real is local and declared: a loopback listener and the control socket in a private
/// temporary directory. The built binary against the real peers is covered by the lab suites.
@Suite("up / status / tenant / token in-process (twins)", .timeLimit(.minutes(5)))
struct UpInProcessTests {
  /// The signal twin: `up` registers its handler here; `send` is a SIGTERM as the test sends it.
  final class Signals: Sendable {
    private let handlers = Mutex<[@Sendable (String) -> Void]>([])
    func install(_ handler: @escaping @Sendable (String) -> Void) -> @Sendable () -> Void {
      handlers.withLock { $0.append(handler) }
      return {}
    }
    func send(_ name: String) { for handler in handlers.withLock({ $0 }) { handler(name) } }
  }

  struct World {
    let root: URL
    let signals = Signals()
    let store = InMemorySecretStore()
    let idp = InMemoryIdentityProvider()
    let minter = InMemorySessionTokenMinter()
    let forwarder = InMemoryPortForwarder()
    let audit = InMemoryAuditSink()
    let peers: InMemoryPeerCredentialLookup
    let config: String

    /// `peerUID` owns every client socket as the look-up twin sees it (default: this process's uid).
    init(mode: String, peerUID: UInt32 = geteuid()) throws {
      peers = InMemoryPeerCredentialLookup(unknown: .uid(peerUID))
      let port = try LabNetwork.freePort()
      root = URL(fileURLWithPath: "/tmp/upi-\(UUID().uuidString.prefix(8))")
      try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
      config = """
        default_profile = "t"
        [profiles.t.idp]
        issuer = "https://idp.example.test"
        client_id = "mcp-tunnel"
        [profiles.t.session]
        method = "token-exchange"
        endpoint = "https://sts.example.test/token"
        resource = "https://mcp.example.test/t/{tenant}/mcp"
        tenants = ["acme", "globex"]
        default_tenant = "acme"
        [profiles.t.ssh]
        jump = ["a@127.0.0.1:2201"]
        target = "127.0.0.1:8080"
        [profiles.t.listen]
        address = "127.0.0.1:\(port)"
        mode = "\(mode)"
        """
      try store.store(
        StoredLogin(subject: "dev1", refreshToken: idp.issueRefreshToken()),
        for: StoredLoginKey(profile: "t", issuer: "https://idp.example.test", clientID: "mcp-tunnel"))
    }

    func environment(_ output: CapturingOutputSink) -> AppEnvironment {
      let (store, idp, minter, forwarder, audit, signals, peers) = (
        store, idp, minter, forwarder, audit, signals, peers
      )
      return AppEnvironment.twins(
        environment: [
          "HOME": "/home/dev", "XDG_CONFIG_HOME": "/home/dev/.config", "XDG_RUNTIME_DIR": root.path,
          "XDG_STATE_HOME": root.path + "/state",
        ],
        configurationStore: InMemoryConfigurationStore([defaultConfigPath: config]), output: output,
        makeSecretStore: { store }, makeIdentityProvider: { _ in idp }, makeSessionMinter: { _, _ in minter },
        makePortForwarder: { _, _ in forwarder }, makeRefreshLock: { _, _ in InMemoryCrossProcessLock() },
        makeAuditSink: { _, _ in audit }, makePeerLookup: { peers }, onTerminationSignal: { signals.install($0) })
    }

    /// Runs another command against the running `up`.
    func run(_ arguments: [String]) async -> CLIRun {
      let output = CapturingOutputSink()
      let status = await MCPTunnelCommand.run(arguments: arguments, environment: environment(output))
      return CLIRun(status: status, stdout: output.stdout, stderr: output.stderr)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
  }

  /// Starts `up` with `arguments`; its exit status is also written to `output` as `<exit N>`.
  static func startUp(_ arguments: [String], _ env: AppEnvironment, _ output: CapturingOutputSink) -> Task<Int32, Never>
  {
    Task {
      let status = await MCPTunnelCommand.run(arguments: arguments, environment: env)
      output.writeResult("<exit \(status)>\n")
      return status
    }
  }

  /// Waits for `ready`, or for `up` to end; fails the test with what `up` said if it ended.
  static func waitForReady(_ output: CapturingOutputSink) async throws {
    await output.waitForResult(containingAny: [#""event":"ready""#, "<exit "])
    try #require(output.stdout.contains(#""event":"ready""#), "up ended: \(output.stdout)\n\(output.stderr)")
  }

  static func object(_ line: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
  }

  @Test("http: ready, status shows the tunnel, tenant use switches it, token prints it, SIGTERM stops it with exit 0")
  func httpSession() async throws {
    let world = try World(mode: "http")
    defer { world.remove() }
    let output = CapturingOutputSink()
    let env = world.environment(output)
    let up = Self.startUp(["up", "--json"], env, output)
    try await Self.waitForReady(output)
    let ready = try #require(output.stdout.split(separator: "\n").compactMap { Self.object(String($0)) }.first)
    #expect(ready["mode"] as? String == "http" && ready["tenant"] as? String == "acme")
    let listen = try #require(ready["listen"] as? String)

    let status = await world.run(["status", "--json"])
    #expect(status.status == 0, "\(status.stderr)")
    let tunnel = try #require(Self.object(status.stdout)?["tunnel"] as? [String: Any], "\(status.stdout)")
    #expect(tunnel["mode"] as? String == "http" && tunnel["listen"] as? String == listen)
    #expect(tunnel["tenant"] as? String == "acme" && tunnel["state"] as? String == "forwarding")

    // client-config points a client at the running up's own URL.
    let clientConfig = await world.run(["client-config", "--client", "cursor", "--json"])
    let entry = Self.object(clientConfig.stdout)?["entry"] as? [String: Any]
    #expect(entry?["url"] as? String == "http://\(listen)/mcp", "\(clientConfig.stdout)\(clientConfig.stderr)")

    let use = await world.run(["tenant", "use", "globex"])
    #expect(use.status == 0, "\(use.stderr)")
    await output.waitForResult(containingAny: [#""event":"tenant_switched""#, "<exit "])
    let current = await world.run(["tenant", "current"])
    #expect(current.status == 0 && current.stdout.contains("globex"), "\(current.stdout)\(current.stderr)")
    let refused = await world.run(["tenant", "use", "initech"])
    #expect(refused.status == 9, "a tenant the profile does not list: \(refused.stderr)")

    let token = await world.run(["token"])
    #expect(token.status == 0 && !token.stdout.isEmpty, "\(token.stderr)")

    world.signals.send("SIGTERM")
    #expect(await up.value == 0, "\(output.stderr)")
    #expect(output.stdout.hasSuffix(#"{"event":"stopped","reason":"SIGTERM"}"# + "\n<exit 0>\n"))
    #expect(
      world.audit.events.map(\.event).filter { $0 != .tokenMinted } == [.tunnelUp, .tenantSwitch, .tunnelDown])
    let after = await world.run(["status", "--json"])
    #expect(Self.object(after.stdout)?["tunnel"] is NSNull, "the control socket is gone with `up`")
  }

  @Test("tcp: status shows the tunnel; tenant requests get a usage error with the fix")
  func tcpSession() async throws {
    let world = try World(mode: "tcp")
    defer { world.remove() }
    let output = CapturingOutputSink()
    let env = world.environment(output)
    let up = Self.startUp(["up", "--json"], env, output)
    try await Self.waitForReady(output)

    let status = await world.run(["status", "--json"])
    let tunnel = try #require(Self.object(status.stdout)?["tunnel"] as? [String: Any], "\(status.stdout)")
    #expect(tunnel["mode"] as? String == "tcp" && tunnel["url"] == nil && tunnel["tenant"] == nil)
    let use = await world.run(["tenant", "use", "globex"])
    #expect(use.status == 2 && use.stderr.contains("tcp mode"), "\(use.stderr)")
    let clientConfig = await world.run(["client-config", "--client", "cursor"])
    #expect(clientConfig.status == 2 && clientConfig.stderr.contains("tcp mode"), "\(clientConfig.stderr)")

    world.signals.send("SIGINT")
    #expect(await up.value == 0, "\(output.stderr)")
    #expect(world.audit.events.map(\.event) == [.tunnelUp, .tunnelDown], "tcp mode audits its lifecycle only")
  }

  @Test(
    "listen.peers: another uid's connections are closed before the forwarder sees them, one stderr line, counted in status, each audited with the uid",
    arguments: ["tcp", "http"])
  func otherUserRefused(mode: String) async throws {
    let world = try World(mode: mode, peerUID: 65534)
    defer { world.remove() }
    let output = CapturingOutputSink()
    let up = Self.startUp(["up", "--json"], world.environment(output), output)
    try await Self.waitForReady(output)
    let port = try #require(
      Self.object(output.stdout.split(separator: "\n").first.map(String.init) ?? "")?["listen"] as? String
    )
    .split(separator: ":").last.flatMap { Int($0) }
    let got = try await runOffPool {
      try (0..<3).map { _ in
        let client = try LabTCPClient(port: try #require(port))
        try? client.send(Array("GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
        return (try? client.receiveUntilEOF()) ?? []
      }
    }
    #expect(got.allSatisfy { $0.isEmpty }, "nothing answered: \(got)")
    #expect(world.forwarder.openedCount == 0, "nothing reached the SSH path")
    let status = await world.run(["status", "--json"])
    let tunnel = try #require(Self.object(status.stdout)?["tunnel"] as? [String: Any], "\(status.stdout)")
    #expect((tunnel["counters"] as? [String: Any])?["denied"] as? Int == 3)
    #expect(tunnel["peers"] as? String == "same-user")
    let text = await world.run(["status"])
    #expect(text.stdout.contains("Peers:         same-user (only you may connect), 3 connections refused"))
    world.signals.send("SIGTERM")
    #expect(await up.value == 0, "\(output.stderr)")
    let warnings = output.stderr.components(separatedBy: "\n").filter { $0.contains("from uid 65534") }
    #expect(warnings.count == 1, "once per uid: \(output.stderr)")
    #expect(output.stderr.contains("any-local-user"), "the escape hatch is named")
    #expect(!output.stdout.contains("65534"), "stdout keeps its --json events only")
    let denied = world.audit.events(of: .denied)
    #expect(denied.count == 3 && denied.allSatisfy { $0.peerUID == 65534 && $0.outcome == .denied }, "\(denied)")
  }

  @Test("up --peers any-local-user lets another uid's connection through, without a look-up", arguments: ["tcp"])
  func anyLocalUser(mode: String) async throws {
    let world = try World(mode: mode, peerUID: 65534)
    defer { world.remove() }
    let output = CapturingOutputSink()
    let up = Self.startUp(["up", "--json", "--peers", "any-local-user"], world.environment(output), output)
    try await Self.waitForReady(output)
    let port = try #require(
      Self.object(output.stdout.split(separator: "\n").first.map(String.init) ?? "")?["listen"] as? String
    )
    .split(separator: ":").last.flatMap { Int($0) }
    let echoed = try await runOffPool {
      let client = try LabTCPClient(port: try #require(port))
      try client.send([4, 5, 6])
      return try client.receive(exactly: 3)
    }
    #expect(echoed == [4, 5, 6])
    #expect(world.peers.lookups.isEmpty)
    let status = await world.run(["status", "--json"])
    #expect((Self.object(status.stdout)?["tunnel"] as? [String: Any])?["peers"] as? String == "any-local-user")
    world.signals.send("SIGTERM")
    #expect(await up.value == 0, "\(output.stderr)")
    #expect(world.audit.events(of: .denied).isEmpty)
  }

  @Test("a second up of the same profile exits 8 while the first runs; the first is untouched")
  func secondUp() async throws {
    let world = try World(mode: "tcp")
    defer { world.remove() }
    let output = CapturingOutputSink()
    let up = Self.startUp(["up", "--json"], world.environment(output), output)
    try await Self.waitForReady(output)
    let second = await world.run(["up"])
    #expect(second.status == 8, "\(second.stderr)")
    #expect(await world.run(["status"]).stdout.contains("Tunnel:        running"))
    world.signals.send("SIGTERM")
    #expect(await up.value == 0)
  }
}
