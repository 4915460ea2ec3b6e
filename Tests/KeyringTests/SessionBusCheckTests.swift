import Foundation
import TestTiers
import Testing
import TunnelCore

@testable import Keyring

/// `SessionBusCheck` (used by `mcp-tunnel doctor`): address parsing and the probe, against a real
/// Unix socket that listens and a path where nothing does.
@Suite("D-Bus session bus check", .offPool)
struct SessionBusCheckTests {
  @Test("unix:path= and unix:abstract= addresses give their socket; other transports give nil")
  func addresses() {
    #expect(SessionBusCheck.unixSocket(in: "unix:path=/run/user/1000/bus") == .path("/run/user/1000/bus"))
    #expect(SessionBusCheck.unixSocket(in: "unix:path=/tmp/a%20b,guid=ab12") == .path("/tmp/a b"))
    #expect(SessionBusCheck.unixSocket(in: "unix:guid=ab12,abstract=/tmp/dbus-x") == .abstract("/tmp/dbus-x"))
    #expect(SessionBusCheck.unixSocket(in: "tcp:host=127.0.0.1,port=4000") == nil)
    #expect(SessionBusCheck.unixSocket(in: "unix:tmpdir=/tmp") == nil)
  }

  @Test("nothing listening, or nothing set: exit 4 with the dbus-run-session fix; a listening socket passes")
  func probe() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bus-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("bus").path

    #expect(throws: KeyringError.self) { try SessionBusCheck.describe(environment: [:]) }
    do {
      _ = try SessionBusCheck.describe(environment: ["DBUS_SESSION_BUS_ADDRESS": "unix:path=\(path)"])
      Issue.record("no listener, yet the bus check passed")
    } catch {
      #expect(error.category == .keyringUnavailable)
      #expect(error.summary.contains(path))
      #expect(error.fix?.contains("dbus-run-session") == true)
    }

    let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    #expect(listener >= 0)
    defer { close(listener) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
    }
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    #expect(bound == 0)
    #expect(listen(listener, 4) == 0)
    let viaAddress = try SessionBusCheck.describe(environment: ["DBUS_SESSION_BUS_ADDRESS": "unix:path=\(path)"])
    #expect(viaAddress.contains(path))
    let viaRuntime = try SessionBusCheck.describe(environment: ["XDG_RUNTIME_DIR": directory.path])
    #expect(viaRuntime.contains("XDG_RUNTIME_DIR"))
  }
}
