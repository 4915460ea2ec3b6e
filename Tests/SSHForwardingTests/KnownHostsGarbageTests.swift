import Foundation
import LabSupport
import MCPTunnelTestSupport
import TestTiers
import Testing
import TunnelCore

@testable import SSHForwarding

/// known_hosts files with garbage lines, checked through `KnownHostsVerifier.check` with real
/// public keys (made once with `ssh-keygen`; public keys are not secrets) and libssh2's own
/// known-hosts code, without a handshake: a valid entry still verifies among garbage, `@revoked`
/// refuses the key, and a file of garbage alone is the unknown-host error (exit 6), never a crash.
@Suite("known_hosts with garbage lines", .tags(.lab), .offPool)
struct KnownHostsGarbageTests {
  struct TestKey {
    var name: String
    var base64: String
    var fingerprint: String

    var hostKey: HostKey {
      var digest = String(fingerprint.dropFirst("SHA256:".count))
      while digest.count % 4 != 0 { digest += "=" }
      return HostKey(
        type: KnownHostsVerifier.keyType(named: name) ?? -1, blob: Array(Data(base64Encoded: base64)!),
        sha256: Array(Data(base64Encoded: digest)!))
    }
  }

  static let k1 = TestKey(
    name: "ssh-ed25519",
    base64: "AAAAC3NzaC1lZDI1NTE5AAAAIEjI/Eg1GsPSc18zlDTHaAsGx7xyBdKOSl086TiARF5U",
    fingerprint: "SHA256:Atysv4VwzHcWM6e/lgWPaqMpwNQaMRFgAwAi5BuWsTI")
  static let k2 = TestKey(
    name: "ssh-ed25519",
    base64: "AAAAC3NzaC1lZDI1NTE5AAAAIP+F4dXOOtWsSk8Q5bL9BvlqvNTS1KRRwDP0Mtza7pOd",
    fingerprint: "SHA256:FUZKLN0Ms/PmGiav3zQOzDaB5PbpkC03gNV+d/RFl3s")
  static let k3 = TestKey(
    name: "ecdsa-sha2-nistp256",
    base64:
      "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOCy/5IMmVvcIp/huQeD4v0UBkCp9Hz9+z4l2IB9biddA4FuBeyvlvMxYQ5qCra2q6dr3VrQjWeHAtzrx6Z4BIU=",
    fingerprint: "SHA256:8kKyg0RDs+o42kmEc6wRqP9PTleWm4YUEXO2WXeG9uQ")

  static let host = HostPort(host: "bastion.example.test", port: 22)
  static let valid = "bastion.example.test ssh-ed25519 \(k1.base64)"
  /// `ssh-keygen -H` of `valid`.
  static let hashed =
    "|1|YjG4Wo5cEpUpj6K6eYvw726MXFw=|sd/gKAegcnoYcEJ9oghmoMD/JSs= ssh-ed25519 \(k1.base64)"

