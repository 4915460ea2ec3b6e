import Crypto
import Foundation
import Synchronization

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

// off-pool-file: synchronous lab helpers; lab suites call them on OffPoolExecutor (.offPool) or inside offPool {}, every other caller uses a thread of its own

/// A real glewlwyd 2.7.5 OpenID provider on 127.0.0.1, with its own config, SQLite DB and RSA key in
/// the lab directory, provisioned over its admin REST API by `Tests/Lab/glewlwyd/{prepare,provision}.sh`
/// (the same scripts `lab.sh` uses).
///
/// What is provisioned: scope `mcp`; the step-up scope `mcp-admin`, which needs the password and
/// a TOTP code (scheme `otp`, the user's secret in `otp.json`; `approveDevice` enters the code); the OIDC plugin (RS256 JWT access tokens with `typ: at+jwt`,
/// device grant, authorization code + PKCE S256 required for public clients, refresh tokens rotated
/// on every use with reuse detection (`refresh-token-one-use: always`), RFC 8707 resources
/// `https://mcp.example.test/` and the tenant resources `…/t/acme/mcp`, `…/t/globex/mcp`, revocation
/// and introspection authenticated by a Bearer access token with scope `mcp`); the public client
/// `mcp-tunnel` with the single redirect URI `redirectURI` (glewlwyd matches it exactly, port
/// included); the user in `Tests/Lab/glewlwyd/user.json`.
///
/// Known glewlwyd behaviours tests rely on: an authorization request with scope `openid` needs a
/// `nonce` (else the redirect carries `error=invalid_request`); replaying a rotated refresh token
/// gets `400` with an empty body (no `invalid_grant` JSON); a refresh may only repeat the resource of
/// the original grant — asking for another tenant's resource gets `400`.
public final class IdentityProviderLab: Sendable {
  public let port: Int
  /// The loopback port registered in the client's redirect URI (nothing listens there unless a test does).
  public let redirectPort: Int
  /// The running glewlwyd (a new one after `restart()`).
  public var process: LabProcess { current.withLock { $0 } }
  private let current: Mutex<LabProcess>
  private let generation = Mutex(1)
  public let runDirectory: URL
  private let labDirectory: LabDirectory
  public let clientID = "mcp-tunnel"
  public let username: String
  public let password: String

  public static let defaultResource = "https://mcp.example.test/"
  public static func tenantResource(_ tenant: String) -> String { "https://mcp.example.test/t/\(tenant)/mcp" }

  public var baseURL: URL { url("") }
  public var issuer: String { "http://127.0.0.1:\(port)/api/oidc" }
  public var discoveryURL: URL { url("/api/oidc/.well-known/openid-configuration") }
  public var authorizationEndpoint: URL { url("/api/oidc/auth") }
  public var tokenEndpoint: URL { url("/api/oidc/token") }
  public var deviceAuthorizationEndpoint: URL { url("/api/oidc/device_authorization") }
  public var revocationEndpoint: URL { url("/api/oidc/revoke") }
  public var introspectionEndpoint: URL { url("/api/oidc/introspect") }
  public var userinfoEndpoint: URL { url("/api/oidc/userinfo") }
  public var jwksURL: URL { url("/api/oidc/jwks") }
  public var redirectURI: String { "http://127.0.0.1:\(redirectPort)/callback" }

  private func url(_ path: String) -> URL {
    URL(string: "http://127.0.0.1:\(port)\(path)") ?? URL(fileURLWithPath: "/invalid")
  }

  /// Starts and provisions glewlwyd; returns once discovery answers.
  public static func start(in directory: LabDirectory, accessTokenTTL: Int = 300) throws -> IdentityProviderLab {
    let lab = try launch(in: directory)
    do {
      try lab.waitUntilReady(accessTokenTTL: accessTokenTTL)
    } catch {
      lab.stop()
      throw error
    }
    return lab
  }

