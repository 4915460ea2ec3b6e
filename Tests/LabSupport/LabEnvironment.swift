import Foundation
import TunnelCore

/// The whole test lab, or the part of it a test asks for, in one lab directory.
///
/// Dependencies are implied: the MCP server needs the token-exchange fixture, which needs the IdP;
/// the SSH lab forwards to the MCP server. Processes are launched first and waited for together, so
/// the slow parts (glewlwyd provisioning, Python start-up) overlap: the full lab starts in about
/// 1.5–2 s. `stop()` (also run by `deinit`) stops every process by PID, the reverse of start order;
/// each process also has a pid file under `<dir>/pids/` for `Tests/Lab/reap.sh`.
public final class LabEnvironment: Sendable {
  public struct Peers: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// glewlwyd.
    public static let identityProvider = Peers(rawValue: 1 << 0)
    /// The RFC 8693 fixture (implies `identityProvider`).
    public static let tokenExchange = Peers(rawValue: 1 << 1)
    /// The MCP server (implies `tokenExchange`).
    public static let mcpServer = Peers(rawValue: 1 << 2)
    /// gnome-keyring on a private bus (variant chosen by `keyringVariant`).
    public static let keyring = Peers(rawValue: 1 << 3)
    /// OpenSSH bastion + target forwarding to the MCP server (implies `mcpServer`).
    public static let ssh = Peers(rawValue: 1 << 4)

    public static let all: Peers = [.identityProvider, .tokenExchange, .mcpServer, .keyring, .ssh]
  }

  public let directory: LabDirectory
  public let identityProvider: IdentityProviderLab?
  public let tokenExchange: TokenExchangeLab?
  public let mcpServer: MCPServerLab?
  public let keyring: KeyringLab?
  public let ssh: SSHLab?
  public let mcpClient = MCPClientLab()

  /// Starts `peers` (plus what they imply) in `directory` (a fresh one by default). On failure,
  /// whatever was started is stopped again and the error quotes the failing peer's log.
  /// `idpAccessTokenTTL` is the lifetime of glewlwyd's access tokens (fault tests shorten it so
  /// that every tenant mint needs a refresh at the IdP).
  public static func start(
    _ peers: Peers, keyringVariant: KeyringLab.Variant = .unlocked, tenants: [String] = ["acme", "globex"],
    sessionTokenTTL: Int = 300, in directory: LabDirectory? = nil, idpAccessTokenTTL: Int = 300
  ) throws -> LabEnvironment {
    var wanted = peers
    if wanted.contains(.ssh) { wanted.insert(.mcpServer) }
    if wanted.contains(.mcpServer) { wanted.insert(.tokenExchange) }
    if wanted.contains(.tokenExchange) { wanted.insert(.identityProvider) }
    let directory = try directory ?? LabDirectory(prefix: "lab")

    var started: [() -> Void] = []
    func stopAll() { for stop in started.reversed() { stop() } }
    do {
      let idp = try wanted.contains(.identityProvider) ? IdentityProviderLab.launch(in: directory) : nil
      if let idp { started.append(idp.stop) }
      let sts = try idp.flatMap {
        wanted.contains(.tokenExchange)
          ? try TokenExchangeLab.launch(in: directory, idp: $0, tenants: tenants, ttl: sessionTokenTTL) : nil
      }
      if let sts { started.append(sts.stop) }
      let mcp = try sts.flatMap {
        wanted.contains(.mcpServer) ? try MCPServerLab.launch(in: directory, tokenExchange: $0) : nil
      }
      if let mcp { started.append(mcp.stop) }
      let keyring = try wanted.contains(.keyring) ? KeyringLab.start(in: directory, variant: keyringVariant) : nil
      if let keyring { started.append(keyring.stop) }

      try idp?.waitUntilReady(accessTokenTTL: idpAccessTokenTTL)
      try sts?.waitUntilReady()
      try mcp?.waitUntilReady()
      let ssh = try mcp.flatMap {
        wanted.contains(.ssh)
          ? try SSHLab.start(in: directory, forwardTarget: HostPort(host: "127.0.0.1", port: $0.port)) : nil
      }
      return LabEnvironment(directory: directory, idp: idp, sts: sts, mcp: mcp, keyring: keyring, ssh: ssh)
    } catch {
      stopAll()
      throw error
    }
  }

  private init(
    directory: LabDirectory, idp: IdentityProviderLab?, sts: TokenExchangeLab?, mcp: MCPServerLab?,
    keyring: KeyringLab?, ssh: SSHLab?
  ) {
    self.directory = directory
    identityProvider = idp
    tokenExchange = sts
    mcpServer = mcp
    self.keyring = keyring
    self.ssh = ssh
  }

  /// Each started peer, unwrapped; throws (naming it) when the test did not ask for it.
  public func idp() throws -> IdentityProviderLab { try require(identityProvider, "identityProvider") }
  public func sts() throws -> TokenExchangeLab { try require(tokenExchange, "tokenExchange") }
  public func mcp() throws -> MCPServerLab { try require(mcpServer, "mcpServer") }
  public func secretService() throws -> KeyringLab { try require(keyring, "keyring") }
  public func sshLab() throws -> SSHLab { try require(ssh, "ssh") }

  private func require<T>(_ value: T?, _ name: String) throws -> T {
    guard let value else { throw LabError("the lab was started without .\(name)") }
    return value
  }

  /// Device login at the IdP, then an exchange for `tenant`: a token the MCP server accepts.
  public func tenantToken(_ tenant: String) async throws -> String {
    let login = try await idp().deviceLogin()
    return try await sts().mint(subjectToken: login.accessToken, tenant: tenant)
  }

  /// Stops everything by PID, in reverse start order. Idempotent.
  public func stop() {
    ssh?.stop()
    keyring?.stop()
    mcpServer?.stop()
    tokenExchange?.stop()
    identityProvider?.stop()
  }

  deinit { stop() }
}