  /// Garbage that must never match, refuse or crash, one line per class (as bytes: some are not UTF-8).
  static let garbage: [(name: String, line: [UInt8])] = [
    ("random bytes", [0x8F, 0x00, 0xFF, 0x1B, 0x5B, 0x32, 0x4A, 0xC3, 0x28, 0x7F, 0x20, 0x7C, 0x31, 0x7C]),
    ("NUL inside an entry", Array("other.example ssh-ed25519 AAAA\u{0}\(k2.base64)".utf8)),
    ("Latin-1 comment", Array("# caf".utf8) + [0xE9]),
    ("comment", Array("# bastion.example.test ssh-ed25519 \(k2.base64)".utf8)),
    ("truncated base64", Array("other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEjI".utf8)),
    ("base64 that is not", Array("other.example ssh-ed25519 !!!!not*base64!!!!".utf8)),
    ("no key", Array("bastion.example.test ssh-ed25519".utf8)),
    ("host only", Array("bastion.example.test".utf8)),
    ("unknown key type", Array("bastion.example.test ssh-foo \(k2.base64)".utf8)),
    ("@cert-authority", Array("@cert-authority *.example.test ssh-ed25519 \(k2.base64)".utf8)),
    ("@revoked of another key", Array("@revoked bastion.example.test ssh-ed25519 \(k2.base64)".utf8)),
    ("short @revoked", Array("@revoked bastion.example.test".utf8)),
    ("unknown marker", Array("@trusted bastion.example.test ssh-ed25519 \(k2.base64)".utf8)),
    ("hashed, bad salt", Array("|1|!!!!|sd/gKAegcnoYcEJ9oghmoMD/JSs= ssh-ed25519 \(k2.base64)".utf8)),
    ("hashed, empty salt", Array("|1||sd/gKAegcnoYcEJ9oghmoMD/JSs= ssh-ed25519 \(k2.base64)".utf8)),
    ("hashed, huge salt", Array("|1|\(String(repeating: "QUFB", count: 2000))|abc= ssh-ed25519 \(k2.base64)".utf8)),
    ("hashed, no hash", Array("|1|YjG4Wo5cEpUpj6K6eYvw726MXFw= ssh-ed25519 \(k2.base64)".utf8)),
    ("hashed, other version", Array("|2|YjG4Wo5cEpUpj6K6eYvw726MXFw=|abc= ssh-ed25519 \(k2.base64)".utf8)),
    ("bad port", Array("[bastion.example.test]:notaport ssh-ed25519 \(k2.base64)".utf8)),
    ("unclosed bracket", Array("[bastion.example.test:22 ssh-ed25519 \(k2.base64)".utf8)),
    ("very long host list", Array((String(repeating: "h,", count: 200_000) + " ssh-ed25519 \(k2.base64)").utf8)),
    ("very long key", Array("other.example ssh-ed25519 \(String(repeating: "A", count: 1 << 20))".utf8)),
    ("tabs", Array("\t\tother.example\tssh-ed25519\t\(k2.base64)\t".utf8)),
    ("lone CR inside", Array("other.example\rssh-ed25519 \(k2.base64)".utf8)),
  ]

  /// The garbage classes but the two huge lines (read in `validAmongGarbage`), so that the
  /// property spends its time on variety rather than on re-reading megabytes.
  static let smallGarbage = garbage.map(\.line).filter { $0.count < 10_000 }

  /// Writes `lines` joined with `ending` and checks `key` for `address`.
  static func check(
    _ lines: [[UInt8]], ending: [UInt8] = [0x0A], key: TestKey = k1, address: HostPort = host,
    policy: HostKeyPolicy = .strict, in directory: LabDirectory
  ) throws -> Result<HostKey, SSHError> {
    let path = directory.path("known_hosts")
    try Data(Array(lines.joined(separator: ending))).write(to: URL(fileURLWithPath: path))
    return checkFile(path, key: key, address: address, policy: policy)
  }

  static func checkFile(
    _ path: String, key: TestKey = k1, address: HostPort = host, policy: HostKeyPolicy = .strict
  ) -> Result<HostKey, SSHError> {
    Result { () throws(SSHError) -> HostKey in
      let session = try SessionHandle(abstract: nil)
      return try KnownHostsVerifier(path: path, policy: policy).check(
        key.hostKey, address: address, hop: "hop 1 (bastion.example.test)", session: session)
    }
  }

  @Test("a valid entry verifies next to each class of garbage line, before or after it, LF or CRLF")
  func validAmongGarbage() throws {
    let directory = try LabDirectory(prefix: "kh")
    for (name, line) in Self.garbage {
      for ending in [[UInt8(0x0A)], [0x0D, 0x0A], [0x0D]] {
        for entry in [Self.valid, Self.hashed] {
          for lines in [[line, Array(entry.utf8)], [Array(entry.utf8), line]] {
            let result = try Self.check(lines, ending: ending, in: directory)
            #expect((try? result.get()) != nil, "\(name), ending \(ending), \(entry.prefix(4)): \(result)")
          }
        }
      }
    }
  }