  /// Writes config, DB and key, and starts the glewlwyd process without waiting for it
  /// (`LabEnvironment` starts the other peers meanwhile). Call `waitUntilReady` next.
  public static func launch(in directory: LabDirectory) throws -> IdentityProviderLab {
    let glewlwyd = try LabPaths.requireExecutable("glewlwyd")
    for tool in ["sqlite3", "openssl", "jq", "curl", "zcat"] { _ = try LabPaths.requireExecutable(tool) }
    let port = try LabNetwork.freePort()
    var redirectPort = try LabNetwork.freePort()
    while redirectPort == port { redirectPort = try LabNetwork.freePort() }
    let runDirectory = directory.url.appendingPathComponent("glewlwyd", isDirectory: true)

    let prepared = try LabCommand.run(
      "/bin/bash", [LabPaths.script("glewlwyd/prepare.sh"), runDirectory.path, "\(port)"])
    guard prepared.status == 0 else {
      throw LabError("glewlwyd/prepare.sh failed (\(prepared.status)):\n\(prepared.stdout)\(prepared.stderr)")
    }
    let process = try LabProcess(
      name: "glewlwyd", executable: glewlwyd,
      arguments: ["-c", runDirectory.appendingPathComponent("glewlwyd.conf").path],
      environment: ["HOME": runDirectory.path], directory: directory)

    let userFile = LabPaths.scripts.appendingPathComponent("glewlwyd/user.json")
    let user = (try? JSONSerialization.jsonObject(with: Data(contentsOf: userFile))) as? [String: Any] ?? [:]
    guard let username = user["username"] as? String, let password = user["password"] as? String else {
      process.stop()
      throw LabError("\(userFile.path) has no username/password")
    }
    return IdentityProviderLab(
      port: port, redirectPort: redirectPort, process: process, runDirectory: runDirectory,
      username: username, password: password, labDirectory: directory)
  }

  private init(
    port: Int, redirectPort: Int, process: LabProcess, runDirectory: URL, username: String, password: String,
    labDirectory: LabDirectory
  ) {
    self.labDirectory = labDirectory
    self.port = port
    self.redirectPort = redirectPort
    current = Mutex(process)
    self.runDirectory = runDirectory
    self.username = username
    self.password = password
  }

  /// Waits for the port, provisions through the admin API, and checks discovery.
  public func waitUntilReady(accessTokenTTL: Int = 300) throws {
    do {
      try LabNetwork.waitForListening(port: port, timeout: .seconds(120), process: process)
    } catch {
      throw LabError("\(error)\nglewlwyd.log:\n\(log())")
    }
    var environment = ProcessInfo.processInfo.environment
    environment["LAB_ACCESS_TOKEN_TTL"] = "\(accessTokenTTL)"
    let provisioned = try LabCommand.run(
      "/bin/bash", [LabPaths.script("glewlwyd/provision.sh"), runDirectory.path, "\(port)", redirectURI],
      environment: environment)
    guard provisioned.status == 0 else {
      throw LabError(
        "glewlwyd/provision.sh failed (\(provisioned.status)):\n\(provisioned.stderr)\nglewlwyd.log:\n\(log())")
    }
  }

  /// glewlwyd's own log file (the process's stdout/stderr are in `process.log()`), last lines.
  public func log(lines: Int = 40) -> String {
    let own = (try? String(contentsOf: runDirectory.appendingPathComponent("glewlwyd.log"), encoding: .utf8)) ?? ""
    return labTail(process.log() + own, lines: lines)
  }

  public func stop() { process.stop() }

  // MARK: faults

  /// SIGKILL to glewlwyd: the IdP crashes; its port refuses connections until `restart()`.
  public func kill() { process.kill9() }

  /// SIGSTOP: glewlwyd stays bound, so connections are accepted by the kernel and then nothing
  /// answers (a hung IdP). `thaw()` resumes it.
  public func freeze() { _ = Glibc.kill(process.pid, SIGSTOP) }

