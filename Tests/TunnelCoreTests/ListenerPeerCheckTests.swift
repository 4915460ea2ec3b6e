import Foundation
import MCPTunnelTestSupport
import Synchronization
import Testing
import TunnelCore

/// `listen.peers` (SPEC §5) with the look-up twin: who is let in, what a refusal leaves behind
/// (count, audit record with the uid, one event per uid), and that every failure fails closed. The
/// live look-up against real sockets is `SocketDiagPeerLookupTests`; another real uid against the
/// built binary is in the lab suites.
@Suite("listener peer check (twins)", .timeLimit(.minutes(2)))
struct ListenerPeerCheckTests {
  static let owner: UInt32 = 1000
  static let listen = HostPort(host: "127.0.0.1", port: 7700)
  let lookup = InMemoryPeerCredentialLookup()

  func client(_ port: Int) -> HostPort { HostPort(host: "127.0.0.1", port: port) }
  func connection(_ port: Int) -> AcceptedConnection { AcceptedConnection(local: Self.listen, remote: client(port)) }

  /// Every denial the observer heard, in order.
  final class Denials: Sendable {
    private let list = Mutex<[ListenerPeerCheck.Denial]>([])
    func append(_ denial: ListenerPeerCheck.Denial) { list.withLock { $0.append(denial) } }
    var all: [ListenerPeerCheck.Denial] { list.withLock { $0 } }
  }

  func check(_ policy: ListenPeers = .sameUser) -> (ListenerPeerCheck, Denials) {
    let check = ListenerPeerCheck(policy: policy, ownerUID: Self.owner, lookup: lookup)
    let denials = Denials()
    check.observeDenials { denials.append($0) }
    return (check, denials)
  }

  @Test(
    "same-user: the owner's connections are let in; another uid's are refused, counted, each reported, the first per uid marked"
  )
  func sameUser() {
    let (check, denials) = check()
    lookup.set(.uid(Self.owner), forClient: client(40001))
    lookup.set(.uid(65534), forClient: client(40002))
    lookup.set(.uid(65534), forClient: client(40003))
    lookup.set(.uid(0), forClient: client(40004))
    #expect(check.admits(connection(40001)))
    #expect(!check.admits(connection(40002)))
    #expect(!check.admits(connection(40003)))
    #expect(!check.admits(connection(40004)))
    #expect(check.admits(connection(40001)))
    #expect(check.deniedConnections == 3)
    #expect(denials.all.map(\.peerUID) == [65534, 65534, 0])
    #expect(denials.all.map(\.isFirstOfItsKind) == [true, false, true], "one line per uid, not per connection")
    #expect(denials.all.first?.connection == connection(40002))
    #expect(denials.all.first?.explanation.contains("uid 65534") == true)
  }

  @Test("fail closed: a peer not found and a failing look-up are refused and counted, each kind reported first once")
  func failClosed() {
    let (check, denials) = check()
    #expect(!check.admits(connection(40010)), "unknown peer")
    #expect(!check.admits(connection(40011)))
    lookup.failWith(CoreError(.internalError, "no netlink here"))
    #expect(!check.admits(connection(40012)))
    #expect(!check.admits(connection(40013)))
    #expect(check.deniedConnections == 4)
    #expect(
      denials.all.map(\.reason) == [
        .peerNotFound, .peerNotFound, .lookupFailed("no netlink here"), .lookupFailed("no netlink here"),
      ])
    #expect(denials.all.map(\.isFirstOfItsKind) == [true, false, true, false])
    #expect(denials.all.allSatisfy { $0.peerUID == nil })
  }

  @Test("a peer that already closed is dropped quietly: not served, not counted as a denial, not reported")
  func closedPeer() {
    let (check, denials) = check()
    lookup.set(.closed, forClient: client(40020))
    #expect(!check.admits(connection(40020)))
    #expect(check.deniedConnections == 0 && check.droppedClosedPeers == 1)
    #expect(denials.all.isEmpty)
  }

  @Test("any-local-user: everyone is let in and nothing is looked up")
  func anyLocalUser() {
    let (check, denials) = check(.anyLocalUser)
    lookup.set(.uid(65534), forClient: client(40030))
    lookup.failWith(CoreError(.internalError, "would fail"))
    #expect(check.admits(connection(40030)))
    #expect(check.admits(connection(40031)))
    #expect(lookup.lookups.isEmpty && denials.all.isEmpty && check.deniedConnections == 0)
  }

  // MARK: through the runtime

  final class Events: Sendable {
    private let list = Mutex<[TunnelRuntime.Event]>([])
    func append(_ event: TunnelRuntime.Event) { list.withLock { $0.append(event) } }
    var denials: [ListenerPeerCheck.Denial] {
      list.withLock { $0 }.compactMap { if case .peerDenied(let d) = $0 { d } else { nil } }
    }
  }

  @Test(
    "runtime: each refused connection is audited as denied with the peer's uid (no actor); an event only for the first of each uid; status counts them",
    arguments: [ListenMode.http, .tcp])
  func runtime(mode: ListenMode) async throws {
    let check = ListenerPeerCheck(policy: .sameUser, ownerUID: Self.owner, lookup: lookup)
    let frontEnd = InMemoryFrontEnd(mode: mode, peerCheck: check)
    let audit = InMemoryAuditSink()
    let events = Events()
    let (ready, readyContinuation) = AsyncStream.makeStream(of: Void.self)
    let runtime = TunnelRuntime(
      settings: TunnelRuntime.Settings(
        profile: Profile(name: "lab", ssh: SSHSettings(target: HostPort(host: "127.0.0.1", port: 8080))),
        sessionID: "s1", subject: "dev1", hops: [], tokenFingerprint: { _ in "sha256:test" }),
      services: TunnelRuntime.Services(forwarder: InMemoryPortForwarder(), frontEnd: frontEnd, audit: audit),
      onEvent: { event in
        events.append(event)
        if case .ready = event { readyContinuation.yield() }
      })
    let run = Task {
      defer { readyContinuation.finish() }
      try await runtime.run()
    }
    // `ready` is the runtime's last start step: the observer is installed before it.
    for await _ in ready { break }

    lookup.set(.uid(Self.owner), forClient: client(41000))
    lookup.set(.uid(65534), forClient: client(41001))
    lookup.set(.uid(65534), forClient: client(41002))
    lookup.set(.uid(33), forClient: client(41003))
    #expect(frontEnd.accept(from: client(41000)))
    #expect(!frontEnd.accept(from: client(41001)))
    #expect(!frontEnd.accept(from: client(41002)))
    #expect(!frontEnd.accept(from: client(41003)))

    let denied = audit.events(of: .denied)
    #expect(denied.map(\.peerUID) == [65534, 65534, 33])
    #expect(denied.allSatisfy { $0.outcome == .denied && $0.actor == nil && $0.session == "s1" })
    #expect(denied.first?.detail?.contains("127.0.0.1:41001") == true, "\(denied)")
    #expect(events.denials.map(\.peerUID) == [65534, 33], "one event per uid")
    let status = await runtime.status()
    #expect(status.counters.denied == 3 && status.peers == "same-user")

    runtime.end(.signal("SIGTERM"))
    try await run.value
  }
}
