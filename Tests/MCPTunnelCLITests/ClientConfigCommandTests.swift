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

  @Test("refusals exit 2 with the fix: an unknown client, Claude Desktop (stdio only), a tcp-mode profile")
  func refusals() async {
    let unknown = await Self.run(["client-config", "--client", "emacs"])
    #expect(unknown.status == 2)
    #expect(unknown.stderr.contains("unknown MCP client \"emacs\""))
    #expect(unknown.stderr.contains("claude-code"))
    let desktop = await Self.run(["client-config", "--client", "claude-desktop"])
    #expect(desktop.status == 2)
    #expect(desktop.stderr.contains("accepts only stdio servers"))
    #expect(desktop.stdout.isEmpty)
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
