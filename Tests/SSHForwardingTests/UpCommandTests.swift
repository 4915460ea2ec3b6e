import Foundation
import LabSupport
import Synchronization
import TestTiers
import Testing
import TunnelCore

/// The built `mcp-tunnel up --mode tcp` binary against the OpenSSH lab: exit codes and `--json` events.
@Suite("mcp-tunnel up --mode tcp (built binary)", .tags(.lab), .wholeLab, .offPool, .serialized)
struct UpCommandTests {
  /// `mcp-tunnel` sits next to the test bundle in the build products directory.
  static var binary: String {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    return bundle.appendingPathComponent("mcp-tunnel").path
  }

  private func writeConfig(
    _ env: ForwarderLab, listen: Int, identity: String? = nil, knownHosts: String? = nil,
    certificate: String? = nil, extra: String = ""
  ) throws -> String {
    let path = env.directory.path("config.toml")
    let text = """
      default_profile = "lab"
      [profiles.lab.ssh]
      jump = ["\(env.lab.user)@127.0.0.1:\(env.lab.bastionPort)"]
      host = "\(env.lab.user)@127.0.0.1:\(env.lab.targetPort)"
      target = "\(env.lab.forwardTarget)"
      known_hosts = "\(knownHosts ?? env.lab.knownHostsPath)"
      identity = "\(identity ?? env.lab.clientKeyPath)"
      certificate = "\(certificate ?? "")"
      keepalive = "15s"
      [profiles.lab.listen]
      address = "127.0.0.1:\(listen)"
      mode = "tcp"
      \(extra)

      """
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  private func environment(_ env: ForwarderLab) -> [String: String] {
    let home = env.directory.url.path
    return [
      "HOME": home, "XDG_CONFIG_HOME": home + "/xdg-config", "XDG_STATE_HOME": home + "/xdg-state",
      "XDG_RUNTIME_DIR": home + "/xdg-run", "PATH": "/usr/bin:/bin",
    ]
  }

  /// `up --config CONFIG --json` of the built binary, returned once its ready event is out (or it exited).
  func startUp(_ env: ForwarderLab, config: String) throws -> RunningCommand {
    let up = try RunningCommand(Self.binary, ["up", "--config", config, "--json"], environment: environment(env))
    try waitUntil(timeout: .seconds(30), "the ready event") {
      up.stdout.contains("\"event\":\"ready\"") || !up.isRunning
    }
    return up
  }

  @Test("ready event, `status` shows the tcp tunnel, bytes both ways, SIGTERM stops it with exit 0 and a stopped event")
  func readyForwardAndStop() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let port = try LabNetwork.freePort()
    let config = try writeConfig(env, listen: port)
    let up = try startUp(env, config: config)
    defer { up.kill() }
    let ready = try #require(up.events.first { $0["event"] as? String == "ready" }, "\(up.stdout)\n\(up.stderr)")
    #expect(ready["listen"] as? String == "127.0.0.1:\(port)")
    #expect(ready["mode"] as? String == "tcp")
    #expect((ready["hops"] as? [String])?.count == 2)

    // A tcp tunnel has a control socket too: `status` shows it (the profile has no [idp]).
    let shown = try LabCommand.run(
      Self.binary, ["status", "--json", "--config", config], environment: environment(env), timeout: .seconds(120))
    #expect(shown.status == 0, "\(shown.stderr)")
    let object = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
    let tunnel = try #require(object?["tunnel"] as? [String: Any], "\(shown.stdout)")
    #expect(tunnel["mode"] as? String == "tcp" && tunnel["listen"] as? String == "127.0.0.1:\(port)")
    #expect(tunnel["state"] as? String == "forwarding" && tunnel["url"] == nil)
    #expect(object?["logged_in"] as? Bool == false)
    let text = try LabCommand.run(
      Self.binary, ["status", "--config", config], environment: environment(env), timeout: .seconds(120))
    #expect(text.stdout.contains("Tunnel:        running") && text.stdout.contains("tcp 127.0.0.1:\(port)"))

    for size in [1, 100_000] {
      let client = try LabTCPClient(port: port)
      var pattern = PatternStream(seed: UInt64(size))
      let payload = pattern.bytes(size)
      try client.send(payload)
      #expect(try client.receive(exactly: size) == payload)
    }

    up.signal(SIGTERM)
    let status = try up.waitForExit(timeout: .seconds(20))
    #expect(status == 0, "\(up.stderr)")
    #expect(up.events.last?["event"] as? String == "stopped")
    #expect(!LabNetwork.isListening(port: port))
  }

