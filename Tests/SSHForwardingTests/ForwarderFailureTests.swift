import Foundation
import LabSupport
import SSHForwarding
import Synchronization
import TestTiers
import Testing
import TunnelCore

/// Host keys, authentication, hop layouts and reconnects against the real OpenSSH lab.
@Suite("Forwarder host keys, auth, hops and reconnect", .tags(.lab), .offPool, .serialized)
struct ForwarderFailureTests {
  // MARK: host keys

  @Test("unknown host key: hostKeyVerification naming hop 1 and its SHA256 fingerprint; nothing sent")
  func unknownHostKey() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try env.forwarder(env.lab.settings(knownHosts: env.lab.emptyKnownHostsPath))
    let error = try await startFailure(forwarder)
    #expect(error.category == .hostKeyVerification)
    #expect(error.summary.contains("hop 1/2"), "\(error)")
    #expect(error.summary.contains("unknown"), "\(error)")
    #expect(error.summary.contains(try fingerprint(of: env.lab.bastionHostKeyPublicPath)), "\(error)")
    #expect(!env.lab.bastionLog().contains("Accepted publickey"))
  }

  @Test("unknown key of the second hop names hop 2 and the target's fingerprint")
  func unknownSecondHop() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    // known_hosts with only the bastion's line.
    let onlyBastion = env.directory.path("known_hosts_bastion_only")
    let lines = try String(contentsOfFile: env.lab.knownHostsPath, encoding: .utf8).split(separator: "\n")
    try (lines.filter { $0.contains(":\(env.lab.bastionPort) ") }.joined(separator: "\n") + "\n")
      .write(toFile: onlyBastion, atomically: true, encoding: .utf8)
    let error = try await startFailure(try env.forwarder(env.lab.settings(knownHosts: onlyBastion)))
    #expect(error.category == .hostKeyVerification)
    #expect(error.summary.contains("hop 2/2"), "\(error)")
    #expect(error.summary.contains(try fingerprint(of: env.lab.targetHostKeyPublicPath)), "\(error)")
  }

  @Test("changed host key (bastion rekeyed on the same port): refused, even under accept-new")
  func changedHostKey() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    try env.lab.restartBastion(newHostKey: true)
    for policy in [HostKeyPolicy.strict, .acceptNew] {
      let error = try await startFailure(try env.forwarder(env.lab.settings(hostKeyPolicy: policy)))
      #expect(error.category == .hostKeyVerification)
      #expect(error.summary.contains("CHANGED"), "\(error)")
      #expect(error.summary.contains("hop 1/2"), "\(error)")
      #expect(error.summary.contains(try fingerprint(of: env.lab.bastionHostKeyPublicPath)), "\(error)")
      #expect(error.fix?.contains("ssh-keygen -R") == true)
    }
  }

  @Test("hashed known_hosts entries verify")
  func hashedKnownHosts() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try env.forwarder(env.lab.settings(knownHosts: env.lab.hashedKnownHostsPath))
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder))
    await forwarder.stop()
  }

  @Test("accept-new records unknown keys as [host]:port lines that strict mode then accepts")
  func acceptNewRecordsKeys() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let fresh = env.directory.path("new/known_hosts")
    let first = try env.forwarder(env.lab.settings(knownHosts: fresh, hostKeyPolicy: .acceptNew))
    try await withDeadline(.seconds(90), "start") { try await first.start() }
    await first.stop()
    let recorded = try String(contentsOfFile: fresh, encoding: .utf8)
    #expect(recorded.contains("[127.0.0.1]:\(env.lab.bastionPort) ssh-ed25519 "))
    #expect(recorded.contains("[127.0.0.1]:\(env.lab.targetPort) ssh-ed25519 "))
    let second = try env.forwarder(env.lab.settings(knownHosts: fresh, hostKeyPolicy: .strict))
    try await withDeadline(.seconds(90), "start") { try await second.start() }
    #expect(try await roundTrip(second))
    await second.stop()
  }

  // MARK: authentication

  @Test("a key the server does not accept: sshConnection naming the hop and the methods tried")
  func wrongKey() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let error = try await startFailure(try env.forwarder(env.lab.settings(identity: env.lab.unauthorizedKeyPath)))
    #expect(error.category == .sshConnection)
    #expect(error.summary.contains("hop 1/2"), "\(error)")
    #expect(error.summary.contains("authentication failed"), "\(error)")
    #expect(error.summary.contains("ssh-agent"), "\(error)")
    #expect(error.summary.contains(env.lab.unauthorizedKeyPath), "\(error)")
    #expect(!error.retryable)
  }

  @Test("encrypted key: the passphrase provider unlocks it; without one it fails clearly")
  func encryptedKey() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let settings = env.lab.settings(identity: env.lab.encryptedKeyPath)
    let unlocked = try env.forwarder(settings, passphrase: env.lab.encryptedKeyPassphrase)
    try await withDeadline(.seconds(90), "start") { try await unlocked.start() }
    #expect(try await roundTrip(unlocked))
    await unlocked.stop()

    let error = try await startFailure(try env.forwarder(settings, passphrase: nil))
    #expect(error.category == .sshConnection)
    #expect(error.summary.contains("encrypted"), "\(error)")
    #expect(error.summary.contains("no terminal"), "\(error)")

    let wrong = try await startFailure(try env.forwarder(settings, passphrase: "not-the-passphrase"))
    #expect(wrong.summary.contains("wrong passphrase"), "\(wrong)")
  }

  @Test("ECDSA identity, zero jump hops straight to the target sshd")
  func ecdsaWithoutJump() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try env.forwarder(zeroJumpSettings(env, identity: env.lab.ecdsaKeyPath))
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder))
    await forwarder.stop()
    #expect(!env.lab.bastionLog().contains("Accepted publickey"))
  }

  /// libssh2 1.11 signs RSA user keys with rsa-sha2-256/512 (the server's `server-sig-algs`);
  /// 1.10 signed only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse.
  @Test("RSA identity: logs in at OpenSSH 9 (signed with rsa-sha2-256/512, not SHA-1)")
  func rsaIdentityLogsIn() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try env.forwarder(zeroJumpSettings(env, identity: env.lab.rsaKeyPath))
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder))
    await forwarder.stop()
    let log = env.lab.targetLog()
    #expect(log.contains("Accepted publickey") && log.contains("RSA SHA256:"), "\(log)")
  }

  private func zeroJumpSettings(_ env: ForwarderLab, identity: String) -> SSHSettings {
    SSHSettings(
      jump: [], host: env.lab.targetEndpoint, target: env.lab.forwardTarget, knownHosts: env.lab.knownHostsPath,
      identity: identity)
  }

  @Test("ssh-agent is used first; no identity file needed")
  func agentAuthentication() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let socket = env.directory.path("agent.sock")
    let agent = try LabProcess(
      name: "ssh-agent", executable: "/usr/bin/ssh-agent", arguments: ["-D", "-a", socket], directory: env.directory)
    defer { agent.stop() }
    try waitUntil(timeout: .seconds(10), "the agent socket", process: agent) {
      FileManager.default.fileExists(atPath: socket)
    }
    let add = try runTool("/usr/bin/ssh-add", [env.lab.clientKeyPath], environment: ["SSH_AUTH_SOCK": socket])
    #expect(add.status == 0, "\(add.output)")
    var options = ForwarderLab.options
    options.agent = .socket(socket)
    var settings = env.lab.settings()
    settings.identity = nil
    let forwarder = try env.forwarder(settings, options: options)
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder))
    await forwarder.stop()
  }

  // MARK: hop layouts

  @Test("one jump and no final host: the bastion opens the target directly")
  func singleJump() async throws {
    let env = try ForwarderLab(variant: .bastionMayOpenForwardTarget)
    defer { env.stop() }
    let settings = SSHSettings(
      jump: [env.lab.bastionEndpoint], host: nil, target: env.lab.forwardTarget, knownHosts: env.lab.knownHostsPath,
      identity: env.lab.clientKeyPath)
    let forwarder = try env.forwarder(settings)
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder))
    #expect(forwarder.hopNames == ["\(env.lab.user)@127.0.0.1:\(env.lab.bastionPort)"])
    await forwarder.stop()
  }

  @Test("unreachable first hop: sshConnection naming it")
  func unreachableHop() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let closedPort = try LabNetwork.freePort()
    var settings = env.lab.settings()
    settings.jump = [SSHEndpoint(user: env.lab.user, address: HostPort(host: "127.0.0.1", port: closedPort))]
    let error = try await startFailure(try env.forwarder(settings))
    #expect(error.category == .sshConnection)
    #expect(error.summary.contains("hop 1/2"), "\(error)")
    #expect(error.summary.contains("127.0.0.1:\(closedPort)"), "\(error)")
  }

  // MARK: reconnect

  @Test("bastion killed and restarted on the same port: new streams work without a new forwarder")
  func reconnectAfterBastionRestart() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try env.forwarder()
    let events = EventRecorder(forwarder.events)
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder, "before"))

    env.lab.killBastion()
    try await events.waitFor("reconnecting") { if case .reconnecting = $0 { true } else { false } }
    try env.lab.startBastion()
    try await events.waitFor("reconnected") { if case .reconnected = $0 { true } else { false } }
    #expect(try await roundTrip(forwarder, "after"))
    await forwarder.stop()
  }

  @Test("a stream asked for while the bastion is down waits and succeeds once it is back")
  func streamWaitsForReconnect() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try env.forwarder()
    let events = EventRecorder(forwarder.events)
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    env.lab.killBastion()
    try await events.waitFor("reconnecting") { if case .reconnecting = $0 { true } else { false } }
    let pending = Task { try await forwarder.openStream() }
    try env.lab.startBastion()
    let stream = try await withDeadline(.seconds(90), "the waiting stream") { try await pending.value }
    let io = streamClient(stream)
    try io.send([1, 2, 3])
    #expect(try io.receive(exactly: 3) == [1, 2, 3])
    await forwarder.stop()
  }

  @Test("a silent leg (bastion frozen) is found by keepalive and replaced")
  func keepaliveDetectsFrozenLeg() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try env.forwarder(env.lab.settings(keepalive: .milliseconds(300)))
    let events = EventRecorder(forwarder.events)
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    let frozen = env.lab.freezeBastionConnections()
    defer { env.lab.thawBastionConnections(frozen) }
    #expect(!frozen.isEmpty)
    let reason = try await events.waitFor("reconnecting") { if case .reconnecting = $0 { true } else { false } }
    if case .reconnecting(_, _, let text) = reason { #expect(text.contains("keepalive"), "\(text)") }
    try await events.waitFor("reconnected") { if case .reconnected = $0 { true } else { false } }
    #expect(try await roundTrip(forwarder))
    await forwarder.stop()
  }
}

/// Collects a forwarder's events so tests can wait (bounded) for one.
final class EventRecorder: Sendable {
  private final class Seen: Sendable {
    let events = Mutex<[ForwarderEvent]>([])
  }
  private let seen = Seen()

  init(_ events: AsyncStream<ForwarderEvent>) {
    let seen = self.seen
    Task {
      for await event in events { seen.events.withLock { $0.append(event) } }
    }
  }

  var all: [ForwarderEvent] { seen.events.withLock { $0 } }

  @discardableResult
  func waitFor(
    _ what: String, timeout: Duration = .seconds(30), _ matches: (ForwarderEvent) -> Bool
  ) async throws
    -> ForwarderEvent
  {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      if let hit = all.first(where: matches) { return hit }
      try await Task.sleep(for: .milliseconds(20))
    }
    throw LabError("no \(what) event within \(timeout); events: \(all)")
  }
}
