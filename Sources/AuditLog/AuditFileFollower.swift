import Foundation
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// Follows an audit file like `tail -f`, for `audit tail -f`.
///
/// Polls the file size (every 200 ms by default) rather than using inotify: it works the same
/// on every filesystem, including network home directories, and costs one `fstat` per tick.
///
/// Guarantees:
/// * Yields only complete lines (without `\n`), in file order, each once. Bytes after the last
///   newline are held back until the writer finishes the line.
/// * Waits for the file when it does not exist yet.
/// * If the path is replaced by a new file (rotation, or the log was moved away), it drains the
///   old file, then continues from the start of the new one. If the file shrinks (it was cut),
///   it starts again from the beginning rather than miss records.
public struct AuditFileFollower: Sendable {
  public let path: String
  public let pollInterval: Duration

  public init(path: String, pollInterval: Duration = .milliseconds(200)) {
    self.path = path
    self.pollInterval = pollInterval
  }

  /// Lines that complete at or after byte `offset` (use `AuditFileTail.endOffset`). The stream
  /// ends when the consumer stops iterating or its task is cancelled; it throws `AuditError`
  /// when the file cannot be read.
  public func lines(from offset: Int = 0) -> AsyncThrowingStream<[UInt8], any Error> {
    let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self, throwing: (any Error).self)
    let path = self.path
    let interval = pollInterval
    let task = Task {
      var cursor = FollowCursor(path: path, offset: offset)
      do {
        while !Task.isCancelled {
          let lines = try cursor.poll()
          for line in lines { continuation.yield(line) }
          if lines.isEmpty { try await Task.sleep(for: interval) }
        }
        continuation.finish()
      } catch is CancellationError {
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    continuation.onTermination = { _ in task.cancel() }
    return stream
  }
}

/// The synchronous part of following: one poll reads what was appended since the last one.
struct FollowCursor {
  let path: String
  private var file: AuditFileDescriptor?
  private var position: Int
  private var pending: [UInt8] = []

  init(path: String, offset: Int) {
    self.path = path
    self.position = offset
  }

  mutating func poll() throws(AuditError) -> [[UInt8]] {
    if file == nil {
      guard access(path, F_OK) == 0 else { return [] }  // not created yet: wait for it
      file = try AuditFileDescriptor(path: path, flags: O_RDONLY)
    }
    guard let current = file else { return [] }
    let size = try current.size()
    if size < position {
      position = 0
      pending.removeAll()
    }
    if size > position {
      let bytes = try current.read(position..<size)
      position += bytes.count
      return split(bytes)
    }
    // Nothing new in the open file: if the path now names another file, switch to it.
    var info = stat()
    if stat(path, &info) == 0, let open = current.inode(),
      open.device != UInt64(info.st_dev) || open.inode != UInt64(info.st_ino)
    {
      file = nil
      position = 0
      pending.removeAll()
    }
    return []
  }

  private mutating func split(_ bytes: [UInt8]) -> [[UInt8]] {
    var lines: [[UInt8]] = []
    var start = 0
    for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
      lines.append(pending + bytes[start..<index])
      pending.removeAll()
      start = index + 1
    }
    pending += bytes[start...]
    return lines
  }
}
