import AuditLog
import Foundation
import Logging
import Synchronization
import TokenProxy
import TunnelCore

/// `up --mode http` (the default): the token-injecting MCP proxy over the SSH path, with a tenant
/// session and a control socket (SPEC §2, §4, §5, §6).
///
/// Start-up order, so each failure has its exit code before anything else happened:
/// 1. configuration: `[idp]`, `[session]`, the tenant allowed (2, 9);
/// 2. the keyring is readable (4) — being logged out is only a warning, see below;
/// 3. the listen port is bound (8) and the control socket claimed (8: another `up` runs);
/// 4. the SSH path comes up (6, 7);
/// 5. the first tenant token is minted. Not logged in or an unreachable issuer is a warning, not
///    an exit: the proxy answers `503` naming the fix until `mcp-tunnel login` (in another
///    terminal) or the issuer's return makes the next request succeed, without a restart. A
///    refused tenant (9) or a configuration error (2) ends `up`;
/// 6. the proxy serves the bound socket and `ready` is printed.
struct HTTPTunnelSession {
  var profile: Profile
  var listen: HostPort
  var tenant: TenantID
  var environment: AppEnvironment
  var json: Bool
  var verbose: Bool

  func run() async throws {
    let env = environment
    guard let settings = profile.session else {
      throw CoreError(
        .usage,
        "profile \"\(profile.name)\" has no [profiles.\(profile.name).session] section, so no tenant token can be minted",
        fix: "add method, resource and tenants under [profiles.\(profile.name).session], or pass --mode tcp")
    }
    let context = try LoginContext(profile: profile, environment: env)
    try TokenBroker.checkAllowed(tenant, settings: settings, profile: profile.name)
    let login = try context.session()
    let subject = try await login.currentLogin()?.subject  // throws when the keyring is unusable (exit 4)

    let listener = try LoopbackListener.bind(listen)
    defer { listener.close() }
    let socketPath = env.paths.controlSocket(profile: profile.name)
    try PrivateDirectory.ensure(env.paths.runtimeDirectory)
    let state = TunnelState(
      profile: profile, listen: listener.address, sessionID: Self.newSessionID(), subject: subject,
      output: env.output, json: json)
    // Every proxied call is recorded, so the log must open (a security record that silently does
    // not exist is worse than a tunnel that does not start). Writes never block the proxy: the
    // queue is bounded and drops are counted into the log itself.
    let audit = QueuedAuditSink(
      wrapping: try env.makeAuditSink(profile.name, env.paths),
      onError: { [output = env.output] error in
        output.writeDiagnostic("warning: could not write the audit log: \(error)\n")
      })
    state.audit = audit

    let broker = TokenBroker(
      profile: profile.name, settings: settings, login: login,
      minter: settings.method == .tokenExchange ? env.makeSessionMinter(settings, context.idp) : nil, tenant: tenant,
      onEvent: { [state] event in state.brokerEvent(event) })
    // Library log lines go to stderr only with -v: the events above are what a user reads.
    var logger = Logger(label: "mcp-tunnel.proxy")
    logger.logLevel = verbose ? .info : .warning
    let proxy = HTTPTokenProxy(logger: logger, onRequest: { [state] record in state.proxyRequest(record) })
    state.broker = broker
    state.proxy = proxy

    var controlLogger = Logger(label: "mcp-tunnel.control")
    controlLogger.logLevel = verbose ? .info : .warning
    let control = try await ControlSocketServer.start(path: socketPath, logger: controlLogger) { [state] request in
      await state.handleControl(request)
    }
    let forwarder = try env.makePortForwarder(profile.ssh, env.environment)
    let ending = EndingSignal()
    let signalSources = ending.handleTerminationSignals()
    defer { for source in signalSources { source.cancel() } }

    func shutDown() async {
      await control.stop()
      await proxy.stop()
      await forwarder.stop()
      await broker.stop()
    }

    switch await ending.start(forwarder) {
    case .interrupted(let name):
      await shutDown()
      state.report(["event": "stopped", "reason": name], text: "stopped (\(name))")
      return
    case .failed(let error):
      await shutDown()
      throw error
    case .started:
      break
    }

    var expiresAt: Date?
    do {
      expiresAt = try await broker.currentToken().expiresAt
    } catch let error as any UserFacingError
      where error.category == .loginRequired || error.category == .identityProvider
    {
      env.output.writeDiagnostic(
        "warning: no token for tenant \(tenant) yet: \(error.summary)\n"
          + (error.fix.map { "  fix: \($0)\n" } ?? "")
          + "  until then every request gets 503 with this fix; the tunnel keeps running and retries by itself\n")
    } catch {
      await shutDown()
      throw error
    }

    let eventTask = Task {
      for await event in forwarder.events {
        if case .failed(let category, let message) = event {
          ending.yield(.failed(category, message))
        } else {
          state.forwarderEvent(event, verbose: verbose)
        }
      }
    }

    let address = try await proxy.start(
      listener: listener, forwarder: forwarder, tokens: broker, upstreamHost: profile.ssh.target.description)
    state.markReady()
    audit.record(
      AuditEvent(
        event: .tunnelUp, profile: profile.name, tenant: tenant.rawValue, actor: subject, session: state.sessionID,
        detail: "http://\(address)/mcp via \(state.hops.joined(separator: " -> ")) to \(profile.ssh.target)"))
    state.report(
      [
        "event": "ready", "listen": address.description, "url": "http://\(address)/mcp", "mode": "http",
        "tenant": tenant.rawValue, "hops": state.hops, "target": profile.ssh.target.description,
        "token_expires_at": expiresAt.map(Timestamp.string) ?? NSNull(), "session": state.sessionID,
      ],
      text: "ready: http://\(address)/mcp → tenant \(tenant)"
        + (expiresAt.map { ", token valid until \(Timestamp.string($0))" } ?? ", no token yet")
        + " via \(state.hops.joined(separator: " → ")) (Ctrl-C to stop)",
      diagnostic: false)

    let ended = await ending.wait()
    eventTask.cancel()
    await shutDown()
    let finalTenant = await broker.tenant
    let reason: String
    switch ended {
    case .signal(let name): reason = name
    case .failed: reason = "failed"
    }
    audit.record(
      AuditEvent(
        event: .tunnelDown, profile: profile.name, tenant: finalTenant.rawValue, actor: state.subject,
        session: state.sessionID, outcome: reason == "failed" ? .error : .ok, detail: reason))
    await audit.flush()
    switch ended {
    case .signal(let name):
      state.report(["event": "stopped", "reason": name], text: "stopped (\(name))")
    case .failed(let category, let message):
      state.report(["event": "stopped", "reason": "failed"], text: "stopped: the SSH path failed")
      throw TunnelFailure(category: category, summary: message)
    }
  }

  static func newSessionID() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
  }
}

/// A short, one-way identifier of a token for events and the audit log (SPEC §7): the first 16
/// hex digits of the SHA-256 of its value. Never the token.
enum TokenFingerprint {
  static func of(_ token: AccessToken) -> String {
    "sha256:" + String(SHA256.hexDigest(Array(token.revealedForTransmission.utf8)).prefix(16))
  }
}
