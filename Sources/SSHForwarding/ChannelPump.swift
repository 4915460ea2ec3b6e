import CLibSSH2
import Foundation

/// Moves bytes between one `direct-tcpip` channel and one local stream socket, both ways, with
/// SSH flow control, partial writes and half-close.
///
/// * local → channel: read the socket only when nothing is pending for the channel; write until
///   libssh2 says EAGAIN (socket full or window exhausted), keep the rest; after the local EOF and
///   once everything is written, send the channel EOF.
/// * channel → local: read the channel only when nothing is pending for the socket (so the SSH
///   window is adjusted only as fast as the local side drains); on channel EOF, `shutdown(SHUT_WR)`
///   the socket once everything is written.
/// * Both directions finished, or an error on either side: close the channel (waiting for the
///   peer's CLOSE without blocking), free it, close the socket.
///
/// libssh2 lets only one packet be half-sent per session: while another channel's packet is stuck,
/// writes here return `LIBSSH2_ERROR_BAD_USE`; that is treated like EAGAIN.
///
/// Confined to the thread that owns its hop (the I/O thread, or the relay thread for a bridge
/// channel once the route is up: see `HopRelay`). Owns `descriptor` (closed in `finish`) and the channel.
final class ChannelPump {
  enum Role {
    /// A client stream to `ssh.target`.
    case stream
    /// The transport of hop `index` (the socketpair end bridged to this channel).
    case transport(hopIndex: Int)
  }

  enum Outcome {
    case running
    case finished
    /// The channel failed because its session did: the whole hop is dead.
    case sessionFailed(String)
  }

  let role: Role
  /// The hop whose session carries this channel.
  let hopIndex: Int
  /// That hop, for its transport's output backlog (flow control).
  private let hop: HopConnection
  private(set) var channel: ChannelHandle?
  private(set) var descriptor: Int32
  private var upPending: [UInt8] = []
  private var upOffset = 0
  private var downPending: [UInt8] = []
  private var downOffset = 0
  private(set) var closeState: ChannelCloseState = .fresh
  var isFinished: Bool { closeState == .closed }
  /// Waiting for the local socket to accept more bytes.
  private var wantsLocalWrite = false

  /// Our send window as last seen, to notice the peer's WINDOW_ADJUST (see `nudgeIfNeeded`).
  private var lastSendWindow: UInt = 0
  private(set) var bytesUp: UInt64 = 0
  private(set) var bytesDown: UInt64 = 0

  init(role: Role, hop: HopConnection, channel: ChannelHandle, descriptor: Int32) {
    self.role = role
    self.hopIndex = hop.index
    self.hop = hop
    self.channel = channel
    self.descriptor = descriptor
  }

  deinit { finish() }

  /// poll() events for the local socket.
  var localEvents: Int16 {
    guard !isFinished, descriptor >= 0 else { return 0 }
    var events: Int16 = 0
    if closeState.readsLocalInput && upPending.count == upOffset { events |= Int16(POLLIN) }
    if wantsLocalWrite { events |= Int16(POLLOUT) }
    return events
  }

  /// Moves as many bytes as can move now. `scratch` is the loop's shared read buffer.
  /// Returns whether anything happened (bytes moved or state changed) and the outcome.
  /// `mayWrite` is false while the hop's session has an output backlog: then nothing new is
  /// written to the channel (EOF and CLOSE, which are tiny, still go).
  func pump(scratch: UnsafeMutableRawBufferPointer, mayWrite: Bool) -> (progress: Bool, outcome: Outcome) {
    guard !isFinished, let channel else { return (false, .finished) }
    var progress = false
    if case .open(var up, var down) = closeState {
      let downBefore = bytesDown
      switch pumpDown(channel, scratch, &down, &progress) {
      case .running: break
      case let other: return (true, other)
      }
      // After an abort in pumpDown the up half still runs this once, with the state it had.
      if mayWrite {
        switch pumpUp(channel, scratch, &up, &progress) {
        case .running: break
        case let other: return (true, other)
        }
      }
      nudgeIfNeeded(channel, up: up, receivedData: bytesDown != downBefore)
      closeState.settle(up: up, down: down)
      // The peer sent EOF and we still send: keep going (half-close) unless it also sent CLOSE,
      // after which it adjusts no window and reads nothing more.
      if case .open(_, let down) = closeState, down != .open, libssh2_channel_wait_closed(channel.raw) == 0 {
        _ = abort()
        progress = true
      }
    }
    if closeState == .closing {
      let rc = libssh2_channel_close(channel.raw)
      if rc == libssh2EAGAIN || rc == Int32(LIBSSH2_ERROR_BAD_USE) { return (progress, .running) }
      finish()
      return (true, .finished)
    }
    return (progress, .running)
  }

