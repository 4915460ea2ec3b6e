import CLibSSH2
import Foundation
import TunnelCore

/// Everything `ForwardingLoop` needs that is fixed for the tunnel's lifetime.
struct ForwardingPlan: Sendable {
  var hops: [PlannedHop]
  var target: HostPort
  var hostKeyPolicy: HostKeyPolicy
  var options: BastionPortForwarder.Options
  var passphraseProvider: PassphraseProvider

  /// `user@host:port` of every hop, for events.
  var hopNames: [String] { hops.map { $0.endpoint.description } }
}

/// One hop of the plan: an `SSHHop` with every path expanded and the agent chosen.
struct PlannedHop: Sendable {
  /// With the user filled in (the local user when nothing named one).
  var endpoint: SSHEndpoint
  var identityPaths: [String]
  var identityPathsAreDefaults: Bool
  var identitiesOnly: Bool
  var certificatePaths: [String]
  var knownHostsPaths: [String]
  /// Read after `knownHostsPaths`, never written (`GlobalKnownHostsFile`).
  var globalKnownHostsPaths: [String]
  /// The name the host key is looked up under: `HostKeyAlias` (as OpenSSH: the bare alias), else host:port.
  var hostKeyName: HostPort
  var keepalive: Duration
  var agentSocket: String?
}

/// The tunnel's I/O thread: one `poll()` loop over every hop's socket, every channel pump's local
/// socket and the mailbox's eventfd, driving a `TunnelStateMachine`.
///
/// Each iteration: take commands, fire due timers, then make passes over everything that can
/// progress (hops being connected, the channel being opened, every pump) until a pass moves
/// nothing, then block in `poll()` until a socket is ready, a command arrives or a timer is due.
/// A pass is repeated when any session received bytes during it, because libssh2 reads a whole
/// socket's worth of packets into its queue while serving one channel, and poll() would not wake
/// for data already queued for another channel.
///
/// With jump hops, once the route is up the jump hops' sessions and their bridge channels go to a
/// `HopRelay` thread (see there for the hand-over rules); this loop then drives only the last hop
/// and the stream pumps, and takes the jump hops back (joining the relay) before any teardown.
///
/// Not Sendable: created on, and confined to, the I/O thread; only `mailbox`, the event
/// continuation and the relay's `RelayLink` are shared.
final class ForwardingLoop {
  private let plan: ForwardingPlan
  private let mailbox: ForwarderMailbox
  private let events: AsyncStream<ForwarderEvent>.Continuation
  private var startContinuation: CheckedContinuation<Void, any Error>?

  private var machine: TunnelStateMachine
  /// Per hop, in order.
  private let credentials: [HopCredentials]
  private let verifiers: [KnownHostsVerifier]
  private var hops: [HopConnection] = []
  private var pumps: [ChannelPump] = []
  /// While set, hops `0 ..< firstOwnedHop` and the bridge pumps belong to the relay thread: this
  /// loop must not touch them (their `let` labels excepted) until `stopRelay()` has joined it.
  private var relay: HopRelay?
  /// The first hop this thread drives: 0, or the last hop while a relay runs.
  private var firstOwnedHop: Int { relay == nil ? 0 : HopRelay.relayedHopCount(hopCount: hops.count) }
  private var ownedHops: ArraySlice<HopConnection> { hops[min(firstOwnedHop, hops.count)...] }
  /// Hop index whose transport channel is being opened on the hop before it.
  private var transportOpen: (hopIndex: Int, message: [UInt8])?
  /// The streams `TunnelStateMachine` said to open or queue, oldest first, until each gets its
  /// channel, is refused, or its wait runs out (each of which is reported as `.streamResolved`).
  /// While the machine is forwarding they are opened in order (libssh2 opens one channel at a time
  /// per session); otherwise they wait for `.openQueuedStreams`.
  private var streamQueue: [(request: StreamRequest, deadline: ContinuousClock.Instant)] = []
  private let streamMessage: [UInt8]
  private var retryAt: ContinuousClock.Instant?
  /// When the last connection attempt began (for `.expediteRetry`).
  private var lastConnectStart: ContinuousClock.Instant?
  private var connectDeadline: ContinuousClock.Instant?
  private var lastFailure: SSHError?
  private var pendingEvents: [TunnelStateMachine.Event] = []
  private var finished = false
  private let scratch: UnsafeMutableRawBufferPointer

