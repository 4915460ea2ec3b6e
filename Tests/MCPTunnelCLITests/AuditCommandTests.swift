import Foundation
import MCPTunnelTestSupport
import Testing
import TunnelCore

@testable import MCPTunnelCLI

/// `audit` commands, run in-process through `MCPTunnelCommand.run` against a real temporary
/// `$XDG_STATE_HOME`.
///
/// The log fixture was produced by an independent script (Python's hashlib), so these tests also
/// pin the on-disk format: line 1 starts the chain, lines 2–5 hold seq 1–4.
@Suite("audit commands", .timeLimit(.minutes(5)))
struct AuditCommandTests {
  static let fixture: [String] = [
    #"{"v":1,"seq":0,"ts":"2026-11-21T09:59:59.000Z","event":"chain_start","nonce":"5f0c3a9e2b7d41c8a6e9f1d2b3c4a5e6","prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
    #"{"v":1,"seq":1,"ts":"2026-11-21T10:00:00.123Z","event":"tunnel_up","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","outcome":"ok","prev":"b1ae7e2636db4955dd9295cd5a407b31a0cefbd30e31b512e65ec676141a05e1"}"#,
    #"{"v":1,"seq":2,"ts":"2026-11-21T10:00:01.123Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"tools/call","tool":"search","rpc_id":"1","status":200,"outcome":"ok","duration_ms":12,"prev":"e5b39d89003a05c9dcadf2e5cf5b3b5923330d16ab2877429b6c051e4a7266f8"}"#,
    #"{"v":1,"seq":3,"ts":"2026-11-21T10:00:02.123Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"resources/read","rpc_id":"2","status":200,"outcome":"ok","duration_ms":3,"prev":"f45c7a3f5c218eb6bd6c9dbe60fd2732d31ac00e90357b736894ebc339ff8f71"}"#,
    #"{"v":1,"seq":4,"ts":"2026-11-21T10:00:03.123Z","event":"denied","profile":"dev","tenant":"globex","actor":"dev1","session":"s-1","method":"tools/call","tool":"drop","rpc_id":"3","status":403,"outcome":"denied","duration_ms":1,"detail":"tenant not allowed","prev":"a58dee38240f63139a32e926a20c4e31c38ae2ce194fb3f4e883d667c39da597"}"#,
  ]

  /// A scratch state directory and the environment that points at it.
  final class Scratch: Sendable {
    let root: String
    let output = CapturingOutputSink()
    let files: InMemoryConfigurationStore

