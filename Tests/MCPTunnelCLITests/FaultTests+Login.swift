import Foundation
import LabSupport
import TestTiers
import Testing
import TunnelCore

/// Hardening, the login side: keyring faults under `up`, SIGKILL during refresh-token rotation, and
/// several processes of one profile refreshing against glewlwyd's one-use refresh tokens.
@Suite(
  "faults: keyring, refresh-token rotation (built binary, real glewlwyd + gnome-keyring)", .tags(.lab), .wholeLab,
  .offPool, .serialized,
  .timeLimit(.minutes(6)))
struct LoginFaultTests {
  @Test("up without a usable keyring (no bus, bus unset, no provider, locked) exits 4 with the specific fix")
  func upKeyringUnavailable() async throws {
    let cases: [(name: String, variant: KeyringLab.Variant, bus: String?, fix: String)] = [
      ("no session bus", .noProvider, "missing", "dbus-run-session"),
      ("DBUS_SESSION_BUS_ADDRESS unset", .noProvider, nil, "dbus-run-session"),
      ("no Secret Service", .noProvider, "lab", "gnome-keyring-daemon --start"),
      ("locked", .locked, "lab", "unlock it"),
    ]
    var labs: [KeyringLab.Variant: CLILab] = [:]
    defer { for lab in labs.values { lab.stop() } }
    for (name, variant, bus, fix) in cases {
      if labs[variant] == nil { labs[variant] = try await offPool { try CLILab(variant: variant, peers: [.ssh]) } }
      let lab = try #require(labs[variant])
      var environment = lab.environment
      switch bus {
      case "missing"?: environment["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=\(lab.lab.directory.path("no-such-bus"))"
      case nil: environment.removeValue(forKey: "DBUS_SESSION_BUS_ADDRESS")
      default: break
      }
      let started = Date()
      let result = try LabCommand.run(
        BuiltBinary.mcpTunnel, ["up", "--config", lab.config], environment: environment, timeout: .seconds(60))
      let took = Date().timeIntervalSince(started)
      #expect(result.status == 4, "\(name): \(result.stdout)\n\(result.stderr)")
      #expect(result.stderr.contains("fix:") && result.stderr.contains(fix), "\(name): \(result.stderr)")
      #expect(!LabNetwork.isListening(port: lab.listen?.port ?? 0), "\(name): nothing was left listening")
      print(
        "fault keyring \(name): up exit \(result.status) in \(FaultTests.seconds(took)): \(result.stderr.prefix(300))")
    }
  }

  @Test(
    "keyring locked while up runs: up keeps serving with its in-memory token and reports the keyring at the next refresh"
  )
  func keyringLockedAfterLogin() async throws {
    // glewlwyd access tokens of 30 s: the next tenant re-mint (after ~13-15 s) needs a refresh.
    try await CLILab.withTunnel(sessionTokenTTL: 20, idpAccessTokenTTL: 30) { lab, up in
      let port = try #require(lab.listen?.port)
      let ready = try #require(up.events.first)
      let expiresAt = try #require(FaultTests.date(ready["token_expires_at"]))
      try await offPool { try lab.keyring.lockLoginCollection() }
      let lockedAt = Date()

      // The token in hand keeps serving after the lock.
      let whileValid = await offPoolCall(port)
      #expect(whileValid.ok, "\(whileValid)")
      try await offPool {
        // Both lines: the stdout event and the stderr message come through two pipes, each read as
        // it arrives, so one may be in hand before the other.
        try waitUntil(timeout: .seconds(40), "the failed re-mint's token_error and its stderr line") {
          (up.stdout.contains("\"token_error\"") && up.stderr.contains("locked")) || !up.isRunning
        }
      }
      let reported = Date()
      let tokenError = try #require(up.events.first { $0["event"] as? String == "token_error" })
      #expect(tokenError["category"] as? String == "keyringUnavailable", "\(tokenError)")
      #expect((tokenError["fix"] as? String)?.contains("unlock") == true, "\(tokenError)")
      #expect(up.stderr.contains("locked"), "\(up.stderr)")
      #expect(up.isRunning, "a locked keyring never ends up")
      if Date() < expiresAt.addingTimeInterval(-1) {
        let stillValid = await offPoolCall(port)
        #expect(stillValid.ok, "until expiry the token in memory serves: \(stillValid)")
      }
      while Date() < expiresAt.addingTimeInterval(1) { try await Task.sleep(for: .milliseconds(250)) }
      let refused = await offPoolCall(port)
      #expect(refused.status == 503, "\(refused)")
      #expect((refused.jsonBody?["fix"] as? String)?.contains("unlock") == true, "\(refused)")
      #expect(refused.jsonBody?["error"] as? String == "keyring_unavailable", "\(refused)")
      #expect(up.isRunning)
      print(
        "fault keyring locked under up: reported \(FaultTests.seconds(reported.timeIntervalSince(lockedAt))) after the lock "
          + "(at the next refresh); token served until expiry; then 503 \(refused.jsonBody?["error"] ?? "")")
    }
  }

  @Test(
    "SIGKILL at random points of status --verify (refresh + rotation), 24 times: logged in, or a clear login required")
  func sigkillDuringRotation() async throws {
    let lab = try await offPool { try CLILab() }
    defer { lab.stop() }
    try await lab.logIn()
    let original = try #require(try lab.storedRefreshToken())
    // Calibrate: how long one unkilled status --verify takes here.
    let calibrationStart = Date()
    #expect(try await offPool { try lab.run(["status", "--verify"]) }.status == 0)
    let typical = Date().timeIntervalSince(calibrationStart)

    var rng = SplitMix64(seed: 0x00C0_FFEE_2026)
    var outcomes: [String: Int] = [:]
    var exitedBeforeKill = 0
    for iteration in 0..<24 {
      let delay = Double(rng.next() % 1000) / 1000 * typical * 1.2
      // Blocking waits and processes run off the cooperative pool, which other suites share.
      let (wasRunning, stored, check) = try await offPool {
        let victim = try RunningCommand(
          BuiltBinary.mcpTunnel, ["status", "--verify", "--config", lab.config], environment: lab.environment)
        usleep(useconds_t(delay * 1_000_000))  // off-pool: inside offPool {}
        let wasRunning = victim.isRunning
        victim.signal(SIGKILL)
        _ = try victim.waitForExit(timeout: .seconds(20))
        return (wasRunning, try lab.storedRefreshToken(), try lab.run(["status", "--verify"]))
      }
      if !wasRunning { exitedBeforeKill += 1 }
      if let stored {
        #expect(Self.looksLikeRefreshToken(stored, like: original), "iteration \(iteration): a garbled keyring entry")
      }
      switch check.status {
      case 0:
        outcomes["logged in", default: 0] += 1
      case 3:
        outcomes["login required", default: 0] += 1
        #expect(check.output.contains("mcp-tunnel login"), "iteration \(iteration): \(check.output)")
        #expect(
          try await offPool { try lab.storedRefreshToken() } == nil,
          "iteration \(iteration): the refused entry is deleted")
        try await lab.logIn()
      default:
        Issue.record(
          "iteration \(iteration) (killed after \(delay) s): status --verify exited \(check.status): \(check.output)")
        outcomes["other \(check.status)", default: 0] += 1
        try await lab.logIn()
      }
    }
    print(
      "fault SIGKILL during rotation: 24 kills after 0–\(FaultTests.seconds(typical * 1.2)) (seed 0xC0FFEE2026, "
        + "\(exitedBeforeKill) had already exited): \(outcomes.sorted { $0.key < $1.key })")
    #expect(try await offPool { try lab.run(["status", "--verify"]) }.status == 0)
  }

