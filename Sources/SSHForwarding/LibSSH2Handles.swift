import CLibSSH2
import Glibc
import TunnelCore

// Ownership rules for every libssh2 pointer in this module:
// * Each C handle has exactly one owner, a `final class` below, which frees it in `deinit`.
// * A channel handle keeps its session handle alive, so a channel is always freed before its session.
// * None of these types is Sendable: they are created, used and released on the tunnel's I/O thread
//   (`ForwardingLoop`), except during connection setup before that thread exists, and a jump hop's
//   session and bridge channel, which its relay thread uses between the hand-over and the join
//   (`HopRelay`); they are created and released on the I/O thread all the same.

/// `libssh2_init(0)` exactly once per process, before the first session.
enum LibSSH2Runtime {
  private static let initialized: Bool = {
    libssh2_init(0) == 0
  }()

  static func ensureInitialized() throws(SSHError) {
    guard initialized else { throw SSHError(.internalError, "libssh2_init failed (crypto backend could not start)") }
  }
}

/// libssh2's non-blocking "try again" code.
let libssh2EAGAIN = Int32(LIBSSH2_ERROR_EAGAIN)

/// One `LIBSSH2_SESSION`. The socket it runs over belongs to `HopConnection`, not to this handle.
///
/// `abstract` is handed to the custom send/recv callbacks, which count bytes and serve prefetched
/// input (see `HopConnection`). It must stay valid for the session's lifetime: the owner guarantees it.
final class SessionHandle {
  let raw: OpaquePointer

  init(abstract: UnsafeMutableRawPointer?) throws(SSHError) {
    try LibSSH2Runtime.ensureInitialized()
    guard let session = libssh2_session_init_ex(nil, nil, nil, abstract) else {
      throw SSHError(.internalError, "libssh2_session_init_ex failed (out of memory?)")
    }
    raw = session
  }

  /// libssh2's last error as `(code, text)`; the text is copied.
  var lastError: (code: Int32, message: String) {
    var message: UnsafeMutablePointer<CChar>?
    var length: Int32 = 0
    let code = libssh2_session_last_error(raw, &message, &length, 0)
    let text = message.map { String(cString: $0) } ?? ""
    return (code, text)
  }

  var lastErrno: Int32 { libssh2_session_last_errno(raw) }

  /// Which ways the last call blocked (`LIBSSH2_SESSION_BLOCK_INBOUND` / `_OUTBOUND`).
  var blockDirections: Int32 { libssh2_session_block_directions(raw) }

  deinit {
    // Best effort: the caller shuts the socket down before releasing us, so this never blocks.
    _ = "mcp-tunnel closing".withCString { libssh2_session_disconnect_ex(raw, SSH_DISCONNECT_BY_APPLICATION, $0, "") }
    _ = libssh2_session_free(raw)
  }
}

/// One `LIBSSH2_CHANNEL`, keeping its session alive.
final class ChannelHandle {
  let raw: OpaquePointer
  let session: SessionHandle

  init(raw: OpaquePointer, session: SessionHandle) {
    self.raw = raw
    self.session = session
  }

  deinit {
    // If the close handshake is still pending (EAGAIN), the session frees the channel with itself.
    _ = libssh2_channel_free(raw)
  }
}

/// One `LIBSSH2_KNOWNHOSTS` collection.
final class KnownHostsHandle {
  let raw: OpaquePointer
  let session: SessionHandle

  init(session: SessionHandle) throws(SSHError) {
    guard let hosts = libssh2_knownhost_init(session.raw) else {
      throw SSHError(.internalError, "libssh2_knownhost_init failed")
    }
    raw = hosts
    self.session = session
  }

  deinit { libssh2_knownhost_free(raw) }
}

/// One `LIBSSH2_AGENT` connection to `SSH_AUTH_SOCK`.
final class AgentHandle {
  let raw: OpaquePointer
  let session: SessionHandle
  private var connected = false

  init(session: SessionHandle) throws(SSHError) {
    guard let agent = libssh2_agent_init(session.raw) else {
      throw SSHError(.internalError, "libssh2_agent_init failed")
    }
    raw = agent
    self.session = session
  }

  /// Connects to the agent socket at `path` (libssh2 reads it from `SSH_AUTH_SOCK` when nil).
  func connect(path: String?) -> Bool {
    if let path { path.withCString { libssh2_agent_set_identity_path(raw, $0) } }
    // off-pool: on the tunnel's I/O thread, or in doctor's SSHCredentialsCheck through runOffPool
    connected = libssh2_agent_connect(raw) == 0
    return connected
  }

  deinit {
    if connected { _ = libssh2_agent_disconnect(raw) }
    libssh2_agent_free(raw)
  }
}