  public func thaw() { _ = Glibc.kill(process.pid, SIGCONT) }

  /// Starts glewlwyd again on the same port with the same config, database and signing key (after
  /// `kill()` or `stop()`; a running one is stopped first): every client, grant and refresh token
  /// survives. Returns once discovery answers.
  public func restart() throws {
    process.stop()
    let number = generation.withLock { g -> Int in
      g += 1
      return g
    }
    let started = try LabProcess(
      name: "glewlwyd-\(number)", executable: try LabPaths.requireExecutable("glewlwyd"),
      arguments: ["-c", runDirectory.appendingPathComponent("glewlwyd.conf").path],
      environment: ["HOME": runDirectory.path], directory: labDirectory)
    current.withLock { $0 = started }
    try started.waitUntilListening(port: port, timeout: .seconds(120))
  }

  // MARK: the user's side ("a browser on another device"), no human involved

  /// Logs in as the test user in a fresh browser session and grants the client `scope`. When
  /// `scope` has the step-up scope `mcp-admin` and `secondFactor` is true, the user also enters
  /// the TOTP code of the lab's registration (`otp.json`), as that scope requires.
  private func userBrowser(granting scope: String, secondFactor: Bool = true) async throws -> LabHTTPClient {
    let browser = LabHTTPClient()
    let login = try await browser.sendJSON("POST", url("/api/auth/"), ["username": username, "password": password])
    guard login.status == 200 else {
      throw LabError("user login at glewlwyd: HTTP \(login.status) \(login.text)\n\(log())")
    }
    if secondFactor, scope.split(separator: " ").contains("mcp-admin") {
      try await enterOneTimeCode(browser)
    }
    let consent = try await browser.sendJSON("PUT", url("/api/auth/grant/\(clientID)"), ["scope": scope])
    guard consent.status == 200 else {
      throw LabError("consent for \(scope): HTTP \(consent.status) \(consent.text)\n\(log())")
    }
    return browser
  }

  /// Approves a pending device authorization as the test user would on the verification page:
  /// log in, consent to `scope`, submit the user code. Afterwards the device's token poll succeeds.
  ///
  /// `secondFactor: false` skips the TOTP code a step-up scope needs: glewlwyd then completes the
  /// approval anyway and silently leaves that scope out of the token (its device flow's behaviour).
  public func approveDevice(userCode: String, scope: String = "openid mcp", secondFactor: Bool = true) async throws {
    let browser = try await userBrowser(granting: scope, secondFactor: secondFactor)
    let page = url("/api/oidc/device?code=\(LabForm.escape(userCode))&g_continue")
    let response = try await browser.get(page)
    guard response.status == 302, let location = response.location, location.contains("prompt=deviceComplete") else {
      throw LabError(
        "device approval for \(userCode) not completed: HTTP \(response.status) → \(response.location ?? "-")\n\(log())"
      )
    }
  }

  /// The lab user's TOTP secret (`Tests/Lab/glewlwyd/otp.json`, registered by provision.sh).
  static func totpSecret() throws -> (key: [UInt8], step: Int) {
    let file = LabPaths.scripts.appendingPathComponent("glewlwyd/otp.json")
    let object = (try? JSONSerialization.jsonObject(with: Data(contentsOf: file))) as? [String: Any] ?? [:]
    guard let secret = object["secret"] as? String, let key = Base32.decode(secret) else {
      throw LabError("\(file.path) has no base32 secret")
    }
    return (key, object["time_step_size"] as? Int ?? 30)
  }

  /// RFC 6238 TOTP (HMAC-SHA1, 6 digits) of `key` at `date`.
  public static func totp(key: [UInt8], step: Int = 30, at date: Date = Date()) -> String {
    var counter = UInt64(date.timeIntervalSince1970 / Double(step)).bigEndian
    let message = withUnsafeBytes(of: &counter) { Data($0) }
    let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    let offset = Int(mac[mac.count - 1] & 0x0f)
    let value =
      (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8)
      | UInt32(mac[offset + 3])
    return String(format: "%06u", value % 1_000_000)
  }

