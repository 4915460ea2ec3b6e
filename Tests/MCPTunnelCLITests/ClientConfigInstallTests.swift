import Foundation
import MCPTunnelTestSupport
import Testing

@testable import ClientConfig

/// `client-config --install` (SPEC §9): one entry merged into a JSON/JSONC client file, every other
/// byte kept; a file that cannot be parsed is refused and left untouched.
@Suite("client-config --install")
struct ClientConfigInstallTests {
  static let entry = ConfigNode.object([("type", .string("http")), ("url", .string("http://127.0.0.1:7711/mcp"))])

  static func install(
    _ text: String, comments: Bool = false, container: String = "mcpServers"
  ) throws -> (
    text: String, change: EntryChange
  ) {
    try JSONEntryEditor.install(
      name: "mcp-tunnel-lab", entry: entry, container: container, into: text, comments: comments)
  }

  static func object(_ text: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
  }

  @Test("an empty or missing file gets the whole document")
  func empty() throws {
    let result = try Self.install("")
    #expect(result.change == .added)
    #expect(
      result.text
        == "{\n  \"mcpServers\": {\n    \"mcp-tunnel-lab\": {\n      \"type\": \"http\",\n      \"url\": \"http://127.0.0.1:7711/mcp\"\n    }\n  }\n}\n"
    )
  }

  @Test("added after the last server, indented like it; every other byte is kept; a second run changes nothing")
  func addKeepsTheRest() throws {
    let original = """
      {
          "numStartups": 41,
          "mcpServers": {
              "other": { "url": "http://example.test/mcp" }
          },
          "tipsHistory": {"a": 1}
      }

      """
    let result = try Self.install(original)
    #expect(result.change == .added)
    #expect(
      result.text == """
        {
            "numStartups": 41,
            "mcpServers": {
                "other": { "url": "http://example.test/mcp" },
                "mcp-tunnel-lab": {
                    "type": "http",
                    "url": "http://127.0.0.1:7711/mcp"
                }
            },
            "tipsHistory": {"a": 1}
        }

        """)
    let again = try Self.install(result.text)
    #expect(again.change == .unchanged && again.text == result.text)
  }

  @Test("an entry of the same name is replaced, nothing else")
  func replace() throws {
    let original = "{\n  \"mcpServers\": {\n    \"mcp-tunnel-lab\": {\"url\": \"http://old\"},\n    \"b\": {}\n  }\n}\n"
    let result = try Self.install(original)
    #expect(result.change == .replaced)
    let servers = Self.object(result.text)?["mcpServers"] as? [String: Any]
    #expect((servers?["mcp-tunnel-lab"] as? [String: Any])?["url"] as? String == "http://127.0.0.1:7711/mcp")
    #expect(servers?["b"] != nil)
    #expect(result.text.hasSuffix("    \"b\": {}\n  }\n}\n"))
  }

  @Test("JSONC (VS Code, Zed): comments and a trailing comma stay where they were")
  func jsonc() throws {
    let original = """
      // user MCP servers
      {
        "servers": {
          /* the team's */
          "team": { "type": "http", "url": "http://team.test/mcp" }, // keep me
        },
        "inputs": [],
      }

      """
    let result = try Self.install(original, comments: true, container: "servers")
    #expect(result.text.contains("// user MCP servers"))
    #expect(result.text.contains("/* the team's */"))
    #expect(result.text.contains("// keep me"))
    #expect(result.text.contains("\"inputs\": [],"))
    let reread = try JSONCDocument(result.text, comments: true)
    guard case .object(let root) = reread.root.kind, case .object(let servers)? = root.first?.value.kind else {
      Issue.record("not an object: \(result.text)")
      return
    }
    #expect(servers.map(\.key) == ["team", "mcp-tunnel-lab"])
  }

  @Test("a missing holder, an empty one, a compact file, tabs and CRLF are each written in the file's own style")
  func styles() throws {
    let noHolder = try Self.install("{\n  \"theme\": \"dark\"\n}\n")
    #expect(noHolder.text.hasPrefix("{\n  \"theme\": \"dark\",\n  \"mcpServers\": {\n    \"mcp-tunnel-lab\": {\n"))
    let emptyHolder = try Self.install("{\n  \"mcpServers\": {}\n}\n")
    #expect(
      emptyHolder.text == "{\n  \"mcpServers\": {\n    \"mcp-tunnel-lab\": {\n      \"type\": \"http\",\n"
        + "      \"url\": \"http://127.0.0.1:7711/mcp\"\n    }\n  }\n}\n")
    let compact = try Self.install(#"{"mcpServers":{"a":{}},"x":1}"#)
    #expect(
      compact.text
        == #"{"mcpServers":{"a":{},"mcp-tunnel-lab":{"type":"http","url":"http://127.0.0.1:7711/mcp"}},"x":1}"#)
    let tabs = try Self.install("{\n\t\"mcpServers\": {\n\t\t\"a\": {}\n\t}\n}\n")
    #expect(tabs.text.contains("\t\t\"mcp-tunnel-lab\": {\n\t\t\t\"type\": \"http\",\n"))
    let crlf = try Self.install("{\r\n  \"mcpServers\": {\r\n    \"a\": {}\r\n  }\r\n}\r\n")
    #expect(!crlf.text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
    #expect(Self.object(crlf.text) != nil)
  }

  @Test(
    "a file that is not what it should be is refused with its line and column",
    arguments: [
      ("{\"mcpServers\": {\n  \"a\": 1,\n", false, "3:1"),
      ("// comment\n{}", false, "1:1"),
      ("{\"a\": 1,}", false, "1:9"),
      ("[1, 2]", false, "1:1"),
      ("{\"mcpServers\": [1]}", false, "1:2"),
      ("{\"a\": 1, \"a\": 2}", false, "1:10"),
      ("{\"a\": tru}", true, "1:7"),
      ("{\"a\": \"x\ny\"}", true, "1:9"),
      ("{/* open", true, "1:2"),
    ])
  func refused(text: String, comments: Bool, at: String) {
    let error = #expect(throws: JSONCParseError.self) { try Self.install(text, comments: comments) }
    #expect(error.map { "\($0.line):\($0.column)" } == at, "\(String(describing: error))")
  }
}
