import Foundation
import Synchronization
import TunnelCore

/// The live `PortForwarder`: libssh2 sessions through `ssh.jump` hops (ProxyJump semantics) and the
/// optional `ssh.host`, carrying `direct-tcpip` channels to `ssh.target`.
///
/// One dedicated thread (not the Swift cooperative pool: libssh2 calls and `poll()` block it)
/// owns every session, channel and socket of the tunnel and runs `ForwardingLoop`. Callers on any
/// thread talk to it only through `ForwarderMailbox`; results come back through continuations and
/// the `events` stream. Host keys are checked for every hop before authenticating; after the first
/// successful connection a lost path is reconnected with backoff while queued streams wait.
public final class BastionPortForwarder: PortForwarder {
  public struct Options: Sendable {
    /// How long one attempt to bring every hop up may take.
    public var connectTimeout: Duration = .seconds(20)
    /// How long a stream waits for the path (initial connect or reconnect) before it fails.
    public var streamWaitLimit: Duration = .seconds(20)
    /// Unanswered keepalives before a leg counts as dead (OpenSSH's ServerAliveCountMax).
    public var keepaliveCountMax = 3
    public var backoff = ReconnectBackoff()
    /// Which ssh-agent to ask first. `.environment` reads `SSH_AUTH_SOCK` at `start()`.
    public var agent: AgentSource = .environment
    /// SSH window for client streams; libssh2 buffers at most this much per channel.
    /// 8 MiB rather than OpenSSH's 2 MiB: fewer window adjustments, each of which can cost a
    /// 40 ms Nagle/delayed-ACK stall inside sshd-to-sshd hops (sshd leaves Nagle on for -N sessions).
    public var streamWindowSize: UInt32 = 8 * 1024 * 1024
    /// SSH window for the channels that carry the next hop's session.
    public var transportWindowSize: UInt32 = 16 * 1024 * 1024
    /// The loop's shared read buffer.
    public var readBufferSize = 256 * 1024
    /// Seed for reconnect jitter; nil picks a random one.
    public var randomSeed: UInt64?
    /// The clock certificates' validity windows are checked against before they are offered.
    public var certificateClock: @Sendable () -> Date = { Date() }

    public init() {}
  }

  public enum AgentSource: Sendable, Equatable {
    case environment
    case none
    case socket(String)
  }

  /// The hops with their resolved settings (`SSHRoutePlanner`).
  public let route: SSHRoute
  public let options: Options
  public let events: AsyncStream<ForwarderEvent>
  private let eventContinuation: AsyncStream<ForwarderEvent>.Continuation
  private let mailbox: ForwarderMailbox
  private let environment: [String: String]
  private let passphraseProvider: PassphraseProvider
  private let lifecycle = Mutex<Lifecycle>(.created)
  /// Signalled by the I/O thread as its last act. The thread holds this, not `self`, so a
  /// forwarder that is dropped without `stop()` still stops its thread (from `deinit`).
  private let exited = ThreadExitSignal()

  private enum Lifecycle {
    case created
    case started
    case stopped
  }

  /// - Parameters:
  ///   - environment: where `SSH_AUTH_SOCK` and `HOME` (for `~/` paths) come from.
  ///   - passphraseProvider: asked for an encrypted `ssh.identity`'s passphrase; the default reads `/dev/tty`.
  public convenience init(
    settings: SSHSettings, options: Options = Options(),
    environment: [String: String] = ProcessInfo.processInfo.environment,
    passphraseProvider: @escaping PassphraseProvider = { TerminalPassphrasePrompt.read(keyPath: $0) }
  ) throws(SSHError) {
    try self.init(
      route: SSHRoute(settings: settings), options: options, environment: environment,
      passphraseProvider: passphraseProvider)
  }

  /// - Parameters:
  ///   - route: every hop with its own user, port, keys, known_hosts, HostKeyAlias and keepalive.
  ///   - environment: where `SSH_AUTH_SOCK` and `HOME` (for `~/` paths) come from.
  ///   - passphraseProvider: asked for an encrypted key's passphrase; the default reads `/dev/tty`.
  public init(
    route: SSHRoute, options: Options = Options(),
    environment: [String: String] = ProcessInfo.processInfo.environment,
    passphraseProvider: @escaping PassphraseProvider = { TerminalPassphrasePrompt.read(keyPath: $0) }
  ) throws(SSHError) {
    guard !route.hops.isEmpty else {
      throw SSHError(
        .usage, "no SSH hop configured: ssh.jump and ssh.host are both empty",
        fix: "set ssh.host (the server to forward through) or ssh.jump (bastions)", retryable: false)
    }
    self.route = route
    self.options = options
    self.environment = environment
    self.passphraseProvider = passphraseProvider
    mailbox = try ForwarderMailbox()
    (events, eventContinuation) = AsyncStream.makeStream(
      of: ForwarderEvent.self, bufferingPolicy: .bufferingNewest(256))
  }