  init(
    plan: ForwardingPlan, mailbox: ForwarderMailbox, events: AsyncStream<ForwarderEvent>.Continuation,
    start: CheckedContinuation<Void, any Error>
  ) {
    self.plan = plan
    self.mailbox = mailbox
    self.events = events
    startContinuation = start
    machine = TunnelStateMachine(
      backoff: plan.options.backoff, seed: plan.options.randomSeed ?? UInt64.random(in: 1...UInt64.max))
    let passphrases = PassphraseCache()
    credentials = plan.hops.map {
      HopCredentials(
        identities: SSHIdentity.resolve(identityFiles: $0.identityPaths, certificateFiles: $0.certificatePaths),
        identitiesAreDefaults: $0.identityPathsAreDefaults, identitiesOnly: $0.identitiesOnly,
        agentSocket: $0.agentSocket, passphraseProvider: plan.passphraseProvider, passphrases: passphrases,
        now: plan.options.certificateClock)
    }
    verifiers = plan.hops.map {
      KnownHostsVerifier(
        paths: $0.knownHostsPaths, readOnlyPaths: $0.globalKnownHostsPaths, policy: plan.hostKeyPolicy)
    }
    streamMessage = Self.directTCPIPMessage(host: plan.target.host, port: plan.target.port)
    scratch = .allocate(byteCount: plan.options.readBufferSize, alignment: 16)
  }

  deinit { scratch.deallocate() }

  // MARK: main loop

  func run() {
    handle(.start)
    var fds: [pollfd] = []
    var owners: [PollOwner] = []
    while !finished {
      for command in mailbox.drain() { accept(command) }
      if finished { break }
      if let reason = relay?.link.failure {
        pathLost(reason)
        processPendingEvents()
      }
      fireTimers(now: .now)

      var progressed = false
      for _ in 0..<32 {
        let received = ownedHops.reduce(UInt64(0)) { $0 &+ $1.transport.bytesReceived }
        let moved = pass()
        processPendingEvents()
        let receivedAfter = ownedHops.reduce(UInt64(0)) { $0 &+ $1.transport.bytesReceived }
        if !moved && received == receivedAfter { break }
        progressed = true
      }
      if finished { break }

      fds.removeAll(keepingCapacity: true)
      owners.removeAll(keepingCapacity: true)
      fds.append(pollfd(fd: mailbox.wakeDescriptor, events: Int16(POLLIN), revents: 0))
      owners.append(.mailbox)
      for hop in ownedHops where hop.descriptor >= 0 {
        let i = hop.index
        let events = hop.pollEvents(hasWork: hopHasWork(i))
        if events != 0 {
          fds.append(pollfd(fd: hop.descriptor, events: events, revents: 0))
          owners.append(.hop(i))
        }
      }
      for pump in pumps where pump.descriptor >= 0 {
        var events = pump.localEvents
        // A hop with an output backlog takes no new input: wait for its POLLOUT instead.
        if pump.hopIndex < hops.count && hops[pump.hopIndex].transport.hasOutputBacklog { events &= ~Int16(POLLIN) }
        if events != 0 {
          fds.append(pollfd(fd: pump.descriptor, events: events, revents: 0))
          owners.append(.pump)
        }
      }
      let timeout = progressed ? 0 : pollTimeout(now: .now)
      // off-pool: runs on the tunnel's I/O thread
      let ready = poll(&fds, nfds_t(fds.count), timeout)
      if ready <= 0 { continue }
      for (index, fd) in fds.enumerated() where fd.revents != 0 {
        switch owners[index] {
        case .mailbox:
          mailbox.clearWake()
        case .hop(let i):
          guard i < hops.count, i >= firstOwnedHop else { continue }
          let hop = hops[i]
          if hop.phase == .ready && !hopHasWork(i) && !hop.transport.drainIdleSocket() {
            pathLost("\(hop.label): connection closed by the server")
          }
        case .pump:
          break
        }
      }
      processPendingEvents()
    }
    shutDown()
  }

