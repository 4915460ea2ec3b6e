import Foundation
import LabSupport
import TestTiers
import Testing
import TunnelCore

/// `mcp-tunnel doctor` (SPEC §2) against healthy and broken labs: the built binary, the real
/// glewlwyd, gnome-keyring, OpenSSH bastion + target and MCP server. Each broken lab has exactly
/// one fault; doctor must fail that check (with a fix), skip what depends on it, pass the rest,
/// and exit with the fault's SPEC §8 code.
@Suite(
  "doctor (built binary, healthy and broken labs)", .tags(.lab), .wholeLab, .offPool, .serialized,
  .timeLimit(.minutes(6)))
struct DoctorCommandTests {
  struct Report {
    var status: Int32
    var stdout: String
    var stderr: String
    var object: [String: Any]

    var checks: [[String: Any]] { object["checks"] as? [[String: Any]] ?? [] }

    func statuses(_ id: String) -> [String] {
      checks.filter { $0["check"] as? String == id }.compactMap { $0["status"] as? String }
    }

    func check(_ id: String, hop: Int? = nil) -> [String: Any]? {
      checks.first { $0["check"] as? String == id && (hop == nil || $0["hop"] as? Int == hop) }
    }

    var failed: [String] { checks.filter { $0["status"] as? String == "fail" }.compactMap { $0["check"] as? String } }
  }

  /// `doctor --json` with `config` (default: the lab's) and `environment`.
  static func doctor(_ lab: CLILab, config: String? = nil, env: [String: String]? = nil) async throws -> Report {
    let result = try await offPool {
      try LabCommand.run(
        BuiltBinary.mcpTunnel, ["doctor", "--json", "--config", config ?? lab.config],
        environment: env ?? lab.environment)
    }
    let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
    let object = try #require(
      (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
      "doctor --json printed no object: exit \(result.status)\n\(result.stdout)\n\(result.stderr)")
    return Report(status: result.status, stdout: result.stdout, stderr: result.stderr, object: object)
  }

  /// The lab's config with `key = …` lines of `[ssh]`/`[listen]` replaced, written next to it.
  static func variant(_ lab: CLILab, _ name: String, replacing replacements: [String: String]) throws -> String {
    var lines = try String(contentsOfFile: lab.config, encoding: .utf8).components(separatedBy: "\n")
    for (key, value) in replacements {
      let index = try #require(lines.firstIndex { $0.hasPrefix("\(key) =") }, "no \(key) in the lab config")
      lines[index] = "\(key) = \(value)"
    }
    let path = lab.lab.directory.path("config-\(name).toml")
    try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  @Test("healthy lab: every check passes, one known_hosts line per hop, exit 0; a running up holds the port")
  func healthy() async throws {
    let lab = try await offPool { try CLILab(peers: [.ssh]) }
    defer { lab.stop() }
    // Before login: only the login check fails (exit 3, the fix names `mcp-tunnel login`).
    let before = try await Self.doctor(lab)
    #expect(before.status == 3, "\(before.stdout)\n\(before.stderr)")
    #expect(before.failed == ["login"])
    #expect((before.check("login")?["fix"] as? String ?? "").contains("mcp-tunnel login"))
    #expect(before.statuses("target") == ["pass"])

    try await lab.logIn()
    let report = try await Self.doctor(lab)
    #expect(report.status == 0, "\(report.stdout)\n\(report.stderr)")
    #expect(report.object["ok"] as? Bool == true)
    #expect(report.object["profile"] as? String == "lab")
    #expect(report.failed.isEmpty && report.checks.allSatisfy { $0["status"] as? String == "pass" }, "\(report.checks)")
    let ids = report.checks.compactMap { $0["check"] as? String }
    #expect(
      ids == [
        "config", "session_bus", "secret_service", "login", "idp_discovery", "ssh_config", "ssh_credentials",
        "listen_port", "listen_peers", "known_hosts", "known_hosts", "target",
      ])
    #expect(
      report.check("known_hosts", hop: 1)?["name"] as? String ?? ""
        == "known_hosts hop 1/2 \(try #require(lab.lab.ssh).bastionEndpoint)")
    #expect((report.check("listen_port")?["detail"] as? String) == "free")

    // Human output: one line per check, then the tally, all on stdout.
    let text = try await offPool { try lab.run(["doctor"]) }
    #expect(text.status == 0)
    let lines = text.output.split(separator: "\n")
    #expect(lines.filter { $0.hasPrefix("[ok]") }.count == 12, "\(text.output)")
    #expect(text.output.contains("12 passed, 0 failed, 0 skipped"))

