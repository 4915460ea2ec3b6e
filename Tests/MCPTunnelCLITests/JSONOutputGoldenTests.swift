import Foundation
import MCPTunnelTestSupport
import Testing

@testable import MCPTunnelCLI
@testable import TunnelCore

/// SPEC.md's `--json` is a contract: one sample of every output type, encoded and compared with the
/// exact line the `[String: Any]` + `JSONSerialization` code before the typed output printed for the
/// same values (key order, `null` against a key left out, unescaped slashes), and its text rendering.
/// A change here is a change of the contract: SPEC.md, the help texts and scripts that parse the
/// lines must change with it.
@Suite("--json lines and their text, byte for byte")
struct JSONOutputGoldenTests {
  static let hops = ["alice@bastion.example.com:22", "svc@inner:2222"]
  static let path = "alice@bastion.example.com:22 → svc@inner:2222"
  static let issuer = "https://idp.example.com/realms/eng"

  static func address(_ text: String) throws -> HostPort { try #require(HostPort(parsing: text)) }

  // MARK: up

  @Test("ready: http with a token, http before the first token, tcp")
  func ready() throws {
    let http = ReadyEvent(
      TunnelRuntime.Ready(
        mode: .http, listen: try Self.address("127.0.0.1:7700"), url: nil, tenant: TenantID("acme"),
        hops: Self.hops, target: try Self.address("mcp.internal:8080"),
        tokenExpiresAt: Date(timeIntervalSince1970: 1_777_636_800), session: "7f3a9c"))
    #expect(
      http.jsonLine
        == #"{"event":"ready","hops":["alice@bastion.example.com:22","svc@inner:2222"],"listen":"127.0.0.1:7700","mode":"http","session":"7f3a9c","target":"mcp.internal:8080","tenant":"acme","token_expires_at":"2026-05-01T12:00:00Z","url":"http://127.0.0.1:7700/mcp"}"#
    )
    #expect(
      http.text
        == "ready: http://127.0.0.1:7700/mcp → tenant acme, token valid until 2026-05-01T12:00:00Z via \(Self.path) (Ctrl-C to stop)"
    )

