/// The lifecycle of one SSH path, as a value: `handle(_:)` takes what happened and returns what to do.
///
/// ```
/// idle ─start─▶ connecting(0) ─connected─▶ forwarding ─pathLost─▶ backingOff(1) ─retryTimerFired─▶ connecting(1)
///                    │                          ▲                        ▲                               │
///                    └─connectFailed─▶ failed   └──────connected─────────┼───────────────────────────────┤
///                                                                        └──connectFailed(retryable)─────┘
/// ```
/// The first connection attempt is never retried: a user who just typed `up` wants the reason now
/// (exit 6/7), not a retry loop. After the path has worked once, network failures are retried with
/// `ReconnectBackoff`; failures that retrying cannot fix (changed host key, refused login) stop it.
/// Streams asked for while (re)connecting are queued; the performer bounds how long they wait.
/// The machine counts the streams that wait for a channel (`streamRequested` until
/// `streamResolved`, or until it fails them all): while any wait during a backoff, it asks for the
/// retry to come sooner (`expediteRetry`), so a returning path serves a waiting client quickly
/// while an idle tunnel keeps the full backoff.
///
/// No sockets, clocks or threads: the I/O loop in `SSHForwarding` performs the actions, and tests
/// drive the machine with tables of events (the model is swift-nio-ssh's connection state machine).
public struct TunnelStateMachine: Sendable, Equatable {
  public enum State: Sendable, Equatable {
    case idle
    /// `attempt` 0 is the initial connection; 1… are reconnects.
    case connecting(attempt: Int)
    case forwarding
    case backingOff(attempt: Int)
    case failed
    case stopped
  }

  public enum Event: Sendable, Equatable {
    case start
    case connected
    case connectFailed(reason: String, retryable: Bool)
    /// An established path died (keepalive unanswered, connection closed, hop channel closed).
    case pathLost(reason: String)
    case retryTimerFired
    case stopRequested
    case streamRequested
    /// A stream the machine counted as waiting left the performer's queue: it got its channel, the
    /// server refused it, or its wait ran out.
    case streamResolved
  }

  public enum Action: Sendable, Equatable {
    /// Start connecting every hop.
    case connect
    /// Close every channel and session of the current (dead or abandoned) path.
    case tearDownPath
    case scheduleRetry(after: Duration)
    /// Streams wait while backing off: retry once `demandRetryGap` has passed since the last
    /// attempt began (at once if it has), unless the scheduled retry comes sooner.
    case expediteRetry
    case cancelRetry
    /// The initial connection finished; `start()` returns or throws.
    case completeStart(succeeded: Bool)
    case announceConnected
    case announceReconnecting(attempt: Int, delay: Duration, reason: String)
    case announceReconnected(attempts: Int)
    /// Retrying cannot help; tell the user why and stop forwarding.
    case announceGaveUp(reason: String)
    /// Open a channel for the stream just requested.
    case openStream
    /// Keep the stream just requested until the path is back (or its wait runs out).
    case queueStream
    /// Fail the stream just requested at once.
    case refuseStream(reason: String)
    case openQueuedStreams
    case failQueuedStreams(reason: String)
  }

  public private(set) var state: State = .idle
  /// Streams requested (opened or queued) and not yet resolved or failed.
  public private(set) var waitingStreams = 0
  public let backoff: ReconnectBackoff
  private var random: SplitMix64

  public init(backoff: ReconnectBackoff = ReconnectBackoff(), seed: UInt64) {
    self.backoff = backoff
    random = SplitMix64(seed: seed)
  }

  public mutating func handle(_ event: Event) -> [Action] {
    if event == .streamResolved {
      waitingStreams = max(0, waitingStreams - 1)
      return []
    }
    switch (state, event) {
    case (.idle, .start):
      state = .connecting(attempt: 0)
      return [.connect]

    case (.connecting(let attempt), .connected):
      state = .forwarding
      if attempt == 0 { return [.completeStart(succeeded: true), .announceConnected, .openQueuedStreams] }
      return [.announceReconnected(attempts: attempt), .openQueuedStreams]

    case (.connecting(0), .connectFailed(let reason, _)):
      state = .failed
      waitingStreams = 0
      return [.tearDownPath, .failQueuedStreams(reason: reason), .completeStart(succeeded: false)]

    case (.connecting(let attempt), .connectFailed(let reason, let retryable)):
      guard retryable else {
        state = .failed
        waitingStreams = 0
        return [.tearDownPath, .failQueuedStreams(reason: reason), .announceGaveUp(reason: reason)]
      }
      return backOff(attempt: attempt + 1, reason: reason)

    case (.connecting(let attempt), .pathLost(let reason)) where attempt > 0:
      return backOff(attempt: attempt + 1, reason: reason)
    case (.connecting(0), .pathLost(let reason)):
      state = .failed
      waitingStreams = 0
      return [.tearDownPath, .failQueuedStreams(reason: reason), .completeStart(succeeded: false)]

    case (.forwarding, .pathLost(let reason)):
      return backOff(attempt: 1, reason: reason)

    case (.backingOff(let attempt), .retryTimerFired):
      state = .connecting(attempt: attempt)
      return [.connect]

    case (.forwarding, .streamRequested):
      waitingStreams += 1
      return [.openStream]
    case (.idle, .streamRequested), (.connecting, .streamRequested):
      waitingStreams += 1
      return [.queueStream]
    case (.backingOff, .streamRequested):
      waitingStreams += 1
      // Only the first waiting stream changes the retry; the rest find it expedited already.
      return waitingStreams == 1 ? [.queueStream, .expediteRetry] : [.queueStream]
    case (.failed, .streamRequested):
      return [.refuseStream(reason: "the SSH path failed and is not being retried")]
    case (.stopped, .streamRequested):
      return [.refuseStream(reason: "the tunnel is stopping")]

    case (.stopped, .stopRequested):
      return []
    case (let previous, .stopRequested):
      state = .stopped
      waitingStreams = 0
      var actions: [Action] = [.cancelRetry, .tearDownPath, .failQueuedStreams(reason: "the tunnel is stopping")]
      if previous == .connecting(attempt: 0) || previous == .idle { actions.append(.completeStart(succeeded: false)) }
      return actions

    default:
      // Late or duplicate events (a timer firing after stop, a second loss report for a path
      // already torn down) change nothing.
      return []
    }
  }

  private mutating func backOff(attempt: Int, reason: String) -> [Action] {
    let delay = backoff.delay(attempt: attempt, unit: random.nextUnit())
    state = .backingOff(attempt: attempt)
    var actions: [Action] = [
      .tearDownPath, .announceReconnecting(attempt: attempt, delay: delay, reason: reason),
      .scheduleRetry(after: delay),
    ]
    if waitingStreams > 0 { actions.append(.expediteRetry) }
    return actions
  }
}
