import AuditLog
import Foundation
import Keyring
import OAuth
import SSHForwarding
import TokenProxy
import TunnelCore

/// Everything a command may touch outside the process: built for real by `live()` — the only
/// place concrete adapters are constructed — and replaced by in-memory twins in tests.
public struct AppEnvironment: Sendable {
  public var environment: [String: String]
  public var configurationStore: any ConfigurationStore
  public var output: any OutputSink
  /// The refresh-token store (Secret Service in production).
  public var makeSecretStore: @Sendable () -> any SecretStore
  /// The identity provider for a profile's `[idp]`.
  public var makeIdentityProvider: @Sendable (IdentityProviderSettings) -> any IdentityProvider
  /// The RFC 8693 endpoint for a profile's `[session]` (`method = "token-exchange"`).
  public var makeSessionMinter: @Sendable (SessionSettings, IdentityProviderSettings) -> any SessionTokenMinter
  /// The SSH path for a profile's `[ssh]`, its hops resolved (`sshRoute(for:)`).
  public var makePortForwarder: @Sendable (SSHRoute, [String: String]) throws -> any PortForwarder
  /// What OpenSSH's client config says about a host (`ssh -G`), for `ssh.ssh_config`.
  public var sshConfigResolver: any SSHConfigResolver
  /// The cross-process refresh lock for a profile (SPEC §6).
  public var makeRefreshLock: @Sendable (_ profile: String, _ paths: XDGPaths) throws -> any CrossProcessLock
  /// Opens a URL in the user's browser; returns false when it could not.
  public var openBrowser: @Sendable (URL) -> Bool
  /// The audit log of a profile (SPEC §6, §7).
  public var makeAuditSink: @Sendable (_ profile: String, _ paths: XDGPaths) throws -> any AuditSink
  /// `up`, `stdio`: who owns the peer socket of an accepted connection (`listen.peers`, SPEC §5).
  public var makePeerLookup: @Sendable () -> any PeerCredentialLookup
  /// `doctor`: describes the D-Bus session bus that answers, or throws with the fix.
  public var checkSessionBus: @Sendable (_ environment: [String: String]) throws -> String
  /// `doctor`: describes the SSH credentials the hops can use, or throws with the fix.
  public var checkSSHCredentials: @Sendable (SSHRoute, _ environment: [String: String]) throws -> String
  /// `up`: calls the handler with the signal's name on SIGINT/SIGTERM (instead of dying) until the
  /// returned cancel function is called.
  public var onTerminationSignal: @Sendable (_ handler: @escaping @Sendable (String) -> Void) -> @Sendable () -> Void
  /// How long a command waits for the running `up` to answer a control request: the live value is
  /// `ControlChannel.answerTimeout(for:)`. Not an outside system, so it has a default; twins wait
  /// minutes, since in a test a deadline only turns a hang into a failure.
  public var controlAnswerTimeout: @Sendable (ControlRequest.Operation) -> Duration = {
    ControlChannel.answerTimeout(for: $0)
  }

  /// Every factory is named: there are no defaults, so a test cannot reach a live system by
  /// leaving one out. `live()` is the only caller that passes live adapters; tests use
  /// `AppEnvironment.twins(…)` (MCPTunnelCLITests), whose factories fail unless a twin is installed.
  public init(
    environment: [String: String], configurationStore: any ConfigurationStore, output: any OutputSink,
    makeSecretStore: @escaping @Sendable () -> any SecretStore,
    makeIdentityProvider: @escaping @Sendable (IdentityProviderSettings) -> any IdentityProvider,
    makeSessionMinter: @escaping @Sendable (SessionSettings, IdentityProviderSettings) -> any SessionTokenMinter,
    makePortForwarder: @escaping @Sendable (SSHRoute, [String: String]) throws -> any PortForwarder,
    sshConfigResolver: any SSHConfigResolver,
    makeRefreshLock: @escaping @Sendable (String, XDGPaths) throws -> any CrossProcessLock,
    openBrowser: @escaping @Sendable (URL) -> Bool,
    makeAuditSink: @escaping @Sendable (String, XDGPaths) throws -> any AuditSink,
    makePeerLookup: @escaping @Sendable () -> any PeerCredentialLookup,
    checkSessionBus: @escaping @Sendable ([String: String]) throws -> String,
    checkSSHCredentials: @escaping @Sendable (SSHRoute, [String: String]) throws -> String,
    onTerminationSignal: @escaping @Sendable (@escaping @Sendable (String) -> Void) -> @Sendable () -> Void
  ) {
    self.environment = environment
    self.configurationStore = configurationStore
    self.output = output
    self.makeSecretStore = makeSecretStore
    self.makeIdentityProvider = makeIdentityProvider
    self.makeSessionMinter = makeSessionMinter
    self.makePortForwarder = makePortForwarder
    self.sshConfigResolver = sshConfigResolver
    self.makeRefreshLock = makeRefreshLock
    self.openBrowser = openBrowser
    self.makeAuditSink = makeAuditSink
    self.makePeerLookup = makePeerLookup
    self.checkSessionBus = checkSessionBus
    self.checkSSHCredentials = checkSSHCredentials
    self.onTerminationSignal = onTerminationSignal
  }

