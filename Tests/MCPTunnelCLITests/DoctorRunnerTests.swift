import Foundation
import LabSupport
import MCPTunnelTestSupport
import Testing
import TunnelCore

@testable import MCPTunnelCLI

/// `doctor` in-process against twins: where each hop's line lands for every stage a path can fail
/// at, and the exit code chosen. The real layers are covered by `DoctorCommandTests` (lab).
@Suite("doctor: hop attribution and exit codes (twins)")
struct DoctorRunnerTests {
  struct PathError: UserFacingError, HopAttributedError {
    var category: FailureCategory
    var summary: String
    var fix: String?
    var failedHop: HopFailure?
  }

  static let issuer = "https://idp.example.test"

  /// Runs `doctor --json` with a three-hop profile whose forwarder fails as told.
  static func doctor(
    startError: PathError? = nil, streamError: PathError? = nil, loggedIn: Bool = true,
    bus: (@Sendable ([String: String]) throws -> String)? = nil,
    peers: InMemoryPeerCredentialLookup = InMemoryPeerCredentialLookup(unknown: .uid(geteuid()))
  ) async throws -> (status: Int32, checks: [[String: Any]], stderr: String) {
    let port = try LabNetwork.freePort()
    let config = """
      default_profile = "t"
      [profiles.t.idp]
      issuer = "\(issuer)"
      client_id = "mcp-tunnel"
      [profiles.t.ssh]
      jump = ["a@127.0.0.1:2201", "b@127.0.0.1:2202"]
      host = "c@127.0.0.1:2203"
      target = "127.0.0.1:8080"
      [profiles.t.listen]
      address = "127.0.0.1:\(port)"
      """
    let store = InMemorySecretStore()
    if loggedIn {
      try store.store(
        StoredLogin(subject: "dev1", refreshToken: RefreshToken(revealing: "rt-twin")),
        for: StoredLoginKey(profile: "t", issuer: issuer, clientID: "mcp-tunnel"))
    }
    let forwarder = InMemoryPortForwarder(startError: startError)
    if let streamError { forwarder.failStreams(with: streamError) }
    let output = CapturingOutputSink()
    let env = AppEnvironment.twins(
      environment: ["HOME": "/home/dev", "XDG_CONFIG_HOME": "/home/dev/.config", "XDG_RUNTIME_DIR": "/nonexistent"],
      configurationStore: InMemoryConfigurationStore([defaultConfigPath: config]), output: output,
      makeSecretStore: { store }, makeIdentityProvider: { _ in InMemoryIdentityProvider(issuer: issuer) },
      makePortForwarder: { _, _ in forwarder }, makePeerLookup: { peers },
      checkSessionBus: bus ?? { _ in "unix:path=/run/bus" }, checkSSHCredentials: { _, _ in "key file /k" })
    let status = await MCPTunnelCommand.run(arguments: ["doctor", "--json"], environment: env)
    let object = try #require(
      (try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8))) as? [String: Any], "\(output.stdout)")
    return (status, object["checks"] as? [[String: Any]] ?? [], output.stderr)
  }

  static func hops(_ checks: [[String: Any]]) -> [String] {
    checks.filter { $0["check"] as? String == "known_hosts" }.compactMap { $0["status"] as? String }
  }

  static func target(_ checks: [[String: Any]]) -> String? {
    checks.first { $0["check"] as? String == "target" }?["status"] as? String
  }

  @Test("all layers healthy: every check passes, three known_hosts lines in hop order, exit 0")
  func healthy() async throws {
    let (status, checks, _) = try await Self.doctor()
    #expect(status == 0)
    #expect(Self.hops(checks) == ["pass", "pass", "pass"])
    let names = checks.filter { $0["check"] as? String == "known_hosts" }.compactMap { $0["name"] as? String }
    #expect(
      names == [
        "known_hosts hop 1/3 a@127.0.0.1:2201", "known_hosts hop 2/3 b@127.0.0.1:2202",
        "known_hosts hop 3/3 c@127.0.0.1:2203",
      ])
    #expect(Self.target(checks) == "pass")
  }

  @Test("host key refused at hop 2: hop 1 passes, hop 2 fails with the fix, hop 3 and the target are skipped, exit 6")
  func hostKeyAtSecondHop() async throws {
    let error = PathError(
      category: .hostKeyVerification, summary: "hop 2/3: the host key changed", fix: "check the fingerprint",
      failedHop: HopFailure(index: 2, stage: .hostKey))
    let (status, checks, stderr) = try await Self.doctor(startError: error)
    #expect(status == 6)
    #expect(Self.hops(checks) == ["pass", "fail", "skip"])
    #expect(Self.target(checks) == "skip")
    let failed = try #require(checks.first { $0["status"] as? String == "fail" })
    #expect(failed["hop"] as? Int == 2 && failed["fix"] as? String == "check the fingerprint")
    #expect(stderr.contains("check the fingerprint"), "the first failure's fix is repeated on stderr")
  }

  @Test("login refused at hop 3: every host key passes, the target fails with the hop's error, exit 7")
  func authenticationAtLastHop() async throws {
    let error = PathError(
      category: .sshConnection, summary: "hop 3/3: publickey refused", fix: "ssh-add",
      failedHop: HopFailure(index: 3, stage: .authentication))
    let (status, checks, _) = try await Self.doctor(startError: error)
    #expect(status == 7)
    #expect(Self.hops(checks) == ["pass", "pass", "pass"])
    #expect(Self.target(checks) == "fail")
  }

  @Test("hop 1 unreachable: no host key checked (skipped, not failed), the target fails, exit 7")
  func firstHopUnreachable() async throws {
    let error = PathError(
      category: .sshConnection, summary: "hop 1/3: connection refused", fix: "is sshd running?",
      failedHop: HopFailure(index: 1, stage: .reaching))
    let (status, checks, _) = try await Self.doctor(startError: error)
    #expect(status == 7)
    #expect(Self.hops(checks) == ["skip", "skip", "skip"])
    #expect(Self.target(checks) == "fail")
  }

  @Test("the path is up but the target refuses the channel: hops pass, target fails, exit 7")
  func targetRefused() async throws {
    let error = PathError(
      category: .sshConnection, summary: "channel to 127.0.0.1:8080 refused", fix: "is it listening?")
    let (status, checks, _) = try await Self.doctor(streamError: error)
    #expect(status == 7)
    #expect(Self.hops(checks) == ["pass", "pass", "pass"])
    #expect(Self.target(checks) == "fail")
  }

  @Test("several failures: the exit code is the first one's (no bus → 4 before a host key's 6)")
  func firstFailurePicksTheExitCode() async throws {
    let error = PathError(
      category: .hostKeyVerification, summary: "unknown key", fix: "add it",
      failedHop: HopFailure(index: 1, stage: .hostKey))
    let (status, checks, _) = try await Self.doctor(
      startError: error, bus: { _ in throw CoreError(.keyringUnavailable, "no bus", fix: "dbus-run-session") })
    #expect(status == 4)
    let statuses = Dictionary(
      checks.map { ($0["check"] as? String ?? "", $0["status"] as? String ?? "") }, uniquingKeysWith: { a, _ in a })
    #expect(statuses["session_bus"] == "fail" && statuses["secret_service"] == "skip" && statuses["login"] == "skip")
    #expect(statuses["idp_discovery"] == "pass" && statuses["known_hosts"] == "fail")
  }

  @Test(
    "listen.peers: a connection of doctor's own is looked up; its owner unseen (another namespace) fails with the fix"
  )
  func listenerPeers() async throws {
    let seen = InMemoryPeerCredentialLookup(unknown: .uid(geteuid()))
    let (okStatus, okChecks, _) = try await Self.doctor(peers: seen)
    #expect(okStatus == 0)
    let passed = okChecks.first { $0["check"] as? String == "listen_peers" }
    #expect(passed?["status"] as? String == "pass", "\(okChecks)")
    #expect(seen.lookups.count == 1, "one look-up, of a loopback connection: \(seen.lookups)")
    #expect(seen.lookups.first.map { $0.remote.host == "127.0.0.1" && $0.local.host == "127.0.0.1" } == true)

    let (status, checks, _) = try await Self.doctor(peers: InMemoryPeerCredentialLookup(unknown: .notFound))
    #expect(status == 2, "a configuration the machine cannot serve, like a non-loopback listen address")
    let failed = try #require(checks.first { $0["check"] as? String == "listen_peers" })
    #expect(failed["status"] as? String == "fail")
    #expect((failed["fix"] as? String ?? "").contains("any-local-user"), "\(failed)")
    #expect(Self.target(checks) == "pass", "the other layers still run")
  }
}
