import Foundation
import TunnelCore

/// The pieces every login-related command needs for one profile: its `[idp]`, the keyring key,
/// the store, the provider and a `LoginSession` over them.
struct LoginContext {
  var profile: Profile
  var idp: IdentityProviderSettings
  var key: StoredLoginKey
  var store: any SecretStore
  var provider: any IdentityProvider
  var environment: AppEnvironment

  init(profile: Profile, environment: AppEnvironment) throws {
    guard var idp = profile.idp else {
      throw CoreError(
        .usage,
        "profile \"\(profile.name)\" has no [profiles.\(profile.name).idp] section, so there is nothing to log in to",
        fix: "add issuer and client_id under [profiles.\(profile.name).idp] (see `mcp-tunnel config init --stdout`)")
    }
    if let session = profile.session, session.method == .resourceRefresh,
      let tenant = session.defaultTenant ?? session.tenants.first
    {
      idp.loginResource = session.resource.expand(for: tenant)
    }
    self.profile = profile
    self.idp = idp
    key = StoredLoginKey(profile: profile.name, issuer: idp.issuer.absoluteString, clientID: idp.clientID)
    store = environment.makeSecretStore()
    provider = environment.makeIdentityProvider(idp)
    self.environment = environment
  }

  /// Loads the configuration and the selected profile the usual way.
  static func load(_ global: GlobalOptions, environment: AppEnvironment) throws -> LoginContext {
    let (path, configuration) = try environment.loader.loadConfiguration(configFlag: global.config)
    let profile = try environment.loader.selectProfile(configuration, flag: global.profile, path: path)
    return try LoginContext(profile: profile, environment: environment)
  }

  func session(memoryLogin: StoredLogin? = nil) throws -> LoginSession {
    LoginSession(
      key: key, store: store, provider: provider,
      lock: try environment.makeRefreshLock(profile.name, environment.paths), memoryLogin: memoryLogin)
  }
}
