import Foundation
import Synchronization
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// The live `AuditSink`: appends hash-chained JSON Lines to one file (SPEC §6, §7).
///
/// Invariants:
/// * The file is opened `O_APPEND` and only ever appended to; it is 0600 and its directory 0700.
/// * Every append happens under an exclusive `flock` on the file and re-reads the file's tail
///   inside the lock, so any number of writers — threads with their own instance, or other
///   processes for the same profile — produce one valid chain: "read the last line's hash, write
///   the new line" is atomic with respect to every other writer.
/// * One `write(2)` per append carries everything the append adds (a newline sealing a torn last
///   line, the chain-start line of a new file, the record), so a crash leaves at most one torn
///   line, never a half-applied recovery.
/// * Crash recovery: when the file does not end with `\n` (a writer died mid-write), the next
///   append adds the newline and links the new record to the torn bytes; `seq` continues from the
///   last complete record. `AuditChainVerifier` reports such a line as torn-and-sealed, not broken.
/// * Values are passed through `CredentialRedactor` before encoding; no token can be written.
///
/// Thread safety: any thread may call `record`; calls on one instance are serialized by a `Mutex`.
/// The calls block on disk I/O — a latency-sensitive caller should queue events and write from
/// its own task.
public final class AuditFileWriter: AuditSink {
  /// What the writer knows about the end of the file after its own last append. Reused only when
  /// the file size is unchanged (no other writer appended since); otherwise the tail is re-read.
  private struct ChainTail {
    var fileSize: Int
    var lastHash: String
    var lastSequence: Int
  }

  private struct State {
    var file: AuditFileDescriptor
    var tail: ChainTail?
  }

  public let path: String
  private let state: Mutex<State>
  private let now: @Sendable () -> Date
  private let syncEachRecord: Bool

  /// Opens (creating if needed) the log at `path`; the directory is created with mode 0700.
  ///
  /// - Parameters:
  ///   - now: the clock for `ts`; read inside the lock, so timestamps are in file order.
  ///   - syncEachRecord: `fsync` after every record (durable across power loss, slower).
  public init(
    path: String, now: @escaping @Sendable () -> Date = { Date() }, syncEachRecord: Bool = false
  )
    throws(AuditError)
  {
    self.path = path
    self.now = now
    self.syncEachRecord = syncEachRecord
    try makeAuditDirectory((path as NSString).deletingLastPathComponent)
    let file = try AuditFileDescriptor(path: path, flags: O_RDWR | O_APPEND | O_CREAT)
    // The file may predate us with a looser mode; it is ours, so tighten it.
    guard fchmod(file.fd, 0o600) == 0 else { throw file.ioError("set the mode of") }
    state = Mutex(State(file: file, tail: nil))
  }

  /// The log for `profile` under the XDG state directory: `$XDG_STATE_HOME/mcp-tunnel/audit/<profile>.jsonl`.
  public convenience init(paths: XDGPaths, profile: String) throws(AuditError) {
    try self.init(path: paths.auditFile(profile: profile))
  }

  public func record(_ event: AuditEvent) throws {
    try append(event)
  }

  /// Appends one record and returns the line as written (for callers that want `seq`).
  @discardableResult
  public func append(_ event: AuditEvent) throws(AuditError) -> AuditLine {
    let safe = CredentialRedactor.redact(event).event
    return try state.withLock { (state: inout State) throws(AuditError) -> AuditLine in
      let file = state.file
      try file.lock(LOCK_EX)
      defer { _ = try? file.lock(LOCK_UN) }
      let size = try file.size()
      var payload: [UInt8] = []
      var tail: ChainTail
      if let cached = state.tail, cached.fileSize == size {
        tail = cached
      } else {
        let scan = try Self.scanTail(file, size: size)
        if scan.torn { payload.append(UInt8(ascii: "\n")) }
        tail = ChainTail(fileSize: size, lastHash: scan.lastHash, lastSequence: scan.lastSequence ?? 0)
        if scan.lastSequence == nil {
          let start = AuditLine(
            sequence: 0, timestamp: AuditLine.timestamp(now()), body: .chainStart(nonce: Self.nonce()),
            previousHash: scan.lastHash)
          let bytes = start.encode()
          payload += bytes + [UInt8(ascii: "\n")]
          tail.lastHash = SHA256.hexDigest(bytes)
        }
      }
      let line = AuditLine(
        sequence: tail.lastSequence + 1, timestamp: AuditLine.timestamp(now()), body: .event(safe),
        previousHash: tail.lastHash)
      let bytes = line.encode()
      payload += bytes + [UInt8(ascii: "\n")]
      do throws(AuditError) {
        try file.writeAll(payload)
        if syncEachRecord { try file.sync() }
      } catch {
        state.tail = nil  // a short write leaves a torn line; re-read the tail next time
        throw error
      }
      state.tail = ChainTail(
        fileSize: size + payload.count, lastHash: SHA256.hexDigest(bytes), lastSequence: line.sequence)
      return line
    }
  }

  /// Reads the end of the file: the hash to link to, the last record's `seq` (nil when the file
  /// holds no complete line of the chain yet, so a chain-start line is needed), and whether the
  /// last line is torn.
  private static func scanTail(
    _ file: AuditFileDescriptor, size: Int
  ) throws(AuditError) -> (
    lastHash: String, lastSequence: Int?, torn: Bool
  ) {
    guard size > 0 else { return (AuditLine.genesisHash, nil, false) }
    var reader = ReverseLineReader(file, size: size)
    let fragment = try reader.previous() ?? []
    let torn = !fragment.isEmpty
    var candidate: [UInt8]? = torn ? fragment : try reader.previous()
    let lastHash = candidate.map { SHA256.hexDigest($0) } ?? AuditLine.genesisHash
    // The last line that parses carries the sequence to continue from; torn or foreign lines
    // are linked over but consume no `seq`.
    while let line = candidate {
      if let fields = ChainFields(line) { return (lastHash, fields.sequence, torn) }
      candidate = try reader.previous()
    }
    return (lastHash, nil, torn)
  }

  private static func nonce() -> String {
    var generator = SystemRandomNumberGenerator()
    return SHA256.hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
  }
}
