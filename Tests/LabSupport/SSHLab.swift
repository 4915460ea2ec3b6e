import Foundation
import Synchronization
import TunnelCore

/// Two real OpenSSH servers on loopback, a bastion and a target, for forwarding tests.
///
/// Layout (all on 127.0.0.1, ports picked at run time):
/// ```
/// client ──ssh──▶ bastion sshd ──direct-tcpip (PermitOpen = target sshd only)──▶ target sshd
///                                                        target sshd ──direct-tcpip (PermitOpen = forwardTarget)──▶ service
/// ```
/// Both servers allow public-key logins of `user` (the current user, root in the lab) with
/// `clientKeyPath`, `ecdsaKeyPath`, `rsaKeyPath` or the passphrase-protected `encryptedKeyPath`;
/// `unauthorizedKeyPath` is a valid key that neither server accepts. Both trust the lab's user CA
/// (`userCAPublicPath`); `certKeyPath` and its siblings log in only through their `-cert.pub`
/// certificates (valid, expired, wrong principal, not yet valid, ed25519). There is no shell
/// (`ForceCommand /bin/false`, `PermitTTY no`): only `direct-tcpip` works.
///
/// Limitation: on loopback every port is reachable from the client too, so "the target is reachable
/// only through the bastion" is enforced by each hop's `PermitOpen` (the bastion may open only the
/// target sshd, the target only `forwardTarget`), not by the network.
///
/// The files are written by `Tests/Lab/ssh/setup.sh` (shared with `scripts/bench.sh`); this class
/// starts and stops the `sshd -D` processes and owns their PIDs. `stop()` (and `deinit`) end both
/// servers *and* their per-connection children, so a failing test leaves nothing behind.
///
/// Thread safety: the mutable server handles are guarded by a `Mutex`; any thread may call.
public final class SSHLab: Sendable {
  /// Which destinations each hop may open.
  public enum Variant: Sendable {
    /// The bastion may open only the target sshd; the target only `forwardTarget`.
    case bastionAndTarget
    /// As `.bastionAndTarget`, but the bastion may also open `forwardTarget`, so a single-hop path
    /// (bastion only) reaches the service.
    case bastionMayOpenForwardTarget
  }

  public let directory: LabDirectory
  public let forwardTarget: HostPort
  public let bastionPort: Int
  public let targetPort: Int
  /// The login name both servers allow (`AllowUsers`); the current user.
  public let user: String

  private let servers: Mutex<(bastion: LabProcess?, target: LabProcess?)>
  private let bastionGeneration = Mutex(0)

  /// The lab's files live in `Tests/Lab/ssh/` next to this file's directory.
  public static let scriptsDirectory: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Lab/ssh", isDirectory: true)

  /// Writes keys and configs into `directory`, starts both servers and waits until they listen.
  public static func start(
    in directory: LabDirectory, forwardTarget: HostPort, variant: Variant = .bastionAndTarget
  ) throws -> SSHLab {
    let lab = try SSHLab(directory: directory, forwardTarget: forwardTarget, variant: variant)
    do {
      try lab.startTarget()
      try lab.startBastion()
    } catch {
      lab.stop()
      throw error
    }
    return lab
  }

  private init(directory: LabDirectory, forwardTarget: HostPort, variant: Variant) throws {
    self.directory = directory
    self.forwardTarget = forwardTarget
    bastionPort = try LabNetwork.freePort()
    var t = try LabNetwork.freePort()
    while t == bastionPort { t = try LabNetwork.freePort() }
    targetPort = t
    user = String(cString: getpwuid(geteuid()).pointee.pw_name)
    servers = Mutex((nil, nil))
    var env = ProcessInfo.processInfo.environment
    if variant == .bastionMayOpenForwardTarget { env["LAB_BASTION_EXTRA_PERMIT_OPEN"] = forwardTarget.description }
    let setup = try runTool(
      "/bin/bash",
      [
        Self.scriptsDirectory.appendingPathComponent("setup.sh").path, directory.path("ssh"),
        "\(bastionPort)", "\(targetPort)", forwardTarget.description, user,
      ], environment: env)
    guard setup.status == 0 else { throw LabError("Tests/Lab/ssh/setup.sh failed (\(setup.status)):\n\(setup.output)") }
  }

  // MARK: files

