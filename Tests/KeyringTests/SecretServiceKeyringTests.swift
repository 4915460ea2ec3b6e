import Foundation
import Keyring
import LabSupport
import TestTiers
import Testing
import TunnelCore

/// The libsecret adapter against a real gnome-keyring on a private D-Bus session bus.
///
/// libsecret and GDBus cache the session-bus connection per process, so this runs as one
/// sequential test that points the process at the lab's bus before the first libsecret call; the
/// no-bus and no-provider variants are exercised through the CLI in subprocesses.
@Suite("Secret Service keyring (real gnome-keyring)", .tags(.lab), .offPool, .serialized)
struct SecretServiceKeyringTests {
  @Test("store, load, replace, isolate by profile/issuer, delete; a locked keyring throws instead of looking empty")
  func roundTripAndLockedKeyring() throws {
    let dir = try LabDirectory(prefix: "keyring-adapter")
    let lab = try KeyringLab.start(in: dir, variant: .unlocked)
    defer { lab.stop() }
    setenv("DBUS_SESSION_BUS_ADDRESS", lab.busAddress, 1)

    let keyring = SecretServiceKeyring()
    let prod = StoredLoginKey(profile: "prod", issuer: "https://idp.example.test", clientID: "mcp-tunnel")
    let lab2 = StoredLoginKey(profile: "lab", issuer: "https://idp.example.test", clientID: "mcp-tunnel")
    let otherIssuer = StoredLoginKey(profile: "prod", issuer: "https://other.example.test", clientID: "mcp-tunnel")

    try keyring.checkAvailable()
    #expect(try keyring.load(prod) == nil, "an empty, unlocked keyring means: not logged in")

    try keyring.store(StoredLogin(subject: "dev1", refreshToken: RefreshToken(revealing: "rt-one")), for: prod)
    try keyring.store(StoredLogin(subject: "dev2", refreshToken: RefreshToken(revealing: "rt-lab")), for: lab2)
    let loaded = try #require(try keyring.load(prod))
    #expect(loaded.subject == "dev1")
    #expect(loaded.refreshToken.revealedForTransmission == "rt-one")
    #expect(try keyring.load(otherIssuer) == nil, "another issuer never sees this profile's token")
    #expect(try keyring.load(lab2)?.refreshToken.revealedForTransmission == "rt-lab")

    // Rotation replaces the entry, even when the subject changes.
    try keyring.store(StoredLogin(subject: "dev1b", refreshToken: RefreshToken(revealing: "rt-two")), for: prod)
    let rotated = try #require(try keyring.load(prod))
    #expect(rotated.refreshToken.revealedForTransmission == "rt-two")
    #expect(rotated.subject == "dev1b")
    // secret-tool prints attributes on stderr.
    let listed = try lab.secretTool(["search", "--all", "application", "mcp-tunnel", "profile", "prod"])
    #expect(listed.stderr.components(separatedBy: "attribute.subject = ").count == 2, "exactly one entry for prod")

    #expect(try keyring.delete(prod))
    #expect(try !keyring.delete(prod))
    #expect(try keyring.load(prod) == nil)

    // Locked: "cannot tell" must throw with the keyring category, never return nil.
    try lab.lockLoginCollection()
    #expect(try lab.isLoginCollectionLocked())
    let attempts: [(String, () throws -> Void)] = [
      ("load an existing entry", { _ = try keyring.load(lab2) }),
      ("load a missing entry", { _ = try keyring.load(prod) }),
      ("check availability", { try keyring.checkAvailable() }),
      (
        "store",
        { try keyring.store(StoredLogin(subject: "x", refreshToken: RefreshToken(revealing: "rt-x")), for: prod) }
      ),
    ]
    for (name, attempt) in attempts {
      do {
        try attempt()
        Issue.record("\(name): a locked keyring did not throw")
      } catch let error as KeyringError {
        #expect(error.category == .keyringUnavailable, "\(name)")
        #expect(error.fix?.isEmpty == false)
      }
    }
  }
}
