import Foundation

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// The RFC 8693 token-exchange fixture (`Tests/Lab/sts/sts.py`, Starlette/uvicorn from the lab venv)
/// on a free loopback port. It trusts glewlwyd's access tokens (verified with glewlwyd's JWKS) as
/// subject tokens and mints RS256 JWTs `{iss: issuer, aud: audience, sub, tenant, scope: "mcp",
/// act: {sub: client_id}, jti, iat, exp}` for the allowed tenants, the tenant taken from a resource
/// `https://mcp.example.test/t/{tenant}/mcp`. Its signing key lives only in the process's memory.
public final class TokenExchangeLab: Sendable {
  public static let grantType = "urn:ietf:params:oauth:grant-type:token-exchange"
  public static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
  public static let defaultAudience = "https://mcp.example.test/mcp"

  public let port: Int
  public let process: LabProcess
  public let audience: String
  public let tenants: [String]
  public let ttl: Int
  /// JSON lines, one per /token request (fingerprints, never token values).
  public let logFile: URL

  public var issuer: String { "http://127.0.0.1:\(port)" }
  public var tokenEndpoint: URL { url("/token") }
  public var jwksURL: URL { url("/jwks") }
  private var adminModeURL: URL { url("/admin/mode") }

  private func url(_ path: String) -> URL {
    URL(string: "http://127.0.0.1:\(port)\(path)") ?? URL(fileURLWithPath: "/invalid")
  }

  /// Starts the fixture and waits until it listens.
  public static func start(
    in directory: LabDirectory, idp: IdentityProviderLab, tenants: [String] = ["acme", "globex"], ttl: Int = 300,
    audience: String = defaultAudience
  ) throws -> TokenExchangeLab {
    let lab = try launch(in: directory, idp: idp, tenants: tenants, ttl: ttl, audience: audience)
    try lab.waitUntilReady()
    return lab
  }

  /// Starts the process without waiting (the IdP need not be provisioned yet: its JWKS is fetched
  /// on the first exchange).
  public static func launch(
    in directory: LabDirectory, idp: IdentityProviderLab, tenants: [String] = ["acme", "globex"], ttl: Int = 300,
    audience: String = defaultAudience
  ) throws -> TokenExchangeLab {
    let python = try LabPaths.python()
    let port = try LabNetwork.freePort()
    let runDirectory = directory.url.appendingPathComponent("sts", isDirectory: true)
    try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
    let logFile = runDirectory.appendingPathComponent("requests.jsonl")
    let process = try LabProcess(
      name: "sts", executable: python,
      arguments: [
        LabPaths.script("sts/sts.py"), "--port", "\(port)", "--idp-issuer", idp.issuer, "--idp-jwks",
        idp.jwksURL.absoluteString,
        "--audience", audience, "--tenants", tenants.joined(separator: ","), "--ttl", "\(ttl)", "--log", logFile.path,
      ] + (TokenLedger.path.map { ["--ledger", $0] } ?? []),
      environment: ["HOME": runDirectory.path, "PYTHONUNBUFFERED": "1"], directory: directory)
    return TokenExchangeLab(
      port: port, process: process, audience: audience, tenants: tenants, ttl: ttl, logFile: logFile)
  }

  private init(port: Int, process: LabProcess, audience: String, tenants: [String], ttl: Int, logFile: URL) {
    self.port = port
    self.process = process
    self.audience = audience
    self.tenants = tenants
    self.ttl = ttl
    self.logFile = logFile
  }

  public func waitUntilReady() throws { try process.waitUntilListening(port: port) }

  public func stop() { process.stop() }

  /// An RFC 8693 exchange of `subjectToken` for the tenant's resource; returns the raw response.
  /// `resource` overrides the tenant-derived one; `extra` adds or replaces form fields.
  public func exchange(
    subjectToken: String, tenant: String? = nil, resource: String? = nil, audience: String? = nil, scope: String? = nil,
    clientID: String? = "mcp-tunnel", extra: [(String, String)] = [], timeout: TimeInterval = 30
  ) async throws -> LabHTTPResponse {
    var fields: [(String, String)] = [
      ("grant_type", Self.grantType), ("subject_token", subjectToken), ("subject_token_type", Self.accessTokenType),
      ("requested_token_type", Self.accessTokenType),
    ]
    if let target = resource ?? tenant.map(IdentityProviderLab.tenantResource) { fields.append(("resource", target)) }
    if let audience { fields.append(("audience", audience)) }
    if let scope { fields.append(("scope", scope)) }
    if let clientID { fields.append(("client_id", clientID)) }
    for (key, value) in extra {
      fields.removeAll { $0.0 == key }
      fields.append((key, value))
    }
    return try await LabHTTPClient(timeout: timeout).postForm(tokenEndpoint, fields)
  }

  /// A minted tenant token, or a failure quoting the fixture's answer and log.
  public func mint(subjectToken: String, tenant: String) async throws -> String {
    let response = try await exchange(subjectToken: subjectToken, tenant: tenant)
    guard response.status == 200, let token = response.string("access_token") else {
      throw LabError(
        "token exchange for \(tenant): HTTP \(response.status) \(response.text)\n\(labTail(process.log()))")
    }
    return token
  }

  /// Fault injection: how /token behaves from now on.
  public enum Mode: Sendable {
    case normal
    /// Answer every /token request with `status` and `{"error":"temporarily_unavailable"}`.
    case fail(status: Int)
    /// Hold every /token request until the mode changes (or `seconds` pass), then answer normally.
    case stall(seconds: Double)
  }

  public func setMode(_ mode: Mode) async throws {
    let body: [String: Any] =
      switch mode {
      case .normal: ["mode": "normal"]
      case .fail(let status): ["mode": "fail", "status": status]
      case .stall(let seconds): ["mode": "stall", "stall_seconds": seconds]
      }
    let response = try await LabHTTPClient().sendJSON("POST", adminModeURL, body)
    guard response.status == 200 else { throw LabError("STS /admin/mode: HTTP \(response.status) \(response.text)") }
  }

  /// The request log so far, one JSON object per /token request or mode change.
  public func requestLog() -> [[String: Any]] { LabJSONLines.read(logFile) }
}

/// Reads JSON lines: files written by the lab's Python peers, or a command's `--json` output.
public enum LabJSONLines {
  public static func read(_ file: URL) -> [[String: Any]] {
    guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
    return parse(text)
  }

  /// The lines of `text` that are JSON objects (others are skipped).
  public static func parse(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap {
      (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
    }
  }
}
