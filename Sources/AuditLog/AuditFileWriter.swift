import Foundation
import Synchronization
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// The live `AuditSink`: appends hash-chained JSON Lines to one file (SPEC §6, §7), rotating it by
/// size without breaking the chain.
///
/// Invariants:
/// * The file is opened `O_APPEND` and only ever appended to; it is 0600 and its directory 0700.
/// * Every append happens under an exclusive `flock` on the file and re-reads the file's tail
///   inside the lock, so any number of writers — threads with their own instance, or other
///   processes for the same profile — produce one valid chain: "read the last line's hash, write
///   the new line" is atomic with respect to every other writer.
/// * Inside the lock, before appending, the writer checks that the path still names the file it
///   holds (`fstat` of its descriptor against `lstat` of the path). When another writer rotated
///   the file (or the log was removed), it unlocks, reopens the path and locks again; so nothing
///   is ever appended to a rotated file.
/// * One `write(2)` per append carries everything the append adds (a newline sealing a torn last
///   line, the chain-start line of a new file, the record), so a crash leaves at most one torn
///   line, never a half-applied recovery.
/// * Crash recovery: when the file does not end with `\n` (a writer died mid-write), the next
///   append adds the newline and links the new record to the torn bytes; `seq` continues from the
///   last complete record. `AuditChainVerifier` reports such a line as torn-and-sealed, not broken.
/// * Rotation (see `AuditRotationPolicy`) happens inside the lock of the full file: the new file
///   is written completely under a temporary name (its chain-start line linking to the full
///   file's last line, then the record), older files shift up, the full file is hard-linked as
///   `.1`, and the new file is renamed over the path. The path always names a complete log — a
///   writer that opens it mid-rotation sees either the old file or the new one — and a crash at
///   any step leaves a set that still verifies (at worst a gap in the `.N` names, or the current
///   file also named `.1`, both of which the next rotation and the verifier handle). When a step
///   fails (the directory is not writable), the append throws and nothing is written over the
///   limit; the next append tries again.
/// * Values are passed through `CredentialRedactor` before encoding; no token can be written.
///
/// Thread safety: any thread may call `record`; calls on one instance are serialized by a `Mutex`.
/// The calls block on disk I/O and on other writers' locks — a latency-sensitive caller wraps the
/// writer in `QueuedAuditSink`, and async code never calls them on the cooperative pool (see
/// `runOffPool`).
public final class AuditFileWriter: AuditSink {
  /// What the writer knows about the end of the file after its own last append. Reused only when
  /// the file size is unchanged (no other writer appended since); otherwise the tail is re-read.
  private struct ChainTail {
    var fileSize: Int
    var lastHash: String
    /// nil when the file holds no record or chain-start line yet, so a chain-start line is needed.
    var lastSequence: Int?
    var torn: Bool
  }

  private struct State {
    var file: AuditFileDescriptor
    var tail: ChainTail?
  }

  public let path: String
  /// nil: the file grows without limit.
  public let rotation: AuditRotationPolicy?
  private let files: AuditRotatedFiles
  private let state: Mutex<State>
  private let now: @Sendable () -> Date
  private let syncEachRecord: Bool
  private let crashPoint: AuditWriterCrashPoint?

  /// Opens (creating if needed) the log at `path`; the directory is created with mode 0700.
  ///
  /// - Parameters:
  ///   - now: the clock for `ts`; read inside the lock, so timestamps are in file order.
  ///   - syncEachRecord: `fsync` after every record (durable across power loss, slower).
  ///   - rotation: when to start a new file and how many old ones to keep; nil never rotates.
  public convenience init(
    path: String, now: @escaping @Sendable () -> Date = { Date() }, syncEachRecord: Bool = false,
    rotation: AuditRotationPolicy? = AuditRotationPolicy()
  ) throws(AuditError) {
    try self.init(path: path, now: now, syncEachRecord: syncEachRecord, rotation: rotation, crashPoint: nil)
  }

  /// The crash tests' initialiser: `crashPoint` makes the writer stop part-way through an append.
  init(
    path: String, now: @escaping @Sendable () -> Date, syncEachRecord: Bool, rotation: AuditRotationPolicy?,
    crashPoint: AuditWriterCrashPoint?
  ) throws(AuditError) {
    self.path = path
    self.now = now
    self.syncEachRecord = syncEachRecord
    self.rotation = rotation
    self.crashPoint = crashPoint
    files = AuditRotatedFiles(path: path)
    try makeAuditDirectory(files.directory)
    state = Mutex(State(file: try Self.openLog(path), tail: nil))
  }

  /// The log for `profile` under the XDG state directory: `$XDG_STATE_HOME/mcp-tunnel/audit/<profile>.jsonl`.
  public convenience init(
    paths: XDGPaths, profile: String, rotation: AuditRotationPolicy? = AuditRotationPolicy()
  ) throws(AuditError) {
    try self.init(path: paths.auditFile(profile: profile), rotation: rotation)
  }

