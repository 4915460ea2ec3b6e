import ClientConfig
import Foundation
import MCPTunnelTestSupport
import Testing
import TunnelCore

@testable import MCPTunnelCLI

/// `client-config` in process (SPEC §2, §9; reference/CLIENTS.md): one entry per client, in the
/// client's own key spelling, with no Authorization header.
@Suite("client-config")
struct ClientConfigCommandTests {
  static let config = """
    default_profile = "lab"
    [profiles.lab.idp]
    issuer = "https://idp.example.test"
    client_id = "mcp-tunnel"
    [profiles.lab.session]
    method = "token-exchange"
    resource = "https://mcp.example.test/t/{tenant}/mcp"
    tenants = ["acme"]
    [profiles.lab.ssh]
    jump = ["a@127.0.0.1:2201"]
    target = "127.0.0.1:8080"
    [profiles.lab.listen]
    address = "127.0.0.1:7711"
    [profiles.raw.ssh]
    target = "127.0.0.1:8080"
    [profiles.raw.listen]
    mode = "tcp"
    """
  static let url = "http://127.0.0.1:7711/mcp"

  static func run(_ arguments: [String]) async -> CLIRun {
    await runCLI(
      arguments, files: InMemoryConfigurationStore([defaultConfigPath: config]),
      environment: ["HOME": "/home/dev", "XDG_CONFIG_HOME": "/home/dev/.config", "CODEX_HOME": "/opt/codex"])
  }

  static func object(_ text: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
  }

  /// What each client needs in its entry (CLIENTS.md §0): the key that holds the URL and the
  /// transport spelling where the client needs one.
  static let required: [(client: String, file: String, entry: [String: String])] = [
    ("claude-code", "/home/dev/.claude.json", ["type": "http", "url": url]),
    ("vscode", "/home/dev/.config/Code/User/mcp.json", ["type": "http", "url": url]),
    ("cursor", "/home/dev/.cursor/mcp.json", ["url": url]),
    ("windsurf", "/home/dev/.codeium/windsurf/mcp_config.json", ["serverUrl": url]),
    ("zed", "/home/dev/.config/zed/settings.json", ["url": url]),
    ("codex", "/opt/codex/config.toml", ["url": url]),
    ("gemini", "/home/dev/.gemini/settings.json", ["httpUrl": url]),
    (
      "cline", "/home/dev/.config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
      ["type": "streamableHttp", "url": url]
    ),
    (
      "goose", "/home/dev/.config/goose/config.yaml", ["type": "streamable_http", "uri": url, "name": "mcp-tunnel-lab"]
    ),
    ("continue", "/home/dev/.continue/config.yaml", ["type": "streamable-http", "url": url, "name": "mcp-tunnel-lab"]),
    ("lmstudio", "/home/dev/.lmstudio/mcp.json", ["url": url]),
  ]

  @Test("--json: each client's entry, its file and name, in the client's key spelling, without headers")
  func jsonEntries() async throws {
    for expected in Self.required {
      let run = await Self.run(["client-config", "--client", expected.client, "--json"])
      #expect(run.status == 0, "\(expected.client): \(run.stderr)")
      let line = try #require(Self.object(run.stdout), "\(expected.client): \(run.stdout)")
      #expect(line["client"] as? String == expected.client)
      #expect(line["file"] as? String == expected.file)
      #expect(line["name"] as? String == "mcp-tunnel-lab")
      let entry = try #require(line["entry"] as? [String: Any])
      for (key, value) in expected.entry {
        #expect(entry[key] as? String == value, "\(expected.client).\(key)")
      }
      #expect(entry["headers"] == nil && entry["http_headers"] == nil, "\(expected.client)")
      #expect(!run.stdout.contains("Authorization"))
    }
  }

  @Test("text: stdout is only the fragment to paste; stderr names the file and what to do next")
  func textFragments() async throws {
    let claude = await Self.run(["client-config", "--client", "claude-code"])
    #expect(claude.status == 0)
    #expect(
      claude.stdout == """
        {
          "mcpServers": {
            "mcp-tunnel-lab": {
              "type": "http",
              "url": "http://127.0.0.1:7711/mcp"
            }
          }
        }

        """)
    #expect(claude.stderr.contains("merge this into /home/dev/.claude.json (or ./.mcp.json for one project)"))

    let codex = await Self.run(["client-config", "--client", "codex", "--name", "work mcp"])
    #expect(codex.stdout == "[mcp_servers.\"work mcp\"]\nurl = \"http://127.0.0.1:7711/mcp\"\n")

