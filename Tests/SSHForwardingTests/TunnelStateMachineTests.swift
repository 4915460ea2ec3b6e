import Testing
import TunnelCore

/// Table-driven: a sequence of events, the states visited and the actions asked for. No sockets, no clocks.
@Suite("TunnelStateMachine")
struct TunnelStateMachineTests {
  typealias M = TunnelStateMachine
  private let backoff = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(8), jitter: 0)

  private func run(_ events: [M.Event]) -> (states: [M.State], actions: [[M.Action]]) {
    var machine = M(backoff: backoff, seed: 1)
    var states: [M.State] = []
    var actions: [[M.Action]] = []
    for event in events {
      actions.append(machine.handle(event))
      states.append(machine.state)
    }
    return (states, actions)
  }

  @Test func initialConnectSucceeds() {
    let r = run([.start, .connected])
    #expect(r.states == [.connecting(attempt: 0), .forwarding])
    #expect(r.actions[0] == [.connect])
    #expect(r.actions[1] == [.completeStart(succeeded: true), .announceConnected, .openQueuedStreams])
  }

  @Test("the first failure is never retried, whatever its kind")
  func initialFailureIsFinal() {
    for retryable in [true, false] {
      let r = run([.start, .connectFailed(reason: "boom", retryable: retryable), .retryTimerFired])
      #expect(r.states == [.connecting(attempt: 0), .failed, .failed])
      #expect(r.actions[1] == [.tearDownPath, .failQueuedStreams(reason: "boom"), .completeStart(succeeded: false)])
      #expect(r.actions[2] == [])
    }
  }

  @Test("a lost path backs off exponentially, then reconnects and opens what waited")
  func lostPathReconnects() {
    let r = run([
      .start, .connected, .pathLost(reason: "eof"), .retryTimerFired,
      .connectFailed(reason: "refused", retryable: true), .retryTimerFired,
      .connectFailed(reason: "refused", retryable: true), .retryTimerFired, .connected,
    ])
    #expect(
      r.states == [
        .connecting(attempt: 0), .forwarding, .backingOff(attempt: 1), .connecting(attempt: 1), .backingOff(attempt: 2),
        .connecting(attempt: 2), .backingOff(attempt: 3), .connecting(attempt: 3), .forwarding,
      ])
    #expect(
      r.actions[2] == [
        .tearDownPath, .announceReconnecting(attempt: 1, delay: .seconds(1), reason: "eof"),
        .scheduleRetry(after: .seconds(1)),
      ])
    #expect(r.actions[4].contains(.scheduleRetry(after: .seconds(2))))
    #expect(r.actions[6].contains(.scheduleRetry(after: .seconds(4))))
    #expect(r.actions[8] == [.announceReconnected(attempts: 3), .openQueuedStreams])
  }

  @Test("a failure retrying cannot fix (changed host key) ends reconnecting")
  func permanentFailureDuringReconnect() {
    let r = run([
      .start, .connected, .pathLost(reason: "eof"), .retryTimerFired,
      .connectFailed(reason: "changed key", retryable: false),
    ])
    #expect(r.states.last == .failed)
    #expect(
      r.actions.last == [
        .tearDownPath, .failQueuedStreams(reason: "changed key"), .announceGaveUp(reason: "changed key"),
      ])
  }

  @Test("streams: opened when forwarding, queued while (re)connecting, refused when failed or stopped")
  func streamDecisions() {
    var m = M(backoff: backoff, seed: 1)
    #expect(m.handle(.streamRequested) == [.queueStream])
    _ = m.handle(.start)
    #expect(m.handle(.streamRequested) == [.queueStream])
    _ = m.handle(.connected)
    #expect(m.handle(.streamRequested) == [.openStream])
    _ = m.handle(.pathLost(reason: "x"))
    #expect(m.handle(.streamRequested) == [.queueStream])
    _ = m.handle(.stopRequested)
    #expect(m.handle(.streamRequested) == [.refuseStream(reason: "the tunnel is stopping")])
    var f = M(backoff: backoff, seed: 1)
    _ = f.handle(.start)
    _ = f.handle(.connectFailed(reason: "x", retryable: true))
    #expect(f.handle(.streamRequested) == [.refuseStream(reason: "the SSH path failed and is not being retried")])
  }

  @Test("stop: from connecting completes start; from backing off cancels the retry; twice is harmless")
  func stop() {
    var m = M(backoff: backoff, seed: 1)
    _ = m.handle(.start)
    #expect(
      m.handle(.stopRequested) == [
        .cancelRetry, .tearDownPath, .failQueuedStreams(reason: "the tunnel is stopping"),
        .completeStart(succeeded: false),
      ])
    #expect(m.handle(.stopRequested) == [])
    var b = M(backoff: backoff, seed: 1)
    _ = b.handle(.start)
    _ = b.handle(.connected)
    _ = b.handle(.pathLost(reason: "x"))
    #expect(
      b.handle(.stopRequested) == [.cancelRetry, .tearDownPath, .failQueuedStreams(reason: "the tunnel is stopping")])
    #expect(b.handle(.retryTimerFired) == [])
    #expect(b.state == .stopped)
  }

  @Test("the first stream to wait during a backoff expedites the retry; later ones find it expedited")
  func waitingStreamExpeditesRetry() {
    var m = M(backoff: backoff, seed: 1)
    _ = m.handle(.start)
    _ = m.handle(.connected)
    #expect(!m.handle(.pathLost(reason: "x")).contains(.expediteRetry))
    #expect(m.handle(.streamRequested) == [.queueStream, .expediteRetry])
    #expect(m.handle(.streamRequested) == [.queueStream])
    #expect(m.waitingStreams == 2)
    _ = m.handle(.streamResolved)
    _ = m.handle(.streamResolved)
    #expect(m.handle(.streamRequested) == [.queueStream, .expediteRetry])
  }

  @Test("streams still waiting when the path is lost expedite the retry; resolved ones no longer count")
  func lostPathWithWaitingStreams() {
    var m = M(backoff: backoff, seed: 1)
    _ = m.handle(.start)
    #expect(m.handle(.streamRequested) == [.queueStream])
    _ = m.handle(.connected)
    #expect(m.handle(.streamResolved) == [])
    #expect(m.handle(.streamRequested) == [.openStream])
    #expect(m.waitingStreams == 1)
    #expect(
      m.handle(.pathLost(reason: "eof")) == [
        .tearDownPath, .announceReconnecting(attempt: 1, delay: .seconds(1), reason: "eof"),
        .scheduleRetry(after: .seconds(1)), .expediteRetry,
      ])
    _ = m.handle(.retryTimerFired)
    #expect(m.handle(.connectFailed(reason: "refused", retryable: true)).last == .expediteRetry)
    _ = m.handle(.streamResolved)
    #expect(m.waitingStreams == 0)
    _ = m.handle(.retryTimerFired)
    #expect(m.handle(.connectFailed(reason: "refused", retryable: true)).last == .scheduleRetry(after: .seconds(4)))
  }

  @Test("failing the queued streams (failure, stop) empties the count; late resolutions change nothing")
  func failedStreamsAreNotCounted() {
    var m = M(backoff: backoff, seed: 1)
    _ = m.handle(.start)
    _ = m.handle(.streamRequested)
    _ = m.handle(.streamRequested)
    _ = m.handle(.connectFailed(reason: "x", retryable: true))
    #expect(m.waitingStreams == 0)
    #expect(m.handle(.streamResolved) == [])
    #expect(m.waitingStreams == 0)
    #expect(m.state == .failed)
    var s = M(backoff: backoff, seed: 1)
    _ = s.handle(.start)
    _ = s.handle(.connected)
    _ = s.handle(.streamRequested)
    _ = s.handle(.stopRequested)
    #expect(s.waitingStreams == 0)
    #expect(s.handle(.streamRequested) == [.refuseStream(reason: "the tunnel is stopping")])
    #expect(s.waitingStreams == 0)
  }

  @Test("late events change nothing")
  func lateEvents() {
    let r = run([.start, .connected, .connected, .retryTimerFired, .connectFailed(reason: "late", retryable: true)])
    #expect(r.states == [.connecting(attempt: 0), .forwarding, .forwarding, .forwarding, .forwarding])
    #expect(r.actions[2...].allSatisfy { $0.isEmpty })
  }
}