  /// The real process: its environment, files, terminal and every live adapter.
  public static func live() -> AppEnvironment {
    // One OpenIDProvider per IdP for the process: the login and the token exchange share its HTTP
    // client and its discovery.
    let providers = OpenIDProviders()
    return AppEnvironment(
      environment: ProcessInfo.processInfo.environment,
      configurationStore: LocalConfigurationStore(),
      output: StandardOutputSink(),
      // Every keyring call in a child (`MCPTunnelCommand.keyringHelperArgument`): a long-running up
      // or stdio never maps libsecret and the GLib stack beneath it.
      makeSecretStore: {
        HelperProcessKeyring(executable: "/proc/self/exe", arguments: [MCPTunnelCommand.keyringHelperArgument])
      },
      makeIdentityProvider: { providers.provider(for: $0) },
      makeSessionMinter: { TokenExchangeClient(endpoint: $0.endpoint, provider: providers.provider(for: $1)) },
      makePortForwarder: { try BastionPortForwarder(route: $0, environment: $1) },
      sshConfigResolver: OpenSSHConfigResolver(),
      makeRefreshLock: { try FileLock.refreshLock(profile: $0, paths: $1) },
      openBrowser: BrowserLauncher.open,
      makeAuditSink: { try AuditFileWriter(paths: $1, profile: $0) },
      makePeerLookup: { SocketDiagPeerLookup() },
      checkSessionBus: { try SessionBusCheck.describe(environment: $0) },
      checkSSHCredentials: { try SSHCredentialsCheck.describe(route: $0, environment: $1) },
      onTerminationSignal: TerminationSignals.install)
  }

  /// The environment the running command sees. Commands read it through this task-local so tests
  /// can run a parsed command against twins with `AppEnvironment.$current.withValue(…)`.
  @TaskLocal public static var current: AppEnvironment = .live()

  public var loader: ConfigurationLoader { ConfigurationLoader(store: configurationStore, environment: environment) }
  public var paths: XDGPaths { XDGPaths(environment: environment) }
}

extension AppEnvironment {
  /// Appends `event` to the profile's audit log. A failure to write is reported on stderr but never
  /// undoes what was done (a login stays stored, a logout stays wiped).
  ///
  /// Off the cooperative pool: the live sink appends under an `flock` that a running `up` of the
  /// same profile may hold, and writes (and may `fsync`) a file on a possibly slow disk.
  func audit(_ event: AuditEvent) async {
    let makeAuditSink = makeAuditSink
    let paths = paths
    do {
      try await runOffPool { try makeAuditSink(event.profile, paths).record(event) }
    } catch {
      output.writeDiagnostic("warning: could not write the audit log: \(error)\n")
    }
  }
}

extension AppEnvironment {
  /// The profile's hops as they will be connected: `[ssh]` with each name looked up in
  /// `ssh.ssh_config` (`ssh -G`), the TOML's own values winning (`SSHRoutePlanner`).
  func sshRoute(for settings: SSHSettings) async throws(CoreError) -> SSHRoute {
    var host = [CChar](repeating: 0, count: 256)
    let localHostName = gethostname(&host, host.count) == 0 ? String(cString: host) : "localhost"
    return try await SSHRoutePlanner(
      resolver: sshConfigResolver, environment: environment, localUser: UpEventReporter.currentUser(),
      localHostName: localHostName, userID: Int(getuid())
    ).route(for: settings)
  }
}
