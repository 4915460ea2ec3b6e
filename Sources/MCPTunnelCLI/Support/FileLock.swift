import Foundation
import TunnelCore

/// The live `CrossProcessLock`: `flock(2)` on `$XDG_RUNTIME_DIR/mcp-tunnel/<profile>.lock` (SPEC §6).
///
/// The lock file holds nothing; it only names the lock. The descriptor is opened per acquisition and
/// closed on release, so a crashed process never leaves the lock held (the kernel drops it). Waiting
/// polls `LOCK_NB` every 25 ms instead of blocking, so no cooperative-pool thread is ever parked.
public struct FileLock: CrossProcessLock {
  public let path: String

  public init(path: String) { self.path = path }

  /// The refresh lock of `profile`. Without `$XDG_RUNTIME_DIR` (a bare `su`, some containers) it
  /// falls back to `/tmp/mcp-tunnel-<uid>`, a 0700 directory that must be ours.
  public static func refreshLock(profile: String, paths: XDGPaths) throws -> FileLock {
    try PrivateDirectory.ensure(paths.runtimeDirectory)
    return FileLock(path: paths.refreshLock(profile: profile))
  }

  public func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard fd >= 0 else {
      throw CoreError(
        .internalError, "cannot open the refresh lock \(path): \(String(cString: strerror(errno)))",
        fix: "check that the directory is yours and writable")
    }
    defer { close(fd) }
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
      guard errno == EWOULDBLOCK || errno == EINTR else {
        throw CoreError(.internalError, "cannot lock \(path): \(String(cString: strerror(errno)))")
      }
      try await Task.sleep(for: .milliseconds(25))
    }
    defer { flock(fd, LOCK_UN) }
    return try await body()
  }
}

/// A directory only the current user may use (0700, owned by us, not a symlink).
enum PrivateDirectory {

  static func ensure(_ path: String) throws {
    var parent = ""
    for component in path.split(separator: "/") {
      parent += "/\(component)"
      if mkdir(parent, 0o700) != 0 && errno != EEXIST {
        throw CoreError(
          .internalError, "cannot create \(parent): \(String(cString: strerror(errno)))",
          fix: "check XDG_RUNTIME_DIR and the permissions of its parent")
      }
    }
    // attributesOfItem does not follow a symlink (lstat), so a planted link is refused.
    let attributes = try? FileManager.default.attributesOfItem(atPath: path)
    guard let attributes, attributes[.type] as? FileAttributeType == .typeDirectory,
      (attributes[.ownerAccountID] as? NSNumber)?.uint32Value == getuid()
    else {
      throw CoreError(
        .internalError, "\(path) is not a directory owned by you",
        fix: "remove it, or set XDG_RUNTIME_DIR to a private directory")
    }
    if let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value, mode & 0o077 != 0 { chmod(path, 0o700) }
  }
}

/// Opens URLs with `xdg-open`, without a shell (AZ-12): argv is an array, so nothing in the URL is
/// ever interpreted. Returns false when xdg-open is missing or fails to start.
public enum BrowserLauncher {
  public static func open(_ url: URL) -> Bool {
    let candidates = ["/usr/bin/xdg-open", "/usr/local/bin/xdg-open", "/bin/xdg-open"]
    guard let tool = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return false }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = [url.absoluteString]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do {
      try process.run()
      return true
    } catch {
      return false
    }
  }
}
