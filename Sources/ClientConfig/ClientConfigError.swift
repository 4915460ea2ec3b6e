import TunnelCore

/// The error type of the `ClientConfig` module.
public struct ClientConfigError: UserFacingError, Equatable {
  public var category: FailureCategory
  public var summary: String
  public var fix: String?

  public init(_ category: FailureCategory, _ summary: String, fix: String? = nil) {
    self.category = category
    self.summary = summary
    self.fix = fix
  }

  /// A client whose config file takes only commands (stdio servers), which this build cannot serve.
  static func needsStdio(_ client: MCPClient) -> ClientConfigError {
    ClientConfigError(
      .usage,
      "\(client.displayName)'s config file accepts only stdio servers (a command to start), and its remote "
        + "connectors run in Anthropic's cloud, which cannot reach 127.0.0.1; this mcp-tunnel has no stdio bridge yet",
      fix: "use a client that connects to a URL (mcp-tunnel client-config lists them), "
        + "or a stdio bridge such as mcp-remote pointed at the URL `mcp-tunnel up` prints")
  }
}
