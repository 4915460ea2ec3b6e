import Foundation
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// Follows an audit log like `tail -f`, for `audit tail -f`, across rotations.
///
/// Polls the file size (every 200 ms by default) rather than using inotify: it works the same
/// on every filesystem, including network home directories, and costs an `fstat` and an `lstat`
/// per tick.
///
/// Guarantees:
/// * Yields only complete lines (without `\n`), in file order, each once. Bytes after the last
///   newline are held back until the writer finishes the line.
/// * Waits for the file when it does not exist yet.
/// * Rotation: when the path names another file, the old one is final (writers check the path
///   inside the lock before appending), so the follower reads it to its end, then continues from
///   the start of the file that continues it — the one whose chain-start line links to the old
///   file's last line, which is the new current file, or a rotated `.N` when several rotations
///   happened between two polls (a stopped `tail -f`). When no file links to it (the log was
///   moved away and started afresh), it continues with whatever the path names.
/// * If the file shrinks (it was cut), it starts again from its beginning rather than miss records.
public struct AuditFileFollower: Sendable {
  public let path: String
  public let pollInterval: Duration

  public init(path: String, pollInterval: Duration = .milliseconds(200)) {
    self.path = path
    self.pollInterval = pollInterval
  }

  /// Lines that complete at or after byte `offset` of the file the path names when following
  /// starts. The stream ends when the consumer stops iterating or its task is cancelled; it
  /// throws `AuditError` when the file cannot be read.
  public func lines(from offset: Int = 0) -> AsyncThrowingStream<[UInt8], any Error> {
    stream(offset: offset, file: nil)
  }

  /// Lines after those `AuditFileReader.tail` returned: from `tail.endOffset` of `tail.file`,
  /// even if a writer rotated that file in between.
  public func lines(after tail: AuditFileTail) -> AsyncThrowingStream<[UInt8], any Error> {
    stream(offset: tail.endOffset, file: tail.file)
  }

  private func stream(offset: Int, file: AuditFileIdentity?) -> AsyncThrowingStream<[UInt8], any Error> {
    let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self, throwing: (any Error).self)
    let path = self.path
    let interval = pollInterval
    let task = Task {
      var cursor = FollowCursor(path: path, offset: offset, file: file)
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
  /// Before the first open: the file `position` refers to, when the caller knows it.
  private var startFile: AuditFileIdentity?
  private var position: Int
  private var pending: [UInt8] = []
  /// Whether a file has been opened yet, and whether the log was absent before that.
  private var opened = false
  private var waitedForFile = false

  init(path: String, offset: Int, file: AuditFileIdentity?) {
    self.path = path
    self.position = offset
    self.startFile = file
  }

  mutating func poll() throws(AuditError) -> [[UInt8]] {
    if file == nil {
      guard access(path, F_OK) == 0 else {  // not created yet: wait for it
        waitedForFile = opened == false
        return []
      }
      file = try openStartFile()
      opened = true
    }
    guard let current = file else { return [] }
    // Checked before reading: once the path names another file, this one is final, so reading it
    // to its current end below gets everything it will ever hold.
    let replaced = pathNamesAnotherFile(than: current)
    let size = try current.size()
    if size < position {
      position = 0
      pending.removeAll()
    }
    var lines: [[UInt8]] = []
    if size > position {
      let bytes = try current.read(position..<size)
      position += bytes.count
      lines = split(bytes)
    }
    if replaced {
      file = try successor(of: current)
      position = 0
      pending.removeAll()  // the writer seals a torn line before rotating, so nothing is lost
    }
    return lines
  }

  /// The file to start in: the path's, unless the caller named a file that was rotated since, or
  /// the log did not exist when following began and a fast writer has rotated it already (then
  /// the first file of the chain, so that no record written since is missed).
  private mutating func openStartFile() throws(AuditError) -> AuditFileDescriptor {
    let opened = try AuditFileDescriptor(path: path, flags: O_RDONLY)
    if waitedForFile, position == 0 { return try firstFileOfChain(endingIn: opened) }
    guard let wanted = startFile else { return opened }
    startFile = nil
    if opened.identity() == wanted { return opened }
    let names = AuditRotatedFiles(path: path)
    for index in names.rotatedIndices() {
      if let rotated = try? AuditFileDescriptor(path: names.path(index: index), flags: O_RDONLY),
        rotated.identity() == wanted
      {
        return rotated
      }
    }
    position = 0  // rotated away entirely: everything in the current file is new
    return opened
  }

  /// Walks back from `file` through the rotated files whose last line its chain-start links to.
  private func firstFileOfChain(endingIn file: AuditFileDescriptor) throws(AuditError) -> AuditFileDescriptor {
    let names = AuditRotatedFiles(path: path)
    let indices = names.rotatedIndices()
    var earliest = file
    for _ in indices {
      guard let first = try earliest.firstLine(), let fields = ChainFields(first), fields.isChainStart,
        fields.previousHash != AuditLine.genesisHash
      else { break }
      let predecessor = indices.lazy.compactMap { index -> AuditFileDescriptor? in
        guard let candidate = try? AuditFileDescriptor(path: names.path(index: index), flags: O_RDONLY),
          candidate.identity() != earliest.identity(),
          let last = try? candidate.lastCompleteLine(), AuditHash.hexDigest(of: last) == fields.previousHash
        else { return nil }
        return candidate
      }.first
      guard let predecessor else { break }
      earliest = predecessor
    }
    return earliest
  }

  private func pathNamesAnotherFile(than file: AuditFileDescriptor) -> Bool {
    guard let named = AuditRotatedFiles.identity(of: path) else { return false }  // removed: keep reading
    return named != file.identity()
  }

  /// The file whose chain-start line links to `finished`'s last line (see the type's guarantees).
  private func successor(of finished: AuditFileDescriptor) throws(AuditError) -> AuditFileDescriptor? {
    let names = AuditRotatedFiles(path: path)
    if let last = try finished.lastCompleteLine() {
      let link = AuditHash.hexDigest(of: last)
      for index in [0] + names.rotatedIndices() {
        guard let candidate = try? AuditFileDescriptor(path: names.path(index: index), flags: O_RDONLY),
          candidate.identity() != finished.identity(),
          let first = try? candidate.firstLine(), let fields = ChainFields(first),
          fields.isChainStart, fields.previousHash == link
        else { continue }
        return candidate
      }
    }
    guard access(path, F_OK) == 0 else { return nil }
    return try AuditFileDescriptor(path: path, flags: O_RDONLY)
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