  @Test(
    "up re-minting every ~14 s (each mint a refresh) while status --verify runs in 3 loops and a second up is refused: no reuse detection"
  )
  func concurrentRefreshesOfOneProfile() async throws {
    try await CLILab.withTunnel(sessionTokenTTL: 20, idpAccessTokenTTL: 30) { lab, up in
      let port = try #require(lab.listen?.port)

      // A second up for the same profile on another port: refused (exit 8), it never refreshes.
      let otherPort = try LabNetwork.freePort()
      let second = try await offPool { try lab.run(["up", "--listen", "127.0.0.1:\(otherPort)"]) }
      #expect(second.status == 8, "\(second.output)")
      #expect(second.output.contains("fix:"), "\(second.output)")

      let calls = CallLoop(port: port)
      calls.start(pause: .milliseconds(500))
      let verifiers = (0..<3).map { _ in
        Task {
          try await offPool { () -> [Int32] in
            var statuses: [Int32] = []
            let end = Date().addingTimeInterval(32)
            while Date() < end { statuses.append(try lab.run(["status", "--verify"]).status) }
            return statuses
          }
        }
      }
      var statuses: [Int32] = []
      for verifier in verifiers { statuses += try await verifier.value }
      try calls.stop()
      let results = calls.snapshot

      let remints = up.events.filter { $0["event"] as? String == "token_minted" }
      #expect(remints.count >= 2, "at least two re-mints, each with a refresh: \(up.stdout)")
      #expect(statuses.allSatisfy { $0 == 0 }, "every status --verify refreshed fine: \(statuses)")
      #expect(!up.events.contains { $0["event"] as? String == "token_error" }, "\(up.stdout)\n\(up.stderr)")
      #expect(results.allSatisfy { $0.ok }, "\(results.filter { !$0.ok }.prefix(3))")
      #expect(
        try await offPool { try lab.run(["status", "--verify"]) }.status == 0, "the stored refresh token is still valid"
      )
      print(
        "fault concurrent refreshes: \(statuses.count) status --verify + \(remints.count) mints of up (each a refresh), "
          + "\(results.count) calls (\(results.filter { $0.ok }.count) ok), second up exit \(second.status); "
          + "the login is valid afterwards")
    }
  }

  /// A stored refresh token must be whole: same alphabet and length class as the one login stored.
  static func looksLikeRefreshToken(_ token: String, like original: String) -> Bool {
    let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~+/="))
    return token.count == original.count && token.unicodeScalars.allSatisfy { allowed.contains($0) }
  }
}