  @Test("a file of nothing but garbage is the unknown-host error (exit 6) with the fix, never a crash")
  func onlyGarbage() throws {
    let directory = try LabDirectory(prefix: "kh")
    let result = try Self.check(Self.garbage.map(\.line), in: directory)
    guard case .failure(let error) = result else {
      Issue.record("garbage verified the key")
      return
    }
    #expect(error.category == .hostKeyVerification)
    #expect(error.summary.contains("the host key is unknown: ssh-ed25519 \(Self.k1.fingerprint)"), "\(error)")
    #expect(error.fix?.contains("accept-new") == true)
    #expect(!error.retryable)
  }

  @Test("@revoked of the presented key refuses it even next to a valid entry, whatever the line order")
  func revoked() throws {
    let directory = try LabDirectory(prefix: "kh")
    let revokedLine = Array("@revoked * ssh-ed25519 \(Self.k1.base64)".utf8)
    for lines in [[revokedLine, Array(Self.valid.utf8)], [Array(Self.valid.utf8), Array("   ".utf8), revokedLine]] {
      guard case .failure(let error) = try Self.check(lines, ending: [0x0D, 0x0A], in: directory) else {
        Issue.record("a revoked key was accepted")
        continue
      }
      #expect(error.category == .hostKeyVerification)
      #expect(error.summary.contains("is marked @revoked"))
      #expect(error.fix?.isEmpty == false)
      #expect(!error.retryable)
    }
  }

  @Test("another key for the host is CHANGED; an entry only for other hosts, an empty or missing file is unknown")
  func otherOutcomes() throws {
    let directory = try LabDirectory(prefix: "kh")
    let other = try Self.check([Array("bastion.example.test ssh-ed25519 \(Self.k2.base64)".utf8)], in: directory)
    if case .failure(let error) = other {
      #expect(error.summary.contains("has CHANGED") && error.category == .hostKeyVerification, "\(error)")
    } else {
      Issue.record("a different key verified")
    }
    for file in [
      [Array("elsewhere.example ssh-ed25519 \(Self.k1.base64)".utf8)],
      [Array("[bastion.example.test]:2222 ssh-ed25519 \(Self.k1.base64)".utf8)], [],
    ] {
      let result = try Self.check(file, in: directory)
      if case .failure(let error) = result {
        #expect(error.summary.contains("is unknown"), "\(error)")
      } else {
        Issue.record("verified from \(file.count) unrelated lines")
      }
    }
    for path in [directory.path("missing/known_hosts"), directory.url.path] {
      if case .failure(let error) = Self.checkFile(path) {
        #expect(error.summary.contains("is unknown") && error.category == .hostKeyVerification, "\(error)")
      } else {
        Issue.record("verified from \(path)")
      }
    }
  }

  @Test("GlobalKnownHostsFile: a key listed only there verifies; accept-new records in the user file, never there")
  func globalKnownHostsFile() throws {
    let directory = try LabDirectory(prefix: "kh")
    let user = directory.path("known_hosts")
    let global = directory.path("ssh_known_hosts")
    try Data("bastion.example.test \(Self.k1.name) \(Self.k1.base64)\n".utf8).write(to: URL(fileURLWithPath: global))
    let globalBefore = try Data(contentsOf: URL(fileURLWithPath: global))
    func check(_ key: TestKey, address: HostPort, policy: HostKeyPolicy) -> Result<HostKey, SSHError> {
      Result { () throws(SSHError) -> HostKey in
        let session = try SessionHandle(abstract: nil)
        return try KnownHostsVerifier(
          paths: [user], readOnlyPaths: [global, directory.path("missing")], policy: policy
        )
        .check(key.hostKey, address: address, hop: "hop 1 (bastion.example.test)", session: session)
      }
    }
    _ = try check(Self.k1, address: Self.host, policy: .strict).get()
    #expect(!FileManager.default.fileExists(atPath: user), "a verified key is not copied anywhere")
    let other = HostPort(host: "127.0.0.1", port: 2222)
    _ = try check(Self.k3, address: other, policy: .acceptNew).get()
    #expect(try Data(contentsOf: URL(fileURLWithPath: global)) == globalBefore, "the global file is never written")
    let recorded = try String(contentsOfFile: user, encoding: .utf8)
    #expect(recorded == "[127.0.0.1]:2222 \(Self.k3.name) \(Self.k3.base64)\n")
    if case .success = check(Self.k2, address: Self.host, policy: .acceptNew) {
      Issue.record("a key other than the global file's for the same host must be refused as changed")
    }
  }

