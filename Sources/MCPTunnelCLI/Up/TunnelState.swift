import AuditLog
import Foundation
import Synchronization
import TokenProxy
import TunnelCore

/// The running http tunnel as the rest of the process sees it: turns broker, proxy and forwarder
/// events into `--json` events, stderr lines and audit records, keeps the counters, and answers
/// the control socket.
///
/// Thread safety: called from the broker actor, the proxy's event loop, the forwarder's event
/// task and control-socket connections; every mutable field sits behind one `Mutex`, and nothing
/// blocks while holding it.
final class TunnelState: Sendable {
  private struct Fields {
    var broker: TokenBroker?
    var proxy: HTTPTokenProxy?
    var audit: QueuedAuditSink?
    var ready = false
    var subject: String?
    var pathState = "forwarding"
    var reconnects = 0
    var lastWarning: (message: String, at: Date)?
  }

  let profile: Profile
  let listen: HostPort
  let sessionID: String
  let hops: [String]
  let startedAt = Date()
  private let output: any OutputSink
  private let json: Bool
  private let events: UpEventReporter
  private let fields: Mutex<Fields>

  init(profile: Profile, listen: HostPort, sessionID: String, subject: String?, output: any OutputSink, json: Bool) {
    self.profile = profile
    self.listen = listen
    self.sessionID = sessionID
    self.output = output
    self.json = json
    events = UpEventReporter(output: output, json: json)
    hops = UpEventReporter.hopLabels(profile.ssh)
    var initial = Fields()
    initial.subject = subject
    fields = Mutex(initial)
  }

  var broker: TokenBroker? {
    get { fields.withLock { $0.broker } }
    set { fields.withLock { $0.broker = newValue } }
  }
  var proxy: HTTPTokenProxy? {
    get { fields.withLock { $0.proxy } }
    set { fields.withLock { $0.proxy = newValue } }
  }
  var audit: QueuedAuditSink? {
    get { fields.withLock { $0.audit } }
    set { fields.withLock { $0.audit = newValue } }
  }
  var subject: String? { fields.withLock { $0.subject } }

  func markReady() { fields.withLock { $0.ready = true } }

  /// One `--json` event on stdout, or a line of text (stderr unless `diagnostic` is false).
  func report(_ object: [String: Any], text: String, diagnostic: Bool = true) {
    events.report(object, text: text, diagnostic: diagnostic)
  }

  // MARK: Events

  func brokerEvent(_ event: TokenBroker.Event) {
    let (ready, subject, audit) = fields.withLock { ($0.ready, $0.subject, $0.audit) }
    switch event {
    case .minted(let token, let reason):
      audit?.record(
        AuditEvent(
          event: .tokenMinted, profile: profile.name, tenant: token.tenant.rawValue, actor: subject,
          session: sessionID, tokenID: TokenFingerprint.of(token.token),
          detail: "\(reason.rawValue); expires \(Timestamp.string(token.expiresAt))"))
      fields.withLock { $0.lastWarning = nil }
      guard ready else { return }
      if json {
        report(
          [
            "event": "token_minted", "tenant": token.tenant.rawValue, "expires_at": Timestamp.string(token.expiresAt),
            "reason": reason.rawValue,
          ], text: "")
      }
    case .mintFailed(let tenant, let error, let retryIn):
      let facing = error as? any UserFacingError
      let summary = facing?.summary ?? "\(error)"
      let now = Date()
      let repeated = fields.withLock { f -> Bool in
        if let last = f.lastWarning, last.message == summary, now.timeIntervalSince(last.at) < 60 { return true }
        f.lastWarning = (summary, now)
        return false
      }
      if repeated { return }
      var object: [String: Any] = [
        "event": "token_error", "tenant": tenant.rawValue, "category": facing?.category.rawValue ?? "internalError",
        "message": summary,
      ]
      if let fix = facing?.fix { object["fix"] = fix }
      if let retryIn { object["retry_in_ms"] = retryIn.components.seconds * 1000 }
      if json { output.writeResult(JSONLine.encode(object) + "\n") }
      output.writeDiagnostic(
        "warning: cannot mint a token for tenant \(tenant): \(summary)"
          + (retryIn.map { " (retrying in \(DurationText.format($0)))" } ?? "") + "\n"
          + (facing?.fix.map { "  fix: \($0)\n" } ?? ""))
    case .switched(let from, let to, _):
      audit?.record(
        AuditEvent(
          event: .tenantSwitch, profile: profile.name, tenant: to.rawValue, actor: subject, session: sessionID,
          detail: "from \(from)"))
      report(
        ["event": "tenant_switched", "from": from.rawValue, "tenant": to.rawValue],
        text: "tenant switched: \(from) → \(to); connections opened under \(from) were closed")
    }
  }

  func forwarderEvent(_ event: ForwarderEvent, verbose: Bool) {
    switch event {
    case .reconnecting(let attempt, let delay, let reason):
      fields.withLock { $0.pathState = "reconnecting" }
      events.reconnecting(attempt: attempt, delay: delay, reason: reason)
    case .reconnected(let hops, let attempts):
      let (audit, subject) = fields.withLock { f -> (QueuedAuditSink?, String?) in
        f.pathState = "forwarding"
        f.reconnects += 1
        return (f.audit, f.subject)
      }
      audit?.record(
        AuditEvent(
          event: .reconnect, profile: profile.name, actor: subject, session: sessionID,
          detail: "SSH path back after \(attempts) attempt(s)"))
      events.reconnected(hops: hops, attempts: attempts)
    case .channelFailed(let reason):
      if verbose { output.writeDiagnostic("channel failed: \(reason)\n") }
    case .connected, .stopped, .failed:
      break
    }
  }

