import Foundation

/// A private D-Bus session bus with (or without) a real Secret Service: gnome-keyring 42 in the
/// foreground, isolated HOME and XDG directories, no DISPLAY.
///
/// Both daemons are `LabProcess`es tracked by PID: `dbus-daemon --nofork` with
/// `Tests/Lab/keyring/session-bus.conf` (a bus with no activatable services, so nothing is
/// auto-started behind our back), and `gnome-keyring-daemon --foreground --unlock
/// --components=secrets`, whose unlock password is a random per-run value fed on stdin and never
/// stored. A daemonizing gnome-keyring would outlive the bus; the foreground one is stopped by PID.
///
/// Give a child process `environment` (replacing, not merging with, the test's own) so it talks to
/// this keyring only and never the developer's.
public final class KeyringLab: Sendable {
  public enum Variant: Sendable, CustomStringConvertible {
    /// gnome-keyring running, `login` collection unlocked: store/lookup/clear work.
    case unlocked
    /// A session bus with no Secret Service provider at all (`org.freedesktop.secrets` unknown).
    case noProvider
    /// gnome-keyring running, `login` collection locked via `Secret.Service.Lock`; no prompter exists,
    /// so lookups find nothing (rc 1, silently) and stores fail with "locked collection".
    case locked

    public var description: String {
      switch self {
      case .unlocked: "unlocked"
      case .noProvider: "noProvider"
      case .locked: "locked"
      }
    }
  }

  public static let secretsBusName = "org.freedesktop.secrets"
  public static let loginCollectionPath = "/org/freedesktop/secrets/collection/login"

  public let variant: Variant
  public let runDirectory: URL
  /// `unix:path=<run dir>/bus`.
  public let busAddress: String
  /// What a child needs: `DBUS_SESSION_BUS_ADDRESS`, an isolated `HOME` and XDG dirs, `PATH`, `LANG`.
  /// No `DISPLAY`, `WAYLAND_DISPLAY` or `SSH_AUTH_SOCK`.
  public let environment: [String: String]
  public let bus: LabProcess
  public let keyring: LabProcess?