  @Test("session.max_duration: ready shows ends_at, a session_ending warning, then up stops by itself with exit 0")
  func maxDurationEndsTheSession() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let port = try LabNetwork.freePort()
    let config = try writeConfig(env, listen: port, extra: "[profiles.lab.session]\nmax_duration = \"8s\"")
    let up = try startUp(env, config: config)
    defer { up.kill() }
    let ready = try #require(up.events.first { $0["event"] as? String == "ready" }, "\(up.stdout)\n\(up.stderr)")
    #expect(ready["ends_at"] is String && ready["idle_ends_at"] == nil, "\(ready)")
    // No signal: the limit alone ends the run (warning at half of 8 s, the end at 8 s).
    let status = try up.waitForExit(timeout: .seconds(60))
    #expect(status == 0, "\(up.stderr)")
    let ending = try #require(up.events.first { $0["event"] as? String == "session_ending" }, "\(up.stdout)")
    #expect(ending["limit"] as? String == "max_duration" && ending["ends_at"] as? String == ready["ends_at"] as? String)
    #expect(up.events.last?["event"] as? String == "stopped" && up.events.last?["reason"] as? String == "max_duration")
    #expect(up.stderr.contains("warning: the session ends at"), "\(up.stderr)")
    #expect(!LabNetwork.isListening(port: port))
    let audit = try String(
      contentsOfFile: env.directory.url.path + "/xdg-state/mcp-tunnel/audit/lab.jsonl", encoding: .utf8)
    let down = try #require(audit.split(separator: "\n").last { $0.contains("\"tunnel_down\"") }, "\(audit)")
    #expect(down.contains("\"max_duration\"") && down.contains("\"outcome\":\"ok\""), "\(down)")
  }

  @Test("bastion restarted on the same port: reconnecting/reconnected events, new connections work")
  func reconnectEvents() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let port = try LabNetwork.freePort()
    let up = try RunningCommand(
      Self.binary, ["up", "--config", try writeConfig(env, listen: port), "--json"], environment: environment(env))
    defer { up.kill() }
    try waitUntil(timeout: .seconds(30), "the ready event") {
      up.stdout.contains("\"event\":\"ready\"") || !up.isRunning
    }
    env.lab.killBastion()
    try waitUntil(timeout: .seconds(30), "a reconnecting event") { up.stdout.contains("\"event\":\"reconnecting\"") }
    #expect(LabNetwork.isListening(port: port), "the listener stays bound while reconnecting")
    try env.lab.startBastion()
    try waitUntil(timeout: .seconds(30), "a reconnected event") { up.stdout.contains("\"event\":\"reconnected\"") }
    let client = try LabTCPClient(port: port)
    try client.send([9, 8, 7])
    #expect(try client.receive(exactly: 3) == [9, 8, 7])
    up.signal(SIGINT)
    #expect(try up.waitForExit(timeout: .seconds(20)) == 0)
  }

  @Test("port in use: exit 8 naming the holder process")
  func portInUse() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let holder = try TCPEchoServer()  // this test process holds the port
    defer { holder.stop() }
    let r = try runTool(
      Self.binary, ["up", "--config", try writeConfig(env, listen: holder.port)], environment: environment(env))
    #expect(r.status == 8, "\(r.output)")
    #expect(r.output.contains("127.0.0.1:\(holder.port)"), "\(r.output)")
    #expect(r.output.contains("pid \(getpid())"), "\(r.output)")
    #expect(!env.lab.bastionLog().contains("Accepted publickey"), "no SSH traffic before the port is known to be free")
  }

  @Test("unknown host key: exit 6 with the hop and fingerprint")
  func unknownHostKey() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let config = try writeConfig(env, listen: try LabNetwork.freePort(), knownHosts: env.lab.emptyKnownHostsPath)
    let r = try runTool(Self.binary, ["up", "--config", config], environment: environment(env))
    #expect(r.status == 6, "\(r.output)")
    #expect(r.output.contains("hop 1/2"), "\(r.output)")
    #expect(r.output.contains("SHA256:"), "\(r.output)")
  }

  @Test("key not authorized: exit 7 naming the hop and the methods tried")
  func wrongKey() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let config = try writeConfig(env, listen: try LabNetwork.freePort(), identity: env.lab.unauthorizedKeyPath)
    let r = try runTool(Self.binary, ["up", "--config", config], environment: environment(env))
    #expect(r.status == 7, "\(r.output)")
    #expect(r.output.contains("hop 1/2"), "\(r.output)")
    #expect(r.output.contains("tried:"), "\(r.output)")
  }

  @Test("certificate for another principal (ssh.certificate): exit 7 naming the hop, window, principals and fix")
  func wrongPrincipalCertificate() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let issued = env.directory.path("issued-cert.pub")
    try FileManager.default.copyItem(atPath: env.lab.wrongPrincipalCertKeyPath + "-cert.pub", toPath: issued)
    let config = try writeConfig(
      env, listen: try LabNetwork.freePort(), identity: env.lab.wrongPrincipalCertKeyPath, certificate: issued)
    let r = try runTool(Self.binary, ["up", "--config", config], environment: environment(env))
    #expect(r.status == 7, "\(r.output)")
    #expect(r.output.contains("hop 1/2"), "\(r.output)")
    #expect(r.output.contains("certificate \(issued)"), "\(r.output)")
    #expect(r.output.contains("principal someone-else") && r.output.contains("valid from "), "\(r.output)")
    #expect(r.output.contains("get a new certificate"), "\(r.output)")
  }

  @Test(
    "issue 17: another local user's connection (setpriv uid 65534) is closed before a byte is forwarded; the owner's works; audited with the uid",
    .enabled(if: geteuid() == 0, "setpriv --reuid needs root"))
  func otherLocalUserRefused() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let port = try LabNetwork.freePort()
    let config = try writeConfig(env, listen: port)
    let up = try startUp(env, config: config)
    defer { up.kill() }
    let script = """
      import socket
      s = socket.create_connection(("127.0.0.1", \(port)), timeout=30)
      try:
          s.sendall(b"abc")
          print("echoed" if s.recv(10) else "closed")
      except (ConnectionResetError, BrokenPipeError):
          print("closed")
      """
    let other = try LabCommand.run(
      "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-I", "-c", script],
      environment: ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent"])
    #expect(other.status == 0 && other.stdout == "closed\n", "\(other.stdout)\(other.stderr)")
    #expect(env.echo.acceptedCount == 0, "no channel was opened for it")

    let client = try LabTCPClient(port: port)
    try client.send([7, 7, 7])
    #expect(try client.receive(exactly: 3) == [7, 7, 7], "the owner's connection is forwarded")

    let shown = try LabCommand.run(
      Self.binary, ["status", "--json", "--config", config], environment: environment(env), timeout: .seconds(120))
    let object = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
    let tunnel = try #require(object?["tunnel"] as? [String: Any], "\(shown.stdout)")
    #expect((tunnel["counters"] as? [String: Any])?["denied"] as? Int == 1 && tunnel["peers"] as? String == "same-user")
    // stderr is read by a thread of its own: wait for the line rather than assume it is in.
    try? waitUntil(timeout: .seconds(120), "the refusal on stderr") { up.stderr.contains("from uid 65534") }
    #expect(up.stderr.contains("from uid 65534"), "\(up.stderr)")

    up.signal(SIGTERM)
    #expect(try up.waitForExit(timeout: .seconds(20)) == 0, "\(up.stderr)")
    let trail = try LabCommand.run(
      Self.binary, ["audit", "tail", "--json", "--config", config], environment: environment(env))
    let records = LabJSONLines.parse(trail.stdout)
    let denied = records.filter { $0["event"] as? String == "denied" }
    #expect(denied.count == 1 && denied.first?["peer_uid"] as? Int == 65534, "\(trail.stdout)\(trail.stderr)")
    #expect(records.contains { $0["event"] as? String == "tunnel_up" })
  }

  @Test("non-loopback --listen: exit 2")
  func nonLoopbackListen() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let config = try writeConfig(env, listen: try LabNetwork.freePort())
    let r = try runTool(
      Self.binary, ["up", "--config", config, "--listen", "0.0.0.0:7700"], environment: environment(env))
    #expect(r.status == 2, "\(r.output)")
    #expect(r.output.contains("loopback"), "\(r.output)")
  }

  /// `systemd-socket-activate -l ADDRESS -E VAR=… mcp-tunnel up …`: binds ADDRESS, waits for the
  /// first connection, then execs up (same pid) with LISTEN_FDS=1 and LISTEN_PID = that pid — the
  /// sd_listen_fds protocol as systemd speaks it, without a running systemd.
  private func socketActivated(_ env: ForwarderLab, address: String, config: String) throws -> RunningCommand {
    let passed = environment(env).sorted { $0.key < $1.key }.flatMap { ["-E", "\($0.key)=\($0.value)"] }
    let activator = try RunningCommand(
      "/usr/bin/systemd-socket-activate",
      ["-l", address] + passed + [Self.binary, "up", "--config", config, "--json"],
      environment: environment(env))
    // Not isListening(port:): a connection would start up.
    try waitUntil(timeout: .seconds(30), "systemd-socket-activate to listen") {
      activator.stderr.contains("Listening on \(address)") || !activator.isRunning
    }
    return activator
  }

  @Test("socket activation: the first connection starts up, which takes the passed socket over and serves it")
  func socketActivation() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let port = try LabNetwork.freePort()
    let configured = try LabNetwork.freePort()
    let activator = try socketActivated(
      env, address: "127.0.0.1:\(port)", config: try writeConfig(env, listen: configured))
    defer { activator.kill() }
    #expect(activator.isRunning && activator.stdout.isEmpty, "up started before a connection: \(activator.stderr)")

    // The first connection waits in the socket's backlog while up starts and opens the SSH path.
    let client = try LabTCPClient(port: port, timeout: .seconds(60))
    var pattern = PatternStream(seed: 7)
    let payload = pattern.bytes(50_000)
    try client.send(payload)
    #expect(try client.receive(exactly: payload.count) == payload, "\(activator.stderr)")
    let ready = try #require(activator.events.first { $0["event"] as? String == "ready" }, "\(activator.stderr)")
    #expect(ready["listen"] as? String == "127.0.0.1:\(port)")
    #expect(!LabNetwork.isListening(port: configured), "up bound listen.address although it was passed a socket")
    // A second connection on the same socket, served by the same process.
    let second = try LabTCPClient(port: port)
    try second.send([1, 2, 3])
    #expect(try second.receive(exactly: 3) == [1, 2, 3])

    activator.signal(SIGTERM)  // systemd-socket-activate exec'd up: the same process
    #expect(try activator.waitForExit(timeout: .seconds(20)) == 0, "\(activator.stderr)")
    #expect(activator.events.last?["event"] as? String == "stopped")
    #expect(activator.events.filter { $0["event"] as? String == "ready" }.count == 1)
  }

  @Test("socket activation on a non-loopback address: up refuses the passed socket with exit 2")
  func socketActivationNonLoopback() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let port = try LabNetwork.freePort()
    let activator = try socketActivated(
      env, address: "0.0.0.0:\(port)", config: try writeConfig(env, listen: try LabNetwork.freePort()))
    defer { activator.kill() }
    _ = try? LabTCPClient(port: port)
    #expect(try activator.waitForExit(timeout: .seconds(30)) == 2, "\(activator.stderr)")
    #expect(activator.stderr.contains("not a loopback address"), "\(activator.stderr)")
  }
}
