import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One running tunnel, in either mode: the SSH path (`PortForwarder`), the tenant token broker
/// (http mode), the local front end, the control socket and the audit log, started in one order,
/// stopped in reverse, and stopped all together when one of them fails. `up` builds the parts from
/// `AppEnvironment`, runs this, and renders its `Event`s; nothing here prints.
///
/// Start order, so that each failure has its exit code before anything else happened (the caller
/// did the earlier steps: configuration 2/9, the keyring 4, binding the front end's port 8, opening
/// the audit log):
/// 1. the control socket is claimed (8: another `up` of the profile runs);
/// 2. the SSH path comes up (6, 7) — or a signal ends the run first (`stopped`, no error);
/// 3. http mode: the first tenant token is minted. Not logged in or an unreachable issuer is
///    `tokenPending`, not an exit: the proxy answers `503` naming the fix until the next request
///    succeeds. A refused tenant (9) or a configuration error (2) ends the run;
/// 4. the front end serves and `ready` is emitted.
/// Shutdown is the reverse: control socket, front end, SSH path, broker; then `tunnel_down` is
/// audited, the audit queue flushed and `stopped` emitted.
///
/// Thread safety: events come from the broker actor, the front end's event loop, the forwarder's
/// event task and control-socket connections; every mutable field sits behind one `Mutex`, and
/// nothing blocks while holding it. `onEvent` is called on those threads and must return quickly.
public final class TunnelRuntime: Sendable {
  /// What describes the tunnel, for events, the audit log and `status`.
  public struct Settings: Sendable {
    public var profile: Profile
    /// Random, per run: ties this run's audit records together.
    public var sessionID: String
    /// The login's subject at start (nil when logged out or in tcp mode).
    public var subject: String?
    /// Each hop as `user@host:port`.
    public var hops: [String]
    /// Where each hop came from (`SSHHop.origin`), parallel to `hops`; empty when unknown.
    public var hopOrigins: [String]
    /// A short one-way identifier of a token for the audit log (never the token).
    public var tokenFingerprint: @Sendable (AccessToken) -> String

    public init(
      profile: Profile, sessionID: String, subject: String?, hops: [String], hopOrigins: [String] = [],
      tokenFingerprint: @escaping @Sendable (AccessToken) -> String
    ) {
      self.profile = profile
      self.sessionID = sessionID
      self.subject = subject
      self.hops = hops
      self.hopOrigins = hopOrigins
      self.tokenFingerprint = tokenFingerprint
    }
  }

  /// What the runtime needs to mint tenant tokens (http mode).
  public struct Tokens: Sendable {
    public var settings: SessionSettings
    public var login: LoginSession
    public var minter: (any SessionTokenMinter)?
    public var tenant: TenantID

    public init(settings: SessionSettings, login: LoginSession, minter: (any SessionTokenMinter)?, tenant: TenantID) {
      self.settings = settings
      self.login = login
      self.minter = minter
      self.tenant = tenant
    }
  }

  /// The services the runtime starts and stops. The front end was bound by the caller.
  public struct Services: Sendable {
    public var forwarder: any PortForwarder
    public var frontEnd: any TunnelFrontEnd
    public var tokens: Tokens?
    public var control: ControlEndpointStarter?
    public var audit: (any AuditSink)?

    public init(
      forwarder: any PortForwarder, frontEnd: any TunnelFrontEnd, tokens: Tokens? = nil,
      control: ControlEndpointStarter? = nil, audit: (any AuditSink)? = nil
    ) {
      self.forwarder = forwarder
      self.frontEnd = frontEnd
      self.tokens = tokens
      self.control = control
      self.audit = audit
    }
  }

  /// `ready`, as the front end serves it.
  public struct Ready: Sendable, Equatable {
    public var mode: ListenMode
    public var listen: HostPort
    /// `http://<listen>/mcp` in http mode.
    public var url: String?
    public var tenant: TenantID?
    public var hops: [String]
    public var target: HostPort
    public var tokenExpiresAt: Date?
    public var session: String
    /// Where each hop came from, parallel to `hops` (empty when unknown).
    public var hopOrigins: [String] = []
    /// When `session.max_duration` ends the run; nil when it is "0s".
    public var endsAt: Date?
    /// When `session.idle_timeout` ends the run unless a call comes first; nil when it is "0s".
    public var idleEndsAt: Date?
  }

