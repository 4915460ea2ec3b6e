import CLibSSH2
import Foundation
import Synchronization
import TunnelCore

/// The relay thread of a tunnel with jump hops: once the whole route is up, the sessions of the
/// jump hops (hop 1 … n−1, each carrying nothing but the channel that bridges the next hop's session
/// to its socketpair) are driven by a thread of their own, so the crypto of the outer hops and of
/// the last hop run on two cores (`ssh -J` gets the same from one process per hop).
///
/// Ownership of every libssh2 handle is with exactly one thread at any time:
/// * Until the last hop is ready, the main I/O thread (`ForwardingLoop`) owns every hop: connecting,
///   host keys, login and opening the bridge channels stay there.
/// * `start` hands the jump hops (their `HopConnection`s: session, socket, buffers) and the
///   `ChannelPump`s of the bridge channels to the relay thread. From then on the main loop touches
///   only the last hop and its stream pumps; the relay only its hops and pumps. Thread creation
///   orders everything the main thread did before it (happens-before).
/// * `stopAndJoin` (teardown, reconnect, stop) tells the relay to stop and waits for the thread to
///   exit; then every object is the main thread's again, and the main loop tears the path down as
///   it did before the hand-over. The relay never frees a session itself.
/// * A failure the relay sees (a hop's connection closed, a session error, keepalives unanswered)
///   is published in `RelayLink` with the message the main loop would have produced, the relay
///   stops touching its sessions and exits, and the main loop is woken through its mailbox's
///   eventfd; it treats the message as a lost path (reconnect, events and exit codes as before).
///
/// Not Sendable: confined to the main thread before `start` and after `stopAndJoin`, to the relay
/// thread in between; only `link` is shared.
final class HopRelay {
  /// Jump hops 0 ..< count−1 of the route, in order.
  private let hops: [HopConnection]
  /// The bridge channels' pumps; each runs on `hops[pump.hopIndex]`.
  private var pumps: [ChannelPump]
  /// Every hop's label, the last hop's included (a bridge pump reports about the hop it carries).
  private let labels: [String]
  private let keepalives: [Duration]
  private let keepaliveCountMax: Int
  private let mainMailbox: ForwarderMailbox
  let link: RelayLink
  private let scratch: UnsafeMutableRawBufferPointer
  private var running = false

  /// Relay stack: a poll() loop and libssh2/OpenSSL calls, no deep recursion.
  static let stackSize = 256 * 1024

  /// How many of `hopCount` hops a relay takes: every hop but the last, when there are jump hops.
  static func relayedHopCount(hopCount: Int) -> Int { hopCount >= 2 ? hopCount - 1 : 0 }

  /// - Parameters:
  ///   - hops: every hop of the route (all ready); the relay takes all but the last.
  ///   - pumps: the bridge channels' pumps (role `.transport`).
  init(
    hops: [HopConnection], pumps: [ChannelPump], keepalives: [Duration], keepaliveCountMax: Int,
    readBufferSize: Int, mainMailbox: ForwarderMailbox
  ) throws(SSHError) {
    let relayed = Self.relayedHopCount(hopCount: hops.count)
    self.hops = Array(hops.prefix(relayed))
    self.pumps = pumps
    labels = hops.map(\.label)
    self.keepalives = Array(keepalives.prefix(relayed))
    self.keepaliveCountMax = keepaliveCountMax
    self.mainMailbox = mainMailbox
    link = try RelayLink()
    scratch = .allocate(byteCount: readBufferSize, alignment: 16)
  }

  deinit { scratch.deallocate() }

  // MARK: hand-over (main thread)

  /// Starts the relay thread; the relay's hops and pumps are its own from here until `stopAndJoin`.
  func start() {
    running = true
    let handover = Handover(relay: .passUnretained(self))
    let link = self.link
    let thread = Thread {
      handover.relay.takeUnretainedValue().run()
      // The last use of the relay: once the main thread sees this, it may release it.
      link.markExited()
    }
    thread.name = "mcp-tunnel-relay"
    thread.stackSize = Self.stackSize
    thread.start()
  }

  /// Stops the relay thread and waits until it has exited; returns the bridge pumps, which belong
  /// to the calling (main) thread again, as do the relayed hops.
  func stopAndJoin() -> [ChannelPump] {
    if running {
      link.requestStop()
      link.waitUntilExited()
      running = false
    }
    return pumps
  }