  /// `user@host:port` of every hop, in order.
  public var hopNames: [String] { plan.hopNames }

  private var plan: ForwardingPlan {
    let environmentAgent = environment["SSH_AUTH_SOCK"].flatMap { $0.isEmpty ? nil : $0 }
    let localUser = HopConnection.currentUser()
    func expand(_ path: String) -> String { IdentityFile.expandTilde(path, environment: environment) }
    let hops = route.hops.map { hop -> PlannedHop in
      let agent: String? =
        switch options.agent {
        case .environment:
          switch hop.identityAgent {
          case nil: environmentAgent
          case "none": nil
          case .some(let path): expand(path)
          }
        case .none: nil
        case .socket(let path): path
        }
      var identities = hop.identityFiles.filter { !$0.isEmpty }.map(expand)
      // OpenSSH's built-in list: only the files that exist are worth a try (and a mention).
      if hop.identityFilesAreDefaults { identities = identities.filter { FileManager.default.fileExists(atPath: $0) } }
      return PlannedHop(
        endpoint: SSHEndpoint(user: hop.endpoint.user ?? localUser, address: hop.endpoint.address),
        identityPaths: identities, identityPathsAreDefaults: hop.identityFilesAreDefaults,
        identitiesOnly: hop.identitiesOnly, certificatePaths: hop.certificateFiles.map(expand),
        knownHostsPaths: hop.knownHostsFiles.map(expand), globalKnownHostsPaths: hop.globalKnownHostsFiles.map(expand),
        hostKeyName: hop.hostKeyAlias.map { HostPort(host: $0, port: 22) } ?? hop.endpoint.address,
        keepalive: hop.keepalive, agentSocket: agent)
    }
    return ForwardingPlan(
      hops: hops, target: route.target, hostKeyPolicy: route.hostKeyPolicy, options: options,
      passphraseProvider: passphraseProvider)
  }

  public func start() async throws {
    let canStart = lifecycle.withLock { state -> Bool in
      guard case .created = state else { return false }
      state = .started
      return true
    }
    guard canStart else { throw SSHError(.internalError, "start() called twice", retryable: false) }
    let plan = self.plan
    let mailbox = self.mailbox
    let events = eventContinuation
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
      let exited = self.exited
      let thread = Thread {
        let loop = ForwardingLoop(plan: plan, mailbox: mailbox, events: events, start: continuation)
        loop.run()
        exited.signal()
      }
      thread.name = "mcp-tunnel-ssh-io"
      thread.stackSize = 1 << 20
      thread.start()
    }
  }

  public func openStream() async throws -> StreamSocket {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<StreamSocket, any Error>) in
      let request = StreamRequest(delivery: .socketPair(continuation))
      if !mailbox.post(.open(request)) {
        continuation.resume(throwing: SSHError(.sshConnection, "the tunnel is not running", retryable: false))
      }
    }
  }

  public func forward(_ client: StreamSocket) {
    if !mailbox.post(.open(StreamRequest(delivery: .client(client)))) {
      client.close()
      eventContinuation.yield(.channelFailed(reason: "the tunnel is not running"))
    }
  }

  public func stop() async {
    let wasStarted = lifecycle.withLock { state -> Bool in
      defer { state = .stopped }
      if case .started = state { return true }
      return false
    }
    guard wasStarted else {
      eventContinuation.finish()
      return
    }
    mailbox.post(.stop)
    await exited.wait()
  }

  deinit {
    mailbox.post(.stop)
  }
}

/// "The I/O thread has exited", awaitable from any task.
final class ThreadExitSignal: Sendable {
  private let state = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  func signal() {
    let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
      s.done = true
      defer { s.waiters = [] }
      return s.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  func wait() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let done = state.withLock { s -> Bool in
        if s.done { return true }
        s.waiters.append(continuation)
        return false
      }
      if done { continuation.resume() }
    }
  }
}