  /// Something the user may want to know, in the order it happened.
  public enum Event: Sendable {
    case ready(Ready)
    /// The SSH path was lost; the next attempt starts after `delay`.
    case reconnecting(attempt: Int, delay: Duration, reason: String)
    case reconnected(hops: [String], attempts: Int)
    /// One channel failed; the tunnel goes on.
    case channelFailed(reason: String)
    /// No token at start (not logged in, issuer unreachable): requests get 503 with `fix` until then.
    case tokenPending(tenant: TenantID, summary: String, fix: String?)
    /// A token was minted after `ready`.
    case tokenMinted(tenant: TenantID, expiresAt: Date, reason: TokenBroker.MintReason)
    /// A mint failed; the same summary is not repeated within a minute.
    case tokenError(
      tenant: TenantID, category: FailureCategory, summary: String, fix: String?, retryIn: Duration?)
    /// `use(_:)` switched the tenant; connections of the old one were closed.
    case tenantSwitched(from: TenantID, to: TenantID)
    /// The listener refused a connection (`listen.peers`): the first one of each peer uid (or,
    /// without a uid, of each kind of failure). Later ones are audited and counted, not reported.
    case peerDenied(ListenerPeerCheck.Denial)
    /// `limit` ends the run at `endsAt` (SPEC §10: 5 minutes before, or at half the limit,
    /// whichever is later). An idle warning is repeated if a call moved the end and it nears again.
    case sessionEnding(limit: SessionLimit, endsAt: Date)
    /// The MCP server refused a call for want of a stronger token (SPEC §10); the client got the
    /// advice as a JSON-RPC error. Once per distinct challenge of a tenant while its token stays
    /// the same (a new token re-arms it); every refused call is audited all the same.
    case stepUpRequired(StepUpAdvice)
    /// `elevate` handed over a token; it is used for `elevation.tenant` until `elevation.endsAt`.
    case elevated(ElevationSummary)
    /// The elevated token is no longer used.
    case elevationEnded(tenant: TenantID, reason: ElevationEndReason)
    /// The run is over: the signal's name, `max_duration`, `idle_timeout`, or `failed`.
    case stopped(reason: String)
  }

  private struct Fields {
    var broker: TokenBroker?
    var ready = false
    var pathState = "forwarding"
    var reconnects = 0
    var lastWarning: (message: String, at: Date)?
    /// The last call (http) or connection (tcp) seen, for `session.idle_timeout`.
    var lastActivity: Date?
    /// The last step-up challenge per tenant (SPEC §10), for `elevate` to satisfy.
    var stepUps: [TenantID: StepUpChallenge] = [:]
    /// The challenges already reported per tenant (`stepUpRequired`), until its next token.
    var reportedStepUps: [TenantID: Set<StepUpChallenge>] = [:]
  }

  public let settings: Settings
  private let services: Services
  private let onEvent: @Sendable (Event) -> Void
  private let now: @Sendable () -> Date
  private let sleep: @Sendable (Duration) async throws -> Void
  private let startedAt: Date
  private let ending = EndingLatch()
  private let fields = Mutex(Fields())

  public init(
    settings: Settings, services: Services, now: @escaping @Sendable () -> Date = { Date() },
    sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
    onEvent: @escaping @Sendable (Event) -> Void
  ) {
    self.settings = settings
    self.services = services
    self.onEvent = onEvent
    self.now = now
    self.sleep = sleep
    startedAt = now()
    if let tokens = services.tokens {
      let broker = TokenBroker(
        profile: settings.profile.name, settings: tokens.settings, login: tokens.login, minter: tokens.minter,
        tenant: tokens.tenant, onEvent: { [weak self] event in self?.brokerEvent(event) })
      fields.withLock { $0.broker = broker }
    }
  }

  private var broker: TokenBroker? { fields.withLock { $0.broker } }
  private var profileName: String { settings.profile.name }

  /// Ends the run (a signal, or the caller's own reason); the first ending wins.
  public func end(_ reason: TunnelEnding) { ending.yield(reason) }