    // With this profile's own `up` holding the port, the port check still passes and says so.
    let up = try await offPool { try lab.up() }
    defer { up.kill() }
    let running = try await Self.doctor(lab)
    #expect(running.status == 0, "\(running.stdout)\n\(running.stderr)")
    let detail = running.check("listen_port")?["detail"] as? String ?? ""
    #expect(detail.contains("held by this profile's mcp-tunnel up (pid \(up.pid))"), "\(detail)")
  }

  @Test(
    "broken keyring: no bus, no Secret Service, locked → that check fails with its fix, login is skipped, exit 4",
    arguments: ["noBus", "noProvider", "locked"])
  func brokenKeyring(variant: String) async throws {
    let lab = try await offPool {
      try CLILab(variant: variant == "locked" ? .locked : variant == "noProvider" ? .noProvider : .unlocked)
    }
    defer { lab.stop() }
    var environment = lab.environment
    if variant == "noBus" {
      environment["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=\(lab.lab.directory.path("no-such-bus"))"
    }
    let report = try await Self.doctor(lab, env: environment)
    #expect(report.status == 4, "\(report.stdout)\n\(report.stderr)")
    #expect(report.object["ok"] as? Bool == false)
    let failing = variant == "noBus" ? "session_bus" : "secret_service"
    #expect(report.failed.first == failing, "\(report.checks)")
    let check = try #require(report.check(failing))
    #expect(check["category"] as? String == "keyringUnavailable")
    let fix = check["fix"] as? String ?? ""
    switch variant {
    case "noBus":
      #expect((check["detail"] as? String ?? "").contains("no-such-bus"))
      #expect(fix.contains("dbus-run-session"))
      #expect(report.statuses("secret_service") == ["skip"])
    case "noProvider":
      #expect(fix.contains("gnome-keyring"))
    default:
      #expect((check["detail"] as? String ?? "").contains("locked"))
      #expect(fix.contains("unlock"))
    }
    #expect(report.statuses("login") == ["skip"])
    #expect(report.statuses("config") == ["pass"])
    #expect(report.statuses("idp_discovery") == ["pass"], "the other layers are still checked")
    #expect(report.stderr.contains("fix:") || report.stderr.contains("\"fix\""), "the failure is repeated on stderr")
  }

  @Test(
    "broken SSH path and port, one fault at a time: the failing hop or layer is named, later hops skipped, SPEC exit code"
  )
  func brokenPathAndPort() async throws {
    let lab = try await offPool { try CLILab(peers: [.ssh]) }
    defer { lab.stop() }
    try await lab.logIn()
    let ssh = try #require(lab.lab.ssh)

    // Unknown host key at hop 1 → exit 6, hop 2 and the target skipped.
    let unknownKey = try Self.variant(lab, "unknown-key", replacing: ["known_hosts": "\"\(ssh.emptyKnownHostsPath)\""])
    let hostKey = try await Self.doctor(lab, config: unknownKey)
    #expect(hostKey.status == 6, "\(hostKey.stdout)\n\(hostKey.stderr)")
    #expect(hostKey.failed == ["known_hosts"])
    let hop1 = try #require(hostKey.check("known_hosts", hop: 1))
    #expect((hop1["detail"] as? String ?? "").contains("SHA256:"), "the fingerprint to compare")
    #expect((hop1["fix"] as? String ?? "").contains("fingerprint"))
    #expect(hostKey.check("known_hosts", hop: 2)?["status"] as? String == "skip")
    #expect(hostKey.statuses("target") == ["skip"])

    // Target port closed behind the hops → both host keys pass, the target fails, exit 7.
    let closedPort = try LabNetwork.freePort()
    let noTarget = try Self.variant(lab, "no-target", replacing: ["target": "\"127.0.0.1:\(closedPort)\""])
    let target = try await Self.doctor(lab, config: noTarget)
    #expect(target.status == 7, "\(target.stdout)\n\(target.stderr)")
    #expect(target.failed == ["target"])
    #expect(target.statuses("known_hosts") == ["pass", "pass"])
    #expect((target.check("target")?["detail"] as? String ?? "").contains("127.0.0.1:\(closedPort)"))

    // Listen port held by another program → exit 8, the holder named.
    let holder = try TCPEchoServer()
    defer { holder.stop() }
    let busy = try Self.variant(lab, "busy-port", replacing: ["address": "\"127.0.0.1:\(holder.port)\""])
    let port = try await Self.doctor(lab, config: busy)
    #expect(port.status == 8, "\(port.stdout)\n\(port.stderr)")
    #expect(port.failed == ["listen_port"])
    let portDetail = port.check("listen_port")?["detail"] as? String ?? ""
    #expect(portDetail.contains("\(holder.port)") && portDetail.contains("pid \(getpid())"), "\(portDetail)")

    // Bastion down → hop 1 cannot be reached: its known_hosts line is skipped, the target fails, exit 7.
    ssh.stopBastion()
    let down = try await Self.doctor(lab)
    #expect(down.status == 7, "\(down.stdout)\n\(down.stderr)")
    #expect(down.failed == ["target"])
    #expect(down.statuses("known_hosts") == ["skip", "skip"])
    #expect((down.check("target")?["detail"] as? String ?? "").contains("hop 1/2"))
    try ssh.startBastion()

    // IdP down → discovery fails (exit 5); the SSH checks still run and pass.
    lab.idp.stop()
    let idp = try await Self.doctor(lab)
    #expect(idp.status == 5, "\(idp.stdout)\n\(idp.stderr)")
    #expect(idp.failed == ["idp_discovery"])
    #expect(idp.statuses("target") == ["pass"])
  }

  @Test("no configuration file: config fails (exit 2) naming `config init`; the bus is still checked")
  func noConfiguration() async throws {
    let lab = try await offPool { try CLILab() }
    defer { lab.stop() }
    let report = try await Self.doctor(lab, config: lab.lab.directory.path("missing.toml"))
    #expect(report.status == 2, "\(report.stdout)\n\(report.stderr)")
    #expect(report.failed == ["config"])
    #expect((report.check("config")?["fix"] as? String ?? "").contains("config init"))
    #expect(report.statuses("session_bus") == ["pass"])
    #expect(report.statuses("secret_service") == ["pass"])
    #expect(report.statuses("target") == ["skip"])
  }
}
