import TunnelCore

/// The MCP clients `client-config` knows (reference/CLIENTS.md §0–§1): where each keeps its
/// servers on Linux, in which format, and the exact entry that points it at a Streamable HTTP URL.
public enum MCPClient: String, CaseIterable, Sendable {
  case claudeCode = "claude-code"
  case vscode
  case cursor
  case windsurf
  case zed
  case codex
  case gemini
  case cline
  case goose
  case `continue`
  case lmstudio
  case claudeDesktop = "claude-desktop"

  public enum Format: String, Sendable {
    case json
    /// JSON with comments and trailing commas (VS Code's and Zed's settings files).
    case jsonc
    case toml
    case yaml
  }

  public var displayName: String {
    switch self {
    case .claudeCode: "Claude Code"
    case .vscode: "VS Code"
    case .cursor: "Cursor"
    case .windsurf: "Windsurf"
    case .zed: "Zed"
    case .codex: "Codex CLI"
    case .gemini: "Gemini CLI"
    case .cline: "Cline"
    case .goose: "Goose"
    case .continue: "Continue"
    case .lmstudio: "LM Studio"
    case .claudeDesktop: "Claude Desktop"
    }
  }

  public var format: Format {
    switch self {
    case .vscode, .zed: .jsonc
    case .codex: .toml
    case .goose, .continue: .yaml
    default: .json
    }
  }

  /// The user-scope file on Linux. `CODEX_HOME` moves Codex's; the `~/.config` ones follow
  /// `XDG_CONFIG_HOME` as those clients do.
  public func userFile(paths: XDGPaths, environment: [String: String]) -> String {
    let home = paths.home
    let config = paths.configHome
    switch self {
    case .claudeCode: return "\(home)/.claude.json"
    case .vscode: return "\(config)/Code/User/mcp.json"
    case .cursor: return "\(home)/.cursor/mcp.json"
    case .windsurf: return "\(home)/.codeium/windsurf/mcp_config.json"
    case .zed: return "\(config)/zed/settings.json"
    case .codex:
      let codexHome = environment["CODEX_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "\(home)/.codex"
      return "\(codexHome)/config.toml"
    case .gemini: return "\(home)/.gemini/settings.json"
    case .cline: return "\(config)/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"
    case .goose: return "\(config)/goose/config.yaml"
    case .continue: return "\(home)/.continue/config.yaml"
    case .lmstudio: return "\(home)/.lmstudio/mcp.json"
    case .claudeDesktop: return "\(config)/Claude/claude_desktop_config.json"
    }
  }

  /// The project-scope file, relative to the project's root; nil where the client has none.
  public var projectFile: String? {
    switch self {
    case .claudeCode: ".mcp.json"
    case .vscode: ".vscode/mcp.json"
    case .cursor: ".cursor/mcp.json"
    case .zed: ".zed/settings.json"
    case .codex: ".codex/config.toml"
    case .gemini: ".gemini/settings.json"
    default: nil
    }
  }

  /// Whether the client can reach a URL itself; Claude Desktop's file takes only commands (stdio).
  public var speaksHTTP: Bool { self != .claudeDesktop }

  /// What the user does after the file changed, where the client does not pick it up by itself.
  public var afterChange: String {
    switch self {
    case .claudeCode: "run /mcp in Claude Code (or start a new session) to connect"
    case .vscode: "start the server from the MCP view, or run \"MCP: List Servers\""
    case .cursor: "enable it under Cursor Settings → MCP"
    case .windsurf: "press refresh in Windsurf's MCP panel"
    case .zed: "Zed reloads its settings by itself"
    case .codex: "restart codex"
    case .gemini: "restart gemini"
    case .cline: "Cline reloads its MCP settings by itself"
    case .goose: "restart goose"
    case .continue: "reload Continue (MCP works in Agent mode)"
    case .lmstudio: "restart LM Studio"
    case .claudeDesktop: "restart Claude Desktop"
    }
  }
}

/// One client's entry for one profile: the server entry itself and the file fragment that holds
/// it, ready to paste.
public struct ClientEntry: Sendable, Equatable {
  public var client: MCPClient
  /// The entry's name in the client's file (`mcp-tunnel-<profile>` by default).
  public var name: String
  /// The user-scope file of the client.
  public var file: String
  /// The server entry (what sits under the name).
  public var entry: ConfigNode
  /// The fragment of the client's file that holds the entry, in the client's format.
  public var document: String

  /// The entry that points `client` at `url` (the profile's `http://<listen>/mcp`), with no
  /// `Authorization` header: `up` injects the tenant token.
  public static func http(
    client: MCPClient, name: String, url: String, paths: XDGPaths, environment: [String: String]
  ) throws(ClientConfigError) -> ClientEntry {
    guard client.speaksHTTP else { throw .needsStdio(client) }
    let entry: ConfigNode
    switch client {
    case .claudeCode, .vscode: entry = .object([("type", .string("http")), ("url", .string(url))])
    case .cursor, .zed, .lmstudio, .codex: entry = .object([("url", .string(url))])
    case .windsurf: entry = .object([("serverUrl", .string(url))])
    case .gemini: entry = .object([("httpUrl", .string(url))])
    case .cline:
      entry = .object([("type", .string("streamableHttp")), ("url", .string(url)), ("disabled", .bool(false))])
    case .goose:
      entry = .object([
        ("enabled", .bool(true)), ("name", .string(name)), ("type", .string("streamable_http")), ("uri", .string(url)),
        ("timeout", .integer(300)),
      ])
    case .continue:
      entry = .object([("name", .string(name)), ("type", .string("streamable-http")), ("url", .string(url))])
    case .claudeDesktop:
      throw .needsStdio(client)
    }
    return ClientEntry(
      client: client, name: name, file: client.userFile(paths: paths, environment: environment), entry: entry,
      document: document(client: client, name: name, entry: entry))
  }

  /// The entry that has a command-only client (Claude Desktop) start `command arguments…` — this
  /// binary's `stdio` for the profile, which forwards to its tunnel with the token injected.
  public static func stdio(
    client: MCPClient, name: String, command: String, arguments: [String], paths: XDGPaths,
    environment: [String: String]
  ) -> ClientEntry {
    let entry = ConfigNode.object([("command", .string(command)), ("args", .array(arguments.map { .string($0) }))])
    return ClientEntry(
      client: client, name: name, file: client.userFile(paths: paths, environment: environment), entry: entry,
      document: document(client: client, name: name, entry: entry))
  }

  /// The fragment of `client`'s file that holds `entry` under `name`.
  static func document(client: MCPClient, name: String, entry: ConfigNode) -> String {
    switch client {
    case .codex:
      guard case .object(let members) = entry else { return "" }
      return "[mcp_servers.\(ConfigNode.tomlKey(name))]\n"
        + members.map { "\(ConfigNode.tomlKey($0.key)) = \($0.value.tomlValue())" }.joined(separator: "\n")
    case .goose:
      return ConfigNode.object([("extensions", .object([(name, entry)]))]).yaml()
    case .continue:
      return ConfigNode.object([("mcpServers", .array([entry]))]).yaml()
    case .vscode:
      return ConfigNode.object([("servers", .object([(name, entry)]))]).json()
    case .zed:
      return ConfigNode.object([("context_servers", .object([(name, entry)]))]).json()
    default:
      return ConfigNode.object([("mcpServers", .object([(name, entry)]))]).json()
    }
  }
}