    init(config: String? = nil) throws {
      var template = Array("/tmp/audit-cli-tests-XXXXXX".utf8CString)
      guard let root = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!).map { String(cString: $0) } })
      else { throw CocoaError(.fileWriteUnknown) }
      self.root = root
      files = InMemoryConfigurationStore(config.map { ["\(root)/config/mcp-tunnel/config.toml": $0] } ?? [:])
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    var environment: [String: String] {
      ["HOME": root, "XDG_CONFIG_HOME": "\(root)/config", "XDG_STATE_HOME": "\(root)/state"]
    }

    var auditDirectory: String { "\(root)/state/mcp-tunnel/audit" }
    func logPath(_ profile: String = "dev") -> String { "\(auditDirectory)/\(profile).jsonl" }

    func writeLog(_ lines: [String], profile: String = "dev") throws {
      try FileManager.default.createDirectory(atPath: auditDirectory, withIntermediateDirectories: true)
      try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: logPath(profile)))
    }

    /// Writes a file of the audit directory by name (rotated files are `dev.jsonl.N`).
    func writeFile(_ name: String, _ lines: [String]) throws {
      try FileManager.default.createDirectory(atPath: auditDirectory, withIntermediateDirectories: true)
      try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: "\(auditDirectory)/\(name)"))
    }

    /// Rotates dev.jsonl as the writer does: `.N` → `.N+1`, dev.jsonl → `.1` (a hard link, so the
    /// path never disappears), then a complete new file renamed over dev.jsonl.
    func rotate(startingWith lines: [String]) throws {
      let manager = FileManager.default
      for index in stride(from: 9, through: 1, by: -1) where manager.fileExists(atPath: "\(logPath()).\(index)") {
        try manager.moveItem(atPath: "\(logPath()).\(index)", toPath: "\(logPath()).\(index + 1)")
      }
      try manager.linkItem(atPath: logPath(), toPath: "\(logPath()).1")
      try writeFile(".dev.jsonl.new", lines)
      guard rename("\(auditDirectory)/.dev.jsonl.new", logPath()) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    func append(_ text: String, profile: String = "dev") throws {
      let handle = try #require(FileHandle(forWritingAtPath: logPath(profile)))
      handle.seekToEndOfFile()
      handle.write(Data(text.utf8))
      try handle.close()
    }

    /// Runs `mcp-tunnel audit …` in-process through the real root command.
    func run(_ arguments: [String], extraEnvironment: [String: String] = [:]) async -> Int32 {
      let env = AppEnvironment.twins(
        environment: environment.merging(extraEnvironment) { $1 }, configurationStore: files, output: output)
      return await MCPTunnelCommand.run(arguments: ["audit"] + arguments, environment: env)
    }
  }

  // MARK: path

  @Test func pathPrintsTheXDGStatePathForANamedProfileWithoutAConfigFile() async throws {
    let scratch = try Scratch()
    #expect(await scratch.run(["path", "--profile", "prod"]) == 0)
    #expect(scratch.output.stdout == "\(scratch.root)/state/mcp-tunnel/audit/prod.jsonl\n")
  }

  @Test func pathUsesTheEnvironmentThenTheConfigurationsDefaultProfile() async throws {
    let scratch = try Scratch(config: "default_profile = \"lab\"\n[profiles.lab.ssh]\ntarget = \"127.0.0.1:1\"\n")
    #expect(await scratch.run(["path"]) == 0)
    #expect(scratch.output.stdout == scratch.logPath("lab") + "\n")
    let fromEnvironment = try Scratch()
    #expect(await fromEnvironment.run(["path"], extraEnvironment: ["MCP_TUNNEL_PROFILE": "ops"]) == 0)
    #expect(fromEnvironment.output.stdout == fromEnvironment.logPath("ops") + "\n")
  }

  @Test func pathJSONSaysWhetherTheLogExists() async throws {
    let scratch = try Scratch()
    #expect(await scratch.run(["path", "--profile", "dev", "--json"]) == 0)
    let object = try #require(JSONSerialization.jsonObject(with: Data(scratch.output.stdout.utf8)) as? [String: Any])
    #expect(object["exists"] as? Bool == false)
    #expect(object["profile"] as? String == "dev")
    #expect(object["path"] as? String == scratch.logPath())
  }

  @Test func noProfileAndNoConfigIsAUsageErrorThatSaysPassProfile() async throws {
    let scratch = try Scratch()
    #expect(await scratch.run(["path"]) == 2)
    #expect(scratch.output.stderr.contains("no profile selected"))
    #expect(scratch.output.stderr.contains("--profile"))
  }

  @Test func aProfileNameThatLeavesTheDirectoryIsRefused() async throws {
    let scratch = try Scratch()
    #expect(await scratch.run(["path", "--profile", "../../etc/passwd"]) == 2)
    #expect(scratch.output.stdout.isEmpty)
  }

  // MARK: tail

  @Test func tailPrintsHumanLinesForTheLastRecords() async throws {
    let scratch = try Scratch()
    try scratch.writeLog(Self.fixture)
    #expect(await scratch.run(["tail", "--profile", "dev", "-n", "3"]) == 0)
    #expect(
      scratch.output.stdout == """
        2026-11-21T10:00:01.123Z acme dev1 tools/call search ok 200 12ms
        2026-11-21T10:00:02.123Z acme dev1 resources/read - ok 200 3ms
        2026-11-21T10:00:03.123Z globex dev1 tools/call drop denied 403 1ms (tenant not allowed)

        """)
  }

  @Test func tailDefaultsToTenAndNeverShowsTheChainStartLine() async throws {
    let scratch = try Scratch()
    try scratch.writeLog(Self.fixture)
    #expect(await scratch.run(["tail", "--profile", "dev"]) == 0)
    let lines = scratch.output.stdout.split(separator: "\n")
    #expect(lines.count == 4)
    #expect(lines.first == "2026-11-21T10:00:00.123Z acme dev1 tunnel_up - ok - -")
    #expect(!scratch.output.stdout.contains("chain_start"))
  }

  @Test func tailJSONPrintsTheStoredLinesExactly() async throws {
    let scratch = try Scratch()
    try scratch.writeLog(Self.fixture)
    #expect(await scratch.run(["tail", "--profile", "dev", "--json", "-n", "2"]) == 0)
    #expect(scratch.output.stdout == Self.fixture.suffix(2).map { $0 + "\n" }.joined())
  }

  @Test func tailEscapesControlCharactersFromRecords() async throws {
    let scratch = try Scratch()
    var lines = Array(Self.fixture.prefix(2))
    lines[1] = lines[1].replacingOccurrences(of: #""tenant":"acme""#, with: #""tenant":"ac\u001b[31mme""#)
    try scratch.writeLog(lines)
    #expect(await scratch.run(["tail", "--profile", "dev"]) == 0)
    #expect(!scratch.output.stdout.contains("\u{1b}"))
    #expect(scratch.output.stdout.contains("ac?[31mme"))
  }

  @Test func tailOfAMissingLogIsAUsageError() async throws {
    let scratch = try Scratch()
    #expect(await scratch.run(["tail", "--profile", "dev"]) == 2)
    #expect(scratch.output.stderr.contains("no audit log for profile \"dev\""))
  }

  @Test func negativeLineCountIsRejected() async throws {
    let scratch = try Scratch()
    #expect(await scratch.run(["tail", "--profile", "dev", "-n", "-1"]) == 2)
  }

  @Test func tailFollowPrintsRecordsAsTheyAreAppended() async throws {
    let scratch = try Scratch()
    try scratch.writeLog(Array(Self.fixture.prefix(3)))
    let task = Task { await scratch.run(["tail", "--profile", "dev", "-f", "--json", "-n", "1"]) }
    defer { task.cancel() }
    try await waitFor { scratch.output.stdout == Self.fixture[2] + "\n" }
    // The next line arrives in two writes; it must be printed once, whole.
    try scratch.append(String(Self.fixture[3].prefix(50)))
    try await Task.sleep(for: .milliseconds(300))
    #expect(scratch.output.stdout == Self.fixture[2] + "\n")
    try scratch.append(String(Self.fixture[3].dropFirst(50)) + "\n" + Self.fixture[4] + "\n")
    try await waitFor { scratch.output.stdout.split(separator: "\n").count == 3 }
    #expect(scratch.output.stdout == Self.fixture.suffix(3).map { $0 + "\n" }.joined())
    task.cancel()
    _ = await task.value
  }

  @Test func tailFollowWaitsForTheLogToBeCreated() async throws {
    let scratch = try Scratch()
    let task = Task { await scratch.run(["tail", "--profile", "dev", "--follow"]) }
    defer { task.cancel() }
    try await waitFor { scratch.output.stderr.contains("waiting for") }
    try scratch.writeLog(Array(Self.fixture.prefix(3)))
    try await waitFor { scratch.output.stdout.split(separator: "\n").count == 2 }
    #expect(scratch.output.stdout.hasSuffix("tools/call search ok 200 12ms\n"))
  }

  // MARK: verify

  @Test func verifyReportsAnIntactChain() async throws {
    let scratch = try Scratch()
    try scratch.writeLog(Self.fixture)
    #expect(await scratch.run(["verify", "--profile", "dev"]) == 0)
    #expect(scratch.output.stdout == "ok: 4 records, chain intact\n")
    #expect(scratch.output.stderr.isEmpty)
  }

  @Test func verifyNamesTheFirstBadLineAndExitsTwo() async throws {
    let scratch = try Scratch()
    var lines = Self.fixture
    lines[2] = lines[2].replacingOccurrences(of: #""tool":"search""#, with: #""tool":"delete""#)
    try scratch.writeLog(lines)
    #expect(await scratch.run(["verify", "--profile", "dev"]) == 2)
    #expect(scratch.output.stdout.isEmpty)
    #expect(scratch.output.stderr.contains("line 4 does not link to line 3"))
    #expect(scratch.output.stderr.contains("fix:"))
  }

  @Test func verifyFindsADeletedLine() async throws {
    let scratch = try Scratch()
    var lines = Self.fixture
    lines.remove(at: 2)
    try scratch.writeLog(lines)
    #expect(await scratch.run(["verify", "--profile", "dev"]) == 2)
    #expect(scratch.output.stderr.contains("line 3 "))
  }

  @Test func verifyJSONReportsLineAndProblemOnStdout() async throws {
    let scratch = try Scratch()
    var lines = Self.fixture
    lines.swapAt(2, 3)
    try scratch.writeLog(lines)
    #expect(await scratch.run(["verify", "--profile", "dev", "--json"]) == 2)
    let object = try #require(JSONSerialization.jsonObject(with: Data(scratch.output.stdout.utf8)) as? [String: Any])
    #expect(object["ok"] as? Bool == false)
    #expect(object["line"] as? Int == 3)
    #expect(object["records"] as? Int == 1)
    let error = try #require(JSONSerialization.jsonObject(with: Data(scratch.output.stderr.utf8)) as? [String: Any])
    #expect(error["exit_code"] as? Int == 2)
  }

  @Test func verifyReportsATruncatedTail() async throws {
    let scratch = try Scratch()
    try scratch.writeLog(Array(Self.fixture.prefix(4)))
    try scratch.append(String(Self.fixture[4].prefix(20)))
    #expect(await scratch.run(["verify", "--profile", "dev"]) == 2)
    #expect(scratch.output.stderr.contains("line 5, the last line, is incomplete"))
  }

  @Test func verifyOfAMissingLogIsAUsageError() async throws {
    let scratch = try Scratch()
    #expect(await scratch.run(["verify", "--profile", "nope"]) == 2)
    #expect(scratch.output.stderr.contains("no audit log for profile \"nope\""))
  }

  // MARK: rotated logs

  typealias Rotated = GoldenRotatedAuditLog

  private func writeRotatedLog(_ scratch: Scratch) throws {
    try scratch.writeFile("dev.jsonl.2", Rotated.rotated2)
    try scratch.writeFile("dev.jsonl.1", Rotated.rotated1)
    try scratch.writeFile("dev.jsonl", Rotated.current)
  }

  @Test func verifyChecksTheRotatedFilesAsOneChain() async throws {
    let scratch = try Scratch()
    try writeRotatedLog(scratch)
    #expect(await scratch.run(["verify", "--profile", "dev"]) == 0)
    #expect(scratch.output.stdout == "ok: 6 records in 3 files, chain intact\n")
    #expect(scratch.output.stderr.isEmpty)
  }

  @Test func verifyNamesTheFileAndLineOfABreakInARotatedFile() async throws {
    let scratch = try Scratch()
    try writeRotatedLog(scratch)
    var oldest = Rotated.rotated2
    oldest[1] = oldest[1].replacingOccurrences(of: #""tenant":"acme""#, with: #""tenant":"acne""#)
    try scratch.writeFile("dev.jsonl.2", oldest)
    #expect(await scratch.run(["verify", "--profile", "dev"]) == 2)
    #expect(scratch.output.stderr.contains("\(scratch.auditDirectory)/dev.jsonl.2:3: line 3 does not link to line 2"))
  }

  @Test func verifyReportsAMissingMiddleFile() async throws {
    let scratch = try Scratch()
    try writeRotatedLog(scratch)
    try FileManager.default.removeItem(atPath: "\(scratch.auditDirectory)/dev.jsonl.1")
    #expect(await scratch.run(["verify", "--profile", "dev", "--json"]) == 2)
    let object = try #require(JSONSerialization.jsonObject(with: Data(scratch.output.stdout.utf8)) as? [String: Any])
    #expect(object["ok"] as? Bool == false)
    #expect(object["file"] as? String == "dev.jsonl")
    #expect(object["line"] as? Int == 1)
    #expect((object["problem"] as? String)?.contains("dev.jsonl.1 is missing") == true)
    #expect(object["files"] as? [String] == ["dev.jsonl.2", "dev.jsonl"])
  }

  @Test func verifyAcceptsADeletedOldestFileAndSaysSo() async throws {
    let scratch = try Scratch()
    try writeRotatedLog(scratch)
    try FileManager.default.removeItem(atPath: "\(scratch.auditDirectory)/dev.jsonl.2")
    #expect(await scratch.run(["verify", "--profile", "dev"]) == 0)
    #expect(scratch.output.stdout == "ok: 4 records in 2 files, chain intact\n")
    #expect(scratch.output.stderr.contains("the chain starts in dev.jsonl.1 after seq 2"))
    #expect(scratch.output.stderr.contains("no longer present"))

    let json = try Scratch()
    try writeRotatedLog(json)
    try FileManager.default.removeItem(atPath: "\(json.auditDirectory)/dev.jsonl.2")
    #expect(await json.run(["verify", "--profile", "dev", "--json"]) == 0)
    let object = try #require(JSONSerialization.jsonObject(with: Data(json.output.stdout.utf8)) as? [String: Any])
    let start = try #require(object["continues_removed_file"] as? [String: Any])
    #expect(start["file"] as? String == "dev.jsonl.1")
    #expect(start["after_seq"] as? Int == 2)
  }

  @Test func verifyListsATornLineInARotatedFileByFileAndLine() async throws {
    let scratch = try Scratch()
    // A writer was killed mid-record in dev.jsonl.1; the rotation that followed sealed the torn
    // line and the new dev.jsonl links to its bytes.
    try scratch.writeFile("dev.jsonl.2", Rotated.rotated2)
    try scratch.writeFile("dev.jsonl.1", Rotated.rotated1 + Rotated.tornTail)
    try scratch.writeFile("dev.jsonl", Rotated.afterTorn)
    #expect(await scratch.run(["verify", "--profile", "dev"]) == 0)
    #expect(scratch.output.stdout == "ok: 5 records in 3 files, chain intact\n")
    #expect(scratch.output.stderr.contains("note: dev.jsonl.1:4 is a write torn by an interrupted writer"))

    let json = try Scratch()
    try json.writeFile("dev.jsonl.2", Rotated.rotated2)
    try json.writeFile("dev.jsonl.1", Rotated.rotated1 + Rotated.tornTail)
    try json.writeFile("dev.jsonl", Rotated.afterTorn)
    #expect(await json.run(["verify", "--profile", "dev", "--json"]) == 0)
    let object = try #require(JSONSerialization.jsonObject(with: Data(json.output.stdout.utf8)) as? [String: Any])
    let torn = try #require(object["torn_lines"] as? [[String: Any]])
    #expect(torn.count == 1)
    #expect(torn.first?["file"] as? String == "dev.jsonl.1")
    #expect(torn.first?["line"] as? Int == 4)
  }

  @Test func tailReadsIntoRotatedFilesWhenTheCurrentOneHasFewer() async throws {
    let scratch = try Scratch()
    try writeRotatedLog(scratch)
    #expect(await scratch.run(["tail", "--profile", "dev", "--json", "-n", "4"]) == 0)
    #expect(
      scratch.output.stdout
        == [Rotated.rotated1[1], Rotated.rotated1[2], Rotated.current[1], Rotated.current[2]].map { $0 + "\n" }
        .joined())
  }

  @Test func tailFollowFinishesTheRotatedFileThenFollowsTheNewOne() async throws {
    let scratch = try Scratch()
    try scratch.writeFile("dev.jsonl.2", Rotated.rotated2)
    try scratch.writeFile("dev.jsonl.1", Rotated.rotated1)
    try scratch.writeFile("dev.jsonl", Array(Rotated.current.prefix(2)))
    let task = Task { await scratch.run(["tail", "--profile", "dev", "-f", "--json", "-n", "1"]) }
    defer { task.cancel() }
    try await waitFor { scratch.output.stdout == Rotated.current[1] + "\n" }
    // A writer appends its last record to dev.jsonl and rotates it at once, before the next poll.
    try scratch.append(Rotated.current[2] + "\n")
    try scratch.rotate(startingWith: Rotated.next)
    try await waitFor { scratch.output.stdout.split(separator: "\n").count == 3 }
    #expect(
      scratch.output.stdout == [Rotated.current[1], Rotated.current[2], Rotated.next[1]].map { $0 + "\n" }.joined())
    task.cancel()
    _ = await task.value
  }
}

/// Polls `condition` every 20 ms; gives up after 2 minutes, which only turns a hang into a failure.
private func waitFor(_ condition: () -> Bool) async throws {
  for _ in 0..<6000 {
    if condition() { return }
    try await Task.sleep(for: .milliseconds(20))
  }
  Issue.record("condition not met within 2 minutes")
}