  // MARK: Run

  /// Starts every service in order, serves until `end(_:)` or a fatal path failure, then stops
  /// everything. Returns after a signal; throws the failure that ended the run, with its category.
  public func run() async throws {
    let forwarder = services.forwarder
    let frontEnd = services.frontEnd
    var control: (any ControlEndpoint)?
    func shutDown() async {
      await control?.stop()
      await frontEnd.stop()
      await forwarder.stop()
      await broker?.stop()
    }

    if let start = services.control {
      do {
        control = try await start { [weak self] bytes in
          guard let self else { return Array(#"{"ok":false}"#.utf8) }
          return await self.handleControl(bytes)
        }
      } catch {
        await shutDown()
        throw error
      }
    }

    switch await ending.start(forwarder) {
    case .interrupted(let name):
      await shutDown()
      onEvent(.stopped(reason: name))
      return
    case .failed(let error):
      await shutDown()
      throw error
    case .started:
      break
    }

    var expiresAt: Date?
    if let broker {
      do {
        expiresAt = try await broker.currentToken().expiresAt
      } catch let error as any UserFacingError
        where error.category == .loginRequired || error.category == .identityProvider
      {
        onEvent(.tokenPending(tenant: await broker.tenant, summary: error.summary, fix: error.fix))
      } catch {
        await shutDown()
        throw error
      }
    }

    let eventTask = Task { [weak self] in
      for await event in forwarder.events {
        guard let self else { return }
        if case .failed(let category, let message) = event {
          self.ending.yield(.failed(category, message))
        } else {
          self.forwarderEvent(event)
        }
      }
    }

    frontEnd.peerCheck?.observeDenials { [weak self] denial in self?.peerDenied(denial) }
    do {
      try await frontEnd.start(forwarder: forwarder, tokens: broker) { [weak self] record in
        self?.proxyRequest(record)
      }
    } catch {
      eventTask.cancel()
      await shutDown()
      throw error
    }
    let readyAt = now()
    fields.withLock {
      $0.ready = true
      $0.lastActivity = readyAt
    }
    let tenant = await broker?.tenant
    let ready = Ready(
      mode: frontEnd.mode, listen: frontEnd.address,
      url: frontEnd.mode == .http ? "http://\(frontEnd.address)/mcp" : nil, tenant: tenant, hops: settings.hops,
      target: settings.profile.ssh.target, tokenExpiresAt: expiresAt, session: settings.sessionID,
      hopOrigins: settings.hopOrigins, endsAt: limitEnds().ends,
      idleEndsAt: limitEnds().idle)
    audit(
      AuditEvent(
        event: .tunnelUp, profile: profileName, tenant: tenant?.rawValue, actor: settings.subject,
        session: settings.sessionID,
        detail: "\(ready.url ?? "tcp://\(ready.listen)") via \(settings.hops.joined(separator: " -> ")) to "
          + "\(settings.profile.ssh.target)"))
    onEvent(.ready(ready))
    let limitTask = Task { [weak self] in await self?.watchLimits() }

    let ended = await ending.wait()
    limitTask.cancel()
    eventTask.cancel()
    await shutDown()
    let finalTenant = await broker?.tenant
    let reason: String
    switch ended {
    case .signal(let name): reason = name
    case .limit(let limit): reason = limit.rawValue
    case .failed: reason = "failed"
    }
    audit(
      AuditEvent(
        event: .tunnelDown, profile: profileName, tenant: finalTenant?.rawValue, actor: settings.subject,
        session: settings.sessionID, outcome: reason == "failed" ? .error : .ok, detail: reason))
    await services.audit?.flush()
    onEvent(.stopped(reason: reason))
    if case .failed(let category, let message) = ended {
      throw TunnelFailure(category: category, summary: message)
    }
  }

  // MARK: Session limits

  /// When each limit ends the run as things stand (nil: that limit is "0s").
  private func limitEnds() -> (ends: Date?, idle: Date?) {
    let limits = settings.profile.limits
    let last = fields.withLock { $0.lastActivity } ?? startedAt
    return (
      limits.maxDuration > .zero ? startedAt.addingTimeInterval(Self.seconds(limits.maxDuration)) : nil,
      limits.idleTimeout > .zero ? last.addingTimeInterval(Self.seconds(limits.idleTimeout)) : nil
    )
  }

  private static func seconds(_ d: Duration) -> TimeInterval {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
  }

  /// Ends the run when a session limit is reached, after one `sessionEnding` warning (SPEC §10).
  /// Sleeps through the injected clock port; while an idle timeout is set it looks at the front
  /// end's counters at least once a second (a new request, or in tcp mode an open connection, is
  /// activity), so a long-lived tcp connection keeps the session alive.
  private func watchLimits() async {
    let limits = settings.profile.limits
    guard limits.maxDuration > .zero || limits.idleTimeout > .zero else { return }
    var requests = services.frontEnd.counters.requests
    var warned: (SessionLimit, Date)?
    while !Task.isCancelled {
      let now = now()
      let counters = services.frontEnd.counters
      if counters.requests != requests || (services.frontEnd.mode == .tcp && counters.openConnections > 0) {
        requests = counters.requests
        noteActivity(at: now)
      }
      let (ends, idle) = limitEnds()
      let candidates: [(SessionLimit, Date, Duration)] =
        [ends.map { (.maxDuration, $0, limits.maxDuration) }, idle.map { (.idleTimeout, $0, limits.idleTimeout) }]
        .compactMap { $0 }
      guard let (limit, endsAt, length) = candidates.min(by: { $0.1 < $1.1 }) else { return }
      if now >= endsAt {
        ending.yield(.limit(limit))
        return
      }
      let warnAt = max(endsAt.addingTimeInterval(-300), endsAt.addingTimeInterval(-Self.seconds(length) / 2))
      if now >= warnAt, warned.map({ $0.0 != limit || $0.1 != endsAt }) ?? true {
        warned = (limit, endsAt)
        onEvent(.sessionEnding(limit: limit, endsAt: endsAt))
      }
      var wait = (now < warnAt ? warnAt : endsAt).timeIntervalSince(now)
      if limits.idleTimeout > .zero { wait = min(wait, 1) }
      do {
        try await sleep(.due(in: wait))
      } catch {
        return
      }
    }
  }

  private func noteActivity(at date: Date) {
    fields.withLock { f in
      if f.lastActivity.map({ $0 < date }) ?? true { f.lastActivity = date }
    }
  }

  private func audit(_ event: AuditEvent) {
    // A queued sink never throws here; a failing one reports its errors itself.
    try? services.audit?.record(event)
  }

  // MARK: Tenant

  /// Switches the running session to `tenant`: mints its token first (a refusal leaves the old
  /// tenant active), then closes the connections opened under the old one.
  public func use(_ tenant: TenantID) async throws -> (previous: TenantID, token: TenantSessionToken) {
    guard let broker else { throw Self.noTenants }
    let previous = await broker.tenant
    let token = try await broker.use(tenant)
    services.frontEnd.retireConnections(before: token.generation)
    return (previous, token)
  }

  private static let noTenants = CoreError(
    .usage, "this tunnel runs in tcp mode, which has no tenant or token",
    fix: "start it in http mode: mcp-tunnel up --mode http")

  // MARK: Events

  private func brokerEvent(_ event: TokenBroker.Event) {
    let ready = fields.withLock { $0.ready }
    switch event {
    case .minted(let token, let reason):
      audit(
        AuditEvent(
          event: .tokenMinted, profile: profileName, tenant: token.tenant.rawValue, actor: settings.subject,
          session: settings.sessionID, tokenID: settings.tokenFingerprint(token.token),
          detail: "\(reason.rawValue); expires \(Timestamp.string(token.expiresAt))"))
      fields.withLock {
        $0.lastWarning = nil
        $0.reportedStepUps[token.tenant] = nil  // a new token may carry what was missing: say it again
      }
      if ready { onEvent(.tokenMinted(tenant: token.tenant, expiresAt: token.expiresAt, reason: reason)) }
    case .mintFailed(let tenant, let error, let retryIn):
      let facing = error as? any UserFacingError
      let summary = facing?.summary ?? "\(error)"
      let now = now()
      let repeated = fields.withLock { f -> Bool in
        if let last = f.lastWarning, last.message == summary, now.timeIntervalSince(last.at) < 60 { return true }
        f.lastWarning = (summary, now)
        return false
      }
      if repeated { return }
      onEvent(
        .tokenError(
          tenant: tenant, category: facing?.category ?? .internalError, summary: summary, fix: facing?.fix,
          retryIn: retryIn))
    case .elevated(let elevation):
      // A new token for the tenant, like a mint: a challenge it still meets is worth saying again.
      fields.withLock { $0.reportedStepUps[elevation.tenant] = nil }
      audit(
        AuditEvent(
          event: .elevated, profile: profileName, tenant: elevation.tenant.rawValue, actor: settings.subject,
          session: settings.sessionID, tokenID: settings.tokenFingerprint(elevation.token),
          detail: "scope \(elevation.scope.joined(separator: " ")); ends \(Timestamp.string(elevation.endsAt))",
          elevated: true))
      onEvent(.elevated(ElevationSummary(elevation)))
    case .elevationEnded(let ended):
      fields.withLock { $0.reportedStepUps[ended.elevation.tenant] = nil }
      audit(
        AuditEvent(
          event: .elevationEnded, profile: profileName, tenant: ended.elevation.tenant.rawValue,
          actor: settings.subject, session: settings.sessionID,
          tokenID: settings.tokenFingerprint(ended.elevation.token), detail: ended.reason.rawValue))
      onEvent(.elevationEnded(tenant: ended.elevation.tenant, reason: ended.reason))
    case .switched(let from, let to, _):
      audit(
        AuditEvent(
          event: .tenantSwitch, profile: profileName, tenant: to.rawValue, actor: settings.subject,
          session: settings.sessionID, detail: "from \(from)"))
      onEvent(.tenantSwitched(from: from, to: to))
    }
  }

  private func forwarderEvent(_ event: ForwarderEvent) {
    switch event {
    case .reconnecting(let attempt, let delay, let reason):
      fields.withLock { $0.pathState = "reconnecting" }
      onEvent(.reconnecting(attempt: attempt, delay: delay, reason: reason))
    case .reconnected(let hops, let attempts):
      fields.withLock {
        $0.pathState = "forwarding"
        $0.reconnects += 1
      }
      audit(
        AuditEvent(
          event: .reconnect, profile: profileName, actor: settings.subject, session: settings.sessionID,
          detail: "SSH path back after \(attempts) attempt(s)"))
      onEvent(.reconnected(hops: hops, attempts: attempts))
    case .channelFailed(let reason):
      onEvent(.channelFailed(reason: reason))
    case .connected, .stopped, .failed:
      break
    }
  }

  /// A connection refused by `listen.peers` (SPEC §5): always a `denied` record with the peer's
  /// uid; an event (a line on stderr) for the first of its kind only, so a client retrying in a
  /// loop cannot flood the terminal. No `actor`: the tunnel's user is not the one who tried.
  private func peerDenied(_ denial: ListenerPeerCheck.Denial) {
    audit(
      AuditEvent(
        event: .denied, profile: profileName, session: settings.sessionID, outcome: .denied,
        detail: "\(denial.explanation) (\(denial.connection))", peerUID: denial.peerUID.map { Int($0) }))
    if denial.isFirstOfItsKind { onEvent(.peerDenied(denial)) }
  }

  /// Audit records for one finished client request (SPEC §7): one per JSON-RPC message (a batch
  /// gives one per element, sharing the request's status, duration and byte counts), or one for
  /// a request without any (SSE `GET`, session `DELETE`, a body that is not JSON-RPC). Tool,
  /// prompt and resource are named; arguments never are. No header, query or body value.
  ///
  /// A request the MCP server refused with a step-up challenge gives `step_up_required` records
  /// instead of `call` ones, and a `stepUpRequired` event the first time the tenant's token meets
  /// that challenge.
  private func proxyRequest(_ record: ProxyRequestRecord) {
    noteActivity(at: now())
    if let challenge = record.stepUp, let tenant = record.tenant {
      let first = fields.withLock { f in
        f.stepUps[tenant] = challenge
        return f.reportedStepUps[tenant, default: []].insert(challenge).inserted
      }
      if first {
        onEvent(.stepUpRequired(StepUpContext(profile: settings.profile).advice(for: challenge, tenant: tenant)))
      }
    }
    guard services.audit != nil else { return }
    for event in Self.auditEvents(
      for: record, profile: profileName, actor: settings.subject, session: settings.sessionID)
    {
      audit(event)
    }
  }

  /// The audit records of one proxy request record; `denied` is the proxy's own 403;
  /// `step_up_required` (outcome `denied`) a call the MCP server refused with a step-up challenge,
  /// whose parameters are in `detail` (`insufficient_scope; scope="mcp mcp-admin"`).
  public static func auditEvents(
    for record: ProxyRequestRecord, profile: String, actor: String?, session: String
  ) -> [AuditEvent] {
    if let challenge = record.stepUp, let tenant = record.tenant {
      let detail = StepUpAdvice(challenge: challenge, tenant: tenant).auditDetail
      var plain = record
      plain.stepUp = nil
      plain.detail = nil
      return auditEvents(for: plain, profile: profile, actor: actor, session: session).map { event in
        var event = event
        event.event = .stepUpRequired
        event.outcome = .denied
        event.detail = [event.detail, detail].compactMap { $0 }.joined(separator: "; ")
        return event
      }
    }
    let denied = record.answeredBy == .proxy && record.status == 403
    let answered = record.status.map { (200..<400).contains($0) } ?? false
    // The GET event stream (MCP Streamable HTTP) has no end of its own: the client closing it is
    // how it ends, not a failure.
    let streamClosedByClient =
      record.method == "GET" && record.answeredBy == .upstream && record.detail == "client_closed"
    let ok = (record.completed || streamClosedByClient) && answered && record.rpcErrorCode == nil
    let duration = record.duration.components
    let milliseconds = Int(duration.seconds * 1000 + duration.attoseconds / 1_000_000_000_000_000)
    let base = AuditEvent(
      event: denied ? .denied : .call, profile: profile, tenant: record.tenant?.rawValue, actor: actor,
      session: session, status: record.status, outcome: denied ? .denied : (ok ? .ok : .error),
      durationMilliseconds: milliseconds, detail: record.detail, connection: Int(record.connectionID),
      rpcError: record.rpcErrorCode, bytesIn: record.requestBytes, bytesOut: record.responseBytes, via: record.via,
      elevated: record.elevated ? true : nil)
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
      return [event]
    }
    return record.rpcMessages.map { message in
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
      return event
    }
  }

  /// The last step-up challenge an MCP server sent for `tenant` through this tunnel, if any.
  public func pendingStepUp(for tenant: TenantID) -> StepUpChallenge? {
    fields.withLock { $0.stepUps[tenant] }
  }

  // MARK: Control socket

  /// One control request line in, one response line out (SPEC §6).
  public func handleControl(_ bytes: [UInt8]) async -> [UInt8] {
    let response: ControlResponse
    do {
      let request = try ControlProtocol.decoder.decode(ControlRequest.self, from: Data(bytes))
      response = try await answer(request)
    } catch is DecodingError {
      response = .failure(CoreError(.usage, "the control request is not valid JSON for this version"))
    } catch {
      response = .failure(error)
    }
    return Array((try? ControlProtocol.encoder.encode(response)) ?? Data(#"{"ok":false}"#.utf8))
  }

  private func answer(_ request: ControlRequest) async throws -> ControlResponse {
    if request.op == .status { return ControlResponse(ok: true, tunnel: await status()) }
    guard let broker else { throw Self.noTenants }
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
        ok: true, tenant: current.rawValue,
        tenants: settings.profile.session?.tenants.map(\.rawValue) ?? [current.rawValue])
    case .tenantUse:
      let (previous, token) = try await use(try Self.tenant(request.tenant))
      return ControlResponse(
        ok: true, tenant: token.tenant.rawValue, previousTenant: previous.rawValue,
        tokenExpiresAt: Timestamp.string(token.expiresAt))
    case .elevationInfo:
      let active = await broker.tenant
      let tenant = try request.tenant.map { try Self.tenant($0) } ?? active
      return ControlResponse(
        ok: true, tenant: active.rawValue,
        tenants: settings.profile.session?.tenants.map(\.rawValue), stepUp: pendingStepUp(for: tenant),
        elevateMaxSeconds: Int(settings.profile.limits.elevateMax.components.seconds))
    case .elevate:
      return try await elevate(request, broker: broker)
    case .token:
      let tenant = try request.tenant.map { try Self.tenant($0) }
      let token = try await broker.token(for: tenant)
      return ControlResponse(
        ok: true, tenant: token.tenant.rawValue, tokenExpiresAt: Timestamp.string(token.expiresAt),
        token: token.token.revealedForTransmission)
    }
  }

  /// `elevate` (SPEC §10): the window is `--for`, at most `session.elevate_max` (a longer one is
  /// clamped, with a note); the tenant's pending challenge is considered answered.
  private func elevate(_ request: ControlRequest, broker: TokenBroker) async throws -> ControlResponse {
    let tenant = try Self.tenant(request.tenant)
    guard let value = request.token, !value.isEmpty else {
      throw CoreError(.usage, "the elevate request carries no token")
    }
    let maximum = settings.profile.limits.elevateMax
    var window = maximum
    var note: String?
    if let seconds = request.forSeconds {
      guard seconds > 0 else { throw CoreError(.usage, "--for must be above 0s", fix: "e.g. --for 5m") }
      if .seconds(seconds) > maximum {
        note =
          "--for \(DurationText.format(.seconds(seconds))) is above session.elevate_max "
          + "\(DurationText.format(maximum)); using \(DurationText.format(maximum))"
      } else {
        window = .seconds(seconds)
      }
    }
    let minted = MintedSessionToken(
      token: AccessToken(revealing: value), expiresIn: request.expiresIn.map { .seconds($0) }, receivedAt: now(),
      scope: request.scope?.joined(separator: " "))
    let granted = try await broker.elevate(tenant, minted: minted, scope: request.scope ?? [], window: window)
    fields.withLock { _ = $0.stepUps.removeValue(forKey: tenant) }
    return ControlResponse(ok: true, tenant: tenant.rawValue, elevation: ElevationSummary(granted), note: note)
  }

  private static func tenant(_ name: String?) throws -> TenantID {
    guard let name, let tenant = TenantID(name) else {
      throw CoreError(.usage, "\"\(name ?? "")\" is not a tenant name", fix: "tenant names are letters, digits, - _ .")
    }
    return tenant
  }

  /// What `status` shows.
  public func status() async -> TunnelStatus {
    let snapshot = await broker?.snapshot
    let counters = services.frontEnd.counters
    let (pathState, reconnects) = fields.withLock { ($0.pathState, $0.reconnects) }
    let frontEnd = services.frontEnd
    return TunnelStatus(
      pid: getpid(), profile: profileName, session: settings.sessionID, mode: frontEnd.mode.rawValue,
      listen: frontEnd.address.description,
      url: frontEnd.mode == .http ? "http://\(frontEnd.address)/mcp" : nil,
      target: settings.profile.ssh.target.description, state: pathState,
      hops: settings.hops.indices.map { i in
        TunnelStatus.Hop(
          name: settings.hops[i], state: pathState == "forwarding" ? "connected" : pathState,
          origin: i < settings.hopOrigins.count ? settings.hopOrigins[i] : nil)
      },
      tenant: snapshot?.tenant.rawValue, tokenExpiresAt: snapshot?.expiresAt.map(Timestamp.string),
      startedAt: Timestamp.string(startedAt),
      counters: TunnelStatus.Counters(
        requests: counters.requests, errors: counters.errors, remints: max(0, (snapshot?.mints ?? 1) - 1),
        reconnects: reconnects, openConnections: counters.openConnections,
        denied: frontEnd.peerCheck?.deniedConnections ?? 0),
      peers: (frontEnd.peerCheck?.policy ?? .anyLocalUser).rawValue,
      endsAt: limitEnds().ends.map(Timestamp.string), idleEndsAt: limitEnds().idle.map(Timestamp.string),
      elevation: snapshot?.elevation)
  }
}
