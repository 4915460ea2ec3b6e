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
  }

  public enum Action: Sendable, Equatable {
    /// Start connecting every hop.
    case connect
    /// Close every channel and session of the current (dead or abandoned) path.
    case tearDownPath
    case scheduleRetry(after: Duration)
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
  public let backoff: ReconnectBackoff
  private var random: SplitMix64

  public init(backoff: ReconnectBackoff = ReconnectBackoff(), seed: UInt64) {
    self.backoff = backoff
    random = SplitMix64(seed: seed)
  }

  public mutating func handle(_ event: Event) -> [Action] {
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
      return [.tearDownPath, .failQueuedStreams(reason: reason), .completeStart(succeeded: false)]

    case (.connecting(let attempt), .connectFailed(let reason, let retryable)):
      guard retryable else {
        state = .failed
        return [.tearDownPath, .failQueuedStreams(reason: reason), .announceGaveUp(reason: reason)]
      }
      return backOff(attempt: attempt + 1, reason: reason)

    case (.connecting(let attempt), .pathLost(let reason)) where attempt > 0:
      return backOff(attempt: attempt + 1, reason: reason)
    case (.connecting(0), .pathLost(let reason)):
      state = .failed
      return [.tearDownPath, .failQueuedStreams(reason: reason), .completeStart(succeeded: false)]

    case (.forwarding, .pathLost(let reason)):
      return backOff(attempt: 1, reason: reason)

    case (.backingOff(let attempt), .retryTimerFired):
      state = .connecting(attempt: attempt)
      return [.connect]

    case (.forwarding, .streamRequested):
      return [.openStream]
    case (.idle, .streamRequested), (.connecting, .streamRequested), (.backingOff, .streamRequested):
      return [.queueStream]
    case (.failed, .streamRequested):
      return [.refuseStream(reason: "the SSH path failed and is not being retried")]
    case (.stopped, .streamRequested):
      return [.refuseStream(reason: "the tunnel is stopping")]

    case (.stopped, .stopRequested):
      return []
    case (let previous, .stopRequested):
      state = .stopped
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
    return [
      .tearDownPath, .announceReconnecting(attempt: attempt, delay: delay, reason: reason),
      .scheduleRetry(after: delay),
    ]
  }
}