  private enum PollOwner {
    case mailbox
    case hop(Int)
    case pump
  }

  /// Whether something will read hop `i`'s session input in the next pass.
  private func hopHasWork(_ i: Int) -> Bool {
    let hop = hops[i]
    if hop.phase != .ready { return true }
    if let open = transportOpen, open.hopIndex == i + 1 { return true }
    if i == hops.count - 1 && machine.state == .forwarding && !streamQueue.isEmpty { return true }
    return pumps.willRead(hop: i)
  }

  private func pollTimeout(now: ContinuousClock.Instant) -> Int32 {
    var deadlines: [ContinuousClock.Instant] = []
    if let retryAt { deadlines.append(retryAt) }
    if let connectDeadline { deadlines.append(connectDeadline) }
    if let first = streamQueue.map(\.deadline).min() { deadlines.append(first) }
    if machine.state == .forwarding {
      for hop in ownedHops {
        if let next = hop.nextKeepaliveCheck(interval: plan.hops[hop.index].keepalive) { deadlines.append(next) }
      }
    }
    return ForwardingLoop.pollTimeout(until: deadlines.min(), now: now)
  }

  /// poll()'s timeout until `soonest`: -1 (none), 0 (due), else milliseconds rounded up, at most 60 s.
  static func pollTimeout(until soonest: ContinuousClock.Instant?, now: ContinuousClock.Instant) -> Int32 {
    guard let soonest else { return -1 }
    let wait = soonest - now
    if wait <= .zero { return 0 }
    let ms = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000 + 1
    return Int32(min(ms, 60_000))
  }

  /// While a client waits for a channel, the backoff does not apply (`.expediteRetry`): the path is
  /// retried at most `demandRetryGap` after the previous attempt began, so a bastion back after a
  /// long outage serves the waiting client within about a second instead of at the end of a backoff
  /// of up to 30 s. With no client waiting, the backoff (and the load on a dead bastion) is unchanged.
  static let demandRetryGap = Duration.seconds(1)

  private func fireTimers(now: ContinuousClock.Instant) {
    if let retry = retryAt, now >= retry {
      retryAt = nil
      handle(.retryTimerFired)
    }
    if let deadline = connectDeadline, now >= deadline, case .connecting = machine.state {
      connectDeadline = nil
      let hop = hops.first { $0.phase != .ready }
      connectFailed(
        SSHError(
          .sshConnection,
          "\(hop?.label ?? "SSH path"): timed out after \(DurationText.format(plan.options.connectTimeout)) "
            + "while connecting",
          fix: "check that the host is reachable and answers SSH"))
    }
    if !streamQueue.isEmpty {
      var kept: [(request: StreamRequest, deadline: ContinuousClock.Instant)] = []
      var expired = 0
      for item in streamQueue {
        if now >= item.deadline {
          item.request.fail(waitExpiredError(), events: events)
          expired += 1
        } else {
          kept.append(item)
        }
      }
      streamQueue = kept
      for _ in 0..<expired { handle(.streamResolved) }
    }
    if machine.state == .forwarding {
      for hop in ownedHops {
        if let reason = hop.checkKeepalive(
          now: now, interval: plan.hops[hop.index].keepalive, countMax: plan.options.keepaliveCountMax)
        {
          pathLost(reason)
          break
        }
      }
      processPendingEvents()
    }
  }

