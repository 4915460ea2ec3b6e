import Foundation
import LabSupport
import Testing
import TunnelCore

/// The lab as the built `mcp-tunnel` binary sees it: the real peers a test asks for, a config file
/// with a `lab` profile pointing at them, and an environment (keyring bus, private HOME/XDG dirs,
/// TMPDIR) for the child processes. Shared by every CLI test that runs the binary against peers.
struct CLILab {
  let lab: LabEnvironment
  let idp: IdentityProviderLab
  let keyring: KeyringLab
  let config: String
  let environment: [String: String]
  /// The `http` listen address of the profile (a free port), when the lab has SSH.
  let listen: HostPort?

  /// `peers` beyond the IdP and the keyring; with `.ssh` the profile gets `[session]` (token
  /// exchange at the fixture, tenants acme/globex) and a two-hop `[ssh]` to the MCP server.
  /// `idpAccessTokenTTL` below 60 s makes every tenant mint refresh the login at glewlwyd (the
  /// login session reuses an IdP access token only while it has a minute left).
  init(
    variant: KeyringLab.Variant = .unlocked, peers: LabEnvironment.Peers = [], sessionTokenTTL: Int = 300,
    idpAccessTokenTTL: Int = 300
  ) throws {
    lab = try LabEnvironment.start(
      peers.union([.identityProvider, .keyring]), keyringVariant: variant, sessionTokenTTL: sessionTokenTTL,
      idpAccessTokenTTL: idpAccessTokenTTL)
    idp = try lab.idp()
    keyring = try lab.secretService()
    config = lab.directory.path("config.toml")
    var text = """
      default_profile = "lab"
      [profiles.lab.idp]
      issuer = "\(idp.issuer)"
      client_id = "\(idp.clientID)"
      scopes = ["openid", "mcp"]
      redirect_uri = "\(idp.redirectURI)"

      """
    if let ssh = lab.ssh, let sts = lab.tokenExchange {
      let port = try LabNetwork.freePort()
      listen = HostPort(host: "127.0.0.1", port: port)
      text += """
        [profiles.lab.session]
        method = "token-exchange"
        endpoint = "\(sts.tokenEndpoint.absoluteString)"
        resource = "https://mcp.example.test/t/{tenant}/mcp"
        tenants = ["acme", "globex"]
        default_tenant = "acme"
        [profiles.lab.ssh]
        jump = ["\(ssh.bastionEndpoint)"]
        host = "\(ssh.targetEndpoint)"
        target = "\(ssh.forwardTarget)"
        known_hosts = "\(ssh.knownHostsPath)"
        identity = "\(ssh.clientKeyPath)"
        [profiles.lab.listen]
        address = "127.0.0.1:\(port)"

        """
    } else {
      listen = nil
      text += """
        [profiles.lab.ssh]
        target = "127.0.0.1:9"

        """
    }
    try text.write(toFile: config, atomically: true, encoding: .utf8)
    var environment = keyring.environment
    let tmp = lab.directory.path("tmp")
    let runtime = lab.directory.path("run")
    try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(
      atPath: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    environment["TMPDIR"] = tmp
    environment["XDG_RUNTIME_DIR"] = runtime
    environment.removeValue(forKey: "SSH_AUTH_SOCK")
    self.environment = environment
  }

  func run(_ arguments: [String], env: [String: String]? = nil) throws -> (status: Int32, output: String) {
    try runTool(BuiltBinary.mcpTunnel, arguments + ["--config", config], environment: env ?? environment)
  }

  /// Runs a command with `--json` and returns its last stdout line as an object.
  func json(_ arguments: [String]) throws -> [String: Any] {
    let result = try LabCommand.run(
      BuiltBinary.mcpTunnel, arguments + ["--config", config, "--json"], environment: environment)
    let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
    guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
      throw LabError("\(arguments): exit \(result.status)\n\(result.stdout)\n\(result.stderr)")
    }
    return object
  }

  /// `audit tail --json -n N`: the profile's audit records, oldest first.
  func auditTrail(last count: Int = 500) throws -> (records: [[String: Any]], text: String) {
    let trail = try LabCommand.run(
      BuiltBinary.mcpTunnel, ["audit", "tail", "--json", "-n", "\(count)", "--config", config], environment: environment
    )
    return (LabJSONLines.parse(trail.stdout), trail.stdout)
  }

  /// The refresh token as stored, read with secret-tool (test-only view of the secret).
  func storedRefreshToken() throws -> String? {
    let found = try keyring.secretTool(["lookup", "application", "mcp-tunnel", "profile", "lab"])
    let token = found.status == 0 && !found.stdout.isEmpty ? found.stdout : nil
    TokenLedger.record([token])
    return token
  }

  /// Runs `login --flow device --json`, approves the code as the lab user, returns the process.
  func deviceLogin(extra: [String] = []) async throws -> RunningCommand {
    let login = try RunningCommand(
      BuiltBinary.mcpTunnel, ["login", "--flow", "device", "--json", "--config", config] + extra,
      environment: environment)
    try waitUntil(timeout: .seconds(20), "the device_authorization event") {
      login.stdout.contains("device_authorization") || !login.isRunning
    }
    let event = try #require(
      login.events.first { $0["event"] as? String == "device_authorization" }, "\(login.stdout)\n\(login.stderr)")
    let userCode = try #require(event["user_code"] as? String)
    // stderr is a separate pipe: give it the moment it may lag behind stdout.
    try? waitUntil(timeout: .seconds(120), "the user code on stderr") { login.stderr.contains(userCode) }
    #expect(login.stderr.contains(userCode), "DEV-04: the user code is printed on stderr too")
    try await idp.approveDevice(userCode: userCode, scope: "openid mcp")
    return login
  }

  /// A device login that must succeed.
  func logIn() async throws {
    let login = try await deviceLogin()
    let status = try login.waitForExit(timeout: .seconds(30))
    guard status == 0 else { throw LabError("login exited \(status): \(login.stderr)") }
    _ = try? storedRefreshToken()  // into the ledger of the secret-hygiene scan
  }

  /// `up --json` in the background, returned once its `ready` event is out.
  func up(_ extra: [String] = []) throws -> RunningCommand {
    let up = try RunningCommand(
      BuiltBinary.mcpTunnel, ["up", "--json", "--config", config] + extra, environment: environment)
    try waitUntil(timeout: .seconds(30), "the ready event") { up.stdout.contains("\"ready\"") || !up.isRunning }
    guard up.isRunning else { throw LabError("up exited early: \(up.stdout)\n\(up.stderr)") }
    return up
  }

  /// Runs `body` against a whole lab (`.ssh`) with `up` running, logged in first unless `logIn`
  /// is false, and always stops both.
  static func withTunnel(
    sessionTokenTTL: Int = 300, idpAccessTokenTTL: Int = 300, logIn: Bool = true,
    _ body: (CLILab, RunningCommand) async throws -> Void
  ) async throws {
    let lab = try await offPool {
      try CLILab(peers: [.ssh], sessionTokenTTL: sessionTokenTTL, idpAccessTokenTTL: idpAccessTokenTTL)
    }
    defer { lab.stop() }
    if logIn { try await lab.logIn() }
    let up = try await offPool { try lab.up() }
    defer { up.kill() }
    try await body(lab, up)
  }

  /// The MCP endpoint `up` serves.
  var url: String { "http://\(listen?.description ?? "127.0.0.1:7700")/mcp" }

  /// Stops the peers; the refresh token stored last goes into the secret-hygiene ledger first.
  func stop() {
    _ = try? storedRefreshToken()
    lab.stop()
  }
}