  private func pumpDown(
    _ channel: ChannelHandle, _ scratch: UnsafeMutableRawBufferPointer, _ down: inout ChannelCloseState.Down,
    _ progress: inout Bool
  ) -> Outcome {
    wantsLocalWrite = false
    while down != .localWriteShut {
      if downOffset < downPending.count {
        let n = downPending.withUnsafeBytes {
          send(descriptor, $0.baseAddress! + downOffset, $0.count - downOffset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        }
        if n > 0 {
          downOffset += n
          progress = true
          if downOffset == downPending.count {
            downPending.removeAll(keepingCapacity: false)
            downOffset = 0
          }
          continue
        }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
          wantsLocalWrite = true
          return .running
        }
        if n < 0 && errno == EINTR { continue }
        return abort()  // the local side is gone (EPIPE, ECONNRESET)
      }
      if down == .remoteEOF {
        shutdown(descriptor, Int32(SHUT_WR))
        down = .localWriteShut
        progress = true
        break
      }
      let n = libssh2_channel_read_ex(
        channel.raw, 0, scratch.baseAddress!.assumingMemoryBound(to: CChar.self), scratch.count)
      if n > 0 {
        bytesDown &+= UInt64(n)
        progress = true
        let w = send(descriptor, scratch.baseAddress, n, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        if w == n { continue }
        if w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return abort() }
        let written = max(w, 0)
        downPending = Array(UnsafeRawBufferPointer(rebasing: scratch[written..<n]))
        downOffset = 0
        continue
      }
      if n == 0 {
        if libssh2_channel_eof(channel.raw) != 0 {
          down = .remoteEOF
          progress = true
          continue
        }
        return .running
      }
      if n == Int(libssh2EAGAIN) || n == Int(LIBSSH2_ERROR_BAD_USE) { return .running }
      return failure(code: Int32(n), channel)
    }
    return .running
  }

  private func pumpUp(
    _ channel: ChannelHandle, _ scratch: UnsafeMutableRawBufferPointer, _ up: inout ChannelCloseState.Up,
    _ progress: inout Bool
  ) -> Outcome {
    while up != .eofSent {
      if hop.transport.hasOutputBacklog { return .running }
      if upOffset < upPending.count {
        let n = upPending.withUnsafeBytes {
          libssh2_channel_write_ex(
            channel.raw, 0, $0.baseAddress!.assumingMemoryBound(to: CChar.self) + upOffset, $0.count - upOffset)
        }
        if n > 0 {
          upOffset += n
          bytesUp &+= UInt64(n)
          progress = true
          if upOffset == upPending.count {
            upPending.removeAll(keepingCapacity: false)
            upOffset = 0
          }
          continue
        }
        if n == 0 || n == Int(libssh2EAGAIN) || n == Int(LIBSSH2_ERROR_BAD_USE) { return .running }
        return failure(code: Int32(n), channel)
      }
      if up == .localEOF {
        let rc = libssh2_channel_send_eof(channel.raw)
        if rc == libssh2EAGAIN || rc == Int32(LIBSSH2_ERROR_BAD_USE) { return .running }
        if rc != 0 { return failure(code: rc, channel) }
        up = .eofSent
        progress = true
        break
      }
      let r = recv(descriptor, scratch.baseAddress, scratch.count, Int32(MSG_DONTWAIT))
      if r > 0 {
        progress = true
        var offset = 0
        while offset < r && !hop.transport.hasOutputBacklog {
          let n = libssh2_channel_write_ex(
            channel.raw, 0, scratch.baseAddress!.assumingMemoryBound(to: CChar.self) + offset, r - offset)
          if n > 0 {
            offset += n
            bytesUp &+= UInt64(n)
            continue
          }
          if n == 0 || n == Int(libssh2EAGAIN) || n == Int(LIBSSH2_ERROR_BAD_USE) { break }
          return failure(code: Int32(n), channel)
        }
        if offset < r {
          upPending = Array(UnsafeRawBufferPointer(rebasing: scratch[offset..<r]))
          upOffset = 0
          return .running
        }
        continue
      }
      if r == 0 {
        up = .localEOF
        progress = true
        continue
      }
      if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return .running }
      return abort()
    }
    return .running
  }

  /// Sends a 1-byte receive-window adjust when `AcknowledgementNudge` says so: a tiny packet on
  /// this channel's session that the jump host in front of it forwards to the server, carrying the
  /// TCP ACK the server's next small segment waits for (see `AcknowledgementNudge`).
  private func nudgeIfNeeded(_ channel: ChannelHandle, up: ChannelCloseState.Up, receivedData: Bool) {
    guard hopIndex > 0 else { return }
    let window = libssh2_channel_window_write_ex(channel.raw, nil)
    let windowGrew = window > lastSendWindow && lastSendWindow != 0
    lastSendWindow = window
    let nudge = AcknowledgementNudge.shouldNudge(
      behindJumpHost: hopIndex > 0, receivedData: receivedData, windowGrew: windowGrew && up != .eofSent,
      sessionSending: hop.transport.outputPending > 0)
    if nudge { _ = libssh2_channel_receive_window_adjust2(channel.raw, 1, 1, nil) }
  }

  /// The local side failed: drop what is pending and close the channel.
  private func abort() -> Outcome {
    SSHTrace.log("pump \(role) abort: local errno \(errno)")
    upPending = []
    downPending = []
    upOffset = 0
    downOffset = 0
    closeState.abort()
    return .running
  }

  /// A libssh2 error on this channel: channel-level codes end only this channel, anything else
  /// means the session is broken.
  private func failure(code: Int32, _ channel: ChannelHandle) -> Outcome {
    SSHTrace.log("pump \(role) failure: libssh2 \(code) \(channel.session.lastError.message)")
    switch code {
    case Int32(LIBSSH2_ERROR_CHANNEL_CLOSED), Int32(LIBSSH2_ERROR_CHANNEL_EOF_SENT),
      Int32(LIBSSH2_ERROR_CHANNEL_FAILURE),
      Int32(LIBSSH2_ERROR_CHANNEL_UNKNOWN), Int32(LIBSSH2_ERROR_CHANNEL_WINDOW_EXCEEDED),
      Int32(LIBSSH2_ERROR_CHANNEL_PACKET_EXCEEDED):
      finish()
      return .finished
    default:
      let text = channel.session.lastError.message
      finish()
      return .sessionFailed(text.isEmpty ? "libssh2 error \(code)" : "\(text) (libssh2 error \(code))")
    }
  }

  /// Frees the channel and closes the local socket. Idempotent.
  func finish() {
    guard !isFinished else { return }
    closeState = .closed
    channel = nil
    if descriptor >= 0 {
      close(descriptor)
      descriptor = -1
    }
    upPending = []
    downPending = []
  }
}