  private func waitExpiredError() -> SSHError {
    var reason = "the SSH path is not ready"
    switch machine.state {
    case .backingOff(let attempt) where attempt > 0, .connecting(let attempt) where attempt > 0:
      reason = "the SSH path is reconnecting (attempt \(attempt))"
      if let lastFailure { reason += "; last error: \(lastFailure.summary)" }
    default: break
    }
    return SSHError(
      .sshConnection,
      "no channel to \(plan.target) within \(DurationText.format(plan.options.streamWaitLimit)): \(reason)")
  }

  // MARK: commands and state machine

  private func accept(_ command: ForwarderMailbox.Command) {
    switch command {
    case .stop:
      handle(.stopRequested)
      finished = true
    case .open(let request):
      handle(.streamRequested, stream: request)
    }
  }

  /// Feeds `event` to the machine and performs what it decides. `stream` is the request a
  /// `.streamRequested` is about (the stream actions act on it).
  private func handle(_ event: TunnelStateMachine.Event, stream: StreamRequest? = nil) {
    let before = machine.state
    let actions = machine.handle(event)
    SSHTrace.log("event \(event) in \(before) -> \(machine.state): \(actions)")
    for action in actions { perform(action, stream: stream) }
  }

  private func processPendingEvents() {
    while !pendingEvents.isEmpty {
      let event = pendingEvents.removeFirst()
      handle(event)
    }
  }

  private func connectFailed(_ error: SSHError) {
    var error = error
    // Hops come up in order, so the failing hop is the first one not ready.
    if error.failedHop == nil, let hop = hops.first(where: { $0.phase != .ready }) {
      let stage: HopFailure.Stage =
        switch hop.phase {
        case .authenticating: .authentication
        case .handshaking where error.category == .hostKeyVerification: .hostKey
        default: .reaching
        }
      error.failedHop = HopFailure(index: hop.index + 1, stage: stage)
    }
    lastFailure = error
    pendingEvents.append(.connectFailed(reason: error.summary, retryable: error.retryable))
  }

  private func pathLost(_ reason: String) {
    // A failure the relay saw first is the cause of whatever this thread noticed after it.
    let reason = relay?.link.failure ?? reason
    SSHTrace.log("path lost: \(reason)")
    if pendingEvents.contains(where: { if case .pathLost = $0 { true } else { false } }) { return }
    lastFailure = SSHError(.sshConnection, reason)
    pendingEvents.append(.pathLost(reason: reason))
  }

  private func perform(_ action: TunnelStateMachine.Action, stream: StreamRequest?) {
    switch action {
    case .connect:
      beginConnect()
    case .tearDownPath:
      tearDownPath()
    case .scheduleRetry(let delay):
      retryAt = .now + delay
    case .expediteRetry:
      guard let scheduled = retryAt else { return }
      let now = ContinuousClock.now
      let soon = max(now, (lastConnectStart ?? now) + Self.demandRetryGap)
      if soon < scheduled { retryAt = soon }
    case .cancelRetry:
      retryAt = nil
    case .completeStart(let succeeded):
      guard let continuation = startContinuation else { return }
      startContinuation = nil
      if succeeded {
        continuation.resume()
      } else {
        continuation.resume(
          throwing: lastFailure ?? SSHError(.sshConnection, "the SSH path was stopped before it was ready"))
        finished = true
      }
    case .announceConnected:
      events.yield(.connected(hops: plan.hopNames))
    case .announceReconnecting(let attempt, let delay, let reason):
      events.yield(.reconnecting(attempt: attempt, delay: delay, reason: reason))
    case .announceReconnected(let attempts):
      events.yield(.reconnected(hops: plan.hopNames, attempts: attempts))
    case .announceGaveUp(let reason):
      let failure = lastFailure ?? SSHError(.sshConnection, reason)
      events.yield(.failed(category: failure.category, message: failure.description))
    case .openStream:
      guard let stream else { return }
      streamQueue.append((stream, .now + plan.options.streamWaitLimit))
      _ = openQueuedStreams()  // behind any older stream still opening
    case .queueStream:
      guard let stream else { return }
      streamQueue.append((stream, .now + plan.options.streamWaitLimit))
    case .refuseStream(let reason):
      stream?.fail(
        SSHError(.sshConnection, "no channel to \(plan.target): \(reason)", retryable: false), events: events)
    case .openQueuedStreams:
      _ = openQueuedStreams()
    case .failQueuedStreams(let reason):
      let error = SSHError(.sshConnection, "no channel to \(plan.target): \(reason)")
      for item in streamQueue { item.request.fail(lastFailure ?? error, events: events) }
      streamQueue.removeAll()
    }
  }

