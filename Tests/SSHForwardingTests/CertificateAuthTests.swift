import Foundation
import LabSupport
import SSHForwarding
import TestTiers
import Testing
import TunnelCore

/// OpenSSH user certificates and agent-held keys against the lab's real sshd pair, which trusts
/// the lab's user CA (`TrustedUserCAKeys`) and lists none of the certificate keys in authorized_keys.
@Suite("Forwarder certificates and agent keys", .tags(.lab), .offPool, .serialized)
struct CertificateAuthTests {
  /// A real `ssh-agent -D` on a socket in the lab directory, holding `keys` (`ssh-add K` also loads
  /// `K-cert.pub` when it sits next to K). Stop it with `stop()`.
  private func startAgent(_ env: ForwarderLab, name: String, keys: [String]) throws -> (LabProcess, String) {
    let socket = env.directory.path("\(name).sock")
    let agent = try LabProcess(
      name: name, executable: "/usr/bin/ssh-agent", arguments: ["-D", "-a", socket], environment: [:],
      directory: env.directory)
    try waitUntil(timeout: .seconds(10), "the agent socket", process: agent) {
      FileManager.default.fileExists(atPath: socket)
    }
    for key in keys {
      let add = try runTool("/usr/bin/ssh-add", [key], environment: ["SSH_AUTH_SOCK": socket])
      guard add.status == 0 else { throw LabError("ssh-add \(key) failed: \(add.output)") }
    }
    return (agent, socket)
  }

  private func agentOnly(_ env: ForwarderLab, socket: String) throws -> (SSHSettings, BastionPortForwarder) {
    var options = ForwarderLab.options
    options.agent = .socket(socket)
    var settings = env.lab.settings()
    settings.identity = nil
    return (settings, try env.forwarder(settings, options: options))
  }

  // MARK: certificate files