  /// Carries the relay to its thread, the one place it crosses threads (see the type's ownership
  /// rules). Unretained, so that the thread never holds the last reference to a hop or channel: the
  /// main thread keeps the relay alive until `stopAndJoin` has returned. The thread retains only
  /// the Sendable `link`.
  private struct Handover: @unchecked Sendable {
    let relay: Unmanaged<HopRelay>
  }

  // MARK: the relay thread

  private func run() {
    var fds: [pollfd] = []
    var owners: [Int] = []  // -1: the link's eventfd, -2: a pump's socket, else a hop index
    while link.relayShouldRun {
      var progressed = false
      for _ in 0..<32 {
        let received = bytesReceived
        let moved = pass()
        if !link.relayShouldRun { return }
        if !moved && received == bytesReceived { break }
        progressed = true
      }
      checkKeepalives(now: .now)
      if !link.relayShouldRun { return }

      fds.removeAll(keepingCapacity: true)
      owners.removeAll(keepingCapacity: true)
      fds.append(pollfd(fd: link.wakeDescriptor, events: Int16(POLLIN), revents: 0))
      owners.append(-1)
      for (i, hop) in hops.enumerated() where hop.descriptor >= 0 {
        let events = hop.pollEvents(hasWork: pumps.willRead(hop: i))
        if events != 0 {
          fds.append(pollfd(fd: hop.descriptor, events: events, revents: 0))
          owners.append(i)
        }
      }
      for pump in pumps where pump.descriptor >= 0 {
        var events = pump.localEvents
        if hops[pump.hopIndex].transport.hasOutputBacklog { events &= ~Int16(POLLIN) }
        if events != 0 {
          fds.append(pollfd(fd: pump.descriptor, events: events, revents: 0))
          owners.append(-2)
        }
      }
      let timeout = progressed ? 0 : pollTimeout(now: .now)
      // off-pool: runs on the tunnel's relay thread
      let ready = poll(&fds, nfds_t(fds.count), timeout)
      if ready <= 0 { continue }
      for (index, fd) in fds.enumerated() where fd.revents != 0 {
        let owner = owners[index]
        if owner == -1 {
          link.clearWake()
        } else if owner >= 0 {
          let hop = hops[owner]
          if !pumps.willRead(hop: owner) && !hop.transport.drainIdleSocket() {
            fail("\(hop.label): connection closed by the server")
            return
          }
        }
      }
    }
  }

  private var bytesReceived: UInt64 { hops.reduce(UInt64(0)) { $0 &+ $1.transport.bytesReceived } }

  /// One pass over the relay's hops and pumps (as `ForwardingLoop.pass` does for its own).
  private func pass() -> Bool {
    var moved = false
    for hop in hops where hop.descriptor >= 0 && hop.transport.outputPending > 0 {
      let before = hop.transport.outputPending
      if !hop.transport.flushOutput() {
        fail("\(hop.label): connection lost while sending")
        return true
      }
      if hop.transport.outputPending != before { moved = true }
    }
    for pump in pumps where !pump.isFinished {
      let mayWrite = !hops[pump.hopIndex].transport.hasOutputBacklog
      let (progress, outcome) = pump.pump(scratch: scratch, mayWrite: mayWrite)
      moved = moved || progress
      switch outcome {
      case .running: break
      case .finished:
        if case .transport(let hopIndex) = pump.role {
          fail("\(label(hopIndex)): the tunnel to it through the previous hop closed")
          return true
        }
      case .sessionFailed(let reason):
        fail("\(label(pump.hopIndex)): \(reason)")
        return true
      }
    }
    for hop in hops where hop.descriptor >= 0 && hop.transport.outputPending > 0 {
      if !hop.transport.flushOutput() {
        fail("\(hop.label): connection lost while sending")
        return true
      }
    }
    return moved
  }

  private func label(_ hopIndex: Int) -> String {
    hopIndex < labels.count ? labels[hopIndex] : "hop \(hopIndex + 1)"
  }

  private func checkKeepalives(now: ContinuousClock.Instant) {
    for (i, hop) in hops.enumerated() {
      if let reason = hop.checkKeepalive(now: now, interval: keepalives[i], countMax: keepaliveCountMax) {
        fail(reason)
        return
      }
    }
  }

