import Foundation
import LabSupport
import TestTiers
import Testing
import TunnelCore

/// Issue 16 item 3: `mcp-tunnel stdio` driven by the official `mcp` SDK's `stdio_client` (what
/// Claude Desktop does: start a command, speak JSON-RPC lines) through the whole lab — with a
/// tunnel of its own in the minimal environment MCP clients pass, through a running `up`, not
/// logged in, and the end of stdin.
@Suite(
  "stdio (built binary, SDK stdio_client, whole lab)", .tags(.lab), .wholeLab, .offPool, .serialized,
  .timeLimit(.minutes(6)))
struct StdioCommandTests {
  /// Runs `Tests/Lab/mcp/stdio_client.py COMMAND… -- mcp-tunnel stdio --config … --profile lab`;
  /// the child's environment goes over stdin.
  func stdioClient(
    _ lab: CLILab, _ command: [String], minimalEnvironment: Bool = false
  ) async throws
    -> MCPClientResult
  {
    try await offPool {
      let arguments =
        [LabPaths.script("mcp/stdio_client.py")] + (minimalEnvironment ? ["--minimal-env"] : []) + command
        + ["--", BuiltBinary.mcpTunnel, "stdio", "--config", lab.config, "--profile", "lab"]
      let childEnvironment = String(
        decoding: try JSONSerialization.data(withJSONObject: lab.environment), as: UTF8.self)
      var environment = lab.environment
      environment["PYTHONUNBUFFERED"] = "1"
      let result = try LabCommand.run(
        try LabPaths.python(), arguments, environment: environment, stdin: childEnvironment + "\n",
        timeout: .seconds(240))
      if result.timedOut { throw LabError("stdio client \(command) timed out\n\(labTail(result.stderr))") }
      return MCPClientResult(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }
  }

  static func lab(logIn: Bool) async throws -> CLILab {
    let lab = try await offPool { try CLILab(peers: [.ssh]) }
    if logIn { try await lab.logIn() }
    return lab
  }

  /// What a whole session must show, whichever tunnel carried it.
  func expectWholeSession(_ run: MCPClientResult) {
    #expect(run.ok, "\(run)")
    let object = run.object
    #expect(object["server"] as? String == "mcp-tunnel-lab")
    #expect((object["tools"] as? [String])?.contains("slow_stream") == true, "\(run.stdout)")
    #expect((object["whoami"] as? [String: Any])?["tenant"] as? String == "acme", "\(run.stdout)")
    #expect((object["stream"] as? [String: Any])?["count"] as? Int == 3)
    // Progress notifications arrive one by one while the call runs, not all at its end.
    let progress = (object["stream_events"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "progress" }
      .compactMap { ($0["t"] as? NSNumber)?.doubleValue }
    let elapsed = (object["stream_elapsed"] as? NSNumber)?.doubleValue ?? 0
    #expect(progress.count == 3, "\(run.stdout)")
    #expect(zip(progress, progress.dropFirst()).allSatisfy { $1 - $0 >= 0.25 }, "spaced, not batched: \(progress)")
    #expect((progress.first ?? elapsed) < elapsed - 0.5, "the first before the result: \(progress) / \(elapsed)")
    // The fast call beside a slow one came back first.
    #expect((object["fast"] as? [String: Any])?["text"] as? String == "fast")
    let fast = (object["fast_elapsed"] as? NSNumber)?.doubleValue ?? .infinity
    let slow = (object["slow_elapsed"] as? NSNumber)?.doubleValue ?? 0
    #expect(fast < slow, "a slow call must not hold a fast one: fast \(fast), slow \(slow)")
    print("stdio: progress at \(progress) of \(elapsed) s; fast call \(fast) s beside a slow one of \(slow) s")
    // A resource and a prompt, the lab server's other features.
    #expect(object["resources"] as? [String] == ["lab://tenant-info"], "\(run.stdout)")
    #expect((object["resource"] as? [String: Any])?["tenant"] as? String == "acme", "\(run.stdout)")
    #expect((object["prompts"] as? [String])?.contains("greeting") == true, "\(run.stdout)")
    #expect(object["prompt"] as? String == "Hello Ada, this is tenant acme.", "\(run.stdout)")
  }

  /// The audit records of calls that came through `stdio` carry `"via":"stdio"` (SPEC §9); every
  /// MCP request of `methods` is among them.
  func expectAuditedViaStdio(_ lab: CLILab, methods: [String]) throws {
    let (records, _) = try lab.auditTrail(last: 500)
    let calls = records.filter { $0["event"] as? String == "call" }
    let viaStdio = calls.filter { $0["via"] as? String == "stdio" }
    for method in methods {
      #expect(viaStdio.contains { $0["method"] as? String == method }, "\(method) via stdio: \(calls)")
    }
    #expect(viaStdio.contains { $0["method"] as? String == "tools/call" && $0["tool"] as? String == "whoami" })
    #expect(viaStdio.allSatisfy { $0["outcome"] as? String != nil && $0["tenant"] as? String != nil })
  }

  @Test("1: no up running, minimal environment: its own tunnel carries a whole session; two copies run side by side")
  func ownTunnel() async throws {
    let lab = try await Self.lab(logIn: true)
    defer { lab.stop() }
    let run = try await stdioClient(lab, ["session"], minimalEnvironment: true)
    expectWholeSession(run)
    #expect(run.stderr.contains("tunnel of its own"), "\(labTail(run.stderr))")

    // Claude Desktop starts duplicates: two own tunnels of one profile at once.
    async let first = stdioClient(lab, ["call", "whoami"], minimalEnvironment: true)
    async let second = stdioClient(lab, ["call", "whoami"], minimalEnvironment: true)
    for result in try await [first, second] {
      #expect(result.ok, "\(result)")
      #expect(result.result["tenant"] as? String == "acme", "\(result)")
    }

    // Audited like a call through up; no token on stdout or stderr.
    let (records, _) = try lab.auditTrail(last: 200)
    let calls = records.filter { $0["event"] as? String == "call" && $0["method"] as? String == "tools/call" }
    #expect(calls.contains { $0["tool"] as? String == "whoami" }, "\(calls)")
    #expect(calls.allSatisfy { $0["via"] as? String == "stdio" }, "every call came through stdio: \(calls)")
    #expect(records.contains { $0["event"] as? String == "tunnel_up" })
    try expectAuditedViaStdio(
      lab, methods: ["initialize", "notifications/initialized", "tools/list", "resources/read", "prompts/get"])
  }

  @Test("2: with up running, stdio uses up's tunnel")
  func throughUp() async throws {
    try await CLILab.withTunnel { lab, up in
      let run = try await stdioClient(lab, ["session"])
      expectWholeSession(run)
      #expect(run.stderr.contains("running up"), "\(labTail(run.stderr))")
      let tunnel = try lab.json(["status"])["tunnel"] as? [String: Any]
      #expect(((tunnel?["counters"] as? [String: Any])?["requests"] as? Int ?? 0) >= 6, "\(String(describing: tunnel))")
      #expect(up.isRunning)
      try expectAuditedViaStdio(
        lab, methods: ["initialize", "notifications/initialized", "tools/list", "resources/read", "prompts/get"])
      // A plain HTTP client through the same up is not labelled.
      let plain = try await offPool { try lab.lab.mcpClient.run(url: lab.url, ["call", "echo", #"{"text":"plain"}"#]) }
      #expect(plain.ok, "\(plain)")
      let (records, _) = try lab.auditTrail(last: 500)
      let plainCalls = records.filter { $0["tool"] as? String == "echo" && $0["via"] == nil }
      #expect(!plainCalls.isEmpty, "the plain client's call has no via: \(records.suffix(6))")
    }
  }

  @Test("6: the running up switches tenant mid-session: the next call, resource and prompt are the new tenant's")
  func tenantSwitch() async throws {
    try await CLILab.withTunnel { lab, up in
      let marker = lab.lab.directory.path("switch")
      let client = Task { try await stdioClient(lab, ["switch", marker]) }
      try await offPool {
        try waitUntil(timeout: .seconds(120), "the first call through stdio") {
          FileManager.default.fileExists(atPath: marker + ".ready")
        }
      }
      let switched = try await offPool { try lab.run(["tenant", "use", "globex"]) }
      #expect(switched.status == 0, "\(switched.output)")
      _ = FileManager.default.createFile(atPath: marker + ".go", contents: nil)
      let run = try await client.value
      #expect(run.ok, "\(run)")
      let object = run.object
      #expect((object["before"] as? [String: Any])?["tenant"] as? String == "acme", "\(run.stdout)")
      #expect((object["after"] as? [String: Any])?["tenant"] as? String == "globex", "\(run.stdout)")
      #expect(object["after_error"] as? Bool == false, "\(run.stdout)")
      #expect((object["resource"] as? [String: Any])?["tenant"] as? String == "globex", "\(run.stdout)")
      #expect(object["prompt"] as? String == "Hello Ada, this is tenant globex.", "\(run.stdout)")
      print("stdio across a tenant switch: \(labTail(run.stderr))")
      let (records, _) = try lab.auditTrail(last: 500)
      #expect(
        records.contains {
          $0["via"] as? String == "stdio" && $0["tool"] as? String == "whoami" && $0["tenant"] as? String == "globex"
        }, "\(records.suffix(10))")
      #expect(up.isRunning)
    }
  }

  @Test("3: not logged in: the request gets a JSON-RPC error naming mcp-tunnel login, no prompt, no hang")
  func notLoggedIn() async throws {
    let lab = try await Self.lab(logIn: false)
    defer { lab.stop() }
    let run = try await stdioClient(lab, ["call", "whoami"], minimalEnvironment: true)
    #expect(!run.ok)
    let error = run.object["error"] as? String ?? ""
    #expect(error.contains("mcp-tunnel login"), "\(run)")
    #expect(!run.stderr.contains("device_authorization") && !run.stderr.contains("verification"), "no login started")
  }

  @Test("5: the MCP server restarts mid-session (404 on the old session): stdio re-initializes and the next call works")
  func sessionLost() async throws {
    let lab = try await Self.lab(logIn: true)
    defer { lab.stop() }
    let marker = lab.lab.directory.path("restart")
    let client = Task { try await stdioClient(lab, ["restart", marker]) }
    try await offPool {
      try waitUntil(timeout: .seconds(120), "the first call through stdio") {
        FileManager.default.fileExists(atPath: marker + ".ready")
      }
    }
    let old = try lab.lab.mcp()
    let tokenExchange = try #require(lab.lab.tokenExchange)
    old.stop()
    let restarted = try await offPool {
      let server = try MCPServerLab.launch(in: lab.lab.directory, tokenExchange: tokenExchange, port: old.port)
      try server.waitUntilReady()
      return server
    }
    defer { restarted.stop() }
    _ = FileManager.default.createFile(atPath: marker + ".go", contents: nil)
    let run = try await client.value
    #expect(run.ok, "\(run)")
    #expect((run.object["before"] as? [String: Any])?["tenant"] as? String == "acme", "\(run.stdout)")
    #expect((run.object["after"] as? [String: Any])?["text"] as? String == "after restart", "\(run.stdout)")
    #expect(run.stderr.contains("session expired"), "\(labTail(run.stderr))")
    let log = restarted.requestLog()
    let methods = log.compactMap { $0["rpc_method"] as? String }
    // The log file is shared by both servers: the replay is the second initialize and initialized.
    #expect(methods.filter { $0 == "initialize" }.count == 2, "replayed once: \(methods)")
    #expect(methods.filter { $0 == "notifications/initialized" }.count == 2, "replayed once: \(methods)")
    #expect(log.contains { $0["status"] as? Int == 404 }, "the old session got 404: \(log)")
  }

  @Test(
    "4: end of stdin, SIGTERM, SIGINT: DELETE for the session, exit 0 within 2 s; stdin closed while starting: prompt exit"
  )
  func endOfInput() async throws {
    let lab = try await Self.lab(logIn: true)
    defer { lab.stop() }
    let server = try lab.lab.mcp()
    var deletes = 0
    for how in ["eof", "sigterm", "sigint"] {
      let run = try await stdioClient(lab, [how], minimalEnvironment: true)
      #expect(run.ok, "\(run)")
      let object = run.object
      #expect((object["first_line"] as? String)?.contains("\"protocolVersion\"") == true, "\(how): \(run.stdout)")
      #expect(object["exit"] as? Int == 0, "\(how): \(run.stdout)")
      let seconds = (object["exit_seconds"] as? NSNumber)?.doubleValue ?? 99
      // SPEC §9's 2 s is printed, not asserted (a loaded machine is not a slow bridge); the
      // deadline only catches a bridge that waits for something that never comes.
      print("stdio: exited \(seconds) s after \(how) (SPEC §9: within 2 s)")
      #expect(seconds < 60, "\(how): the bridge hung on its way out: \(run.stdout)")
      #expect((object["rest"] as? String)?.isEmpty == true, "stdout holds only JSON-RPC: \(run.stdout)")
      // The server logs a request once its response is over: wait for the line, not for a time.
      deletes += 1
      let expected = deletes
      try? await offPool {
        try waitUntil(timeout: .seconds(30), "DELETE \(expected) in the server's request log") {
          server.requestLog().filter { $0["method"] as? String == "DELETE" }.count >= expected
        }
      }
      let log = server.requestLog()
      #expect(
        log.filter { $0["method"] as? String == "DELETE" && $0["session"] as? Bool == true }.count == expected,
        "\(how): DELETE for the session: \(log)")
    }
    let log = server.requestLog()
    #expect(log.contains { $0["method"] as? String == "GET" }, "the GET stream was opened after initialized")

    // stdin closed at once, while its own tunnel is still starting: no waiting for the tunnel,
    // the initialize gets its error, exit 0.
    let early = try await stdioClient(lab, ["early-eof"], minimalEnvironment: true)
    #expect(early.ok, "\(early)")
    let object = early.object
    #expect(object["exit"] as? Int == 0, "\(early.stdout)")
    let seconds = (object["exit_seconds"] as? NSNumber)?.doubleValue ?? 99
    #expect(seconds < 2, "exits promptly: \(early.stdout)")
    print("stdio: exited \(seconds) s after stdin closed while the tunnel was starting")
    let stderr = object["stderr"] as? String ?? ""
    #expect(stderr.contains("before the tunnel was ready"), "\(stderr)")
    let rest = (object["rest"] as? String ?? "").split(separator: "\n")
    #expect(rest.count == 1 && rest.first?.contains(#""id":0,"error""#) == true, "the initialize is answered: \(rest)")
  }
}