/// Where a `ChannelPump` is in closing its channel and socket. While open, each direction closes on
/// its own (half-close); once both have, or either side failed, the channel is closed.
///
/// ```
/// open(up: open ─local EOF read─▶ localEOF ─channel EOF sent─▶ eofSent,
///      down: open ─channel EOF read─▶ remoteEOF ─shutdown(SHUT_WR)─▶ localWriteShut)
///   ─both eofSent and localWriteShut, or abort─▶ closing ─channel CLOSE done─▶ closed
/// any ─finish (channel error, teardown)─▶ closed
/// ```
enum ChannelCloseState: Equatable {
  /// local → channel.
  enum Up: Equatable {
    case open
    /// The local socket reached EOF; pending bytes still go out, then the channel EOF.
    case localEOF
    case eofSent
  }

  /// channel → local.
  enum Down: Equatable {
    case open
    /// The channel reached EOF; pending bytes still go out, then `shutdown(SHUT_WR)`.
    case remoteEOF
    case localWriteShut
  }

  case open(up: Up, down: Down)
  /// Sending CLOSE and waiting for the peer's, without blocking.
  case closing
  /// Channel freed, socket closed.
  case closed

  static let fresh = ChannelCloseState.open(up: .open, down: .open)

  /// Whether the local socket is read (for POLLIN): only until its EOF, and not once closing.
  var readsLocalInput: Bool {
    if case .open(.open, _) = self { return true }
    return false
  }

  /// Records the directions' progress; both finished means closing. No effect unless open (an
  /// abort or a finish during the pass wins).
  mutating func settle(up: Up, down: Down) {
    guard case .open = self else { return }
    self = up == .eofSent && down == .localWriteShut ? .closing : .open(up: up, down: down)
  }

  /// Either side failed: close the channel now. No effect once closed.
  mutating func abort() {
    if self != .closed { self = .closing }
  }
}

/// When a channel's pump sends a "nudge" (a 1-byte receive-window adjust) on a session behind a jump
/// host, so that the server's next small segment does not wait ~40 ms for a delayed ACK.
///
/// OpenSSH's sshd leaves Nagle on for sessions without a tty (`-N`, forwarding only). Between the
/// jump host's sshd and the next server nobody but the kernel acknowledges what that server sends:
/// when it sends a small segment (an SSE answer's headers, a WINDOW_ADJUST) and then more small data
/// (the event, the closing chunk), Nagle holds the rest until the jump host's delayed ACK fires
/// (40 ms on Linux). Any packet we send on the session behind the jump host makes the jump host's
/// sshd write to that server, and that write carries the ACK. So after reading data from such a
/// channel (or seeing the server grant window while we still send), send one tiny packet, unless
/// the session already has output waiting to go in this pass (which carries the ACK just as well).
/// Traced with tcpdump on the lab (scripts/bench-http.sh; README "Performance against OpenSSH").
enum AcknowledgementNudge {
  /// - Parameters:
  ///   - behindJumpHost: the channel's session runs through another hop (hop index > 0).
  ///   - receivedData: channel data was read from the session in this pump call.
  ///   - windowGrew: the server granted send window (WINDOW_ADJUST) and this side still sends.
  ///   - sessionSending: the session's transport has output waiting that goes out in this pass.
  static func shouldNudge(behindJumpHost: Bool, receivedData: Bool, windowGrew: Bool, sessionSending: Bool) -> Bool {
    behindJumpHost && (receivedData || windowGrew) && !sessionSending
  }
}

extension [ChannelPump] {
  /// Whether a pump of hop `hopIndex` will read that session's input in the next pass (one that
  /// is running and not waiting to write its local socket).
  func willRead(hop hopIndex: Int) -> Bool {
    contains { $0.hopIndex == hopIndex && !$0.isFinished && $0.localEvents & Int16(POLLOUT) == 0 }
  }
}
