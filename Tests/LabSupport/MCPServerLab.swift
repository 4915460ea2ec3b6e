import Foundation

/// The lab's MCP server (`Tests/Lab/mcp/server.py`, official `mcp` SDK 2.3.0), streamable HTTP at
/// `http://127.0.0.1:<port>/mcp`. It accepts only bearer JWTs minted by the token-exchange fixture
/// (signature via the fixture's JWKS, `iss`, `aud`, `exp`, a `tenant` claim, scope `mcp`) and answers
/// anything else with 401. Tools: `whoami`, `echo(text)`, `slow_stream(count, delay_ms)`; resource
/// `lab://tenant-info`; prompt `greeting(name)`.
///
/// Its DNS-rebinding protection (the SDK's default on loopback) accepts `Host: 127.0.0.1:*` and
/// `localhost:*`, so a forward or proxy on another port still works; other hosts get 421.
public final class MCPServerLab: Sendable {
  public let port: Int
  public let process: LabProcess
  /// JSON lines, one per HTTP request (see `requestLog()`).
  public let logFile: URL

  /// `http://127.0.0.1:<port>/mcp`
  public var url: String { "http://127.0.0.1:\(port)/mcp" }
  public var address: String { "127.0.0.1:\(port)" }

  public static func start(in directory: LabDirectory, tokenExchange: TokenExchangeLab) throws -> MCPServerLab {
    let lab = try launch(in: directory, tokenExchange: tokenExchange)
    try lab.waitUntilReady()
    return lab
  }

  /// Starts the process without waiting (the fixture's JWKS is fetched on the first request).
  public static func launch(
    in directory: LabDirectory, tokenExchange: TokenExchangeLab, port fixedPort: Int? = nil
  ) throws -> MCPServerLab {
    let python = try LabPaths.python()
    let port = try fixedPort ?? LabNetwork.freePort()
    let runDirectory = directory.url.appendingPathComponent("mcp", isDirectory: true)
    try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
    let logFile = runDirectory.appendingPathComponent("requests.jsonl")
    let process = try LabProcess(
      name: "mcp-server", executable: python,
      arguments: [
        LabPaths.script("mcp/server.py"), "--port", "\(port)", "--jwks-url", tokenExchange.jwksURL.absoluteString,
        "--issuer", tokenExchange.issuer, "--audience", tokenExchange.audience, "--log", logFile.path,
      ],
      environment: ["HOME": runDirectory.path, "PYTHONUNBUFFERED": "1"], directory: directory)
    return MCPServerLab(port: port, process: process, logFile: logFile)
  }

  private init(port: Int, process: LabProcess, logFile: URL) {
    self.port = port
    self.process = process
    self.logFile = logFile
  }

  public func waitUntilReady() throws { try process.waitUntilListening(port: port) }

  public func stop() { process.stop() }

  /// One object per finished HTTP request: `method`, `path`, `host`, `authorization` (bool),
  /// `session` (bool), `rpc_method`, `rpc_id`, `status`, `duration_ms`, and either
  /// `token: {iss, aud, tenant, sub, jti}` or `rejected: <reason>`. Never a token value.
  public func requestLog() -> [[String: Any]] { LabJSONLines.read(logFile) }
}