  /// Enters the current TOTP code in `browser`'s session. glewlwyd takes a registration's code
  /// only when a whole time step has passed since its last use (anti-replay, `gso_last_used <
  /// now − step`): a refusal right after another step-up login waits one step and a second (the
  /// last use was at most that long ago) and enters the code of that moment.
  private func enterOneTimeCode(_ browser: LabHTTPClient) async throws {
    let (key, step) = try Self.totpSecret()
    var refused: LabHTTPResponse?
    for attempt in 0..<2 {
      if attempt > 0 { try await Task.sleep(for: .seconds(step + 1)) }
      let body: [String: Any] = [
        "username": username, "scheme_type": "otp", "scheme_name": "otp",
        "value": ["value": Self.totp(key: key, step: step)],
      ]
      let answer = try await browser.sendJSON("POST", url("/api/auth/"), body)
      if answer.status == 200 { return }
      refused = answer
    }
    throw LabError(
      "TOTP login at glewlwyd refused twice: HTTP \(refused?.status ?? 0) \(refused?.text ?? "")\n\(log())")
  }

  /// Does what the user's browser does with an authorization URL (auth code + PKCE): log in, grant
  /// the requested scope, load the URL, and return the redirect to the client's `redirect_uri`,
  /// which carries `code` and `state` (or `error`). The redirect is returned, not followed, unless
  /// `deliver` is true: then it is also requested (GET) as the browser would, to hand the code to
  /// the client's loopback listener.
  public func completeBrowserLogin(authorizationURL: URL, deliver: Bool = false) async throws -> URL {
    let query = LabForm.query(of: authorizationURL)
    let browser = try await userBrowser(granting: query["scope"] ?? "openid mcp")
    guard var components = URLComponents(url: authorizationURL, resolvingAgainstBaseURL: false) else {
      throw LabError("bad authorization URL \(authorizationURL)")
    }
    let items = components.queryItems ?? []
    if !items.contains(where: { $0.name == "g_continue" }) {
      // glewlwyd's web UI adds g_continue once the user has logged in; without it we would get login.html.
      components.queryItems = items + [URLQueryItem(name: "g_continue", value: nil)]
    }
    guard let target = components.url else { throw LabError("bad authorization URL \(authorizationURL)") }
    let response = try await browser.get(target)
    guard response.status == 302, let location = response.location, let redirect = URL(string: location) else {
      throw LabError(
        "authorization request: HTTP \(response.status) → \(response.location ?? "-") \(response.text.prefix(300))\n\(log())"
      )
    }
    if let expected = query["redirect_uri"], !location.hasPrefix(expected) {
      throw LabError("authorization did not redirect to \(expected) but to \(location)\n\(log())")
    }
    if deliver {
      _ = try await LabHTTPClient(timeout: 10).get(redirect)
    }
    return redirect
  }

  // MARK: the client's side, for tests of the lab itself and for chaining peers

  /// Starts a device authorization (RFC 8628) for the lab client.
  public func startDeviceAuthorization(
    scope: String = "openid mcp", resource: String? = nil
  ) async throws -> LabDeviceAuthorization {
    var fields = [("client_id", clientID), ("scope", scope)]
    if let resource { fields.append(("resource", resource)) }
    let response = try await LabHTTPClient().postForm(deviceAuthorizationEndpoint, fields)
    guard response.status == 200, let deviceCode = response.string("device_code"),
      let userCode = response.string("user_code"),
      let uri = response.string("verification_uri")
    else { throw LabError("device_authorization: HTTP \(response.status) \(response.text)\n\(log())") }
    return LabDeviceAuthorization(
      deviceCode: deviceCode, userCode: userCode, verificationURI: uri,
      verificationURIComplete: response.string("verification_uri_complete"))
  }