  public func record(_ event: AuditEvent) throws {
    try append(event)
  }

  /// Appends one record and returns the line as written (for callers that want `seq`).
  @discardableResult
  public func append(_ event: AuditEvent) throws(AuditError) -> AuditLine {
    let safe = CredentialRedactor.redact(event).event
    return try state.withLock { (state: inout State) throws(AuditError) -> AuditLine in
      let file = try lockCurrentFile(&state)
      defer { _ = try? file.lock(LOCK_UN) }
      let size = try file.size()
      let tail: ChainTail
      if let cached = state.tail, cached.fileSize == size {
        tail = cached
      } else {
        tail = try Self.scanTail(file, size: size)
      }
      var payload: [UInt8] = tail.torn ? [UInt8(ascii: "\n")] : []
      var linkTo = tail.lastHash
      if tail.lastSequence == nil {
        let start = AuditLine(
          sequence: 0, timestamp: AuditLine.timestamp(now()), body: .chainStart(nonce: Self.nonce()),
          previousHash: tail.lastHash
        ).encode()
        payload += start + [UInt8(ascii: "\n")]
        linkTo = AuditHash.hexDigest(of: start)
      }
      let line = AuditLine(
        sequence: (tail.lastSequence ?? 0) + 1, timestamp: AuditLine.timestamp(now()), body: .event(safe),
        previousHash: linkTo)
      let bytes = line.encode()
      payload += bytes + [UInt8(ascii: "\n")]
      if let rotation, tail.lastSequence != nil, size > 0, size + payload.count > rotation.maxFileBytes {
        return try rotate(&state, full: file, tail: tail, event: safe, policy: rotation)
      }
      do throws(AuditError) {
        if case .afterPayloadBytes(let wanted, let stop) = crashPoint {
          let count = wanted < 0 ? payload.count + wanted : wanted
          try file.writeAll(Array(payload.prefix(count)))
          stop()
          try file.writeAll(Array(payload.dropFirst(count)))
        } else {
          try file.writeAll(payload)
        }
        if syncEachRecord { try file.sync() }
      } catch {
        state.tail = nil  // a short write leaves a torn line; re-read the tail next time
        throw error
      }
      state.tail = ChainTail(
        fileSize: size + payload.count, lastHash: AuditHash.hexDigest(of: bytes), lastSequence: line.sequence,
        torn: false)
      return line
    }
  }

  /// Locks the file the path names now, reopening while the descriptor held is not that file
  /// (another writer rotated it, or the log was removed and is created again).
  private func lockCurrentFile(_ state: inout State) throws(AuditError) -> AuditFileDescriptor {
    while true {
      let file = state.file
      try file.lock(LOCK_EX)
      if let held = file.identity(), AuditRotatedFiles.identity(of: path) == held { return file }
      _ = try? file.lock(LOCK_UN)
      state.file = try Self.openLog(path)
      state.tail = nil
    }
  }

  private static func openLog(_ path: String) throws(AuditError) -> AuditFileDescriptor {
    let file = try AuditFileDescriptor(path: path, flags: O_RDWR | O_APPEND | O_CREAT)
    // The file may predate us with a looser mode; it is ours, so tighten it.
    guard fchmod(file.fd, 0o600) == 0 else { throw file.ioError("set the mode of") }
    return file
  }

  /// Starts a new file for `event`, holding the lock of `full` throughout (see the type's
  /// invariants for the order of steps and why each crash point is safe).
  private func rotate(
    _ state: inout State, full: AuditFileDescriptor, tail: ChainTail, event: AuditEvent, policy: AuditRotationPolicy
  ) throws(AuditError) -> AuditLine {
    if tail.torn {
      // Seal the torn line inside the file it belongs to, so the rotated file ends with `\n`
      // and the new chain start can link to the torn bytes.
      try full.writeAll([UInt8(ascii: "\n")])
    }
    let start = AuditLine(
      sequence: tail.lastSequence ?? 0, timestamp: AuditLine.timestamp(now()),
      body: .chainStart(nonce: Self.nonce(), previousFile: policy.keptFiles > 0 ? files.name(index: 1) : nil),
      previousHash: tail.lastHash
    ).encode()
    let line = AuditLine(
      sequence: (tail.lastSequence ?? 0) + 1, timestamp: AuditLine.timestamp(now()), body: .event(event),
      previousHash: AuditHash.hexDigest(of: start))
    let bytes = line.encode()

    for abandoned in files.abandonedTemporaryPaths() { unlink(abandoned) }
    let temporaryPath = files.temporaryPath(unique: String(Self.nonce().prefix(12)))
    let next = try AuditFileDescriptor(path: temporaryPath, flags: O_RDWR | O_APPEND | O_CREAT | O_EXCL)
    var renamed = false
    defer { if !renamed { unlink(temporaryPath) } }
    try next.writeAll(start + [UInt8(ascii: "\n")] + bytes + [UInt8(ascii: "\n")])
    if syncEachRecord { try next.sync() }
    if case .rotationBeforeRenames(let stop) = crashPoint { stop() }

    if let held = full.identity(), AuditRotatedFiles.identity(of: files.path(index: 1)) == held {
      // An earlier rotation stopped after naming this file `.1`: it is in place already.
    } else {
      try shiftRotatedFiles(keeping: policy.keptFiles)
      if policy.keptFiles > 0 {
        guard link(path, files.path(index: 1)) == 0 else {
          throw rotationError("cannot create \(files.path(index: 1))")
        }
        full.path = files.path(index: 1)
      }
    }
    if case .rotationAfterLink(let stop) = crashPoint { stop() }
    guard Glibc.rename(temporaryPath, path) == 0 else { throw rotationError("cannot rename \(temporaryPath)") }
    renamed = true
    next.path = path
    // The new file is complete and in place before the full file is unlocked (the caller's
    // `defer`), so a writer waiting on the full file's lock finds the path changed and moves on.
    state.file = next
    state.tail = ChainTail(
      fileSize: start.count + bytes.count + 2, lastHash: AuditHash.hexDigest(of: bytes), lastSequence: line.sequence,
      torn: false)
    return line
  }

