import Foundation
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// One open audit file. Owns its descriptor and closes it in `deinit`; not shared between
/// threads without the owner's own lock (the writer keeps it inside a `Mutex`).
final class AuditFileDescriptor {
  let fd: Int32
  /// The name the file was opened by; used in messages. A rotation renames the file under an open
  /// descriptor, so the writer updates this when it moves a file it holds.
  var path: String

  /// Opens `path` with `flags` (`O_CLOEXEC | O_NOFOLLOW` added: the log is never a symlink, so a
  /// planted link cannot redirect records into another file).
  init(path: String, flags: Int32, mode: mode_t = 0o600) throws(AuditError) {
    self.path = path
    let fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW, mode)
    guard fd >= 0 else { throw Self.openError(path, errno) }
    self.fd = fd
  }

  deinit { close(fd) }

  static func openError(_ path: String, _ code: Int32) -> AuditError {
    switch code {
    case ENOENT:
      AuditError(
        .usage, "no audit log at \(path)",
        fix: "check --profile; the log is created by the first recorded event (e.g. `mcp-tunnel up`)")
    case ELOOP:
      AuditError(.usage, "\(path) is a symbolic link; refusing to use it", fix: "remove the link")
    default:
      AuditError(
        .usage, "cannot open \(path): \(String(cString: strerror(code)))",
        fix: "check the permissions of the file and its directory")
    }
  }

  func size() throws(AuditError) -> Int {
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw ioError("stat") }
    return Int(info.st_size)
  }

  /// Which file the descriptor refers to, whatever it is called now.
  func identity() -> AuditFileIdentity? {
    var info = stat()
    guard fstat(fd, &info) == 0 else { return nil }
    return AuditFileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
  }

  /// Reads `range` of the file (short only at end of file).
  func read(_ range: Range<Int>) throws(AuditError) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: range.count)
    var done = 0
    while done < range.count {
      let n = out.withUnsafeMutableBytes {
        // off-pool: not needed — pread of a regular file returns what is on disk; it never waits for another process
        pread(fd, $0.baseAddress! + done, range.count - done, off_t(range.lowerBound + done))
      }
      if n < 0 {
        if errno == EINTR { continue }
        throw ioError("read")
      }
      if n == 0 { break }
      done += n
    }
    out.removeLast(range.count - done)
    return out
  }

  /// Writes all of `bytes` (the descriptor is `O_APPEND`, so they land at the end of the file).
  func writeAll(_ bytes: [UInt8]) throws(AuditError) {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
      if n < 0 {
        if errno == EINTR { continue }
        throw ioError("write")
      }
      done += n
    }
  }

  /// Takes (`LOCK_EX`) or drops (`LOCK_UN`) the advisory lock every writer of this file uses
  /// (`FileLock`: per open file description, so two writer instances in one process exclude each
  /// other exactly like two processes do). Taking it blocks: only AuditFileWriter locks, on
  /// QueuedAuditSink's writer thread or through runOffPool.
  func lock(_ operation: Int32) throws(AuditError) {
    guard operation == LOCK_EX else { return FileLock.unlock(fd) }
    do {
      try FileLock.lockExclusiveBlocking(fd)
    } catch {
      errno = error.code
      throw ioError("lock")
    }
  }

  func sync() throws(AuditError) {
    guard fsync(fd) == 0 else { throw ioError("sync") }
  }

  func ioError(_ what: String) -> AuditError {
    AuditError(
      .internalError, "cannot \(what) \(path): \(String(cString: strerror(errno)))",
      fix: "check free disk space and the file's permissions")
  }

  /// The file's first line without its newline, or nil when no newline is found in its first
  /// `limit` bytes (an empty file, or a first line still being written).
  func firstLine(limit: Int = 64 * 1024) throws(AuditError) -> [UInt8]? {
    let head = try read(0..<limit)
    guard let end = head.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
    return Array(head[..<end])
  }

  /// The last complete line without its newline (bytes after the last newline are ignored), or
  /// nil when the file has no complete line.
  func lastCompleteLine() throws(AuditError) -> [UInt8]? {
    var reader = ReverseLineReader(self, size: try size())
    _ = try reader.previous()
    return try reader.previous()
  }

  /// Offset of the last `\n` before `end`, or nil when there is none.
  func lastNewline(before end: Int) throws(AuditError) -> Int? {
    var chunkEnd = end
    while chunkEnd > 0 {
      let chunkStart = max(0, chunkEnd - 4096)
      let chunk = try read(chunkStart..<chunkEnd)
      if let index = chunk.lastIndex(of: UInt8(ascii: "\n")) { return chunkStart + index }
      chunkEnd = chunkStart
    }
    return nil
  }
}

/// Walks a file's lines from the end towards the start.
///
/// The first call returns the bytes after the last newline (empty when the file ends with one,
/// non-empty when the last write was torn); each later call returns the previous complete line
/// without its newline, and nil at the start of the file.
struct ReverseLineReader {
  private let file: AuditFileDescriptor
  private var end: Int
  private var started = false

  init(_ file: AuditFileDescriptor, size: Int) {
    self.file = file
    self.end = size
  }

  /// Offset where the bytes not yet returned end.
  var position: Int { end }

  mutating func previous() throws(AuditError) -> [UInt8]? {
    if !started {
      started = true
      let start = (try file.lastNewline(before: end)).map { $0 + 1 } ?? 0
      let fragment = try file.read(start..<end)
      end = start
      return fragment
    }
    guard end > 0 else { return nil }
    let start = (try file.lastNewline(before: end - 1)).map { $0 + 1 } ?? 0
    let line = try file.read(start..<(end - 1))
    end = start
    return line
  }
}

/// Makes the audit directory private (SPEC §6), with TunnelCore's one policy (`PrivateDirectory`):
/// missing components created 0700, ours and not a symlink, tightened to 0700 if looser.
func makeAuditDirectory(_ directory: String) throws(AuditError) {
  do {
    try PrivateDirectory.ensure(directory)
  } catch {
    throw AuditError(error.category, "audit directory: \(error.summary)", fix: error.fix)
  }
}
