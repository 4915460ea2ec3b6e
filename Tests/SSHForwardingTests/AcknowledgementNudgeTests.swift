import Testing

@testable import SSHForwarding

/// When a pump sends the 1-byte window-adjust "nudge" that carries a jump host's ACK to the server
/// behind it (`AcknowledgementNudge`), without sessions or sockets.
@Suite("AcknowledgementNudge")
struct AcknowledgementNudgeTests {
  @Test("behind a jump host, data read from the channel is answered with a nudge")
  func dataBehindJumpHost() {
    #expect(
      AcknowledgementNudge.shouldNudge(
        behindJumpHost: true, receivedData: true, windowGrew: false, sessionSending: false))
  }

  @Test("behind a jump host, a grown send window is answered with a nudge")
  func windowGrewBehindJumpHost() {
    #expect(
      AcknowledgementNudge.shouldNudge(
        behindJumpHost: true, receivedData: false, windowGrew: true, sessionSending: false))
  }

  @Test("nothing received and no window granted: no nudge")
  func nothingHappened() {
    #expect(
      !AcknowledgementNudge.shouldNudge(
        behindJumpHost: true, receivedData: false, windowGrew: false, sessionSending: false))
  }

  @Test("the first hop never nudges: its TCP socket is ours (TCP_QUICKACK)")
  func firstHop() {
    for received in [false, true] {
      for grew in [false, true] {
        #expect(
          !AcknowledgementNudge.shouldNudge(
            behindJumpHost: false, receivedData: received, windowGrew: grew, sessionSending: false))
      }
    }
  }

  @Test("output already waiting on the session carries the ACK: no extra packet")
  func sessionAlreadySending() {
    for received in [false, true] {
      for grew in [false, true] {
        #expect(
          !AcknowledgementNudge.shouldNudge(
            behindJumpHost: true, receivedData: received, windowGrew: grew, sessionSending: true))
      }
    }
  }
}