  private func pollTimeout(now: ContinuousClock.Instant) -> Int32 {
    let deadlines = hops.enumerated().compactMap { $1.nextKeepaliveCheck(interval: keepalives[$0]) }
    return ForwardingLoop.pollTimeout(until: deadlines.min(), now: now)
  }

  /// Publishes the failure and wakes the main loop; the caller returns from `run` at once.
  private func fail(_ reason: String) {
    SSHTrace.log("relay: \(reason)")
    if link.reportFailure(reason) { mainMailbox.wake() }
  }
}

/// The state shared between the main I/O thread and its relay thread: a `RelayControl` under a
/// lock, the eventfd that wakes the relay's poll(), and the one that says it has exited.
final class RelayLink: Sendable {
  let wakeDescriptor: Int32
  private let exitDescriptor: Int32
  private let control = Mutex(RelayControl())

  init() throws(SSHError) {
    let wake = mcp_tunnel_wake_eventfd()
    let exit = mcp_tunnel_wake_eventfd()
    guard wake >= 0, exit >= 0 else {
      let reason = String(cString: strerror(errno))
      if wake >= 0 { Glibc.close(wake) }
      if exit >= 0 { Glibc.close(exit) }
      throw SSHError(.internalError, "eventfd failed: \(reason)")
    }
    wakeDescriptor = wake
    exitDescriptor = exit
  }

  deinit {
    Glibc.close(wakeDescriptor)
    Glibc.close(exitDescriptor)
  }

  var state: RelayControl { control.withLock { $0 } }
  var relayShouldRun: Bool { control.withLock { $0.relayShouldRun } }
  /// The failure the relay reported, if any (read by the main loop).
  var failure: String? { control.withLock { $0.failure } }

  func reportFailure(_ reason: String) -> Bool { control.withLock { $0.relayFailed(reason) } }

  func requestStop() {
    control.withLock { $0.requestStop() }
    Self.signal(wakeDescriptor)
  }

  func clearWake() {
    var value: UInt64 = 0
    // off-pool: the eventfd is non-blocking; read on the tunnel's relay thread
    _ = read(wakeDescriptor, &value, 8)
  }

  /// The relay thread's last act.
  func markExited() {
    control.withLock { $0.relayExited() }
    Self.signal(exitDescriptor)
  }

  /// Blocks the calling (main I/O) thread until the relay has exited.
  func waitUntilExited() {
    while !control.withLock({ $0.hasExited }) {
      var fd = pollfd(fd: exitDescriptor, events: Int16(POLLIN), revents: 0)
      // off-pool: runs on the tunnel's I/O thread, waiting for its relay thread to end
      _ = poll(&fd, 1, -1)
    }
  }

  private static func signal(_ fd: Int32) {
    var one: UInt64 = 1
    _ = write(fd, &one, 8)
  }
}

/// Where a relay thread is, as both threads see it (kept in `RelayLink` under its lock).
///
/// ```
/// running ─relay: relayFailed(reason)─▶ running + failure ─relay exits─▶ exited + failure
///    └──main: requestStop──▶ stopping ─relay exits─▶ exited
/// ```
/// The relay works its sessions only while `relayShouldRun`. The main loop treats `failure` as a
/// lost path; it takes the relayed hops back only once `hasExited`.
struct RelayControl: Equatable, Sendable {
  enum Phase: Equatable, Sendable {
    case running
    case stopping
    case exited
  }

  private(set) var phase: Phase = .running
  /// The first failure the relay saw, worded as the main loop would have worded it.
  private(set) var failure: String?

  var relayShouldRun: Bool { phase == .running && failure == nil }
  var hasExited: Bool { phase == .exited }

  /// Records the relay's failure. Only the first counts, and none once a stop was requested (the
  /// teardown's own errors are not the path's). Returns whether it was recorded (then wake the main loop).
  mutating func relayFailed(_ reason: String) -> Bool {
    guard phase == .running, failure == nil else { return false }
    failure = reason
    return true
  }

  mutating func requestStop() {
    if phase == .running { phase = .stopping }
  }

  mutating func relayExited() {
    phase = .exited
  }
}
