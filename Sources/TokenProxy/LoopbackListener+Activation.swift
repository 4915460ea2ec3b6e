import Foundation
import TunnelCore

/// Socket activation (`mcp-tunnel@.socket`, SPEC §11): systemd — or `systemd-socket-activate` —
/// binds the listen address, and the `up` it starts takes the socket over instead of binding one.
/// The `sd_listen_fds(3)` protocol without libsystemd: `LISTEN_PID` names this process,
/// `LISTEN_FDS` counts the passed descriptors from 3 on, `LISTEN_FDNAMES` names them.
extension LoopbackListener {
  /// The variables of the protocol; the caller drops them from the environment it hands to child
  /// processes (this removes them from the process's own environment).
  public static let activationVariables = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]

  /// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
  static let firstActivatedDescriptor: Int32 = 3

  /// What `LISTEN_*` in `environment` says for process `pid`: nil when nothing was passed to this
  /// process (no variables, or `LISTEN_PID` is another process's — a parent's that leaked them).
  /// Throws when the variables are malformed, or pass other than exactly one socket.
  static func activatedDescriptor(environment: [String: String], pid: Int32) throws(ProxyError) -> Int32? {
    guard let pidText = environment["LISTEN_PID"], let countText = environment["LISTEN_FDS"] else { return nil }
    guard let listenPID = Int32(pidText), listenPID > 0 else {
      throw ProxyError(
        .usage, "LISTEN_PID=\(pidText) is not a process id",
        fix: "start mcp-tunnel from a systemd .socket unit or systemd-socket-activate, or unset LISTEN_PID")
    }
    guard listenPID == pid else { return nil }
    guard let count = Int(countText), count >= 0 else {
      throw ProxyError(.usage, "LISTEN_FDS=\(countText) is not a number of sockets")
    }
    guard count == 1 else {
      throw ProxyError(
        .usage, "systemd passed \(count) sockets (LISTEN_FDS=\(count)); mcp-tunnel up takes exactly one",
        fix: "give mcp-tunnel@.socket exactly one ListenStream= (systemctl --user edit mcp-tunnel@PROFILE.socket)")
    }
    return firstActivatedDescriptor
  }

  /// The listening socket systemd passed to this process, or nil when it passed none (then `up`
  /// binds `listen.address` itself). The protocol's variables are removed from the process
  /// environment either way, as `sd_listen_fds(1)` does, so no child process sees them.
  ///
  /// The socket must be what `bind` would have made: a listening TCP socket on a loopback
  /// address; anything else is refused (exit 2) and closed. `listen.peers` applies to its
  /// connections like to any other.
  public static func activated(
    environment: [String: String], pid: Int32 = getpid()
  ) throws(ProxyError) -> LoopbackListener? {
    defer { for name in activationVariables { unsetenv(name) } }
    guard let fd = try activatedDescriptor(environment: environment, pid: pid) else { return nil }
    do {
      return try adopt(fd)
    } catch {
      Glibc.close(fd)
      throw error
    }
  }

  /// Checks the passed descriptor and wraps it.
  static func adopt(_ fd: Int32) throws(ProxyError) -> LoopbackListener {
    let fix = "set ListenStream=127.0.0.1:PORT in the socket unit (systemctl --user edit mcp-tunnel@PROFILE.socket)"
    func option(_ name: Int32) -> Int32? {
      var value: Int32 = 0
      var length = socklen_t(MemoryLayout<Int32>.size)
      return getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 ? value : nil
    }
    guard let type = option(SO_TYPE) else {
      throw ProxyError(.usage, "descriptor \(fd) passed by systemd (LISTEN_FDS) is not a socket", fix: fix)
    }
    guard type == Int32(SOCK_STREAM.rawValue), option(SO_ACCEPTCONN) == 1 else {
      throw ProxyError(
        .usage, "the socket passed by systemd is not a listening stream socket", fix: fix + " and Accept=no")
    }
    guard let address = localAddress(fd) else {
      throw ProxyError(.usage, "the socket passed by systemd is not a TCP socket on an IP address", fix: fix)
    }
    guard address.isLoopback else {
      throw ProxyError(
        .usage,
        "the socket passed by systemd listens on \(address), not a loopback address; "
          + "mcp-tunnel listens on loopback only", fix: fix)
    }
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    return LoopbackListener(descriptor: fd, address: address)
  }

  /// `getsockname` as a `HostPort`, for IPv4 and IPv6 sockets.
  static func localAddress(_ fd: Int32) -> HostPort? { SocketDiagPeerLookup.address(fd, getsockname) }
}
