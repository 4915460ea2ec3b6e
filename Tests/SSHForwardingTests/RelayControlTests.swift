import Testing

@testable import SSHForwarding

@Suite("RelayControl and the relay's share of the hops")
struct RelayControlTests {
  @Test("a relay runs until told to stop, then exits; the main thread takes over only after the exit")
  func stopThenExit() {
    var control = RelayControl()
    #expect(control.relayShouldRun && !control.hasExited)
    control.requestStop()
    #expect(!control.relayShouldRun && !control.hasExited && control.failure == nil)
    control.requestStop()
    #expect(control.phase == .stopping)
    control.relayExited()
    #expect(control.hasExited && control.failure == nil)
  }

  @Test("the first failure is kept and stops the relay; later ones do not replace it")
  func firstFailureWins() {
    var control = RelayControl()
    let first = control.relayFailed("hop 1/2 a@b:22: connection closed by the server")
    #expect(first && !control.relayShouldRun)
    let second = control.relayFailed("hop 2/2 c@d:22: the tunnel to it through the previous hop closed")
    #expect(!second)
    #expect(control.failure == "hop 1/2 a@b:22: connection closed by the server")
    control.relayExited()
    control.requestStop()
    #expect(control.hasExited && control.failure == "hop 1/2 a@b:22: connection closed by the server")
  }

  @Test("errors while stopping are the teardown's, not the path's: not reported")
  func noFailureAfterStop() {
    var control = RelayControl()
    control.requestStop()
    let recorded = control.relayFailed("hop 1/2 a@b:22: connection lost while sending")
    #expect(!recorded)
    control.relayExited()
    #expect(control.failure == nil)
  }

  @Test("every hop but the last is relayed when there are jump hops; a single hop stays on the main thread")
  func relayedHops() {
    #expect(HopRelay.relayedHopCount(hopCount: 0) == 0)
    #expect(HopRelay.relayedHopCount(hopCount: 1) == 0)
    #expect(HopRelay.relayedHopCount(hopCount: 2) == 1)
    #expect(HopRelay.relayedHopCount(hopCount: 4) == 3)
  }
}