  /// Renames the rotated files to `.2`, `.3` … in age order — closing any gap an interrupted
  /// rotation left — and deletes those that would pass the keep limit, so `.1` is free for the
  /// full file.
  private func shiftRotatedFiles(keeping kept: Int) throws(AuditError) {
    var moves: [(from: Int, to: Int)] = []
    for (position, index) in files.rotatedIndices().enumerated() {
      let target = position + 2
      if target > kept {
        let oldest = files.path(index: index)
        guard unlink(oldest) == 0 || errno == ENOENT else { throw rotationError("cannot remove \(oldest)") }
      } else if target != index {
        moves.append((index, target))
      }
    }
    // Files after a gap move down (lowest first), the ones before it move up by one (highest
    // first): in that order no rename lands on a file that has not moved yet.
    let down = moves.filter { $0.to < $0.from }
    let up = moves.filter { $0.to > $0.from }.reversed()
    for move in down + up {
      let from = files.path(index: move.from)
      if Glibc.rename(from, files.path(index: move.to)) != 0, errno != ENOENT {
        throw rotationError("cannot rename \(from)")
      }
    }
  }

  /// A rotation step failed (reads `errno`). The record was not written; the file is left as a
  /// set that verifies, and the next append tries the rotation again.
  private func rotationError(_ what: String) -> AuditError {
    AuditError(
      .internalError, "cannot rotate the audit log \(path): \(what): \(String(cString: strerror(errno)))",
      fix: "check that \(files.directory) is writable by you and the disk is not full")
  }

  /// Reads the end of the file: the hash to link to, the last record's `seq` (nil when the file
  /// holds no complete line of the chain yet, so a chain-start line is needed), and whether the
  /// last line is torn.
  private static func scanTail(_ file: AuditFileDescriptor, size: Int) throws(AuditError) -> ChainTail {
    guard size > 0 else {
      return ChainTail(fileSize: 0, lastHash: AuditLine.genesisHash, lastSequence: nil, torn: false)
    }
    var reader = ReverseLineReader(file, size: size)
    let fragment = try reader.previous() ?? []
    let torn = !fragment.isEmpty
    var candidate: [UInt8]? = torn ? fragment : try reader.previous()
    let lastHash = candidate.map { AuditHash.hexDigest(of: $0) } ?? AuditLine.genesisHash
    // The last line that parses carries the sequence to continue from; torn or foreign lines
    // are linked over but consume no `seq`.
    while let line = candidate {
      if let fields = ChainFields(line) {
        return ChainTail(fileSize: size, lastHash: lastHash, lastSequence: fields.sequence, torn: torn)
      }
      candidate = try reader.previous()
    }
    return ChainTail(fileSize: size, lastHash: lastHash, lastSequence: nil, torn: torn)
  }

  static func nonce() -> String {
    var generator = SystemRandomNumberGenerator()
    return AuditHash.hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
  }
}

/// Where a writer under test stops in the middle of an append (then it waits to be killed). Only
/// the crash tests set one; `stop` does not return in practice.
enum AuditWriterCrashPoint: Sendable {
  /// After writing the first `count` bytes of an ordinary append's single write (a negative
  /// count: all but the last `-count` bytes).
  case afterPayloadBytes(Int, stop: @Sendable () -> Void)
  /// During a rotation, after the new file is complete under its temporary name.
  case rotationBeforeRenames(stop: @Sendable () -> Void)
  /// During a rotation, after the full file is also named `.1`, before the new file replaces it.
  case rotationAfterLink(stop: @Sendable () -> Void)
}