  @Test("a key that is in no authorized_keys logs in at both hops with its K-cert.pub")
  func certificateOnlyIdentity() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try env.forwarder(env.lab.settings(identity: env.lab.certKeyPath))
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder))
    await forwarder.stop()
    for log in [env.lab.bastionLog(), env.lab.targetLog()] {
      #expect(log.contains("Accepted publickey for \(env.lab.user)"), "\(log)")
      #expect(log.contains("ECDSA-CERT") && log.contains("ID lab-id_cert (serial 7)"), "\(log)")
    }
  }

  @Test("the same key without its certificate is refused; ssh.certificate names one kept elsewhere")
  func keyWithoutCertificate() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let alone = env.directory.path("alone")
    try FileManager.default.createDirectory(atPath: alone, withIntermediateDirectories: true)
    let key = alone + "/id_cert"
    try FileManager.default.copyItem(atPath: env.lab.certKeyPath, toPath: key)
    try FileManager.default.copyItem(atPath: env.lab.certKeyPath + ".pub", toPath: key + ".pub")

    let refused = try await startFailure(try env.forwarder(env.lab.settings(identity: key)))
    #expect(refused.category == .sshConnection)
    #expect(refused.summary.contains("hop 1/2"), "\(refused)")
    #expect(refused.summary.contains("identity file \(key) (refused by the server)"), "\(refused)")
    #expect(!refused.summary.contains("certificate"), "\(refused)")

    let issued = env.directory.path("issued-by-ca.pub")
    try FileManager.default.copyItem(atPath: env.lab.certKeyPath + "-cert.pub", toPath: issued)
    var settings = env.lab.settings(identity: key)
    settings.certificate = issued
    let forwarder = try env.forwarder(settings)
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder))
    await forwarder.stop()
  }

  @Test("an expired certificate is not offered: exit-7 error with the hop, its window, principals and the fix")
  func expiredCertificate() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let error = try await startFailure(try env.forwarder(env.lab.settings(identity: env.lab.expiredCertKeyPath)))
    #expect(error.category == .sshConnection)
    #expect(!error.retryable)
    #expect(error.summary.contains("hop 1/2"), "\(error)")
    #expect(error.summary.contains("certificate \(env.lab.expiredCertKeyPath)-cert.pub"), "\(error)")
    #expect(error.summary.contains("\"lab-id_cert_expired\" serial 7"), "\(error)")
    #expect(error.summary.contains("principal \(env.lab.user)"), "\(error)")
    #expect(error.summary.contains("valid from ") && error.summary.contains(" UTC to "), "\(error)")
    #expect(error.summary.contains("EXPIRED 1d 0h ago"), "\(error)")
    #expect(error.summary.contains("not offered: it has expired"), "\(error)")
    #expect(
      error.fix?.contains("get a new certificate for \(env.lab.user)") == true, "\(String(describing: error.fix))")
    #expect(!env.lab.bastionLog().contains("ID lab-id_cert_expired"), "offered anyway:\n\(env.lab.bastionLog())")
  }

  @Test("the server refuses a certificate whose clock says it has expired: the error says so")
  func expiredByTheServersClock() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    // A local clock two days behind thinks the expired certificate is still valid and offers it.
    var options = ForwarderLab.options
    options.certificateClock = { Date(timeIntervalSinceNow: -2 * 86_400 + 3_600) }
    let error = try await startFailure(
      try env.forwarder(env.lab.settings(identity: env.lab.expiredCertKeyPath), options: options))
    #expect(error.category == .sshConnection)
    #expect(error.summary.contains("refused by the server: is its CA in the server's TrustedUserCAKeys"), "\(error)")
    #expect(error.summary.contains("valid from "), "\(error)")
    #expect(error.fix?.contains("get a new certificate") == true)
    #expect(env.lab.bastionLog().contains("expired"), "\(env.lab.bastionLog())")
  }

  @Test("a certificate for another principal is refused by the server; the error names its principals")
  func wrongPrincipal() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let error = try await startFailure(
      try env.forwarder(env.lab.settings(identity: env.lab.wrongPrincipalCertKeyPath)))
    #expect(error.category == .sshConnection)
    #expect(error.summary.contains("hop 1/2"), "\(error)")
    #expect(error.summary.contains("principal someone-else"), "\(error)")
    #expect(error.summary.contains("its principals do not include the login user \(env.lab.user)"), "\(error)")
    #expect(error.summary.contains("valid from "), "\(error)")
    #expect(error.fix?.contains("naming \(env.lab.user) as a principal") == true)
    #expect(env.lab.bastionLog().contains("someone-else") || env.lab.bastionLog().contains("principal"))
  }

  @Test("a certificate that is not valid yet is offered (the server's clock decides) and named when refused")
  func notYetValid() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let error = try await startFailure(try env.forwarder(env.lab.settings(identity: env.lab.futureCertKeyPath)))
    #expect(error.category == .sshConnection)
    #expect(error.summary.contains("NOT YET VALID"), "\(error)")
    #expect(error.summary.contains("refused by the server: it is not valid yet"), "\(error)")
  }

  @Test("an ed25519 certificate logs in at both hops (libssh2 1.11 labels its signature ssh-ed25519)")
  func ed25519Certificate() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let forwarder = try env.forwarder(env.lab.settings(identity: env.lab.ed25519CertKeyPath))
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder))
    await forwarder.stop()
    for log in [env.lab.bastionLog(), env.lab.targetLog()] {
      #expect(log.contains("Accepted publickey") && log.contains("ED25519-CERT"), "\(log)")
    }
  }

  // MARK: agent

  @Test("ssh-agent holding a certificate (ssh-add K with K-cert.pub next to it) logs in at both hops")
  func agentCertificate() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let (agent, socket) = try startAgent(env, name: "agent-cert", keys: [env.lab.certKeyPath])
    defer { agent.stop() }
    let (_, forwarder) = try agentOnly(env, socket: socket)
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder))
    await forwarder.stop()
    for log in [env.lab.bastionLog(), env.lab.targetLog()] {
      #expect(log.contains("Accepted publickey") && log.contains("ECDSA-CERT"), "\(log)")
    }
  }

  @Test("a key held only by the agent (its file deleted, no identity configured) logs in")
  func agentOnlyKey() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let copy = env.directory.path("only-in-agent")
    try FileManager.default.copyItem(atPath: env.lab.clientKeyPath, toPath: copy)
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: copy)
    let (agent, socket) = try startAgent(env, name: "agent-only", keys: [copy])
    defer { agent.stop() }
    try FileManager.default.removeItem(atPath: copy)
    let (settings, forwarder) = try agentOnly(env, socket: socket)
    #expect(settings.identity == nil)
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    #expect(try await roundTrip(forwarder))
    await forwarder.stop()
  }

  @Test("every refused agent key is named by comment and SHA256 fingerprint")
  func refusedAgentKeysAreNamed() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let keys = [env.lab.unauthorizedKeyPath, env.lab.wrongPrincipalCertKeyPath]
    let (agent, socket) = try startAgent(env, name: "agent-refused", keys: keys)
    defer { agent.stop() }
    let (_, forwarder) = try agentOnly(env, socket: socket)
    let error = try await startFailure(forwarder)
    #expect(error.category == .sshConnection)
    let s = error.summary
    let unauthorized = try fingerprint(of: env.lab.unauthorizedKeyPath + ".pub")
    #expect(
      s.contains("ssh-agent key \"lab-id_unauthorized\" ssh-ed25519 \(unauthorized) (refused by the server)"), "\(s)")
    let wrong = try fingerprint(of: env.lab.wrongPrincipalCertKeyPath + ".pub")
    #expect(s.contains("ssh-agent key \"lab-id_cert_wrongprincipal\" ecdsa-sha2-nistp256 \(wrong)"), "\(s)")
    #expect(s.contains("ssh-agent certificate \"lab-id_cert_wrongprincipal\" \(wrong)"), "\(s)")
    #expect(s.contains("its principals do not include the login user"), "\(s)")
    #expect(s.contains("identity file (none configured"), "\(s)")
  }

  // MARK: doctor

  @Test("the credentials check names the certificate, its window and principals")
  func credentialsCheckNamesCertificate() throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let line = try SSHCredentialsCheck.describe(
      settings: env.lab.settings(identity: env.lab.expiredCertKeyPath), environment: ["HOME": env.directory.url.path])
    #expect(line.contains("key file \(env.lab.expiredCertKeyPath) with certificate"), "\(line)")
    #expect(line.contains("EXPIRED"), "\(line)")
    let (agent, socket) = try startAgent(env, name: "agent-doctor", keys: [env.lab.certKeyPath])
    defer { agent.stop() }
    var settings = env.lab.settings()
    settings.identity = nil
    let agentLine = try SSHCredentialsCheck.describe(settings: settings, environment: ["SSH_AUTH_SOCK": socket])
    #expect(agentLine.contains("(2 keys, 1 of them a certificate)"), "\(agentLine)")
  }
}
