import Foundation

/// Drives `Tests/Lab/mcp/client.py` (official `mcp` SDK 2.3.0 client) the way an MCP client would
/// use a server or the tunnel. The token goes over stdin only; argv carries the URL and command.
/// A run takes about a second (mostly Python start-up).
public struct MCPClientLab: Sendable {
  public init() {}

  /// Runs `client.py URL [--token-stdin] [--header K=V]… command…` and parses its one JSON line.
  public func run(
    url: String, token: String? = nil, headers: [String: String] = [:], _ command: [String],
    timeout: Duration = .seconds(90)
  ) throws -> MCPClientResult {
    var arguments = [LabPaths.script("mcp/client.py"), url]
    if token != nil { arguments.append("--token-stdin") }
    for (key, value) in headers.sorted(by: { $0.key < $1.key }) { arguments += ["--header", "\(key)=\(value)"] }
    arguments += command
    let result = try LabCommand.run(
      try LabPaths.python(), arguments, environment: ["PYTHONUNBUFFERED": "1", "HOME": NSTemporaryDirectory()],
      stdin: token.map { $0 + "\n" }, timeout: timeout)
    if result.timedOut { throw LabError("MCP client \(command) timed out after \(timeout)\n\(labTail(result.stderr))") }
    return MCPClientResult(status: result.status, stdout: result.stdout, stderr: result.stderr)
  }

  /// Runs `Tests/Lab/mcp/fastmcp_client.py URL session`: the `fastmcp` library's own Streamable
  /// HTTP client (a second client library beside the SDK's), no token.
  public func fastMCPSession(url: String, timeout: Duration = .seconds(120)) throws -> MCPClientResult {
    let result = try LabCommand.run(
      try LabPaths.python(), [LabPaths.script("mcp/fastmcp_client.py"), url, "session"],
      environment: ["PYTHONUNBUFFERED": "1", "HOME": NSTemporaryDirectory()], timeout: timeout)
    if result.timedOut { throw LabError("fastmcp client timed out after \(timeout)\n\(labTail(result.stderr))") }
    return MCPClientResult(status: result.status, stdout: result.stdout, stderr: result.stderr)
  }

  public func whoami(url: String, token: String?) throws -> MCPClientResult {
    try run(url: url, token: token, ["call", "whoami"])
  }
}

/// What `client.py` printed: `{"ok": true, …}` (exit 0) or `{"ok": false, "error", "http_status"}` (exit 1).
public struct MCPClientResult: Sendable, CustomStringConvertible {
  public let status: Int32
  public let stdout: String
  public let stderr: String

  public init(status: Int32, stdout: String, stderr: String) {
    self.status = status
    self.stdout = stdout
    self.stderr = stderr
  }

  /// The JSON object on stdout (empty when there is none).
  public var object: [String: Any] {
    let line = stdout.split(separator: "\n").last.map(String.init) ?? ""
    return ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]) ?? [:]
  }

  public var ok: Bool { status == 0 && (object["ok"] as? Bool) == true }
  /// For `call`: the tool's JSON result.
  public var result: [String: Any] { object["result"] as? [String: Any] ?? [:] }
  /// For failures: the last HTTP error status the client saw (401, 421…).
  public var httpStatus: Int? { (object["http_status"] as? NSNumber)?.intValue }
  /// For failures: the JSON-RPC error of the failed request as the SDK received it (`code`,
  /// `message`, `data`); empty when there was none.
  public var rpcError: [String: Any] { object["rpc_error"] as? [String: Any] ?? [:] }

  public var description: String { "exit \(status): \(stdout)\n\(labTail(stderr, lines: 15))" }

  /// For `stream`: when each progress notification arrived, in seconds since the call began.
  public var progressArrivals: [Double] {
    (object["events"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "progress" }.compactMap {
      ($0["t"] as? NSNumber)?.doubleValue
    }
  }

  /// For `stream`: seconds from the call to its result.
  public var elapsed: Double { (object["elapsed"] as? NSNumber)?.doubleValue ?? 0 }

  /// For `stream COUNT DELAY_MS`: nil when the notifications arrived one by one (each at least
  /// `minimumGap` after the previous, the first long before the result), else what was wrong.
  public func streamedIncrementally(count: Int, minimumGap: Double = 0.25) -> String? {
    let arrivals = progressArrivals
    guard ok, arrivals.count == count else { return "expected \(count) progress events: \(self)" }
    for (earlier, later) in zip(arrivals, arrivals.dropFirst()) where later - earlier < minimumGap {
      return "events must arrive spaced, got \(arrivals)"
    }
    guard let first = arrivals.first, first < elapsed - 0.8 else {
      return "the first event must arrive long before the result (\(arrivals), result at \(elapsed))"
    }
    return nil
  }
}
