import Foundation
import TunnelCore

/// The systemd journal's native protocol (`systemd.journal-fields(7)`, "Native Journal Protocol"):
/// one datagram per entry on the `AF_UNIX` socket `/run/systemd/journal/socket`, each field
/// `KEY=value\n`, or — when the value holds a newline — `KEY\n`, the value's length as a 64-bit
/// little-endian integer, the value, `\n`. No libsystemd.
///
/// Sends never block (`MSG_DONTWAIT`): a journal that does not keep up loses entries, never
/// stalls the audit writer. Safe from any thread (each send opens, sends and closes its own socket,
/// so a journald restarted meanwhile is found again).
public struct JournalSocket: Sendable {
  /// Where journald listens.
  public static let defaultPath = "/run/systemd/journal/socket"

  public let path: String

  public init(path: String = JournalSocket.defaultPath) {
    self.path = path
  }

  /// Nil when a datagram can be sent to `path` (something listens there and lets us), else why not,
  /// for the warning at start.
  public func problem() -> String? {
    do {
      let fd = try openConnected()
      Glibc.close(fd)
      return nil
    } catch {
      return error.summary
    }
  }

  /// Sends one journal entry.
  public func send(_ fields: [(name: String, value: String)]) throws(AuditError) {
    let datagram = Self.encode(fields)
    let fd = try openConnected()
    defer { Glibc.close(fd) }
    let sent = datagram.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
    guard sent == datagram.count else {
      throw AuditError(
        .internalError, "the journal at \(path) did not take the record: \(String(cString: strerror(errno)))")
    }
  }

  /// The datagram for `fields`, in order. Names must be journal field names (`A-Z`, `0-9`, `_`,
  /// not starting with `_`); the sink only uses fixed ones.
  static func encode(_ fields: [(name: String, value: String)]) -> [UInt8] {
    var out: [UInt8] = []
    for (name, value) in fields {
      out += Array(name.utf8)
      let bytes = Array(value.utf8)
      if bytes.contains(UInt8(ascii: "\n")) {
        out.append(UInt8(ascii: "\n"))
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { out += $0 }
        out += bytes
      } else {
        out.append(UInt8(ascii: "="))
        out += bytes
      }
      out.append(UInt8(ascii: "\n"))
    }
    return out
  }

  /// A datagram socket connected to `path`: `connect` tells whether anyone listens there.
  private func openConnected() throws(AuditError) -> Int32 {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
      throw AuditError(.usage, "the journal socket path \(path) is too long")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (i, b) in bytes.enumerated() { raw[i] = b }
    }
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else {
      throw AuditError(.internalError, "socket(AF_UNIX) failed: \(String(cString: strerror(errno)))")
    }
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        // off-pool: the audit writer thread (QueuedAuditSink) and up's start; a datagram connect
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    guard connected == 0 else {
      let error = errno
      Glibc.close(fd)
      throw AuditError(
        .internalError, "no systemd journal at \(path): \(String(cString: strerror(error)))",
        fix: "run mcp-tunnel where systemd-journald runs, or set journal = false under [profiles.PROFILE.audit]")
    }
    return fd
  }
}