  private func file(_ name: String) -> String { directory.path("ssh/\(name)") }
  /// Unencrypted ed25519 key authorized on both servers.
  public var clientKeyPath: String { file("id_ed25519") }
  /// Unencrypted ECDSA P-256 key authorized on both servers.
  public var ecdsaKeyPath: String { file("id_ecdsa") }
  /// Unencrypted RSA 3072 key authorized on both servers (signs with rsa-sha2-256/512).
  public var rsaKeyPath: String { file("id_rsa") }
  /// Passphrase-protected ed25519 key authorized on both servers; the passphrase is `encryptedKeyPassphrase`.
  public var encryptedKeyPath: String { file("id_encrypted") }
  public var encryptedKeyPassphrase: String { "lab-passphrase" }
  /// A valid ed25519 key that neither server accepts.
  public var unauthorizedKeyPath: String { file("id_unauthorized") }
  /// The lab's SSH user CA (ed25519); both servers trust it (`TrustedUserCAKeys`).
  public var userCAPublicPath: String { file("user_ca.pub") }
  /// An ECDSA key in neither authorized_keys, with `id_cert-cert.pub` next to it: a certificate
  /// from the user CA for principal `user`, valid from 5 minutes before setup to 1 hour after.
  public var certKeyPath: String { file("id_cert") }
  /// As `certKeyPath`, but the certificate expired a day before setup.
  public var expiredCertKeyPath: String { file("id_cert_expired") }
  /// As `certKeyPath`, but the certificate names only the principal `someone-else`.
  public var wrongPrincipalCertKeyPath: String { file("id_cert_wrongprincipal") }
  /// As `certKeyPath`, but the certificate becomes valid 1 hour after setup.
  public var futureCertKeyPath: String { file("id_cert_future") }
  /// An ed25519 key with a valid certificate (libssh2 1.10 could not sign with it; 1.11 can).
  public var ed25519CertKeyPath: String { file("id_cert_ed25519") }
  /// Both servers' keys as plain `[127.0.0.1]:port ssh-ed25519 …` lines.
  public var knownHostsPath: String { file("known_hosts") }
  /// The same entries hashed (`|1|salt|hash`), as with `HashKnownHosts yes`.
  public var hashedKnownHostsPath: String { file("known_hosts_hashed") }
  /// An empty known_hosts: every host key is unknown.
  public var emptyKnownHostsPath: String { file("known_hosts_empty") }
  /// OpenSSH client config: `Host bastion`, `Host target` (with `ProxyJump bastion`), identity,
  /// known_hosts, `StrictHostKeyChecking yes`, `BatchMode yes`. Use `ssh -F sshConfigPath`.
  public var sshConfigPath: String { file("ssh_config") }
  public var bastionHostKeyPublicPath: String { file("hostkey_bastion.pub") }
  public var targetHostKeyPublicPath: String { file("hostkey_target.pub") }

  public var bastionAddress: HostPort { HostPort(host: "127.0.0.1", port: bastionPort) }
  public var targetAddress: HostPort { HostPort(host: "127.0.0.1", port: targetPort) }
  public var bastionEndpoint: SSHEndpoint { SSHEndpoint(user: user, address: bastionAddress) }
  public var targetEndpoint: SSHEndpoint { SSHEndpoint(user: user, address: targetAddress) }

  /// `[profiles.P.ssh]` for the full path: jump = bastion, host = target sshd, target = forwardTarget.
  public func settings(
    identity: String? = nil, knownHosts: String? = nil, keepalive: Duration = .seconds(15),
    hostKeyPolicy: HostKeyPolicy = .strict
  ) -> SSHSettings {
    SSHSettings(
      jump: [bastionEndpoint], host: targetEndpoint, target: forwardTarget,
      knownHosts: knownHosts ?? knownHostsPath, identity: identity ?? clientKeyPath, keepalive: keepalive,
      hostKeyPolicy: hostKeyPolicy)
  }

  public var bastion: LabProcess? { servers.withLock { $0.bastion } }
  public var target: LabProcess? { servers.withLock { $0.target } }
  public func bastionLog() -> String { bastion?.log() ?? "" }
  public func targetLog() -> String { target?.log() ?? "" }

  // MARK: lifecycle