  // MARK: connecting

  private func beginConnect() {
    lastConnectStart = .now
    tearDownPath()
    hops = plan.hops.enumerated().map { index, hop in
      HopConnection(
        index: index, count: plan.hops.count, endpoint: hop.endpoint, hostKeyName: hop.hostKeyName,
        verifier: verifiers[index], credentials: credentials[index])
    }
    connectDeadline = .now + plan.options.connectTimeout
    if case .failed(let error) = hops[0].beginTCPConnect() { connectFailed(error) }
  }

  private func tearDownPath() {
    stopRelay()
    for pump in pumps { pump.finish() }
    pumps.removeAll()
    transportOpen = nil
    for hop in hops.reversed() { hop.tearDown() }
    hops.removeAll()
    connectDeadline = nil
  }

  /// One pass over everything that may progress. Returns whether anything moved.
  private func pass() -> Bool {
    var moved = false
    if case .connecting = machine.state { moved = advanceConnect() || moved }
    // Opens that `.openStream`/`.openQueuedStreams` began and libssh2 could not finish at once.
    if machine.state == .forwarding { moved = openQueuedStreams() || moved }
    for hop in ownedHops where hop.descriptor >= 0 && hop.transport.outputPending > 0 {
      let before = hop.transport.outputPending
      if !hop.transport.flushOutput() {
        pathLost("\(hop.label): connection lost while sending")
      } else if hop.transport.outputPending != before {
        moved = true
      }
    }
    var finishedAny = false
    for pump in pumps {
      let mayWrite = pump.hopIndex < hops.count && !hops[pump.hopIndex].transport.hasOutputBacklog
      let (progress, outcome) = pump.pump(scratch: scratch, mayWrite: mayWrite)
      moved = moved || progress
      switch outcome {
      case .running: break
      case .finished:
        finishedAny = true
        if case .transport(let hopIndex) = pump.role {
          let hop = hopIndex < hops.count ? hops[hopIndex].label : "hop \(hopIndex + 1)"
          pathLost("\(hop): the tunnel to it through the previous hop closed")
        }
      case .sessionFailed(let reason):
        finishedAny = true
        let hop = pump.hopIndex < hops.count ? hops[pump.hopIndex].label : "hop \(pump.hopIndex + 1)"
        pathLost("\(hop): \(reason)")
      }
    }
    if finishedAny { pumps.removeAll { $0.isFinished } }
    for hop in ownedHops where hop.descriptor >= 0 && hop.transport.outputPending > 0 {
      if !hop.transport.flushOutput() { pathLost("\(hop.label): connection lost while sending") }
    }
    return moved
  }

  private func advanceConnect() -> Bool {
    var moved = false
    for hop in hops where hop.phase != .ready {
      if hop.phase == .awaitingTransport {
        moved = openTransport(for: hop) || moved
        break
      }
      let step = hop.advance()
      SSHTrace.log("\(hop.label) \(hop.phase): \(step)")
      switch step {
      case .blocked:
        break
      case .progressed:
        moved = true
      case .becameReady:
        moved = true
        if hop.index == hops.count - 1 {
          connectDeadline = nil
          startRelay()
          pendingEvents.append(.connected)
          return moved
        }
        transportOpen = (
          hop.index + 1,
          Self.directTCPIPMessage(
            host: hops[hop.index + 1].endpoint.address.host, port: hops[hop.index + 1].endpoint.address.port)
        )
      case .failed(let error):
        connectFailed(error)
        return true
      }
      break  // hops come up in order
    }
    return moved
  }