  public static func start(in directory: LabDirectory, variant: Variant = .unlocked) throws -> KeyringLab {
    let dbusDaemon = try LabPaths.requireExecutable("dbus-daemon")
    _ = try LabPaths.requireExecutable("dbus-send")
    let runDirectory = directory.url.appendingPathComponent("keyring", isDirectory: true)
    var environment = ["PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"]
    for (key, sub) in [
      ("HOME", "home"), ("XDG_DATA_HOME", "home/.local/share"), ("XDG_CONFIG_HOME", "home/.config"),
      ("XDG_STATE_HOME", "home/.local/state"), ("XDG_CACHE_HOME", "home/.cache"), ("XDG_RUNTIME_DIR", "run"),
    ] {
      let url = runDirectory.appendingPathComponent(sub, isDirectory: true)
      try FileManager.default.createDirectory(
        at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
      environment[key] = url.path
    }
    let socket = runDirectory.appendingPathComponent("bus").path
    let busAddress = "unix:path=\(socket)"
    environment["DBUS_SESSION_BUS_ADDRESS"] = busAddress

    let bus = try LabProcess(
      name: "dbus-daemon", executable: dbusDaemon,
      arguments: [
        "--config-file=\(LabPaths.script("keyring/session-bus.conf"))", "--nofork", "--address=\(busAddress)",
      ],
      environment: environment, directory: directory)
    var keyring: LabProcess?
    do {
      try waitUntil(timeout: .seconds(60), "the session bus socket \(socket)", process: bus) {
        FileManager.default.fileExists(atPath: socket)
      }
      if variant != .noProvider {
        let gkd = try LabPaths.requireExecutable("gnome-keyring-daemon")
        _ = try LabPaths.requireExecutable("secret-tool")
        let unlock = Pipe()
        keyring = try LabProcess(
          name: "gnome-keyring", executable: gkd, arguments: ["--foreground", "--unlock", "--components=secrets"],
          environment: environment, directory: directory, stdin: unlock.fileHandleForReading)
        unlock.fileHandleForWriting.write(Data(UUID().uuidString.utf8))
        try unlock.fileHandleForWriting.close()
        try waitUntil(timeout: .seconds(60), "gnome-keyring to own \(secretsBusName)", process: keyring) {
          try Self.nameHasOwner(secretsBusName, environment: environment)
        }
      }
      let lab = KeyringLab(
        variant: variant, runDirectory: runDirectory, busAddress: busAddress, environment: environment, bus: bus,
        keyring: keyring)
      if variant == .locked { try lab.lockLoginCollection() }
      return lab
    } catch {
      keyring?.stop()
      bus.stop()
      throw LabError("\(error)\nkeyring logs:\n\(labTail(bus.log() + (keyring?.log() ?? "")))")
    }
  }

  private init(
    variant: Variant, runDirectory: URL, busAddress: String, environment: [String: String], bus: LabProcess,
    keyring: LabProcess?
  ) {
    self.variant = variant
    self.runDirectory = runDirectory
    self.busAddress = busAddress
    self.environment = environment
    self.bus = bus
    self.keyring = keyring
  }

  /// Runs `secret-tool` against this keyring. Pass secrets via `stdin`, never in `arguments`.
  public func secretTool(_ arguments: [String], stdin: String? = nil) throws -> LabCommandResult {
    try LabCommand.run(
      try LabPaths.requireExecutable("secret-tool"), arguments, environment: environment, stdin: stdin,
      timeout: .seconds(60))
  }

  /// Locks the `login` collection through the Secret Service D-Bus API (no prompt needed to lock).
  public func lockLoginCollection() throws {
    let result = try LabCommand.run(
      try LabPaths.requireExecutable("dbus-send"),
      [
        "--session", "--print-reply", "--dest=\(Self.secretsBusName)", "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service.Lock", "array:objpath:\(Self.loginCollectionPath)",
      ], environment: environment, timeout: .seconds(60))
    guard result.status == 0 else { throw LabError("Secret.Service.Lock failed: \(result.stdout)\(result.stderr)") }
    guard try isLoginCollectionLocked() else { throw LabError("login collection still unlocked after Lock") }
  }

  /// The `Locked` property of the `login` collection.
  public func isLoginCollectionLocked() throws -> Bool {
    let result = try LabCommand.run(
      try LabPaths.requireExecutable("dbus-send"),
      [
        "--session", "--print-reply", "--dest=\(Self.secretsBusName)", Self.loginCollectionPath,
        "org.freedesktop.DBus.Properties.Get", "string:org.freedesktop.Secret.Collection", "string:Locked",
      ], environment: environment, timeout: .seconds(60))
    guard result.status == 0 else {
      throw LabError("reading Collection.Locked failed: \(result.stdout)\(result.stderr)")
    }
    return result.stdout.contains("boolean true")
  }

  /// Whether `name` currently has an owner on this bus.
  public func nameHasOwner(_ name: String) throws -> Bool { try Self.nameHasOwner(name, environment: environment) }

  private static func nameHasOwner(_ name: String, environment: [String: String]) throws -> Bool {
    let result = try LabCommand.run(
      try LabPaths.requireExecutable("dbus-send"),
      [
        "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
        "org.freedesktop.DBus.NameHasOwner", "string:\(name)",
      ], environment: environment, timeout: .seconds(60))
    return result.status == 0 && result.stdout.contains("boolean true")
  }

  /// Logs of both daemons, for failure messages.
  public func log(lines: Int = 30) -> String { labTail(bus.log() + (keyring?.log() ?? ""), lines: lines) }

  /// Stops gnome-keyring, then the bus. Idempotent.
  public func stop() {
    keyring?.stop()
    bus.stop()
  }

  deinit { stop() }
}
