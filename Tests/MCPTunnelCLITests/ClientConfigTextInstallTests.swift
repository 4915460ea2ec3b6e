import Foundation
import Testing

@testable import ClientConfig

/// `--install` into Codex's TOML and Goose's/Continue's YAML files: the entry's lines spliced in,
/// every other line kept, the result read again before anything is written.
@Suite("client-config --install: TOML and YAML files")
struct ClientConfigTextInstallTests {
  static let url = "http://127.0.0.1:7711/mcp"
  static let codexEntry = ConfigNode.object([("url", .string(url))])
  static let gooseEntry = ConfigNode.object([
    ("enabled", .bool(true)), ("name", .string("mcp-tunnel-lab")), ("type", .string("streamable_http")),
    ("uri", .string(url)), ("timeout", .integer(300)),
  ])
  static let continueEntry = ConfigNode.object([
    ("name", .string("mcp-tunnel-lab")), ("type", .string("streamable-http")), ("url", .string(url)),
  ])

  static func codex(_ text: String) throws -> (text: String, change: EntryChange) {
    try TOMLEntryEditor.install(name: "mcp-tunnel-lab", entry: codexEntry, into: text)
  }

  static func goose(_ text: String) throws -> (text: String, change: EntryChange) {
    try YAMLEntryEditor.install(
      name: "mcp-tunnel-lab", entry: gooseEntry, shape: .mapping(container: "extensions"), into: text)
  }

  static func continueConfig(_ text: String) throws -> (text: String, change: EntryChange) {
    try YAMLEntryEditor.install(
      name: "mcp-tunnel-lab", entry: continueEntry, shape: .listByName(container: "mcpServers"), into: text)
  }

  @Test("Codex: appended after the last table with comments kept; replaced in place; unchanged the second time")
  func codexTables() throws {
    let original = """
      # my codex
      model = "o4"  # fast

      [mcp_servers.docs]
      command = "docs-mcp"

      [tui]
      theme = "dark"

      """
    let added = try Self.codex(original)
    #expect(added.change == .added)
    #expect(added.text == original + "\n[mcp_servers.mcp-tunnel-lab]\nurl = \"\(Self.url)\"\n")
    #expect(try Self.codex(added.text).change == .unchanged)

    let old = """
      [mcp_servers.mcp-tunnel-lab]  # ours
      url = "http://127.0.0.1:1/mcp"
      startup_timeout_sec = 5

      # the tui
      [tui]
      theme = "dark"

      """
    let replaced = try Self.codex(old)
    #expect(replaced.change == .replaced)
    #expect(
      replaced.text == """
        [mcp_servers.mcp-tunnel-lab]
        url = "\(Self.url)"

        # the tui
        [tui]
        theme = "dark"

        """)
    #expect(try Self.codex("").text == "[mcp_servers.mcp-tunnel-lab]\nurl = \"\(Self.url)\"\n")
  }

  @Test("Codex: an unreadable file, a dotted-key or inline-table entry are refused with their line")
  func codexRefusals() {
    let broken = #expect(throws: EntryEditError.self) { try Self.codex("a = 1\n[b\n") }
    #expect(broken?.location == "2")
    let dotted = #expect(throws: EntryEditError.self) {
      try Self.codex("mcp_servers.mcp-tunnel-lab.url = \"x\"\n")
    }
    #expect(dotted?.message.contains("dotted keys or an inline table") == true)
    #expect(throws: EntryEditError.self) { try Self.codex("mcp_servers = { other = { url = \"x\" } }\n") }
  }

  @Test("Goose: added at the end of `extensions`, indented like its entries; other lines and comments kept")
  func gooseExtensions() throws {
    let original = """
      GOOSE_PROVIDER: openai
      extensions:
          # built in
          developer:
              enabled: true
              type: builtin
              name: developer

          memory:
              enabled: false
              type: builtin
      # model below
      GOOSE_MODEL: gpt-4o

      """
    let added = try Self.goose(original)
    #expect(added.change == .added)
    #expect(
      added.text == """
        GOOSE_PROVIDER: openai
        extensions:
            # built in
            developer:
                enabled: true
                type: builtin
                name: developer

            memory:
                enabled: false
                type: builtin
            mcp-tunnel-lab:
              enabled: true
              name: "mcp-tunnel-lab"
              type: "streamable_http"
              uri: "\(Self.url)"
              timeout: 300
        # model below
        GOOSE_MODEL: gpt-4o

        """)
    #expect(try Self.goose(added.text).change == .unchanged)
    let changed = added.text.replacingOccurrences(of: "timeout: 300", with: "timeout: 10")
    let replaced = try Self.goose(changed)
    #expect(replaced.change == .replaced && replaced.text == added.text)
  }

  @Test("Goose: no `extensions`, an empty `{}` one, a null one and an empty file each get the block")
  func gooseHolders() throws {
    let block = """
      extensions:
        mcp-tunnel-lab:
          enabled: true
          name: "mcp-tunnel-lab"
          type: "streamable_http"
          uri: "\(Self.url)"
          timeout: 300
      """
    #expect(try Self.goose("GOOSE_MODEL: x\n").text == "GOOSE_MODEL: x\n\n\(block)\n")
    #expect(try Self.goose("extensions: {}\nGOOSE_MODEL: x\n").text == "\(block)\nGOOSE_MODEL: x\n")
    #expect(try Self.goose("extensions:\nGOOSE_MODEL: x\n").text == "\(block)\nGOOSE_MODEL: x\n")
    #expect(try Self.goose("").text == "\(block)\n")
  }

  @Test("Goose: flow-style extensions, a list at the top, broken YAML are refused")
  func gooseRefusals() {
    let flow = #expect(throws: EntryEditError.self) { try Self.goose("extensions: {a: {enabled: true}}\n") }
    #expect(flow?.message.contains("block-style") == true)
    #expect(throws: EntryEditError.self) { try Self.goose("- a\n- b\n") }
    let broken = #expect(throws: EntryEditError.self) { try Self.goose("a: [1, 2\nb: 3\n") }
    #expect(
      broken?.location?.hasPrefix("3") == true || broken?.location?.hasPrefix("2") == true,
      "\(String(describing: broken))")
  }

  @Test("Continue: appended to the mcpServers list (indented or not); the item of that name is replaced")
  func continueList() throws {
    let original = """
      name: my assistant
      mcpServers:
        - name: other
          type: stdio
          command: other-mcp
      models: []

      """
    let added = try Self.continueConfig(original)
    #expect(
      added.text == """
        name: my assistant
        mcpServers:
          - name: other
            type: stdio
            command: other-mcp
          - name: "mcp-tunnel-lab"
            type: "streamable-http"
            url: "\(Self.url)"
        models: []

        """)
    #expect(try Self.continueConfig(added.text).change == .unchanged)
    let flush = "mcpServers:\n- name: mcp-tunnel-lab\n  type: sse\n  url: http://old\n- name: b\n  type: stdio\n"
    let replaced = try Self.continueConfig(flush)
    #expect(replaced.change == .replaced)
    #expect(
      replaced.text
        == "mcpServers:\n- name: \"mcp-tunnel-lab\"\n  type: \"streamable-http\"\n  url: \"\(Self.url)\"\n- name: b\n  type: stdio\n"
    )
  }
}
