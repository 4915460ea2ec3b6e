import CLibSecret
import Foundation
import TunnelCore

/// The refresh-token store on the freedesktop Secret Service (gnome-keyring, KeePassXC, KWallet…),
/// through libsecret.
///
/// Every GLib pointer stays in this file: attribute tables are created and unreffed within one
/// call, returned strings are copied into Swift, errors freed with `g_error_free`. libsecret
/// itself is loaded at the first call (`LibSecret`); without it every call throws exit 4 with the
/// package to install. The sync calls block the calling thread on D-Bus round trips, so callers run
/// these methods through `runOffPool`, never on the cooperative pool; they never ask for an unlock
/// prompt (no `SECRET_SEARCH_UNLOCK`), so a headless session cannot hang on an invisible dialog.
public struct SecretServiceKeyring: SecretStore {
  public init() {}

  public var backendName: String { "secret-service" }

  public func checkAvailable() throws {
    let lib = try LibSecret.functions()
    try withService(lib) { service in
      guard let collection = try defaultCollection(service, lib) else {
        throw KeyringError.noDefaultCollection()
      }
      defer { lib.c.object_unref(UnsafeMutableRawPointer(collection)) }
      if lib.c.collection_get_locked(collection) != 0 {
        throw KeyringError.locked()
      }
    }
  }

  public func store(_ login: StoredLogin, for key: StoredLoginKey) throws {
    // One entry per (profile, issuer, client). Storing with identical attributes replaces the item
    // in one D-Bus call, so a rotation never leaves a moment without an entry (RT-03); only when the
    // subject changes (another user logged in) is the old entry deleted first.
    if let existing = try load(key), existing.subject != login.subject { _ = try delete(key) }
    let lib = try LibSecret.functions()
    let attributes = Self.attributes(for: key, subject: login.subject, lib)
    defer { lib.c.hash_table_unref(attributes) }
    var error: UnsafeMutablePointer<GError>?
    let label = "mcp-tunnel refresh token (\(key.profile), \(key.issuer))"
    // off-pool: callers run every SecretStore method through runOffPool (see the type's comment)
    let ok = lib.c.password_storev_sync(
      mcp_tunnel_refresh_token_schema(), attributes, nil, label, login.refreshToken.revealedForTransmission, nil,
      &error)
    if let error { throw KeyringError.from(error, operation: "store the refresh token", lib) }
    guard ok != 0 else {
      throw KeyringError(.keyringUnavailable, "the Secret Service refused to store the refresh token")
    }
  }

  public func load(_ key: StoredLoginKey) throws -> StoredLogin? {
    let lib = try LibSecret.functions()
    let attributes = Self.attributes(for: key, subject: nil, lib)
    defer { lib.c.hash_table_unref(attributes) }
    var error: UnsafeMutablePointer<GError>?
    // SEARCH_ALL without SEARCH_UNLOCK: locked items are listed but never trigger a prompt.
    let flags = SecretSearchFlags(rawValue: SECRET_SEARCH_ALL.rawValue | SECRET_SEARCH_LOAD_SECRETS.rawValue)
    // off-pool: callers run every SecretStore method through runOffPool
    let list = lib.c.password_searchv_sync(mcp_tunnel_refresh_token_schema(), attributes, flags, nil, &error)
    if let error { throw KeyringError.from(error, operation: "look up the refresh token", lib) }
    defer { lib.c.list_free_full(list, lib.c.object_unref) }
    var node = list
    while let current = node {
      defer { node = current.pointee.next }
      guard let item = current.pointee.data else { continue }
      let retrievable = OpaquePointer(item)
      guard let itemAttributes = lib.c.retrievable_get_attributes(retrievable) else { continue }
      defer { lib.c.hash_table_unref(itemAttributes) }
      let subject = withUnsafePointer(to: lib.c) {
        mcp_tunnel_attributes_get($0, itemAttributes, "subject").map { String(cString: $0) } ?? ""
      }
      var valueError: UnsafeMutablePointer<GError>?
      // off-pool: callers run every SecretStore method through runOffPool
      let value = lib.c.retrievable_retrieve_secret_sync(retrievable, nil, &valueError)
      if let valueError { throw KeyringError.from(valueError, operation: "read the refresh token", lib) }
      guard let value else {
        // Listed but no secret loaded: the item sits in a locked collection.
        throw KeyringError.locked()
      }
      defer { lib.c.value_unref(UnsafeMutableRawPointer(value)) }
      guard let text = lib.c.value_get_text(value) else { continue }
      return StoredLogin(subject: subject, refreshToken: RefreshToken(revealing: String(cString: text)))
    }
    // Nothing listed. A locked default collection may hide items, so "no entry" would be a guess.
    try checkAvailable()
    return nil
  }

  @discardableResult
  public func delete(_ key: StoredLoginKey) throws -> Bool {
    let lib = try LibSecret.functions()
    let attributes = Self.attributes(for: key, subject: nil, lib)
    defer { lib.c.hash_table_unref(attributes) }
    var error: UnsafeMutablePointer<GError>?
    // off-pool: callers run every SecretStore method through runOffPool
    let removed = lib.c.password_clearv_sync(mcp_tunnel_refresh_token_schema(), attributes, nil, &error)
    if let error { throw KeyringError.from(error, operation: "delete the refresh token", lib) }
    return removed != 0
  }

  // MARK: - GLib plumbing

  private static func attributes(for key: StoredLoginKey, subject: String?, _ lib: LibSecret) -> OpaquePointer {
    withUnsafePointer(to: lib.c) { c in
      let table = mcp_tunnel_attributes_new(c)!
      mcp_tunnel_attributes_set(c, table, "application", "mcp-tunnel")
      mcp_tunnel_attributes_set(c, table, "profile", key.profile)
      mcp_tunnel_attributes_set(c, table, "issuer", key.issuer)
      mcp_tunnel_attributes_set(c, table, "client_id", key.clientID)
      if let subject { mcp_tunnel_attributes_set(c, table, "subject", subject) }
      return table
    }
  }

  /// Runs `body` with a freshly opened service proxy. Not the shared singleton: GDBus updates a
  /// proxy's cached properties (such as `Locked`) only from a running main loop, which a CLI does
  /// not have, so a cached proxy would keep saying "unlocked" after the keyring was locked.
  private func withService<T>(
    _ lib: LibSecret, _ body: (UnsafeMutablePointer<SecretService>) throws -> T
  ) throws -> T {
    var error: UnsafeMutablePointer<GError>?
    // off-pool: callers run every SecretStore method through runOffPool
    let service = lib.c.service_open_sync(
      lib.c.service_get_type(), nil, SECRET_SERVICE_LOAD_COLLECTIONS, nil, &error)
    if let error { throw KeyringError.from(error, operation: "connect to the Secret Service", lib) }
    guard let service else { throw KeyringError.noProvider() }
    defer { lib.c.object_unref(UnsafeMutableRawPointer(service)) }
    return try body(service)
  }

  /// The collection behind the `default` alias, or nil when the service has none.
  private func defaultCollection(
    _ service: UnsafeMutablePointer<SecretService>, _ lib: LibSecret
  ) throws -> UnsafeMutablePointer<SecretCollection>? {
    var error: UnsafeMutablePointer<GError>?
    // off-pool: callers run every SecretStore method through runOffPool
    let collection = lib.c.collection_for_alias_sync(service, "default", SECRET_COLLECTION_NONE, nil, &error)
    if let error { throw KeyringError.from(error, operation: "open the default keyring", lib) }
    return collection
  }
}
