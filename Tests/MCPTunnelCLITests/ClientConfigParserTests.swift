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
}
