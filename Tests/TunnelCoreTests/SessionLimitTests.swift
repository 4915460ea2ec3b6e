import Foundation
import MCPTunnelTestSupport
import Synchronization
import Testing
import TunnelCore

/// `session.max_duration` and `session.idle_timeout` (SPEC §10) in `TunnelRuntime`, against twins
/// and a clock the test moves by hand: every sleep the runtime asks for returns only when the test
/// releases it, so nothing here waits for real time.
@Suite("session limits (twins, manual clock)", .timeLimit(.minutes(5)))
struct SessionLimitTests {
  typealias Events = TunnelRuntimeTests.Events

  let events = Events()
  let clock = ManualClock()
  let sleeper = GatedSleeper()
  let audit = InMemoryAuditSink()

  func runtime(_ limits: SessionLimits, mode: ListenMode, frontEnd: InMemoryFrontEnd? = nil) -> TunnelRuntime {
    let events = self.events
    let clock = self.clock
    let sleeper = self.sleeper
    let profile = Profile(
      name: "lab", ssh: SSHSettings(target: HostPort(host: "127.0.0.1", port: 8080)), limits: limits)
    return TunnelRuntime(
      settings: TunnelRuntime.Settings(
        profile: profile, sessionID: "s1", subject: nil, hops: ["a@127.0.0.1:2201"],
        tokenFingerprint: { _ in "sha256:test" }),
      services: TunnelRuntime.Services(
        forwarder: InMemoryPortForwarder(), frontEnd: frontEnd ?? InMemoryFrontEnd(mode: mode), audit: audit),
      now: { clock.now }, sleep: { try await sleeper.sleep($0) }, onEvent: { events.yield($0) })
  }

  func ready() async -> TunnelRuntime.Ready? {
    await events.first { if case .ready(let r) = $0 { r } else { nil } }
  }

  func warning() async -> (SessionLimit, Date)? {
    await events.first { if case .sessionEnding(let l, let d) = $0 { (l, d) } else { nil } }
  }

  func stopped() async -> String? {
    await events.first { if case .stopped(let r) = $0 { r } else { nil } }
  }

  /// Moves the clock while the runtime sleeps (its `count`-th sleep), then lets it wake.
  func wake(after seconds: TimeInterval, sleeps count: Int) async throws {
    try await sleeper.waitForRequests(count)
    #expect(sleeper.requested.count == count)
    clock.advance(seconds)
    sleeper.release()
  }

  @Test("max_duration: ready shows the end, one warning at half the limit, then a clean stop naming the limit")
  func maxDurationWarnsThenEnds() async throws {
    let start = clock.now
    let runtime = runtime(SessionLimits(maxDuration: .seconds(20)), mode: .tcp)
    let run = Task { try await runtime.run() }
    let ready = try #require(await ready())
    #expect(ready.endsAt == start.addingTimeInterval(20) && ready.idleEndsAt == nil)
    let status = await runtime.status()
    #expect(status.endsAt == Timestamp.string(start.addingTimeInterval(20)) && status.idleEndsAt == nil)

    try await wake(after: 10, sleeps: 1)
    #expect(sleeper.requested.first == .seconds(10), "20 s limit: the warning comes at half of it")
    let warned = try #require(await warning())
    #expect(warned.0 == .maxDuration && warned.1 == start.addingTimeInterval(20))
    try await wake(after: 10, sleeps: 2)
    try await run.value  // no error: exit 0
    #expect(await stopped() == "max_duration")
    let down = try #require(audit.events(of: .tunnelDown).first)
    #expect(down.detail == "max_duration" && down.outcome == .ok)
  }

  @Test("a long max_duration warns 5 minutes before its end")
  func longLimitWarnsFiveMinutesBefore() async throws {
    let runtime = runtime(SessionLimits(maxDuration: .seconds(12 * 3600)), mode: .tcp)
    let run = Task { try await runtime.run() }
    _ = try #require(await ready())
    try await sleeper.waitForRequests(1)
    #expect(sleeper.requested.first == .seconds(12 * 3600 - 300))
    runtime.end(.signal("SIGTERM"))
    sleeper.release()
    try await run.value
    #expect(await stopped() == "SIGTERM")
  }

  @Test("idle_timeout: a call moves the end; the warning names the moved end; the stop names idle_timeout")
  func idleTimeoutResetsOnACall() async throws {
    let start = clock.now
    let frontEnd = InMemoryFrontEnd(mode: .http)
    let runtime = runtime(SessionLimits(maxDuration: .zero, idleTimeout: .seconds(10)), mode: .http, frontEnd: frontEnd)
    let run = Task { try await runtime.run() }
    let ready = try #require(await ready())
    #expect(ready.endsAt == nil && ready.idleEndsAt == start.addingTimeInterval(10))

    try await wake(after: 4, sleeps: 1)
    try await sleeper.waitForRequests(2)
    // A call at +4 s: the session now ends at +14 s.
    frontEnd.finish(
      ProxyRequestRecord(
        method: "POST", path: "/mcp", status: 200, duration: .milliseconds(3), answeredBy: .upstream, completed: true))
    #expect(await runtime.status().idleEndsAt == Timestamp.string(start.addingTimeInterval(14)))
    clock.advance(6)  // +10 s: the old end, now past the new warning point (+9 s)
    sleeper.release()
    let warned = try #require(await warning())
    #expect(warned.0 == .idleTimeout && warned.1 == start.addingTimeInterval(14))
    try await wake(after: 4, sleeps: 3)
    try await run.value
    #expect(await stopped() == "idle_timeout")
    #expect(audit.events(of: .tunnelDown).first?.detail == "idle_timeout")
  }

  @Test("0s for both: no end in ready or status, no timer, only a signal stops it")
  func zeroNeverEnds() async throws {
    let runtime = runtime(SessionLimits(maxDuration: .zero, idleTimeout: .zero), mode: .tcp)
    let run = Task { try await runtime.run() }
    let ready = try #require(await ready())
    #expect(ready.endsAt == nil && ready.idleEndsAt == nil)
    let status = await runtime.status()
    #expect(status.endsAt == nil && status.idleEndsAt == nil)
    runtime.end(.signal("SIGINT"))
    try await run.value
    #expect(await stopped() == "SIGINT")
    #expect(sleeper.requested.isEmpty)
  }
}