  /// POSTs a token request to the token endpoint and returns the raw response.
  public func tokenRequest(_ fields: [(String, String)]) async throws -> LabHTTPResponse {
    let response = try await LabHTTPClient().postForm(tokenEndpoint, fields)
    TokenLedger.record([
      response.string("access_token"), response.string("refresh_token"), response.string("id_token"),
    ])
    return response
  }

  /// The whole device login, approved by `approveDevice`: returns the token response.
  public func deviceLogin(scope: String = "openid mcp", resource: String? = nil) async throws -> LabTokenSet {
    let authorization = try await startDeviceAuthorization(scope: scope, resource: resource)
    try await approveDevice(userCode: authorization.userCode, scope: scope)
    var fields = [
      ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", clientID),
      ("device_code", authorization.deviceCode),
    ]
    if let resource { fields.append(("resource", resource)) }
    let response = try await tokenRequest(fields)
    return try LabTokenSet(response, what: "device token request", log: log())
  }

  /// A refresh-token grant; returns the raw response (tests look at 200 vs 400).
  public func refresh(_ refreshToken: String, resource: String? = nil) async throws -> LabHTTPResponse {
    var fields = [("grant_type", "refresh_token"), ("client_id", clientID), ("refresh_token", refreshToken)]
    if let resource { fields.append(("resource", resource)) }
    return try await tokenRequest(fields)
  }
}

/// A device authorization response (RFC 8628 §3.2).
public struct LabDeviceAuthorization: Sendable {
  public let deviceCode: String
  public let userCode: String
  public let verificationURI: String
  public let verificationURIComplete: String?
}

/// A successful token response. `description` never shows the token values.
public struct LabTokenSet: Sendable, CustomStringConvertible {
  public let accessToken: String
  public let refreshToken: String?
  public let idToken: String?
  public let expiresIn: Int?
  public let scope: String?

  public init(_ response: LabHTTPResponse, what: String, log: String = "") throws {
    guard response.status == 200, let accessToken = response.string("access_token") else {
      throw LabError("\(what): HTTP \(response.status) \(response.text.prefix(300))\n\(log)")
    }
    let json = try response.json()
    self.accessToken = accessToken
    refreshToken = json["refresh_token"] as? String
    idToken = json["id_token"] as? String
    expiresIn = (json["expires_in"] as? NSNumber)?.intValue
    scope = json["scope"] as? String
  }

  public var description: String {
    "LabTokenSet(access_token: <redacted>, refresh_token: \(refreshToken == nil ? "none" : "<redacted>"), expires_in: \(expiresIn.map(String.init) ?? "-"))"
  }
}

/// PKCE (RFC 7636) values for tests that play the client: a random verifier and its S256 challenge.
public struct LabPKCE: Sendable {
  public let verifier: String
  public let challenge: String

  public init() throws {
    var bytes = [UInt8](repeating: 0, count: 32)
    let fd = open("/dev/urandom", O_RDONLY)
    guard fd >= 0, read(fd, &bytes, bytes.count) == bytes.count else {
      if fd >= 0 { close(fd) }
      throw LabError("cannot read /dev/urandom")
    }
    close(fd)
    verifier = LabPKCE.base64url(Data(bytes))
    challenge = LabPKCE.base64url(Data(SHA256.hash(data: Data(verifier.utf8))))
  }

  static func base64url(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }
}

/// RFC 4648 base32 (upper case, `=` padding optional), for the lab's TOTP secret.
enum Base32 {
  static func decode(_ text: String) -> [UInt8]? {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    var bits = 0
    var buffer = 0
    var out: [UInt8] = []
    for character in text.uppercased() where character != "=" {
      guard let index = alphabet.firstIndex(of: character) else { return nil }
      buffer = (buffer << 5) | index
      bits += 5
      if bits >= 8 {
        bits -= 8
        out.append(UInt8((buffer >> bits) & 0xff))
      }
    }
    return out
  }
}