  /// Opens the direct-tcpip channel that carries hop `hop.index` over the previous hop.
  private func openTransport(for hop: HopConnection) -> Bool {
    guard let open = transportOpen, open.hopIndex == hop.index, let session = hops[hop.index - 1].session else {
      return false
    }
    switch openChannel(on: session, message: open.message, window: plan.options.transportWindowSize) {
    case .blocked:
      return false
    case .refused(let why):
      connectFailed(
        SSHError(
          .sshConnection,
          "\(hops[hop.index - 1].label) refused to open a tunnel to \(hop.endpoint.address) for \(hop.label): \(why)",
          fix: "the jump host must allow TCP forwarding (AllowTcpForwarding, PermitOpen) to \(hop.endpoint.address)"))
      return true
    case .sessionFailed(let why):
      connectFailed(SSHError(.sshConnection, "\(hops[hop.index - 1].label): \(why)"))
      return true
    case .opened(let channel):
      transportOpen = nil
      var pair: [Int32] = [-1, -1]
      guard
        socketpair(
          AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)
          == 0
      else {
        connectFailed(SSHError(.internalError, "socketpair failed: \(String(cString: strerror(errno)))"))
        return true
      }
      Self.enlargeBuffers(pair[0])
      Self.enlargeBuffers(pair[1])
      pumps.append(
        ChannelPump(
          role: .transport(hopIndex: hop.index), hop: hops[hop.index - 1], channel: channel, descriptor: pair[0]))
      if case .failed(let error) = hop.attachTransport(pair[1]) { connectFailed(error) }
      return true
    }
  }

  // MARK: the relay

  /// Hands the jump hops and their bridge pumps to a relay thread (the route is up; no stream pump
  /// exists yet). Without jump hops, or if the relay cannot be set up, this thread keeps them all.
  private func startRelay() {
    guard relay == nil, HopRelay.relayedHopCount(hopCount: hops.count) > 0 else { return }
    let bridges = pumps.filter { if case .transport = $0.role { true } else { false } }
    do {
      let relay = try HopRelay(
        hops: hops, pumps: bridges, keepalives: plan.hops.map(\.keepalive),
        keepaliveCountMax: plan.options.keepaliveCountMax, readBufferSize: plan.options.readBufferSize,
        mainMailbox: mailbox)
      pumps.removeAll { pump in bridges.contains { $0 === pump } }
      self.relay = relay
      relay.start()
    } catch {
      SSHTrace.log("relay not started: \(error)")
    }
  }

  /// Stops and joins the relay thread: its hops and bridge pumps are this thread's again.
  private func stopRelay() {
    guard let relay else { return }
    let bridges = relay.stopAndJoin()
    self.relay = nil
    pumps.insert(contentsOf: bridges.filter { !$0.isFinished }, at: 0)
  }

  // MARK: streams

  private func openQueuedStreams() -> Bool {
    guard let last = hops.last, last.phase == .ready, let session = last.session else { return false }
    var moved = false
    while let head = streamQueue.first {
      switch openChannel(on: session, message: streamMessage, window: plan.options.streamWindowSize) {
      case .blocked:
        return moved
      case .refused(let why):
        streamQueue.removeFirst()
        handle(.streamResolved)
        head.request.fail(
          SSHError(
            .sshConnection, "\(last.label) could not open a channel to \(plan.target): \(why)",
            fix:
              "check that \(plan.target) is listening, as seen from \(last.endpoint.address.host), and that the server permits forwarding to it"
          ),
          events: events)
        moved = true
      case .sessionFailed(let why):
        pathLost("\(last.label): \(why)")
        return true
      case .opened(let channel):
        streamQueue.removeFirst()
        handle(.streamResolved)
        moved = true
        deliver(head.request, channel: channel, hopIndex: last.index)
      }
    }
    return moved
  }