  @Test("accept-new appends after a garbage last line with no newline, keeps the garbage, and strict then verifies")
  func acceptNewAfterGarbage() throws {
    let directory = try LabDirectory(prefix: "kh")
    let lines = Self.garbage.map(\.line) + [Array("# last line, no newline".utf8)]
    let address = HostPort(host: "127.0.0.1", port: 2222)
    _ = try Self.check(lines, key: Self.k3, address: address, policy: .acceptNew, in: directory).get()
    let path = directory.path("known_hosts")
    let after = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect(after.starts(with: Array(lines.joined(separator: [0x0A]))), "the garbage was rewritten")
    #expect(
      String(decoding: after.suffix(200), as: UTF8.self).hasSuffix(
        "\n[127.0.0.1]:2222 \(Self.k3.name) \(Self.k3.base64)\n"))
    _ = try Self.checkFile(path, key: Self.k3, address: address).get()
  }

  @Test("lab: a real handshake through a bastion verifies against known_hosts full of garbage, CRLF endings")
  func realHandshakeAmongGarbage() async throws {
    let env = try ForwarderLab()
    defer { env.stop() }
    let real = try Data(contentsOf: URL(fileURLWithPath: env.lab.knownHostsPath))
      .split(separator: 0x0A).map(Array.init)
    var lines: [[UInt8]] = []
    for (index, entry) in real.enumerated() {
      lines.append(Self.garbage[index % Self.garbage.count].line)
      lines.append(entry)
    }
    lines += Self.garbage.map(\.line)
    let path = env.directory.path("known_hosts_garbage")
    try Data(Array(lines.joined(separator: [0x0D, 0x0A]))).write(to: URL(fileURLWithPath: path))
    let forwarder = try env.forwarder(env.lab.settings(knownHosts: path))
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    let stream = try await withDeadline(.seconds(90), "openStream") { try await forwarder.openStream() }
    let io = streamClient(stream)
    try io.send(Array("ping".utf8))
    #expect(try io.receive(exactly: 4) == Array("ping".utf8))
    await forwarder.stop()
  }

  @Test("property: random garbage around a valid entry never hides it, never crashes; garbage alone is unknown")
  func garbageProperty() throws {
    let directory = try LabDirectory(prefix: "kh")
    let property = SeededProperty("known_hosts garbage", defaultIterations: 3000)
    let failures = try property.run { fuzzer -> String? in
      var lines: [[UInt8]] = (0..<fuzzer.int(0...6)).map { _ in
        let base = fuzzer.element(Self.smallGarbage)
        return fuzzer.chance(50) ? fuzzer.mutate(bytes: base, splicing: Self.smallGarbage) : base
      }
      // A mutation may drop a newline into a line; split so every line is judged on its own.
      lines = lines.flatMap { $0.split(whereSeparator: { $0 == 0x0A || $0 == 0x0D }).map(Array.init) }
      // Keep garbage that names bastion.example.test with k1's type out of the "unknown" check:
      // a mutated line can become a real (wrong-key) entry for the host, which is CHANGED, not unknown.
      let withEntry = fuzzer.chance(70)
      if withEntry {
        lines.insert(Array(fuzzer.element([Self.valid, Self.hashed]).utf8), at: fuzzer.int(0...lines.count))
      }
      let ending: [UInt8] = fuzzer.element([[0x0A], [0x0D, 0x0A]])
      fuzzer.record(Array(lines.joined(separator: ending)))
      let result = try Self.check(lines, ending: ending, in: directory)
      switch result {
      case .success where withEntry:
        return nil
      case .success:
        return "garbage alone verified the key"
      case .failure(let error) where error.category == .hostKeyVerification && error.fix != nil:
        if withEntry && !error.summary.contains("@revoked") { return "the valid entry was hidden: \(error)" }
        return nil
      case .failure(let error):
        return "unexpected error \(error)"
      }
    }
    for failure in failures { Issue.record("\(failure)") }
  }
}
