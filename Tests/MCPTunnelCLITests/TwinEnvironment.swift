import Foundation
import MCPTunnelTestSupport
import Testing
import TunnelCore

@testable import MCPTunnelCLI

extension AppEnvironment {
  /// An environment for in-process command tests that fails closed: a factory the test did not
  /// install records an issue (the test fails) and then throws, or hands back an in-memory twin,
  /// so an undeclared keyring, IdP, SSH path, lock, audit log, browser or probe is never the real one.
  static func twins(
    environment: [String: String], configurationStore: any ConfigurationStore, output: any OutputSink,
    makeSecretStore: (@Sendable () -> any SecretStore)? = nil,
    makeIdentityProvider: (@Sendable (IdentityProviderSettings) -> any IdentityProvider)? = nil,
    makeSessionMinter: (@Sendable (SessionSettings, IdentityProviderSettings) -> any SessionTokenMinter)? = nil,
    makePortForwarder: (@Sendable (SSHRoute, [String: String]) throws -> any PortForwarder)? = nil,
    sshConfigResolver: (any SSHConfigResolver)? = nil,
    makeRefreshLock: (@Sendable (String, XDGPaths) throws -> any CrossProcessLock)? = nil,
    openBrowser: (@Sendable (URL) -> Bool)? = nil,
    makeAuditSink: (@Sendable (String, XDGPaths) throws -> any AuditSink)? = nil,
    makePeerLookup: (@Sendable () -> any PeerCredentialLookup)? = nil,
    checkSessionBus: (@Sendable ([String: String]) throws -> String)? = nil,
    checkSSHCredentials: (@Sendable (SSHRoute, [String: String]) throws -> String)? = nil,
    onTerminationSignal: (@Sendable (@escaping @Sendable (String) -> Void) -> @Sendable () -> Void)? = nil
  ) -> AppEnvironment {
    var twins = AppEnvironment(
      environment: environment, configurationStore: configurationStore, output: output,
      makeSecretStore: makeSecretStore
        ?? {
          undeclared("makeSecretStore")
          return InMemorySecretStore()
        },
      makeIdentityProvider: makeIdentityProvider
        ?? { _ in
          undeclared("makeIdentityProvider")
          return InMemoryIdentityProvider()
        },
      makeSessionMinter: makeSessionMinter
        ?? { _, _ in
          undeclared("makeSessionMinter")
          return InMemorySessionTokenMinter()
        },
      makePortForwarder: makePortForwarder ?? { _, _ in throw undeclared("makePortForwarder") },
      // A twin with no config files: `ssh_config` then means nothing, as when ~/.ssh/config is absent.
      sshConfigResolver: sshConfigResolver ?? InMemorySSHConfigResolver(),
      makeRefreshLock: makeRefreshLock ?? { _, _ in throw undeclared("makeRefreshLock") },
      openBrowser: openBrowser
        ?? { _ in
          undeclared("openBrowser")
          return false
        },
      makeAuditSink: makeAuditSink ?? { _, _ in throw undeclared("makeAuditSink") },
      makePeerLookup: makePeerLookup
        ?? {
          undeclared("makePeerLookup")
          return InMemoryPeerCredentialLookup()
        },
      checkSessionBus: checkSessionBus ?? { _ in throw undeclared("checkSessionBus") },
      checkSSHCredentials: checkSSHCredentials ?? { _, _ in throw undeclared("checkSSHCredentials") },
      onTerminationSignal: onTerminationSignal
        ?? { _ in
          undeclared("onTerminationSignal")
          return {}
        })
    // The twin `up` answers from the cooperative pool, which other tests may keep busy for
    // seconds: wait for the answer as an event, the deadline only catching a hang.
    twins.controlAnswerTimeout = { _ in .seconds(300) }
    return twins
  }

  /// Records that a command reached a factory the test did not declare; the error to throw.
  @discardableResult
  private static func undeclared(_ factory: String) -> CoreError {
    Issue.record("the command under test used AppEnvironment.\(factory), which this test did not install")
    return CoreError(.internalError, "AppEnvironment.\(factory) is not installed in this test")
  }
}
