import Foundation
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// Whether a D-Bus session bus answers, the way GDBus finds it (`mcp-tunnel doctor`):
/// `DBUS_SESSION_BUS_ADDRESS` (each `unix:path=` or `unix:abstract=` address is connected to; other
/// transports are reported as set but not probed), else `$XDG_RUNTIME_DIR/bus`.
public enum SessionBusCheck {
  /// A short description of the bus that answered; throws `KeyringError` (exit 4) with the fix.
  public static func describe(
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws(KeyringError) -> String {
    if let address = environment["DBUS_SESSION_BUS_ADDRESS"], !address.isEmpty {
      var tried: [String] = []
      for entry in address.split(separator: ";").map(String.init) {
        guard let socket = unixSocket(in: entry) else {
          return "\(entry) (DBUS_SESSION_BUS_ADDRESS; transport not probed)"
        }
        if canConnect(socket) { return "\(entry) (DBUS_SESSION_BUS_ADDRESS)" }
        tried.append(entry)
      }
      throw KeyringError.noSessionBus(
        "DBUS_SESSION_BUS_ADDRESS=\(address) does not answer: nothing listens at \(tried.joined(separator: ", "))")
    }
    if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
      let path = runtime + "/bus"
      if canConnect(.path(path)) { return "unix:path=\(path) (XDG_RUNTIME_DIR)" }
      throw KeyringError.noSessionBus("DBUS_SESSION_BUS_ADDRESS is not set and nothing listens at \(path)")
    }
    throw KeyringError.noSessionBus("DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are not set")
  }

  enum UnixSocket: Equatable {
    case path(String)
    case abstract(String)
  }

  /// The socket of a `unix:` address (`unix:path=/run/user/1000/bus,guid=…`), nil for other transports.
  static func unixSocket(in address: String) -> UnixSocket? {
    guard address.hasPrefix("unix:") else { return nil }
    for pair in address.dropFirst(5).split(separator: ",") {
      let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
      guard parts.count == 2 else { continue }
      let value = parts[1].removingPercentEncoding ?? parts[1]
      switch parts[0] {
      case "path": return .path(value)
      case "abstract": return .abstract(value)
      default: continue
      }
    }
    return nil
  }

  static func canConnect(_ socket: UnixSocket) -> Bool {
    let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let name: [UInt8]
    switch socket {
    case .path(let path): name = Array(path.utf8)
    case .abstract(let text): name = [0] + Array(text.utf8)
    }
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard name.count < capacity else { return false }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (i, byte) in name.enumerated() { raw[i] = byte }
    }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (name.first == 0 ? 0 : 1))
    return withUnsafePointer(to: &address) {
      // off-pool: doctor runs this check through runOffPool (connect waits while the bus's backlog is full)
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) == 0 }
    }
  }
}