    var pending = http
    pending.tenant = ""
    pending.tokenExpiresAt = nil
    #expect(
      pending.jsonLine
        == #"{"event":"ready","hops":["alice@bastion.example.com:22","svc@inner:2222"],"listen":"127.0.0.1:7700","mode":"http","session":"7f3a9c","target":"mcp.internal:8080","tenant":"","token_expires_at":null,"url":"http://127.0.0.1:7700/mcp"}"#
    )
    #expect(
      pending.text == "ready: http://127.0.0.1:7700/mcp → tenant , no token yet via \(Self.path) (Ctrl-C to stop)")

    let tcp = ReadyEvent(
      TunnelRuntime.Ready(
        mode: .tcp, listen: try Self.address("127.0.0.1:7701"), url: nil, tenant: nil, hops: Self.hops,
        target: try Self.address("db.internal:5432"), tokenExpiresAt: nil, session: "8e4b0d"))
    #expect(
      tcp.jsonLine
        == #"{"event":"ready","hops":["alice@bastion.example.com:22","svc@inner:2222"],"listen":"127.0.0.1:7701","mode":"tcp","target":"db.internal:5432","tenant":null,"token_expires_at":null}"#
    )
    #expect(tcp.text == "ready: tcp://127.0.0.1:7701 → db.internal:5432 via \(Self.path) (Ctrl-C to stop)")
  }

  @Test("ready and status with hop origins (ssh config): hop_origins beside hops, origin in each status hop")
  func readyWithOrigins() throws {
    let ready = ReadyEvent(
      TunnelRuntime.Ready(
        mode: .tcp, listen: try Self.address("127.0.0.1:7701"), url: nil, tenant: nil, hops: Self.hops,
        target: try Self.address("db.internal:5432"), tokenExpiresAt: nil, session: "8e4b0d",
        hopOrigins: ["~/.ssh/config:1: Host bastion (ProxyJump of inner)", "~/.ssh/config:5: Host inner"]))
    #expect(
      ready.jsonLine
        == #"{"event":"ready","hop_origins":["~/.ssh/config:1: Host bastion (ProxyJump of inner)","~/.ssh/config:5: Host inner"],"hops":["alice@bastion.example.com:22","svc@inner:2222"],"listen":"127.0.0.1:7701","mode":"tcp","target":"db.internal:5432","tenant":null,"token_expires_at":null}"#
    )
    #expect(ready.text == "ready: tcp://127.0.0.1:7701 → db.internal:5432 via \(Self.path) (Ctrl-C to stop)")
    let hop = TunnelStatus.Hop(name: "alice@bastion.example.com:22", state: "connected", origin: "ssh.jump[0]")
    let data = try JSONOutput.encoder.encode(hop)
    #expect(
      String(decoding: data, as: UTF8.self)
        == #"{"name":"alice@bastion.example.com:22","origin":"ssh.jump[0]","state":"connected"}"#)
  }

  @Test("reconnecting, reconnected, token_minted, tenant_switched, stopped")
  func pathAndTokenEvents() {
    let reconnecting = ReconnectingEvent(
      attempt: 3, delayMs: 1500, reason: "hop 1/2 alice@bastion.example.com:22: connection reset")
    #expect(
      reconnecting.jsonLine
        == #"{"attempt":3,"delay_ms":1500,"event":"reconnecting","reason":"hop 1/2 alice@bastion.example.com:22: connection reset"}"#
    )
    #expect(
      reconnecting.text
        == "SSH path lost (hop 1/2 alice@bastion.example.com:22: connection reset); reconnecting in 1s500ms (attempt 3)"
    )

    let reconnected = ReconnectedEvent(hops: Self.hops, attempts: 3)
    #expect(
      reconnected.jsonLine
        == #"{"attempts":3,"event":"reconnected","hops":["alice@bastion.example.com:22","svc@inner:2222"]}"#)
    #expect(reconnected.text == "SSH path is back after 3 attempt(s)")

    let minted = TokenMintedEvent(tenant: "acme", expiresAt: "2026-05-01T12:00:00Z", reason: "tenant_switch")
    #expect(
      minted.jsonLine
        == #"{"event":"token_minted","expires_at":"2026-05-01T12:00:00Z","reason":"tenant_switch","tenant":"acme"}"#)

    let switched = TenantSwitchedEvent(from: "acme", tenant: "globex")
    #expect(switched.jsonLine == #"{"event":"tenant_switched","from":"acme","tenant":"globex"}"#)
    #expect(switched.text == "tenant switched: acme → globex; connections opened under acme were closed")

    #expect(StoppedEvent(reason: "SIGINT").jsonLine == #"{"event":"stopped","reason":"SIGINT"}"#)
    #expect(StoppedEvent(reason: "SIGINT").text == "stopped (SIGINT)")
    #expect(StoppedEvent(reason: "failed").text == "stopped: the SSH path failed")
    #expect(StoppedEvent(reason: "max_duration").jsonLine == #"{"event":"stopped","reason":"max_duration"}"#)
    #expect(StoppedEvent(reason: "max_duration").text == "stopped: the session reached session.max_duration")
    #expect(StoppedEvent(reason: "idle_timeout").text == "stopped: no call within session.idle_timeout")
  }

  @Test("session limits: ends_at and idle_ends_at in ready and status; session_ending on stdout and stderr")
  func sessionLimits() throws {
    let ready = ReadyEvent(
      listen: "127.0.0.1:7701", url: nil, mode: "tcp", tenant: nil, hops: ["a@b:22"], target: "db:5432",
      tokenExpiresAt: nil, session: nil, hopOrigins: nil, endsAt: "2026-05-01T12:00:00Z",
      idleEndsAt: "2026-05-01T08:30:00Z")
    #expect(
      ready.jsonLine
        == #"{"ends_at":"2026-05-01T12:00:00Z","event":"ready","hops":["a@b:22"],"idle_ends_at":"2026-05-01T08:30:00Z","listen":"127.0.0.1:7701","mode":"tcp","target":"db:5432","tenant":null,"token_expires_at":null}"#
    )
    #expect(
      ready.text
        == "ready: tcp://127.0.0.1:7701 → db:5432 via a@b:22, session ends at 2026-05-01T12:00:00Z, "
        + "or at 2026-05-01T08:30:00Z if idle (Ctrl-C to stop)")

    let ending = SessionEndingEvent(limit: "max_duration", endsAt: "2026-05-01T12:00:00Z")
    #expect(ending.jsonLine == #"{"ends_at":"2026-05-01T12:00:00Z","event":"session_ending","limit":"max_duration"}"#)
    let json = CapturingOutputSink()
    UpEventReporter(output: json, json: true, verbose: false)
      .render(.sessionEnding(limit: .idleTimeout, endsAt: Date(timeIntervalSince1970: 0)))
    #expect(
      json.stdout == #"{"ends_at":"1970-01-01T00:00:00Z","event":"session_ending","limit":"idle_timeout"}"# + "\n")
    #expect(
      json.stderr
        == "warning: no call for a while: up stops at 1970-01-01T00:00:00Z (session.idle_timeout) unless a call "
        + "comes first\n")

    // SPEC §10: elevate's result and up's events share the `elevated` line.
    let elevated = ElevatedEvent(tenant: "acme", scope: ["mcp", "mcp-admin"], endsAt: "2026-05-01T12:05:00Z")
    #expect(
      elevated.jsonLine
        == #"{"ends_at":"2026-05-01T12:05:00Z","event":"elevated","scope":["mcp","mcp-admin"],"tenant":"acme"}"#)
    let ended = ElevationEndedEvent(tenant: "acme", reason: "window")
    #expect(ended.jsonLine == #"{"event":"elevation_ended","reason":"window","tenant":"acme"}"#)
    #expect(ended.text.contains("its time (--for / session.elevate_max) is over"))

    let status = TunnelStatus(
      pid: 7, profile: "db", session: "s", mode: "tcp", listen: "127.0.0.1:7701", url: nil, target: "db:5432",
      state: "forwarding", hops: [], tenant: nil, tokenExpiresAt: nil, startedAt: "2026-05-01T00:00:00Z",
      counters: TunnelStatus.Counters(requests: 0, errors: 0, remints: 0, reconnects: 0, openConnections: 0),
      endsAt: "2026-05-01T12:00:00Z")
    let encoded = String(decoding: try ControlProtocol.encoder.encode(status), as: UTF8.self)
    #expect(encoded.contains(#""ends_at":"2026-05-01T12:00:00Z""#) && !encoded.contains("idle_ends_at"))
    #expect(
      StatusResult.tunnelLines(status).contains("Session ends:  2026-05-01T12:00:00Z (session.max_duration)"))
  }

  @Test("token_error: whole seconds in retry_in_ms, the exact delay in the text; fix and retry left out when absent")
  func tokenError() {
    let full = TokenErrorEvent(
      tenant: "acme", category: "identityProvider", message: "the token endpoint answered 503",
      fix: "check https://idp.example.com/realms/eng", retryIn: .milliseconds(30_250))
    #expect(
      full.jsonLine
        == #"{"category":"identityProvider","event":"token_error","fix":"check https://idp.example.com/realms/eng","message":"the token endpoint answered 503","retry_in_ms":30000,"tenant":"acme"}"#
    )
    #expect(
      full.text
        == "warning: cannot mint a token for tenant acme: the token endpoint answered 503 (retrying in 30s250ms)\n"
        + "  fix: check https://idp.example.com/realms/eng\n")

    let bare = TokenErrorEvent(
      tenant: "acme", category: "accessDenied", message: "exchange refused", fix: nil, retryIn: nil)
    #expect(
      bare.jsonLine
        == #"{"category":"accessDenied","event":"token_error","message":"exchange refused","tenant":"acme"}"#)
    #expect(bare.text == "warning: cannot mint a token for tenant acme: exchange refused\n")
  }

  @Test("UpEventReporter: --json events on stdout; text on stderr except ready's")
  func reporterStreams() throws {
    let ready = TunnelRuntime.Ready(
      mode: .tcp, listen: try Self.address("127.0.0.1:7701"), url: nil, tenant: nil, hops: ["a@b:22"],
      target: try Self.address("db:5432"), tokenExpiresAt: nil, session: "s")
    let events: [TunnelRuntime.Event] = [
      .ready(ready), .reconnecting(attempt: 1, delay: .milliseconds(250), reason: "eof"),
      .tokenMinted(
        tenant: try #require(TenantID("acme")), expiresAt: Date(timeIntervalSince1970: 0), reason: .scheduled),
      .stopped(reason: "SIGTERM"),
    ]
    let json = CapturingOutputSink()
    let text = CapturingOutputSink()
    for event in events {
      UpEventReporter(output: json, json: true, verbose: false).render(event)
      UpEventReporter(output: text, json: false, verbose: false).render(event)
    }
    #expect(
      json.stdout == #"""
        {"event":"ready","hops":["a@b:22"],"listen":"127.0.0.1:7701","mode":"tcp","target":"db:5432","tenant":null,"token_expires_at":null}
        {"attempt":1,"delay_ms":250,"event":"reconnecting","reason":"eof"}
        {"event":"token_minted","expires_at":"1970-01-01T00:00:00Z","reason":"scheduled","tenant":"acme"}
        {"event":"stopped","reason":"SIGTERM"}

        """#)
    #expect(json.stderr == "")
    #expect(text.stdout == "ready: tcp://127.0.0.1:7701 → db:5432 via a@b:22 (Ctrl-C to stop)\n")
    #expect(text.stderr == "SSH path lost (eof); reconnecting in 250ms (attempt 1)\nstopped (SIGTERM)\n")
  }

  // MARK: the error line

  @Test("error: with a fix and without")
  func error() {
    let denied = ErrorEvent(
      category: .accessDenied, message: #"tenant "globex" is not allowed"#,
      fix: "add it to session.tenants in /home/alice/.config/mcp-tunnel/config.toml")
    #expect(
      denied.jsonLine
        == #"{"category":"accessDenied","event":"error","exit_code":9,"fix":"add it to session.tenants in /home/alice/.config/mcp-tunnel/config.toml","message":"tenant \"globex\" is not allowed"}"#
    )
    #expect(
      denied.text
        == "error: tenant \"globex\" is not allowed\n  fix: add it to session.tenants in /home/alice/.config/mcp-tunnel/config.toml\n"
    )
    let interrupted = ErrorEvent(category: .interrupted, message: "interrupted", fix: nil)
    #expect(
      interrupted.jsonLine == #"{"category":"interrupted","event":"error","exit_code":130,"message":"interrupted"}"#)
    #expect(interrupted.text == "error: interrupted\n")
  }

  // MARK: login, logout

  @Test("device_authorization: the complete URI, or null")
  func deviceAuthorization() {
    let full = DeviceAuthorizationEvent(
      verificationUri: "https://idp.example.com/device",
      verificationUriComplete: "https://idp.example.com/device?user_code=WDJB-MJHT", userCode: "WDJB-MJHT",
      expiresIn: 600, hostName: "build-host")
    #expect(
      full.jsonLine
        == #"{"event":"device_authorization","expires_in":600,"user_code":"WDJB-MJHT","verification_uri":"https://idp.example.com/device","verification_uri_complete":"https://idp.example.com/device?user_code=WDJB-MJHT"}"#
    )
    #expect(
      full.text
        == "To sign in, open https://idp.example.com/device and enter the code:\n\n    WDJB-MJHT\n\n"
        + "or open this URL, which carries the code: https://idp.example.com/device?user_code=WDJB-MJHT\n"
        + "Only enter the code if you started this login yourself (mcp-tunnel on build-host). "
        + "It expires in 10 min 0 s.\n")

    let plain = DeviceAuthorizationEvent(
      verificationUri: "https://idp.example.com/device", verificationUriComplete: nil, userCode: "WDJB-MJHT",
      expiresIn: 95, hostName: "build-host")
    #expect(
      plain.jsonLine
        == #"{"event":"device_authorization","expires_in":95,"user_code":"WDJB-MJHT","verification_uri":"https://idp.example.com/device","verification_uri_complete":null}"#
    )
    #expect(
      plain.text
        == "To sign in, open https://idp.example.com/device and enter the code:\n\n    WDJB-MJHT\n\n"
        + "Only enter the code if you started this login yourself (mcp-tunnel on build-host). "
        + "It expires in 1 min 35 s.\n")
  }

  @Test("browser_authorization and logged_in")
  func browserAndLoggedIn() {
    let url = "https://idp.example.com/auth?client_id=mcp-tunnel&redirect_uri=http%3A%2F%2F127.0.0.1%3A41234%2Fcallback"
    let browser = BrowserAuthorizationEvent(url: url)
    #expect(
      browser.jsonLine
        == #"{"event":"browser_authorization","url":"https://idp.example.com/auth?client_id=mcp-tunnel&redirect_uri=http%3A%2F%2F127.0.0.1%3A41234%2Fcallback"}"#
    )
    #expect(browser.text == "Open this URL in your browser to sign in:\n\n  \(url)\n\n")

    let done = LoggedInEvent(issuer: Self.issuer, subject: "alice", keyring: "secret-service")
    #expect(
      done.jsonLine
        == #"{"event":"logged_in","issuer":"https://idp.example.com/realms/eng","keyring":"secret-service","subject":"alice"}"#
    )
    #expect(done.text == "Logged in to https://idp.example.com/realms/eng as alice (refresh token in secret-service).")
  }

  @Test("logged_out: not logged in, revoked, no revocation endpoint, revocation failed")
  func loggedOut() {
    let base = LoggedOutEvent(profile: "prod", issuer: Self.issuer, wasLoggedIn: false, revoked: false)
    #expect(
      base.jsonLine
        == #"{"event":"logged_out","issuer":"https://idp.example.com/realms/eng","profile":"prod","revoked":false,"was_logged_in":false}"#
    )
    #expect(base.text == "Profile prod: not logged in; nothing to revoke.")

    var revoked = base
    revoked.wasLoggedIn = true
    revoked.revoked = true
    #expect(
      revoked.jsonLine
        == #"{"event":"logged_out","issuer":"https://idp.example.com/realms/eng","profile":"prod","revoked":true,"was_logged_in":true}"#
    )
    #expect(
      revoked.text
        == "Profile prod: refresh token revoked at https://idp.example.com/realms/eng and deleted from the keyring.")

    var unsupported = base
    unsupported.wasLoggedIn = true
    unsupported.revocationError = "the identity provider has no revocation endpoint"
    unsupported.unsupported = true
    #expect(
      unsupported.jsonLine
        == #"{"event":"logged_out","issuer":"https://idp.example.com/realms/eng","profile":"prod","revocation_error":"the identity provider has no revocation endpoint","revoked":false,"was_logged_in":true}"#
    )
    #expect(
      unsupported.text
        == "Profile prod: deleted from the keyring (the identity provider offers no revocation endpoint).")

    var failed = base
    failed.wasLoggedIn = true
    failed.revocationError = "HTTP 503"
    #expect(
      failed.jsonLine
        == #"{"event":"logged_out","issuer":"https://idp.example.com/realms/eng","profile":"prod","revocation_error":"HTTP 503","revoked":false,"was_logged_in":true}"#
    )
    #expect(failed.text == "Profile prod: deleted from the keyring.")
  }

  // MARK: status, token, tenant

  static let httpTunnel = TunnelStatus(
    pid: 4242, profile: "prod", session: "7f3a9c", mode: "http", listen: "127.0.0.1:7700",
    url: "http://127.0.0.1:7700/mcp", target: "mcp.internal:8080", state: "forwarding",
    hops: [TunnelStatus.Hop(name: "alice@bastion.example.com:22", state: "connected")], tenant: "acme",
    tokenExpiresAt: "2026-05-01T12:00:00Z", startedAt: "2026-05-01T11:00:00Z",
    counters: TunnelStatus.Counters(requests: 12, errors: 1, remints: 2, reconnects: 0, openConnections: 3, denied: 2),
    peers: "same-user")

  static let tcpTunnel = TunnelStatus(
    pid: 4243, profile: "db", session: "8e4b0d", mode: "tcp", listen: "127.0.0.1:7701", url: nil,
    target: "db.internal:5432", state: "reconnecting",
    hops: [TunnelStatus.Hop(name: "alice@bastion.example.com:22", state: "reconnecting")], tenant: nil,
    tokenExpiresAt: nil, startedAt: "2026-05-01T11:00:00Z",
    counters: TunnelStatus.Counters(requests: 0, errors: 0, remints: 0, reconnects: 4, openConnections: 0))

  @Test("status: verified login with an http tunnel")
  func statusVerified() {
    let status = StatusResult(
      profile: "prod", loggedIn: true, issuer: Self.issuer, clientId: "mcp-tunnel", subject: "alice",
      keyring: "secret-service", refreshToken: true, tunnel: Self.httpTunnel,
      verifiedAccessTokenExpiresAt: "2026-05-01T11:05:00Z")
    #expect(
      status.jsonLine
        == #"{"client_id":"mcp-tunnel","issuer":"https://idp.example.com/realms/eng","keyring":"secret-service","logged_in":true,"profile":"prod","refresh_token":true,"subject":"alice","tunnel":{"counters":{"denied":2,"errors":1,"open_connections":3,"reconnects":0,"remints":2,"requests":12},"hops":[{"name":"alice@bastion.example.com:22","state":"connected"}],"listen":"127.0.0.1:7700","mode":"http","peers":"same-user","pid":4242,"profile":"prod","session":"7f3a9c","started_at":"2026-05-01T11:00:00Z","state":"forwarding","target":"mcp.internal:8080","tenant":"acme","token_expires_at":"2026-05-01T12:00:00Z","url":"http://127.0.0.1:7700/mcp"},"verified_access_token_expires_at":"2026-05-01T11:05:00Z"}"#
    )
    #expect(
      status.text == """
        Profile:       prod
        Issuer:        https://idp.example.com/realms/eng
        Logged in as:  alice
        Refresh token: present (secret-service)
        Verified:      the identity provider accepted it (access token until 2026-05-01T11:05:00Z)
        Tunnel:        running (pid 4242, session 7f3a9c), http http://127.0.0.1:7700/mcp
        Tenant:        acme, token valid until 2026-05-01T12:00:00Z
        Path:          alice@bastion.example.com:22 → mcp.internal:8080 (forwarding)
        Peers:         same-user (only you may connect), 2 connections refused
        Counters:      12 requests, 1 errors, 2 re-mints, 0 reconnects, 3 open connections
        """)
  }

  @Test("status: logged out, no tunnel; no [idp] with a tcp tunnel")
  func statusLoggedOutAndWithoutLogin() {
    let loggedOut = StatusResult(
      profile: "prod", loggedIn: false, issuer: Self.issuer, clientId: "mcp-tunnel", subject: nil,
      keyring: "secret-service", refreshToken: false, tunnel: nil)
    #expect(
      loggedOut.jsonLine
        == #"{"client_id":"mcp-tunnel","issuer":"https://idp.example.com/realms/eng","keyring":"secret-service","logged_in":false,"profile":"prod","refresh_token":false,"subject":null,"tunnel":null}"#
    )
    #expect(
      loggedOut.text == """
        Profile:       prod
        Issuer:        https://idp.example.com/realms/eng
        Logged in:     no (run: mcp-tunnel login)
        Keyring:       secret-service, reachable
        Tunnel:        not running (start one with: mcp-tunnel up)
        """)

    let tcpOnly = StatusResult(
      profile: "db", loggedIn: false, issuer: nil, clientId: nil, subject: nil, keyring: nil, refreshToken: false,
      tunnel: Self.tcpTunnel)
    #expect(
      tcpOnly.jsonLine
        == #"{"client_id":null,"issuer":null,"keyring":null,"logged_in":false,"profile":"db","refresh_token":false,"subject":null,"tunnel":{"counters":{"denied":0,"errors":0,"open_connections":0,"reconnects":4,"remints":0,"requests":0},"hops":[{"name":"alice@bastion.example.com:22","state":"reconnecting"}],"listen":"127.0.0.1:7701","mode":"tcp","pid":4243,"profile":"db","session":"8e4b0d","started_at":"2026-05-01T11:00:00Z","state":"reconnecting","target":"db.internal:5432"}}"#
    )
    #expect(
      tcpOnly.text == """
        Profile:       db
        Login:         none configured (no [profiles.db.idp] section; tcp mode needs none)
        Tunnel:        running (pid 4243, session 8e4b0d), tcp 127.0.0.1:7701
        Path:          alice@bastion.example.com:22 → db.internal:5432 (reconnecting)
        Counters:      4 reconnects (tcp mode carries bytes, not requests)
        """)
  }

  @Test("token: tenant and expiry, or null")
  func token() {
    let token = TokenResult(
      token: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", tenant: "acme", expiresAt: "2026-05-01T12:00:00Z")
    #expect(
      token.jsonLine
        == #"{"expires_at":"2026-05-01T12:00:00Z","tenant":"acme","token":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}"#)
    #expect(token.text == "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
    let bare = TokenResult(token: "opaque-token", tenant: nil, expiresAt: nil)
    #expect(bare.jsonLine == #"{"expires_at":null,"tenant":null,"token":"opaque-token"}"#)
  }

  @Test("tenant use, tenant current, tenant list")
  func tenant() {
    let use = TenantUseResult(tenant: "globex", previousTenant: "acme", tokenExpiresAt: "2026-05-01T12:00:00Z")
    #expect(
      use.jsonLine == #"{"previous_tenant":"acme","tenant":"globex","token_expires_at":"2026-05-01T12:00:00Z"}"#)
    #expect(use.text == "now serving tenant globex (was acme); token valid until 2026-05-01T12:00:00Z")
    let bare = TenantUseResult(tenant: "globex", previousTenant: nil, tokenExpiresAt: nil)
    #expect(bare.jsonLine == #"{"previous_tenant":null,"tenant":"globex","token_expires_at":null}"#)
    #expect(bare.text == "now serving tenant globex (was ?)")
    #expect(
      TenantUseResult(tenant: "acme", previousTenant: "acme", tokenExpiresAt: nil).text
        == "already serving tenant acme")

    let current = TenantCurrentResult(tenant: "acme", tokenExpiresAt: "2026-05-01T12:00:00Z")
    #expect(current.jsonLine == #"{"tenant":"acme","token_expires_at":"2026-05-01T12:00:00Z"}"#)
    #expect(current.text == "acme")
    let none = TenantCurrentResult(tenant: nil, tokenExpiresAt: nil)
    #expect(none.jsonLine == #"{"tenant":null,"token_expires_at":null}"#)
    #expect(none.text == "")

    let list = TenantListResult(tenants: ["acme", "globex"], current: "globex")
    #expect(list.jsonLine == #"{"current":"globex","tenants":["acme","globex"]}"#)
    #expect(list.text == "  acme\n* globex\n")
    let empty = TenantListResult(tenants: [], current: nil)
    #expect(empty.jsonLine == #"{"current":null,"tenants":[]}"#)
    #expect(empty.text == "")
  }

  // MARK: doctor

  @Test("doctor: fix, category and hop only where a check has them; profile null when unknown")
  func doctor() {
    let checks = [
      DoctorCheck.pass("session_bus", "session bus", "unix:path=/run/user/1000/bus"),
      DoctorCheck(
        id: "known_hosts", name: "known_hosts hop 1/2 alice@bastion.example.com:22", outcome: .fail,
        detail: "no entry for bastion.example.com", fix: "ssh-keyscan bastion.example.com >> ~/.ssh/known_hosts",
        category: .hostKeyVerification, hop: 1),
      DoctorCheck.skip("target", "target mcp.internal:8080", "hop 1 failed", hop: 2),
    ]
    let result = DoctorResult(ok: false, profile: "prod", checks: checks.map(DoctorResult.Check.init))
    #expect(
      result.jsonLine
        == #"{"checks":[{"check":"session_bus","detail":"unix:path=/run/user/1000/bus","name":"session bus","status":"pass"},{"category":"hostKeyVerification","check":"known_hosts","detail":"no entry for bastion.example.com","fix":"ssh-keyscan bastion.example.com >> ~/.ssh/known_hosts","hop":1,"name":"known_hosts hop 1/2 alice@bastion.example.com:22","status":"fail"},{"check":"target","detail":"hop 1 failed","hop":2,"name":"target mcp.internal:8080","status":"skip"}],"ok":false,"profile":"prod"}"#
    )
    #expect(result.text == "1 passed, 1 failed, 1 skipped")
    #expect(
      checks.map(\.line) == [
        "[ok]   session bus: unix:path=/run/user/1000/bus",
        "[FAIL] known_hosts hop 1/2 alice@bastion.example.com:22: no entry for bastion.example.com"
          + " — fix: ssh-keyscan bastion.example.com >> ~/.ssh/known_hosts",
        "[skip] target mcp.internal:8080: hop 1 failed",
      ])

    let noProfile = DoctorResult(
      ok: false, profile: nil,
      checks: [
        DoctorResult.Check(
          check: "config", name: "configuration", status: "fail", detail: "no such file",
          fix: "run: mcp-tunnel config init", category: "usage", hop: nil)
      ])
    #expect(
      noProfile.jsonLine
        == #"{"checks":[{"category":"usage","check":"config","detail":"no such file","fix":"run: mcp-tunnel config init","name":"configuration","status":"fail"}],"ok":false,"profile":null}"#
    )
  }

  // MARK: config, audit

  @Test("config path, config init, audit path")
  func paths() {
    let config = FilePathResult(path: "/home/alice/.config/mcp-tunnel/config.toml", exists: true)
    #expect(config.jsonLine == #"{"exists":true,"path":"/home/alice/.config/mcp-tunnel/config.toml"}"#)
    #expect(config.text == "/home/alice/.config/mcp-tunnel/config.toml")

    let written = ConfigWrittenEvent(path: "/home/alice/.config/mcp-tunnel/config.toml")
    #expect(
      written.jsonLine == #"{"event":"config_written","path":"/home/alice/.config/mcp-tunnel/config.toml"}"#)
    #expect(written.text == "wrote /home/alice/.config/mcp-tunnel/config.toml")

    let audit = FilePathResult(
      path: "/home/alice/.local/state/mcp-tunnel/audit/prod.jsonl", profile: "prod", exists: false)
    #expect(
      audit.jsonLine
        == #"{"exists":false,"path":"/home/alice/.local/state/mcp-tunnel/audit/prod.jsonl","profile":"prod"}"#)
  }

  @Test("config show: every section, and null for absent sections and values")
  func configShow() {
    let full = ProfileDocument(
      profile: "prod", configFile: "/home/alice/.config/mcp-tunnel/config.toml",
      idp: ProfileDocument.IdentityProvider(
        issuer: Self.issuer, clientId: "mcp-tunnel", scopes: ["openid", "offline_access"], redirectUri: nil,
        pkceMetadataOverride: false),
      session: ProfileDocument.Session(
        method: "token_exchange", endpoint: nil, resource: "https://mcp.example.com/{tenant}",
        audience: "mcp-{tenant}", scope: nil, maxTtlSeconds: 900, tenants: ["acme", "globex"],
        defaultTenant: "acme"),
      ssh: ProfileDocument.SSH(
        jump: ["alice@bastion.example.com:22"], host: nil, target: "mcp.internal:8080",
        knownHosts: "~/.ssh/known_hosts", identity: nil, certificate: nil, keepaliveSeconds: 30,
        hostKeyPolicy: "strict",
        sshConfig: "~/.ssh/config"),
      listen: ProfileDocument.Listen(address: "127.0.0.1:7700", mode: "http", peers: "same-user"),
      limits: ProfileDocument.Limits(maxDurationSeconds: 43200, idleTimeoutSeconds: 0, elevateMaxSeconds: 300))
    #expect(
      full.jsonLine
        == #"{"config_file":"/home/alice/.config/mcp-tunnel/config.toml","idp":{"client_id":"mcp-tunnel","issuer":"https://idp.example.com/realms/eng","pkce_metadata_override":false,"redirect_uri":null,"scopes":["openid","offline_access"]},"limits":{"elevate_max_seconds":300,"idle_timeout_seconds":0,"max_duration_seconds":43200},"listen":{"address":"127.0.0.1:7700","mode":"http","peers":"same-user"},"profile":"prod","session":{"audience":"mcp-{tenant}","default_tenant":"acme","endpoint":null,"max_ttl_seconds":900,"method":"token_exchange","resource":"https://mcp.example.com/{tenant}","scope":null,"tenants":["acme","globex"]},"ssh":{"certificate":null,"host":null,"host_key_policy":"strict","identity":null,"jump":["alice@bastion.example.com:22"],"keepalive_seconds":30,"known_hosts":"~/.ssh/known_hosts","ssh_config":"~/.ssh/config","target":"mcp.internal:8080"}}"#
    )

    let bare = ProfileDocument(
      profile: "db", configFile: "/etc/mcp.toml", idp: nil, session: nil,
      ssh: ProfileDocument.SSH(
        jump: [], host: "bob@db-gw:2222", target: "db.internal:5432", knownHosts: "/etc/ssh/known_hosts",
        identity: "/home/alice/.ssh/id_ed25519", certificate: nil,
        keepaliveSeconds: 15, hostKeyPolicy: "accept-new",
        sshConfig: "none"),
      listen: ProfileDocument.Listen(address: "127.0.0.1:7701", mode: "tcp", peers: "any-local-user"),
      limits: ProfileDocument.Limits(maxDurationSeconds: 0, idleTimeoutSeconds: 600, elevateMaxSeconds: 300))
    #expect(
      bare.jsonLine
        == #"{"config_file":"/etc/mcp.toml","idp":null,"limits":{"elevate_max_seconds":300,"idle_timeout_seconds":600,"max_duration_seconds":0},"listen":{"address":"127.0.0.1:7701","mode":"tcp","peers":"any-local-user"},"profile":"db","session":null,"ssh":{"certificate":null,"host":"bob@db-gw:2222","host_key_policy":"accept-new","identity":"/home/alice/.ssh/id_ed25519","jump":[],"keepalive_seconds":15,"known_hosts":"/etc/ssh/known_hosts","ssh_config":"none","target":"db.internal:5432"}}"#
    )
  }

  @Test("audit verify: intact; broken with every optional part; a continuation without a previous file")
  func auditVerify() {
    let intact = AuditVerifyResult(
      ok: true, path: "/home/alice/.local/state/mcp-tunnel/audit/lab.jsonl", records: 42, files: ["lab.jsonl"],
      tornLines: [])
    #expect(
      intact.jsonLine
        == #"{"files":["lab.jsonl"],"ok":true,"path":"/home/alice/.local/state/mcp-tunnel/audit/lab.jsonl","records":42,"torn_lines":[]}"#
    )
    #expect(intact.text == "ok: 42 records, chain intact")

    let broken = AuditVerifyResult(
      ok: false, path: "/s/audit/lab.jsonl", records: 7, files: ["lab.jsonl.1", "lab.jsonl"],
      tornLines: [AuditVerifyResult.Location(file: "lab.jsonl.1", line: 3)],
      continuesRemovedFile: AuditVerifyResult.Continuation(
        file: "lab.jsonl.1", afterSeq: 120, previousFile: "lab.jsonl.2"),
      absentFiles: ["lab.jsonl.3"], file: "lab.jsonl", line: 5, problem: "prev does not match the hash of line 4")
    #expect(
      broken.jsonLine
        == #"{"absent_files":["lab.jsonl.3"],"continues_removed_file":{"after_seq":120,"file":"lab.jsonl.1","previous_file":"lab.jsonl.2"},"file":"lab.jsonl","files":["lab.jsonl.1","lab.jsonl"],"line":5,"ok":false,"path":"/s/audit/lab.jsonl","problem":"prev does not match the hash of line 4","records":7,"torn_lines":[{"file":"lab.jsonl.1","line":3}]}"#
    )

    let continues = AuditVerifyResult(
      ok: true, path: "/s/audit/lab.jsonl", records: 3, files: ["lab.jsonl.1", "lab.jsonl"], tornLines: [],
      continuesRemovedFile: AuditVerifyResult.Continuation(file: "", afterSeq: 9, previousFile: nil))
    #expect(
      continues.jsonLine
        == #"{"continues_removed_file":{"after_seq":9,"file":""},"files":["lab.jsonl.1","lab.jsonl"],"ok":true,"path":"/s/audit/lab.jsonl","records":3,"torn_lines":[]}"#
    )
    #expect(continues.text == "ok: 3 records in 2 files, chain intact")
  }

  @Test("step_up_required (SPEC §10): typed, absent parameters null, on stdout with --json and on stderr always")
  func stepUpRequired() {
    let acme = TenantID("acme")!
    let scope = StepUpAdvice(
      challenge: StepUpChallenge(kind: .insufficientScope, status: 403, scopes: ["mcp", "mcp-admin"]), tenant: acme,
      baselineScopes: ["openid", "mcp"], profile: "lab")
    let line = StepUpRequiredEvent(scope)
    #expect(
      line.jsonLine
        == #"{"acr_values":null,"error":"insufficient_scope","event":"step_up_required","max_age":null,"#
        + #""run":"mcp-tunnel elevate --tenant acme --scope mcp-admin --profile lab","scope":"mcp mcp-admin","#
        + #""status":403,"tenant":"acme"}"#)
    #expect(
      line.text
        == "warning: step-up required: the MCP server refused this call for tenant acme (HTTP 403 insufficient_scope); "
        + "it wants scope mcp-admin; run: mcp-tunnel elevate --tenant acme --scope mcp-admin --profile lab")
    let recent = StepUpAdvice(
      challenge: StepUpChallenge(kind: .insufficientUserAuthentication, status: 401, acrValues: ["phr"], maxAge: 300),
      tenant: acme, profile: "lab")
    #expect(
      StepUpRequiredEvent(recent).jsonLine
        == #"{"acr_values":"phr","error":"insufficient_user_authentication","event":"step_up_required","max_age":300,"#
        + #""run":"mcp-tunnel elevate --tenant acme --profile lab","scope":null,"status":401,"tenant":"acme"}"#)
    let json = CapturingOutputSink()
    UpEventReporter(output: json, json: true, verbose: false).render(.stepUpRequired(recent))
    #expect(json.stdout == StepUpRequiredEvent(recent).jsonLine + "\n")
    #expect(json.stderr == StepUpRequiredEvent(recent).text + "\n")
    let text = CapturingOutputSink()
    UpEventReporter(output: text, json: false, verbose: false).render(.stepUpRequired(recent))
    #expect(text.stdout.isEmpty && text.stderr.contains("a login with acr phr and no older than 300 s"))
  }

  @Test("strings: quotes, backslashes and control characters escaped, slashes and non-ASCII as they are")
  func escaping() {
    let line = StoppedEvent(reason: "a/b \"q\" \\ \n\r\t\u{8}\u{c}\u{1}\u{1f} é → 😀").jsonLine
    #expect(line == #"{"event":"stopped","reason":"a/b \"q\" \\ \n\r\t\b\f\u0001\u001f é → 😀"}"#)
  }
}