    let goose = await Self.run(["client-config", "--client", "goose"])
    #expect(
      goose.stdout == """
        extensions:
          mcp-tunnel-lab:
            enabled: true
            name: "mcp-tunnel-lab"
            type: "streamable_http"
            uri: "http://127.0.0.1:7711/mcp"
            timeout: 300

        """)
    let continueRun = await Self.run(["client-config", "--client", "continue"])
    #expect(
      continueRun.stdout == """
        mcpServers:
          - name: "mcp-tunnel-lab"
            type: "streamable-http"
            url: "http://127.0.0.1:7711/mcp"

        """)
  }

  @Test("without --client: every client with its file and format; --json is one object")
  func list() async throws {
    let text = await Self.run(["client-config"])
    #expect(text.status == 0)
    for client in MCPClient.allCases { #expect(text.stdout.contains(client.rawValue)) }
    #expect(text.stdout.contains("/opt/codex/config.toml"))
    let json = await Self.run(["client-config", "--json"])
    let clients = try #require(Self.object(json.stdout)?["clients"] as? [[String: Any]])
    #expect(clients.count == MCPClient.allCases.count)
    let desktop = try #require(clients.first { $0["client"] as? String == "claude-desktop" })
    #expect(desktop["url"] as? Bool == false)
    #expect(clients.first { $0["client"] as? String == "vscode" }?["project_file"] as? String == ".vscode/mcp.json")
  }

  @Test("Claude Desktop (commands only): an entry that starts this binary's stdio for the profile")
  func claudeDesktop() async throws {
    let desktop = await Self.run(["client-config", "--client", "claude-desktop"])
    #expect(desktop.status == 0, "\(desktop.stderr)")
    let document = try #require(Self.object(desktop.stdout), "\(desktop.stdout)")
    let servers = try #require(document["mcpServers"] as? [String: Any])
    #expect(servers.count == 1)
    let entry = try #require(servers["mcp-tunnel-lab"] as? [String: Any], "\(desktop.stdout)")
    #expect(Set(entry.keys) == ["command", "args"], "no url, no headers: \(entry)")
    let command = try #require(entry["command"] as? String)
    #expect(command.hasPrefix("/") && FileManager.default.isExecutableFile(atPath: command), "\(command)")
    #expect(entry["args"] as? [String] == ["stdio", "--profile", "lab"])
    #expect(desktop.stderr.contains("claude_desktop_config.json"))
  }

  @Test("refusals exit 2 with the fix: an unknown client, a tcp-mode profile")
  func refusals() async {
    let unknown = await Self.run(["client-config", "--client", "emacs"])
    #expect(unknown.status == 2)
    #expect(unknown.stderr.contains("unknown MCP client \"emacs\""))
    #expect(unknown.stderr.contains("claude-code"))
    let tcp = await Self.run(["client-config", "--client", "cursor", "--profile", "raw"])
    #expect(tcp.status == 2)
    #expect(tcp.stderr.contains("tcp mode"))
  }

  @Test("JSON strings are escaped: a name with quotes and a backslash stays one key")
  func escaping() async throws {
    let run = await Self.run(["client-config", "--client", "cursor", "--name", #"a"b\c"#])
    let document = try #require(Self.object(run.stdout))
    #expect((document["mcpServers"] as? [String: Any])?[#"a"b\c"#] != nil)
  }
}

/// `--install` through the command, on real files in a scratch directory.
@Suite("client-config --install on files")
struct ClientConfigInstallFileTests {
  struct Scratch {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("cc-\(UUID().uuidString.prefix(8))").path
    init() throws { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false) }
    func remove() { try? FileManager.default.removeItem(atPath: root) }
    func write(_ name: String, _ text: String, mode: mode_t = 0o644) throws {
      try Data(text.utf8).write(to: URL(fileURLWithPath: root + "/" + name))
      chmod(root + "/" + name, mode)
    }
    func read(_ name: String) -> String? {
      FileManager.default.contents(atPath: root + "/" + name).map { String(decoding: $0, as: UTF8.self) }
    }
  }

  @Test("merges, keeps FILE.bak and the file's mode, prints what changed; again: unchanged, nothing written")
  func installs() async throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let original = "{\n  \"mcpServers\": {\n    \"other\": {\"url\": \"http://x\"}\n  },\n  \"keep\": true\n}\n"
    try scratch.write("claude.json", original, mode: 0o640)
    let path = scratch.root + "/claude.json"
    let run = await ClientConfigCommandTests.run([
      "client-config", "--client", "claude-code", "--install", "--file", path, "--json",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    let line = try #require(ClientConfigCommandTests.object(run.stdout))
    #expect(line["change"] as? String == "added" && line["file"] as? String == path)
    #expect(line["backup"] as? String == path + ".bak")
    #expect(scratch.read("claude.json.bak") == original)
    let written = try #require(scratch.read("claude.json"))
    let servers = ClientConfigCommandTests.object(written)?["mcpServers"] as? [String: Any]
    #expect((servers?["mcp-tunnel-lab"] as? [String: Any])?["type"] as? String == "http")
    #expect(servers?["other"] != nil && ClientConfigCommandTests.object(written)?["keep"] as? Bool == true)
    var info = stat()
    #expect(stat(path, &info) == 0 && info.st_mode & 0o7777 == 0o640)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: scratch.root).sorted() == ["claude.json", "claude.json.bak"])

    let again = await ClientConfigCommandTests.run([
      "client-config", "--client", "claude-code", "--install", "--file", path,
    ])
    #expect(again.status == 0 && again.stdout.contains("nothing was written"), "\(again.stdout)")
    #expect(scratch.read("claude.json.bak") == original)
  }

  @Test("a corrupt file is refused with exit 2, named with its line, and left untouched; no .bak")
  func corrupt() async throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let original = "{\n  \"mcpServers\": {\n    \"other\": {\"url\": \"http://x\"\n}\n"
    try scratch.write("mcp.json", original)
    let run = await ClientConfigCommandTests.run([
      "client-config", "--client", "cursor", "--install", "--file", scratch.root + "/mcp.json",
    ])
    #expect(run.status == 2)
    #expect(run.stderr.contains("mcp.json:5:1: expected"), "\(run.stderr)")
    #expect(run.stderr.contains("the file was not changed"))
    #expect(scratch.read("mcp.json") == original)
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.root) == ["mcp.json"])
  }

  @Test("a symlinked file is written through to its target; the link stays; a new file is created 0600")
  func symlinkAndNewFile() async throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    try scratch.write("real.json", "{}\n")
    #expect(symlink(scratch.root + "/real.json", scratch.root + "/link.json") == 0)
    let run = await ClientConfigCommandTests.run([
      "client-config", "--client", "gemini", "--install", "--file", scratch.root + "/link.json",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: scratch.root + "/link.json")) != nil)
    #expect(scratch.read("real.json")?.contains("\"httpUrl\": \"http://127.0.0.1:7711/mcp\"") == true)

    let fresh = await ClientConfigCommandTests.run([
      "client-config", "--client", "zed", "--install", "--file", scratch.root + "/zed/settings.json",
    ])
    #expect(fresh.status == 0, "\(fresh.stderr)")
    #expect(scratch.read("zed/settings.json")?.hasPrefix("{\n  \"context_servers\": {") == true)
    var info = stat()
    #expect(stat(scratch.root + "/zed/settings.json", &info) == 0 && info.st_mode & 0o7777 == 0o600)
  }

  @Test("Claude Desktop: --install merges the stdio entry and keeps the other servers")
  func claudeDesktop() async throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let file = scratch.root + "/Claude/claude_desktop_config.json"
    try FileManager.default.createDirectory(atPath: scratch.root + "/Claude", withIntermediateDirectories: true)
    try #"{"mcpServers":{"other":{"command":"x"}},"globalShortcut":""}"#.write(
      toFile: file, atomically: true, encoding: .utf8)
    let run = await ClientConfigCommandTests.run([
      "client-config", "--client", "claude-desktop", "--install", "--file", file,
    ])
    #expect(run.status == 0, "\(run.stderr)")
    let written = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
    let servers = try #require(written["mcpServers"] as? [String: Any])
    #expect(servers["other"] != nil && written["globalShortcut"] != nil)
    #expect((servers["mcp-tunnel-lab"] as? [String: Any])?["args"] as? [String] == ["stdio", "--profile", "lab"])
  }

  @Test("refused: --scope project for a client without one, --file without --install")
  func refusals() async {
    let windsurf = await ClientConfigCommandTests.run([
      "client-config", "--client", "windsurf", "--install", "--scope", "project",
    ])
    #expect(windsurf.status == 2 && windsurf.stderr.contains("no project-scope config file"), "\(windsurf.stderr)")
    let stray = await ClientConfigCommandTests.run(["client-config", "--client", "cursor", "--file", "/tmp/x.json"])
    #expect(stray.status == 2 && stray.stderr.contains("--scope and --file go with --install"), "\(stray.stderr)")
  }
}
