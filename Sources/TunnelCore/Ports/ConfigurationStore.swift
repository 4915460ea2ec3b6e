/// Reads and writes the configuration file. The live version touches the disk; the in-memory twin
/// in `MCPTunnelTestSupport` keeps files in a dictionary.
public protocol ConfigurationStore: Sendable {
  /// The file's text, or nil when no file exists at `path`. Throws when it exists but can't be read.
  func read(_ path: String) throws(CoreError) -> String?
  /// Writes `contents` with mode 0600, creating parent directories with mode 0700.
  /// Without `overwrite`, an existing file is an error and is left untouched.
  func write(_ path: String, contents: String, overwrite: Bool) throws(CoreError)
}
