import Foundation
import LabSupport
import MCPTunnelTestSupport
import TestTiers
import Testing

@testable import MCPTunnelCLI

/// Every `client-config` fragment read by a real parser of its format — Python's `json`,
/// `tomllib` and PyYAML from the lab venv — and checked for the keys the client needs
/// (reference/CLIENTS.md §0).
@Suite("client-config output read by real parsers", .tags(.lab), .offPool)
struct ClientConfigParserTests {
  static let reader = """
    import json, sys, tomllib, yaml
    fmt = sys.argv[1]
    text = sys.stdin.read()
    doc = json.loads(text) if fmt == "json" else tomllib.loads(text) if fmt == "toml" else yaml.safe_load(text)
    print(json.dumps(doc))
    """

  @Test("json, tomllib and PyYAML read each fragment to the entry the client needs")
  func parsed() async throws {
    let python = try LabPaths.python()
    for expected in ClientConfigCommandTests.required {
      let run = await ClientConfigCommandTests.run(["client-config", "--client", expected.client])
      #expect(run.status == 0, "\(expected.client): \(run.stderr)")
      let format =
        switch expected.client {
        case "codex": "toml"
        case "goose", "continue": "yaml"
        default: "json"
        }
      let result = try LabCommand.run(python, ["-c", Self.reader, format], stdin: run.stdout)
      #expect(result.status == 0, "\(expected.client): \(result.stderr)")
      let document = try #require(
        ClientConfigCommandTests.object(result.stdout), "\(expected.client): \(result.stdout)")
      let entry: [String: Any]? =
        switch expected.client {
        case "codex": (document["mcp_servers"] as? [String: Any])?["mcp-tunnel-lab"] as? [String: Any]
        case "vscode": (document["servers"] as? [String: Any])?["mcp-tunnel-lab"] as? [String: Any]
        case "zed": (document["context_servers"] as? [String: Any])?["mcp-tunnel-lab"] as? [String: Any]
        case "goose": (document["extensions"] as? [String: Any])?["mcp-tunnel-lab"] as? [String: Any]
        case "continue": (document["mcpServers"] as? [[String: Any]])?.first
        default: (document["mcpServers"] as? [String: Any])?["mcp-tunnel-lab"] as? [String: Any]
        }
      let found = try #require(entry, "\(expected.client): \(result.stdout)")
      for (key, value) in expected.entry {
        #expect(found[key] as? String == value, "\(expected.client).\(key) in \(result.stdout)")
      }
      if expected.client == "goose" {
        #expect(found["enabled"] as? Bool == true)
        #expect(found["timeout"] as? Int == 300)
      }
    }
  }

  @Test(
    "files merged by --install (TOML, YAML, JSONC with comments) still read with the real parsers, other entries kept")
  func installedFilesParse() async throws {
    let python = try LabPaths.python()
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("cc-lab-\(UUID().uuidString.prefix(8))")
      .path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let cases: [(client: String, file: String, format: String, before: String, path: [String])] = [
      (
        "codex", "config.toml", "toml", "# mine\nmodel = \"o4\"\n\n[mcp_servers.docs]\ncommand = \"docs\"\n",
        ["mcp_servers", "mcp-tunnel-lab"]
      ),
      (
        "goose", "config.yaml", "yaml",
        "extensions:\n  developer:\n    enabled: true  # keep\n    type: builtin\nGOOSE_MODEL: x\n",
        ["extensions", "mcp-tunnel-lab"]
      ),
      (
        "continue", "continue.yaml", "yaml", "name: a\nmcpServers:\n- name: other\n  command: o\nmodels: []\n",
        ["mcpServers"]
      ),
      (
        "vscode", "mcp.json", "json",
        "{\n  \"servers\": {\n    \"team\": {\"type\": \"http\", \"url\": \"http://t\"}\n  }\n}\n",
        ["servers", "mcp-tunnel-lab"]
      ),
    ]
    for item in cases {
      let path = root + "/" + item.file
      try Data(item.before.utf8).write(to: URL(fileURLWithPath: path))
      let run = await ClientConfigCommandTests.run([
        "client-config", "--client", item.client, "--install", "--file", path,
      ])
      #expect(run.status == 0, "\(item.client): \(run.stderr)")
      let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
      #expect(text.hasPrefix(String(item.before.prefix(12))), "\(item.client): \(text)")
      let result = try LabCommand.run(python, ["-c", Self.reader, item.format], stdin: text)
      #expect(result.status == 0, "\(item.client): \(result.stderr)")
      var node: Any? = ClientConfigCommandTests.object(result.stdout)
      for key in item.path { node = (node as? [String: Any])?[key] }
      if item.client == "continue" {
        let names = (node as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["other", "mcp-tunnel-lab"], "\(result.stdout)")
      } else {
        let entry = node as? [String: Any]
        let url = entry?["url"] ?? entry?["uri"]
        #expect(url as? String == ClientConfigCommandTests.url, "\(item.client): \(result.stdout)")
      }
      #expect(!result.stdout.isEmpty && !text.isEmpty)
    }
  }
}