  /// Audit records for one finished client request (SPEC §7): one per JSON-RPC message (a batch
  /// gives one per element, sharing the request's status, duration and byte counts), or one for
  /// a request without any (SSE `GET`, session `DELETE`, a body that is not JSON-RPC). Tool,
  /// prompt and resource are named; arguments never are. No header, query or body value.
  func proxyRequest(_ record: ProxyRequestRecord) {
    let (audit, subject) = fields.withLock { ($0.audit, $0.subject) }
    guard let audit else { return }
    let denied = record.answeredBy == .proxy && record.status == 403
    let ok = record.completed && (record.status.map { (200..<400).contains($0) } ?? false) && record.rpcErrorCode == nil
    let milliseconds = Int(UpEventReporter.milliseconds(record.duration))
    let base = AuditEvent(
      event: denied ? .denied : .call, profile: profile.name, tenant: record.tenant?.rawValue, actor: subject,
      session: sessionID, status: record.status, outcome: denied ? .denied : (ok ? .ok : .error),
      durationMilliseconds: milliseconds, detail: record.detail, connection: Int(record.connectionID),
      rpcError: record.rpcErrorCode, bytesIn: record.requestBytes, bytesOut: record.responseBytes)
    guard !record.rpcMessages.isEmpty else {
      var event = base
      let body: String? =
        switch record.bodyKind {
        case .empty, .jsonRPC: nil
        case .notJSONRPC: "body is not JSON-RPC"
        case .tooLargeToSummarize: "body too large to summarize"
        case .incomplete: "body incomplete"
        }
      event.detail = ["\(record.method) \(record.path)", body, record.detail].compactMap { $0 }.joined(separator: ": ")
      audit.record(event)
      return
    }
    for message in record.rpcMessages {
      var event = base
      event.method = message.method ?? "(response to the server)"
      event.rpcID = message.id
      switch message.target {
      case .tool(let name): event.tool = name
      case .prompt(let name): event.prompt = name
      case .resource(let uri): event.resource = uri
      case nil: break
      }
      if record.rpcMessages.count > 1 {
        event.detail = ["batch of \(record.rpcMessages.count)", record.detail].compactMap { $0 }.joined(separator: "; ")
      }
      audit.record(event)
    }
  }

  // MARK: Control socket

  func handleControl(_ bytes: [UInt8]) async -> [UInt8] {
    let response: ControlResponse
    do {
      let request = try ControlChannel.decoder.decode(ControlRequest.self, from: Data(bytes))
      response = try await answer(request)
    } catch is DecodingError {
      response = .failure(CoreError(.usage, "the control request is not valid JSON for this version"))
    } catch {
      response = .failure(error)
    }
    return Array((try? ControlChannel.encoder.encode(response)) ?? Data(#"{"ok":false}"#.utf8))
  }

  private func answer(_ request: ControlRequest) async throws -> ControlResponse {
    guard let broker else { throw CoreError(.internalError, "the tunnel is still starting") }
    switch request.op {
    case .status:
      return ControlResponse(ok: true, tunnel: await status())
    case .tenantCurrent:
      let snapshot = await broker.snapshot
      return ControlResponse(
        ok: true, tenant: snapshot.tenant.rawValue, tokenExpiresAt: snapshot.expiresAt.map(Timestamp.string))
    case .tenantList:
      let current = await broker.tenant
      return ControlResponse(
        ok: true, tenant: current.rawValue, tenants: profile.session?.tenants.map(\.rawValue) ?? [current.rawValue])
    case .tenantUse:
      let tenant = try Self.tenant(request.tenant)
      let previous = await broker.tenant
      let token = try await broker.use(tenant)
      proxy?.retireConnections(before: token.generation)
      return ControlResponse(
        ok: true, tenant: tenant.rawValue, previousTenant: previous.rawValue,
        tokenExpiresAt: Timestamp.string(token.expiresAt))
    case .token:
      let tenant = try request.tenant.map { try Self.tenant($0) }
      let token = try await broker.token(for: tenant)
      return ControlResponse(
        ok: true, tenant: token.tenant.rawValue, tokenExpiresAt: Timestamp.string(token.expiresAt),
        token: token.token.revealedForTransmission)
    }
  }

  private static func tenant(_ name: String?) throws -> TenantID {
    guard let name, let tenant = TenantID(name) else {
      throw CoreError(.usage, "\"\(name ?? "")\" is not a tenant name", fix: "tenant names are letters, digits, - _ .")
    }
    return tenant
  }

  func status() async -> TunnelStatus {
    let snapshot = await broker?.snapshot
    let counters = proxy?.counters ?? ProxyCounters()
    let (pathState, reconnects) = fields.withLock { ($0.pathState, $0.reconnects) }
    return TunnelStatus(
      pid: getpid(), profile: profile.name, session: sessionID, mode: "http", listen: listen.description,
      url: "http://\(listen)/mcp", target: profile.ssh.target.description, state: pathState,
      hops: hops.map { TunnelStatus.Hop(name: $0, state: pathState == "forwarding" ? "connected" : pathState) },
      tenant: snapshot?.tenant.rawValue, tokenExpiresAt: snapshot?.expiresAt.map(Timestamp.string),
      startedAt: Timestamp.string(startedAt),
      counters: TunnelStatus.Counters(
        requests: counters.requests, errors: counters.errors, remints: max(0, (snapshot?.mints ?? 1) - 1),
        reconnects: reconnects, openConnections: counters.openConnections))
  }
}
