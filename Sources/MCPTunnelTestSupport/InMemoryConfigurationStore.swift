import Synchronization
import TunnelCore

/// In-memory twin of `ConfigurationStore`: files live in a dictionary, modes are recorded.
public final class InMemoryConfigurationStore: ConfigurationStore {
  private let files = Mutex<[String: (contents: String, mode: Int)]>([:])

  public init(_ initial: [String: String] = [:]) {
    files.withLock { f in for (k, v) in initial { f[k] = (v, 0o600) } }
  }

  public func read(_ path: String) throws(CoreError) -> String? {
    files.withLock { $0[path]?.contents }
  }

  public func write(_ path: String, contents: String, overwrite: Bool) throws(CoreError) {
    let existed = files.withLock { f -> Bool in
      if f[path] != nil && !overwrite { return true }
      f[path] = (contents, 0o600)
      return false
    }
    if existed {
      throw CoreError(.usage, "\(path) already exists", fix: "pass --force to overwrite it")
    }
  }

  /// The mode a file was written with, for assertions.
  public func mode(of path: String) -> Int? { files.withLock { $0[path]?.mode } }
  public var paths: [String] { files.withLock { Array($0.keys).sorted() } }
}
