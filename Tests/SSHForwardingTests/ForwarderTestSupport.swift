import Foundation
import LabSupport
import SSHForwarding
import Synchronization
import TunnelCore

/// A lab (echo server + OpenSSH bastion and target) and helpers shared by the forwarder tests.
final class ForwarderLab {
  let directory: LabDirectory
  let echo: TCPEchoServer
  let lab: SSHLab

  init(echo behavior: TCPEchoServer.Behavior = .echo, variant: SSHLab.Variant = .bastionAndTarget) throws {
    directory = try LabDirectory(prefix: "sshfwd")
    echo = try TCPEchoServer(behavior: behavior)
    do {
      lab = try SSHLab.start(
        in: directory, forwardTarget: HostPort(host: "127.0.0.1", port: echo.port), variant: variant)
    } catch {
      echo.stop()
      throw error
    }
  }

  func stop() {
    lab.stop()
    echo.stop()
  }

  deinit { stop() }

  static var options: BastionPortForwarder.Options {
    var options = BastionPortForwarder.Options()
    options.agent = .none
    options.connectTimeout = .seconds(60)
    options.randomSeed = 42
    options.backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1))
    return options
  }

  /// A forwarder whose SSH path is up (bounded wait), with the lab's default settings.
  func startedForwarder() async throws -> BastionPortForwarder {
    let forwarder = try forwarder()
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
    return forwarder
  }

  func forwarder(
    _ settings: SSHSettings? = nil, options: BastionPortForwarder.Options = ForwarderLab.options,
    passphrase: String? = nil
  ) throws -> BastionPortForwarder {
    let bytes = passphrase.map { Array($0.utf8) }
    return try BastionPortForwarder(
      settings: settings ?? lab.settings(), options: options, environment: ["HOME": directory.url.path],
      passphraseProvider: { _ in bytes })
  }
}

/// Blocking I/O on a forwarder stream, bounded by SO_RCVTIMEO/SO_SNDTIMEO; the stream keeps
/// ownership of its descriptor.
func streamClient(_ socket: StreamSocket, timeout: Int = 30) -> LabTCPClient {
  LabTCPClient(borrowing: socket.descriptor, timeout: .seconds(timeout))
}

/// Runs `body` with a deadline: fails instead of hanging when the forwarder never answers. The
/// body is not awaited past the deadline (a structured task group would wait for it forever).
func withDeadline<T: Sendable>(
  _ limit: Duration = .seconds(60), _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
  let once = ResumeOnce<T>()
  return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
    once.install(continuation)
    Task {
      do { once.resume(.success(try await body())) } catch { once.resume(.failure(error)) }
    }
    Task {
      try? await Task.sleep(for: limit)
      once.resume(.failure(LabError("timed out after \(limit): \(what)")))
    }
  }
}

final class ResumeOnce<T: Sendable>: Sendable {
  private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, result: Result<T, any Error>?)>(
    (nil, nil))

  func install(_ continuation: CheckedContinuation<T, any Error>) {
    let early = state.withLock { s -> Result<T, any Error>? in
      if let r = s.result { return r }
      s.continuation = continuation
      return nil
    }
    if let early { continuation.resume(with: early) }
  }

  func resume(_ result: Result<T, any Error>) {
    let c = state.withLock { s -> CheckedContinuation<T, any Error>? in
      guard s.result == nil else { return nil }
      s.result = result
      defer { s.continuation = nil }
      return s.continuation
    }
    c?.resume(with: result)
  }
}

// Shared by the forwarder lab suites.

/// The `SHA256:…` fingerprint of a public key file, as OpenSSH prints it.
func fingerprint(of publicKeyPath: String) throws -> String {
  let r = try runTool("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", publicKeyPath])
  guard let field = r.output.split(separator: " ").first(where: { $0.hasPrefix("SHA256:") }) else {
    throw LabError("no fingerprint in: \(r.output)")
  }
  return String(field)
}

func startFailure(_ forwarder: BastionPortForwarder) async throws -> SSHError {
  do {
    try await withDeadline(.seconds(90), "start") { try await forwarder.start() }
  } catch let error as SSHError {
    await forwarder.stop()
    return error
  }
  await forwarder.stop()
  throw LabError("start() succeeded but should have failed")
}

func roundTrip(_ forwarder: BastionPortForwarder, _ text: String = "ping") async throws -> Bool {
  let stream = try await withDeadline(.seconds(90), "openStream") { try await forwarder.openStream() }
  let io = streamClient(stream)
  try io.send(Array(text.utf8))
  return try io.receive(exactly: text.utf8.count) == Array(text.utf8)
}
