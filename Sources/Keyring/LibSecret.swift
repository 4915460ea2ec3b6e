import CLibSecret

/// libsecret's functions, loaded at the first keyring use (`mcp_tunnel_libsecret_load` in the
/// CLibSecret shim: `dlopen` + `dlsym`), not by the dynamic loader when the process starts. Only
/// the Keyring module sees it.
///
/// Function pointers never change once loaded, so the table is shared by every thread.
struct LibSecret: @unchecked Sendable {
  let c: mcp_tunnel_libsecret

  private static let loaded: Result<LibSecret, KeyringError> = {
    var table = mcp_tunnel_libsecret()
    if let problem = mcp_tunnel_libsecret_load(&table) {
      return .failure(KeyringError.libsecretMissing(String(cString: problem)))
    }
    return .success(LibSecret(c: table))
  }()

  /// The loaded table; throws `KeyringError` (exit 4) naming the package when libsecret is missing.
  static func functions() throws(KeyringError) -> LibSecret { try loaded.get() }
}