  /// Starts the bastion sshd on `bastionPort` (after a stop) and waits until it listens.
  public func startBastion() throws {
    let generation = bastionGeneration.withLock { g -> Int in
      g += 1
      return g
    }
    let process = try LabProcess(
      name: "sshd-bastion-\(generation)", executable: "/usr/sbin/sshd",
      arguments: ["-D", "-e", "-f", file("sshd_bastion.conf")], directory: directory)
    servers.withLock { $0.bastion = process }
    try LabNetwork.waitForListening(port: bastionPort, process: process)
  }

  private func startTarget() throws {
    let process = try LabProcess(
      name: "sshd-target", executable: "/usr/sbin/sshd",
      arguments: ["-D", "-e", "-f", file("sshd_target.conf")], directory: directory)
    servers.withLock { $0.target = process }
    try LabNetwork.waitForListening(port: targetPort, process: process)
  }

  /// Removes the running bastion from the table so exactly one caller stops it.
  private func takeBastion() -> LabProcess? {
    servers.withLock { s -> LabProcess? in
      defer { s.bastion = nil }
      return s.bastion
    }
  }

  /// Ends the bastion listener and every connection it serves (SIGTERM, then SIGKILL), like a
  /// bastion host going down: clients see their TCP connection closed.
  public func stopBastion() {
    guard let process = takeBastion() else { return }
    let children = ProcessTree.descendants(of: process.pid)
    process.stop()
    ProcessTree.kill(children, signal: SIGKILL)
  }

  /// SIGKILL to the bastion listener and all its connection processes at once: a crash.
  public func killBastion() {
    guard let process = takeBastion() else { return }
    let children = ProcessTree.descendants(of: process.pid)
    process.kill9()
    ProcessTree.kill(children, signal: SIGKILL)
  }

  /// Stops the bastion's connection processes with SIGSTOP (the listener keeps running): an
  /// established leg goes silent without a FIN, as when a network path dies. Only keepalive can
  /// notice. `thawBastionConnections()` resumes them.
  @discardableResult
  public func freezeBastionConnections() -> [Int32] {
    guard let process = bastion else { return [] }
    let children = ProcessTree.descendants(of: process.pid)
    ProcessTree.kill(children, signal: SIGSTOP)
    return children
  }

  public func thawBastionConnections(_ pids: [Int32]) { ProcessTree.kill(pids, signal: SIGCONT) }

  /// Stops and starts the bastion on the same port. With `newHostKey`, it comes back with a fresh
  /// host key that `knownHostsPath` does not list (a changed key, as in a MITM).
  public func restartBastion(newHostKey: Bool = false) throws {
    stopBastion()
    if newHostKey {
      let r = try runTool(
        "/bin/bash",
        [Self.scriptsDirectory.appendingPathComponent("setup.sh").path, "--rekey", directory.path("ssh"), "bastion"])
      guard r.status == 0 else { throw LabError("rekey failed: \(r.output)") }
    }
    try startBastion()
  }

  /// Stops both servers and all their connection processes. Idempotent.
  public func stop() {
    stopBastion()
    guard
      let process = servers.withLock({ s -> LabProcess? in
        defer { s.target = nil }
        return s.target
      })
    else { return }
    let children = ProcessTree.descendants(of: process.pid)
    process.stop()
    ProcessTree.kill(children, signal: SIGKILL)
  }

  deinit { stop() }
}

/// Walks `/proc` to find a process's descendants (sshd forks one or two processes per connection,
/// which outlive the listener unless they are stopped too).
public enum ProcessTree {
  public static func descendants(of root: Int32) -> [Int32] {
    var parentOf: [Int32: Int32] = [:]
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries {
      guard let pid = Int32(entry),
        let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { continue }
      // "pid (comm) state ppid …": comm may contain spaces and parentheses, so split after the last ')'.
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      if fields.count > 1, let ppid = Int32(fields[1]) { parentOf[pid] = ppid }
    }
    var result: [Int32] = []
    var frontier: Set<Int32> = [root]
    while !frontier.isEmpty {
      let next = parentOf.filter { frontier.contains($0.value) }.map(\.key)
      result += next
      frontier = Set(next)
    }
    return result
  }

  public static func kill(_ pids: [Int32], signal: Int32) {
    for pid in pids where pid > 1 { _ = Glibc.kill(pid, signal) }
  }
}