@Suite("ReconnectBackoff")
struct ReconnectBackoffTests {
  @Test func baseDelayDoublesUpToTheMaximum() {
    let b = ReconnectBackoff(initial: .milliseconds(250), maximum: .seconds(30))
    #expect(b.baseDelay(attempt: 1) == .milliseconds(250))
    #expect(b.baseDelay(attempt: 2) == .milliseconds(500))
    #expect(b.baseDelay(attempt: 5) == .seconds(4))
    #expect(b.baseDelay(attempt: 9) == .seconds(30))
    #expect(b.baseDelay(attempt: 1000) == .seconds(30))
  }

  @Test("jitter stays within [base × (1 − jitter), base] and actually varies")
  func jitterBounds() {
    let b = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(60), jitter: 0.5)
    var random = SplitMix64(seed: 7)
    var seen: Set<Duration> = []
    for attempt in 1...8 {
      for _ in 0..<50 {
        let d = b.delay(attempt: attempt, unit: random.nextUnit())
        let base = b.baseDelay(attempt: attempt)
        #expect(d >= base / 2 && d <= base)
        seen.insert(d)
      }
    }
    #expect(seen.count > 100)
    #expect(b.delay(attempt: 3, unit: 0) == .seconds(2))
    #expect(b.delay(attempt: 3, unit: 1) == .seconds(4))
  }

  @Test func sameSeedSameDelays() {
    var a = TunnelStateMachine(seed: 5)
    var b = TunnelStateMachine(seed: 5)
    for m in [0, 1] {
      _ = m == 0 ? a.handle(.start) : b.handle(.start)
      _ = m == 0 ? a.handle(.connected) : b.handle(.connected)
    }
    #expect(a.handle(.pathLost(reason: "x")) == b.handle(.pathLost(reason: "x")))
  }
}