  private func deliver(_ request: StreamRequest, channel: ChannelHandle, hopIndex: Int) {
    switch request.delivery {
    case .client(let socket):
      guard let fd = socket.takeDescriptor() else { return }
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
      var one: Int32 = 1
      setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
      pumps.append(ChannelPump(role: .stream, hop: hops[hopIndex], channel: channel, descriptor: fd))
    case .socketPair(let continuation):
      var pair: [Int32] = [-1, -1]
      guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
        continuation.resume(
          throwing: SSHError(.internalError, "socketpair failed: \(String(cString: strerror(errno)))"))
        return
      }
      Self.enlargeBuffers(pair[0])
      Self.enlargeBuffers(pair[1])
      _ = fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK)
      pumps.append(ChannelPump(role: .stream, hop: hops[hopIndex], channel: channel, descriptor: pair[0]))
      continuation.resume(returning: StreamSocket(adopting: pair[1]))
    }
  }

  private enum OpenResult {
    case opened(ChannelHandle)
    case blocked
    case refused(String)
    case sessionFailed(String)
  }

  /// One step of opening a direct-tcpip channel. libssh2 keeps one channel open in flight per
  /// session, so callers retry the same request until it resolves before starting another.
  private func openChannel(on session: SessionHandle, message: [UInt8], window: UInt32) -> OpenResult {
    let raw = message.withUnsafeBufferPointer { m in
      m.withMemoryRebound(to: CChar.self) {
        libssh2_channel_open_ex(session.raw, "direct-tcpip", 12, window, 32768, $0.baseAddress, UInt32($0.count))
      }
    }
    if let raw { return .opened(ChannelHandle(raw: raw, session: session)) }
    let (code, text) = session.lastError
    if code != libssh2EAGAIN { SSHTrace.log("channel open: \(code) \(text)") }
    if code == libssh2EAGAIN || code == Int32(LIBSSH2_ERROR_BAD_USE) { return .blocked }
    if code == Int32(LIBSSH2_ERROR_CHANNEL_FAILURE) {
      return .refused(text.isEmpty ? "channel open failure" : text)
    }
    return .sessionFailed(text.isEmpty ? "libssh2 error \(code)" : "\(text) (libssh2 error \(code))")
  }

  // MARK: shutdown

  private func shutDown() {
    if machine.state != .stopped { handle(.stopRequested) }
    tearDownPath()
    for hop in credentials { hop.forget() }
    for command in mailbox.close() {
      if case .open(let request) = command {
        request.fail(SSHError(.sshConnection, "the tunnel is stopping", retryable: false), events: events)
      }
    }
    if let continuation = startContinuation {
      startContinuation = nil
      continuation.resume(
        throwing: lastFailure ?? SSHError(.sshConnection, "the tunnel was stopped before it was ready"))
    }
    events.yield(.stopped)
    events.finish()
  }

  // MARK: helpers

  /// The `direct-tcpip` open payload (RFC 4254 §7.2): host, port, originator address, originator port.
  static func directTCPIPMessage(host: String, port: Int) -> [UInt8] {
    var message: [UInt8] = []
    func u32(_ v: UInt32) {
      message += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
    func string(_ s: String) {
      let bytes = Array(s.utf8)
      u32(UInt32(bytes.count))
      message += bytes
    }
    string(host)
    u32(UInt32(port))
    string("127.0.0.1")
    u32(0)
    return message
  }

  static func enlargeBuffers(_ fd: Int32) {
    var size: Int32 = 1 << 20
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
  }
}
