import Foundation
import TunnelCore

/// The live `ConfigurationStore`: POSIX files, 0600 for the file and 0700 for directories it creates.
struct LocalConfigurationStore: ConfigurationStore {
  func read(_ path: String) throws(CoreError) -> String? {
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw CoreError(
        .usage, "cannot read \(path): \(error.localizedDescription)",
        fix: "check the file's permissions, or point --config at another file")
    }
    // A byte that is not UTF-8 is a syntax error at its line, like any other.
    return try TOMLDocument.text(fromUTF8: Array(data), file: path)
  }

  func write(_ path: String, contents: String, overwrite: Bool) throws(CoreError) {
    let directory = (path as NSString).deletingLastPathComponent
    do {
      try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
      throw CoreError(
        .usage, "cannot create \(directory): \(error.localizedDescription)", fix: "check the permissions of its parent")
    }
    // O_EXCL makes "refuse to overwrite" atomic: no check-then-write race with another writer.
    let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL)
    let fd = open(path, flags, 0o600)
    guard fd >= 0 else {
      if errno == EEXIST {
        throw CoreError(.usage, "\(path) already exists", fix: "pass --force to overwrite it, or edit it")
      }
      throw CoreError(
        .usage, "cannot write \(path): \(String(cString: strerror(errno)))", fix: "check the directory's permissions")
    }
    defer { close(fd) }
    _ = fchmod(fd, 0o600)
    let bytes = Array(contents.utf8)
    var offset = 0
    while offset < bytes.count {
      let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + offset, $0.count - offset) }
      if n < 0 {
        if errno == EINTR { continue }
        throw CoreError(
          .usage, "cannot write \(path): \(String(cString: strerror(errno)))", fix: "check free disk space")
      }
      offset += n
    }
  }
}
