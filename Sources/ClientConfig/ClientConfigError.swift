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

  /// A client whose config file takes only commands (stdio servers): its entry is
  /// `ClientEntry.stdio`, which starts `mcp-tunnel stdio`, never a URL.
  static func needsStdio(_ client: MCPClient) -> ClientConfigError {
    ClientConfigError(
      .usage,
      "\(client.displayName)'s config file accepts only stdio servers (a command to start), not a URL",
      fix: "point it at `mcp-tunnel stdio --profile P`: mcp-tunnel client-config --client \(client.rawValue)")
  }
}
