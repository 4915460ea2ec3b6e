import Testing

@testable import SSHForwarding

/// The close states of a `ChannelPump`, without sockets or channels.
@Suite("ChannelCloseState")
struct ChannelCloseStateTests {
  typealias S = ChannelCloseState

  @Test("each direction half-closes on its own; the channel closes only when both have")
  func halfCloseThenClose() {
    var s = S.fresh
    s.settle(up: .localEOF, down: .open)
    #expect(s == .open(up: .localEOF, down: .open))
    s.settle(up: .eofSent, down: .open)
    #expect(s == .open(up: .eofSent, down: .open))
    s.settle(up: .eofSent, down: .remoteEOF)
    #expect(s == .open(up: .eofSent, down: .remoteEOF))
    s.settle(up: .eofSent, down: .localWriteShut)
    #expect(s == .closing)
  }

  @Test("the channel → local half may finish first")
  func downFinishesFirst() {
    var s = S.fresh
    s.settle(up: .open, down: .localWriteShut)
    #expect(s == .open(up: .open, down: .localWriteShut))
    s.settle(up: .eofSent, down: .localWriteShut)
    #expect(s == .closing)
  }

  @Test("an abort closes from any open state and wins over the pass's later progress")
  func abortWins() {
    for up in [S.Up.open, .localEOF, .eofSent] {
      for down in [S.Down.open, .remoteEOF, .localWriteShut] {
        var s = S.open(up: up, down: down)
        s.abort()
        #expect(s == .closing)
        s.settle(up: .localEOF, down: .open)
        #expect(s == .closing)
      }
    }
  }

  @Test("closed is final: neither progress nor an abort reopens it")
  func closedIsFinal() {
    var s = S.closed
    s.settle(up: .open, down: .open)
    #expect(s == .closed)
    s.abort()
    #expect(s == .closed)
  }

  @Test("the local socket is read only until its EOF, and not once closing")
  func readsLocalInput() {
    #expect(S.fresh.readsLocalInput)
    #expect(S.open(up: .open, down: .localWriteShut).readsLocalInput)
    #expect(!S.open(up: .localEOF, down: .open).readsLocalInput)
    #expect(!S.open(up: .eofSent, down: .open).readsLocalInput)
    #expect(!S.closing.readsLocalInput)
    #expect(!S.closed.readsLocalInput)
  }
}
