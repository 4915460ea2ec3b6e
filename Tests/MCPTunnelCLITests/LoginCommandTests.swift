import Foundation
import LabSupport
import Synchronization
import TestTiers
import Testing
import TunnelCore

/// `login`, `status`, `logout` as the built binary, against the lab's real glewlwyd and a real
/// gnome-keyring on a private bus. Nothing here is a twin: the device code is approved by the lab
/// playing the user's browser, and the refresh token is read back with `secret-tool`.
@Suite(
  "login / status / logout (built binary, real glewlwyd + gnome-keyring)", .tags(.lab), .wholeLab, .offPool, .serialized
)
struct LoginCommandTests {
  typealias Lab = CLILab

  @Test("device login → status → 4 concurrent status --verify (one-use refresh tokens) → logout; no secret leaks")
  func deviceLoginLifecycle() async throws {
    let lab = try Lab()
    defer { lab.stop() }
    let login = try await lab.deviceLogin()
    // argv and environment of the running login, captured while it polls (token not known yet).
    let argv = (try? String(contentsOfFile: "/proc/\(login.pid)/cmdline", encoding: .utf8)) ?? ""
    let environ = (try? String(contentsOfFile: "/proc/\(login.pid)/environ", encoding: .utf8)) ?? ""
    #expect(try login.waitForExit(timeout: .seconds(30)) == 0, "\(login.stderr)")
    let loggedIn = try #require(login.events.last)
    #expect(loggedIn["event"] as? String == "logged_in")
    let subject = try #require(loggedIn["subject"] as? String)
    #expect(!subject.isEmpty && subject != "unknown", "the validated ID token's sub")
    #expect(loggedIn["keyring"] as? String == "secret-service")
    #expect(loggedIn["issuer"] as? String == lab.idp.issuer)

    var seenTokens = [try #require(try lab.storedRefreshToken(), "the refresh token is in the keyring")]
    let status = try lab.json(["status"])
    #expect(status["logged_in"] as? Bool == true)
    #expect(status["subject"] as? String == subject)
    #expect(status["keyring"] as? String == "secret-service")
    #expect(status["refresh_token"] as? Bool == true)
    #expect(status.keys.contains("tunnel"))

    // RT-04: several processes refresh at once; glewlwyd revokes the whole grant on any reuse, so
    // only the cross-process lock + keyring rotation keeps everyone logged in.
    let verifiers = try (0..<4).map { _ in
      try RunningCommand(
        BuiltBinary.mcpTunnel, ["status", "--verify", "--json", "--config", lab.config], environment: lab.environment)
    }
    for verifier in verifiers {
      #expect(try verifier.waitForExit(timeout: .seconds(60)) == 0, "\(verifier.stdout)\n\(verifier.stderr)")
    }
    let rotated = try #require(try lab.storedRefreshToken())
    #expect(rotated != seenTokens[0], "RT-03: the rotated token replaced the stored one")
    seenTokens.append(rotated)
    let after = try lab.run(["status", "--verify"])
    #expect(after.status == 0, "still logged in after the concurrent refreshes: \(after.output)")
    seenTokens.append(try #require(try lab.storedRefreshToken()))

    let logout = try lab.json(["logout"])
    #expect(logout["revoked"] as? Bool == true, "\(logout)")
    #expect(try lab.storedRefreshToken() == nil)
    #expect(try lab.json(["status"])["logged_in"] as? Bool == false)
    // RV-01: the revoked token no longer refreshes at glewlwyd.
    let replay = try await lab.idp.refresh(seenTokens.last!)
    #expect(replay.status != 200)

    // The audit trail has the login and the logout, chained and verifiable.
    let verified = try lab.run(["audit", "verify"])
    #expect(verified.status == 0, "\(verified.output)")
    let (events, trail) = try lab.auditTrail()
    #expect(events.compactMap { $0["event"] as? String } == ["login", "logout"], "\(trail)")
    #expect(events.first?["actor"] as? String == subject)

    // No token in any file under the child's HOME, XDG dirs and TMPDIR, nor in its argv/environment.
    var roots = ["HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "TMPDIR"].compactMap
    {
      lab.environment[$0]
    }
    roots.append(lab.config)
    for token in seenTokens {
      #expect(!argv.contains(token) && !environ.contains(token))
      for file in Self.files(under: roots) {
        let data = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
        #expect(data.range(of: Data(token.utf8)) == nil, "a refresh token is in \(file)")
      }
    }
  }

  @Test("browser flow: PKCE + loopback redirect on the configured fixed URI; the callback page answers once")
  func browserLogin() async throws {
    let lab = try Lab()
    defer { lab.stop() }
    let login = try RunningCommand(
      BuiltBinary.mcpTunnel, ["login", "--flow", "browser", "--no-browser", "--json", "--config", lab.config],
      environment: lab.environment)
    try waitUntil(timeout: .seconds(120), "the browser_authorization event") {
      login.stdout.contains("browser_authorization") || !login.isRunning
    }
    let event = try #require(login.events.first, "\(login.stdout)\n\(login.stderr)")
    let url = try #require((event["url"] as? String).flatMap(URL.init(string:)))
    // stdout and stderr are read by two threads: the event on one says nothing about the other yet.
    try waitUntil(timeout: .seconds(120), "the URL on stderr") {
      login.stderr.contains(url.absoluteString) || !login.isRunning
    }
    #expect(login.stderr.contains(url.absoluteString), "the URL is always printed")
    let query = LabForm.query(of: url)
    #expect(query["code_challenge_method"] == "S256")
    #expect(query["redirect_uri"] == lab.idp.redirectURI)
    #expect(query["nonce"] != nil && query["state"] != nil)
    // A forged callback with the wrong state is answered and ignored.
    let forged = try await LabHTTPClient(timeout: 5).get(URL(string: "\(lab.idp.redirectURI)?code=x&state=forged")!)
    #expect(forged.status == 400)
    #expect(login.isRunning)

    let redirect = try await lab.idp.completeBrowserLogin(authorizationURL: url, deliver: true)
    #expect(LabForm.query(of: redirect)["code"] != nil)
    #expect(try login.waitForExit(timeout: .seconds(30)) == 0, "\(login.stderr)")
    #expect(login.events.last?["event"] as? String == "logged_in")
    #expect(try lab.storedRefreshToken() != nil)
    #expect(!LabNetwork.isListening(port: lab.idp.redirectPort), "AZ-11: the redirect listener is closed")
  }

  @Test("RT-05: a refresh token revoked by reuse elsewhere → status --verify exits 3 and the entry is gone")
  func revokedByReuse() async throws {
    let lab = try Lab()
    defer { lab.stop() }
    let login = try await lab.deviceLogin()
    #expect(try login.waitForExit(timeout: .seconds(30)) == 0, "\(login.stderr)")
    let stored = try #require(try lab.storedRefreshToken())
    // Someone else uses the token twice: glewlwyd treats it as theft and kills the grant.
    _ = try await lab.idp.refresh(stored)
    _ = try await lab.idp.refresh(stored)
    let verify = try lab.run(["status", "--verify"])
    #expect(verify.status == 3, "\(verify.output)")
    #expect(verify.output.contains("mcp-tunnel login"))
    #expect(try lab.storedRefreshToken() == nil)
  }

  @Test("logout with the IdP down still wipes the keyring entry and reports the failure")
  func logoutIdPDown() async throws {
    let lab = try Lab()
    defer { lab.stop() }
    let login = try await lab.deviceLogin()
    #expect(try login.waitForExit(timeout: .seconds(30)) == 0, "\(login.stderr)")
    lab.idp.stop()
    let logout = try lab.run(["logout"])
    #expect(logout.status == 0, "\(logout.output)")
    #expect(logout.output.contains("warning: revocation"), "\(logout.output)")
    #expect(try lab.storedRefreshToken() == nil)
  }

  @Test(
    "no Secret Service, a locked keyring, no session bus: login exits 4 with the fix, before any prompt",
    arguments: ["noProvider", "locked", "noBus"])
  func keyringUnavailable(variant: String) throws {
    let lab = try Lab(variant: variant == "locked" ? .locked : variant == "noProvider" ? .noProvider : .unlocked)
    defer { lab.stop() }
    var environment = lab.environment
    if variant == "noBus" {
      environment["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=\(lab.lab.directory.path("no-such-bus"))"
    }
    let result = try LabCommand.run(
      BuiltBinary.mcpTunnel, ["login", "--flow", "device", "--json", "--config", lab.config], environment: environment)
    #expect(result.status == 4, "\(result.stdout)\n\(result.stderr)")
    #expect(!result.stdout.contains("device_authorization"), "no prompt before the keyring check")
    #expect(result.stderr.contains("fix"), "\(result.stderr)")
    let status = try LabCommand.run(
      BuiltBinary.mcpTunnel, ["status", "--config", lab.config], environment: environment)
    #expect(status.status == 4, "status never reports a broken keyring as logged out: \(status.stdout)")
  }

  @Test("--flow auto picks the device flow over SSH and says why")
  func autoFlowOverSSH() async throws {
    let lab = try Lab()
    defer { lab.stop() }
    var environment = lab.environment
    environment["SSH_CONNECTION"] = "10.0.0.1 50000 10.0.0.2 22"
    environment["DISPLAY"] = ":0"
    let login = try RunningCommand(
      BuiltBinary.mcpTunnel, ["login", "--json", "--no-store", "--config", lab.config], environment: environment)
    try waitUntil(timeout: .seconds(120), "a prompt") { login.stdout.contains("_authorization") || !login.isRunning }
    #expect(login.stdout.contains("device_authorization"), "\(login.stdout)\n\(login.stderr)")
    // stderr is read by a thread of its own: wait for the reason there too.
    try waitUntil(timeout: .seconds(120), "the reason on stderr") {
      login.stderr.contains("SSH_CONNECTION") || !login.isRunning
    }
    #expect(login.stderr.contains("SSH_CONNECTION"))
    login.kill()
  }

  static func files(under roots: [String]) -> [String] {
    var result: [String] = []
    for root in roots {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else { continue }
      if !isDirectory.boolValue {
        result.append(root)
        continue
      }
      let enumerator = FileManager.default.enumerator(atPath: root)
      while let relative = enumerator?.nextObject() as? String {
        let path = "\(root)/\(relative)"
        var dir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &dir), !dir.boolValue { result.append(path) }
      }
    }
    return result
  }
}
