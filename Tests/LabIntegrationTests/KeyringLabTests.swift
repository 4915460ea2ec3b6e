import Foundation
import LabSupport
import TestTiers
import Testing

/// The private Secret Service works through D-Bus (`secret-tool`), and the two broken variants fail
/// the way a real desktop-less machine does.
@Suite("Lab keyring (gnome-keyring on a private bus)", .tags(.lab), .offPool, .serialized)
struct KeyringLabTests {
  private let attributes = ["application", "mcp-tunnel", "profile", "lab", "subject", "dev1"]

  @Test("unlocked: store, look up and clear a secret over D-Bus; the environment is isolated")
  func unlocked() throws {
    let dir = try LabDirectory(prefix: "keyring")
    let keyring = try KeyringLab.start(in: dir, variant: .unlocked)
    defer { keyring.stop() }

    #expect(keyring.environment["DISPLAY"] == nil)
    #expect(keyring.environment["DBUS_SESSION_BUS_ADDRESS"] == keyring.busAddress)
    for key in ["HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"] {
      #expect(keyring.environment[key]?.hasPrefix(dir.url.path) == true, "\(key) must be inside the lab dir")
    }
    #expect(try keyring.nameHasOwner(KeyringLab.secretsBusName))
    #expect(try !keyring.isLoginCollectionLocked())

    let secret = "rt-\(UUID().uuidString)"
    let stored = try keyring.secretTool(["store", "--label=mcp-tunnel refresh token"] + attributes, stdin: secret)
    #expect(stored.status == 0, "\(stored.stderr)\n\(keyring.log())")
    let found = try keyring.secretTool(["lookup"] + attributes)
    #expect(found.status == 0)
    #expect(found.stdout == secret)
    let cleared = try keyring.secretTool(["clear"] + attributes)
    #expect(cleared.status == 0)
    let gone = try keyring.secretTool(["lookup"] + attributes)
    #expect(gone.status == 1)
    #expect(gone.stdout.isEmpty)
    // The keyring file lives in the lab's HOME, not the developer's.
    let keyrings = URL(fileURLWithPath: try #require(keyring.environment["XDG_DATA_HOME"])).appendingPathComponent(
      "keyrings")
    #expect(FileManager.default.fileExists(atPath: keyrings.appendingPathComponent("login.keyring").path))
  }

  @Test("no provider: a bus without org.freedesktop.secrets; store and lookup fail with the D-Bus error")
  func noProvider() throws {
    let dir = try LabDirectory(prefix: "keyring")
    let keyring = try KeyringLab.start(in: dir, variant: .noProvider)
    defer { keyring.stop() }

    #expect(keyring.keyring == nil)
    #expect(try !keyring.nameHasOwner(KeyringLab.secretsBusName))
    let stored = try keyring.secretTool(["store", "--label=x"] + attributes, stdin: "s")
    #expect(stored.status == 1)
    #expect(stored.stderr.contains("was not provided by any .service files"), "\(stored.stderr)")
    let found = try keyring.secretTool(["lookup"] + attributes)
    #expect(found.status == 1)
    #expect(found.stderr.contains("org.freedesktop.secrets"), "\(found.stderr)")
  }

  @Test("locked: lookups find nothing (silently) and stores fail with 'locked collection'")
  func locked() throws {
    let dir = try LabDirectory(prefix: "keyring")
    let keyring = try KeyringLab.start(in: dir, variant: .locked)
    defer { keyring.stop() }

    #expect(try keyring.isLoginCollectionLocked())
    let found = try keyring.secretTool(["lookup"] + attributes)
    #expect(found.status == 1)
    #expect(found.stdout.isEmpty)
    let stored = try keyring.secretTool(["store", "--label=x"] + attributes, stdin: "s")
    #expect(stored.status == 1)
    #expect(stored.stderr.contains("locked collection"), "\(stored.stderr)")
  }

  @Test("stop() ends the bus and gnome-keyring by PID")
  func stopsByPID() throws {
    let dir = try LabDirectory(prefix: "keyring")
    let keyring = try KeyringLab.start(in: dir, variant: .unlocked)
    let pids = [keyring.bus.pid, try #require(keyring.keyring).pid]
    keyring.stop()
    for pid in pids { #expect(kill(pid, 0) != 0, "pid \(pid) still alive") }
    let pidFiles = (try? FileManager.default.contentsOfDirectory(atPath: dir.path("pids"))) ?? []
    #expect(pidFiles.isEmpty)
  }
}
