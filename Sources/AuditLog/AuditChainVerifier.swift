import Foundation
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// A line of a log: the file's name (nil for contents checked in memory) and the 1-based physical
/// line in that file, so `sed -n '<line>p' file` shows it.
public struct AuditLineLocation: Sendable, Hashable, CustomStringConvertible {
  public var file: String?
  public var line: Int

  public init(file: String? = nil, line: Int) {
    self.file = file
    self.line = line
  }

  /// `dev.jsonl.2:14`, or `line 14` when there is no file name.
  public var description: String { file.map { "\($0):\(line)" } ?? "line \(line)" }
}

/// Where and why a chain check failed.
public struct AuditChainBreak: Sendable, Equatable, CustomStringConvertible {
  public enum Problem: Sendable, Equatable {
    /// The line is not a record (not JSON, or no `v`/`seq`/`prev`) and no later record seals it
    /// as a torn write.
    case notARecord
    /// `prev` is not the SHA-256 of the line before.
    case brokenLink(expected: String, found: String)
    /// Line 1 of a file does not link to the last line of the older file before it in a rotated
    /// log. `missingFiles` are rotated-file names absent between the two.
    case brokenLinkToPreviousFile(previousFile: String, missingFiles: [String])
    /// `seq` does not follow the previous record's.
    case sequenceGap(expected: Int, found: Int)
    /// The file does not begin with a chain-start line (records were removed from its start, or
    /// it is not an audit log).
    case missingChainStart
    /// Written in a record format this version does not know.
    case unsupportedVersion(Int)
    /// The file ends in the middle of a line: a writer was killed mid-write, or the file was cut.
    case incompleteLastLine
  }

  /// The file's name, without its directory; nil for contents checked in memory.
  public var file: String?
  public var line: Int
  public var problem: Problem

  public init(file: String? = nil, line: Int, problem: Problem) {
    self.file = file
    self.line = line
    self.problem = problem
  }

  public var location: AuditLineLocation { AuditLineLocation(file: file, line: line) }

  /// One line for people: what is wrong at which line (the caller adds the file name).
  public var description: String {
    switch problem {
    case .notARecord: "line \(line) is not an audit record"
    case .brokenLink:
      "line \(line) does not link to line \(line - 1) (its prev is not the SHA-256 of line \(line - 1)): "
        + "line \(line - 1) was changed, or lines between them were removed or reordered"
    case .brokenLinkToPreviousFile(let previous, let missing) where !missing.isEmpty:
      "line \(line) does not link to the last line of \(previous), and \(missing.joined(separator: ", ")) "
        + (missing.count == 1 ? "is" : "are") + " missing: rotated files were removed from the middle of the log"
    case .brokenLinkToPreviousFile(let previous, _):
      "line \(line) does not link to the last line of \(previous) (its prev is not the SHA-256 of that line): "
        + "\(previous) was changed or cut, or a rotated file between them was removed"
    case .sequenceGap(let expected, let found):
      "line \(line) has seq \(found) where \(expected) was expected: records were removed, duplicated or reordered"
    case .missingChainStart: "line \(line) is not the chain-start line: the beginning of the file was removed"
    case .unsupportedVersion(let version):
      "line \(line) uses record format v\(version), which this version cannot check"
    case .incompleteLastLine:
      "line \(line), the last line, is incomplete: a writer was interrupted mid-write, or the file was truncated"
    }
  }

  /// What to do next.
  public var fix: String {
    switch problem {
    case .unsupportedVersion: "verify it with the newer mcp-tunnel that wrote it"
    case .incompleteLastLine:
      "if mcp-tunnel was killed while writing, the next record seals this line and verify passes again; "
        + "otherwise keep a copy of the file and investigate"
    case .brokenLinkToPreviousFile:
      "keep a copy of every file of the log for investigation and restore the missing or changed file from a "
        + "backup; new records keep chaining from the last line"
    default:
      "keep a copy of the file for investigation and compare line \(line) and its neighbours with a backup; "
        + "new records keep chaining from the last line"
    }
  }
}

/// The oldest file present begins with a chain-start line that continues a file no longer there —
/// what deleting the oldest rotated file (the keep limit) leaves. Not a failure, but records up to
/// and including `sequence` cannot be checked.
public struct AuditChainContinuation: Sendable, Equatable {
  /// The oldest file present.
  public var file: String?
  /// The `seq` of the last record of the file that is gone.
  public var sequence: Int
  /// What that file was called when this one replaced it (as recorded in the chain-start line).
  public var previousFile: String?

  public init(file: String?, sequence: Int, previousFile: String?) {
    self.file = file
    self.sequence = sequence
    self.previousFile = previousFile
  }
}

/// The result of checking a file or a rotated log.
public struct AuditVerification: Sendable, Equatable {
  /// Event records whose link and `seq` were checked (chain-start lines are not counted).
  public var records: Int
  /// Lines left unterminated by a crashed writer and sealed by the next append; listed, not failed.
  public var tornLines: [AuditLineLocation]
  /// The first failure, or nil when the chain is intact.
  public var failure: AuditChainBreak?
  /// Names of the files checked, oldest first; empty for contents checked in memory.
  public var files: [String]
  /// Set when the chain starts in a file that is no longer present (see `AuditChainContinuation`).
  public var continuation: AuditChainContinuation?
  /// Rotated-file names absent between two present files whose chain links across them anyway:
  /// a rotation stopped between its renames. Nothing is missing; the next rotation closes the gap.
  public var absentNames: [String]

  public init(
    records: Int, tornLines: [AuditLineLocation] = [], failure: AuditChainBreak? = nil, files: [String] = [],
    continuation: AuditChainContinuation? = nil, absentNames: [String] = []
  ) {
    self.records = records
    self.tornLines = tornLines
    self.failure = failure
    self.files = files
    self.continuation = continuation
    self.absentNames = absentNames
  }

  public var isIntact: Bool { failure == nil }
}

/// Recomputes the chain of an audit log — one file, or a rotated set oldest to newest as one
/// chain — and reports the first line whose link fails (SPEC §7).
///
/// Rules, checked line by line in order:
/// * each line's `prev` must equal the SHA-256 of the previous line's bytes (64 zeros for the very
///   first line); across files, line 1 of a file links to the last line of the older file;
/// * the first record line of every file is a chain-start line: `seq` 0 where the log began, and
///   in a file that replaced a rotated one, the `seq` of the last record before it; records then
///   count `seq` up by one without gaps, across files;
/// * a line that does not parse is accepted only as a torn write that the writer sealed: the next
///   line (possibly line 1 of the next file) must link to its exact bytes. It is listed in
///   `tornLines`. Line 1 of a later file is never torn (the writer creates it whole);
/// * the oldest file present may begin with a chain-start line that links to a file no longer
///   there — the keep limit deletes the oldest rotated file — and only the oldest: this is
///   reported in `continuation`, not failed. A missing file anywhere else breaks the link of the
///   file after it.
///
/// Consequences: editing only the content of line m breaks the link of line m+1; editing line m's
/// `prev` or `seq` fails at m; deleting or reordering lines fails at the first moved line; a cut
/// last line fails as `incompleteLastLine`. Deleting whole lines at the *end*, editing only the
/// content of the last line, or deleting the oldest files cannot be detected from the files
/// alone — no hash chain can; compare the last `seq` and line hash with a copy kept elsewhere.
///
/// Feed each file with `beginFile(named:missingBefore:)` (optional for a single file),
/// `consume(_:)` per line and `endFile(trailing:)`, then call `finish()`; or use the static
/// `verify` functions. A value type with no I/O of its own.
public struct AuditChainVerifier: Sendable {
  private var fileIsOpen = false
  private var fileName: String?
  private var fileIndex = -1
  private var previousFileName: String?
  private var missingBeforeFile: [String] = []
  private var lineNumber = 0
  private var chainLinesInFile = 0
  private var previousHash = AuditLine.genesisHash
  private var expectedSequence: Int?  // nil until the first chain-start line is seen
  private var pendingTorn: AuditLineLocation?
  private var result = AuditVerification(records: 0)

  public init() {}

  /// Starts the next file of a rotated log (call oldest first). `missingBefore` names rotated
  /// files absent between the previous file and this one, for the message if the link breaks.
  public mutating func beginFile(named name: String?, missingBefore: [String] = []) {
    if fileIsOpen { endFile() }
    fileIsOpen = true
    previousFileName = fileName
    fileName = name
    fileIndex += 1
    missingBeforeFile = missingBefore
    lineNumber = 0
    chainLinesInFile = 0
    if let name { result.files.append(name) }
  }

  /// Checks the next complete line, given without its `\n`.
  public mutating func consume(_ line: some Collection<UInt8>) {
    if !fileIsOpen { beginFile(named: nil) }
    lineNumber += 1
    guard result.failure == nil else { return }
    let here = AuditLineLocation(file: fileName, line: lineNumber)
    let startsLaterFile = fileIndex > 0 && lineNumber == 1
    let hash = AuditHash.hexDigest(of: line)
    defer { previousHash = hash }
    guard let fields = ChainFields(line) else {
      if let earlier = pendingTorn {
        fail(earlier, .notARecord)
      } else if startsLaterFile {
        fail(here, .notARecord)
      } else {
        pendingTorn = here
      }
      return
    }
    guard fields.previousHash == previousHash else {
      if fileIndex == 0, lineNumber == 1, fields.isChainStart, fields.sequence > 0 {
        // The oldest file present continues one that is gone: accepted, and reported.
        result.continuation = AuditChainContinuation(
          file: fileName, sequence: fields.sequence, previousFile: fields.object?["previous_file"] as? String)
        expectedSequence = fields.sequence + 1
        chainLinesInFile = 1
        return
      }
      if startsLaterFile {
        fail(
          here,
          .brokenLinkToPreviousFile(
            previousFile: previousFileName ?? "the previous file", missingFiles: missingBeforeFile))
      } else if let torn = pendingTorn {
        fail(torn, .notARecord)
      } else {
        fail(here, .brokenLink(expected: previousHash, found: fields.previousHash))
      }
      return
    }
    if let torn = pendingTorn {
      result.tornLines.append(torn)
      pendingTorn = nil
    }
    if startsLaterFile { result.absentNames += missingBeforeFile }
    guard fields.version == AuditLine.currentVersion else {
      fail(here, .unsupportedVersion(fields.version))
      return
    }
    if fields.isChainStart {
      // Legal only as the first chain line of its file; it consumes no `seq`.
      let expected = chainLinesInFile == 0 ? (expectedSequence ?? 1) - 1 : (expectedSequence ?? 1)
      guard chainLinesInFile == 0, fields.sequence == expected else {
        fail(here, .sequenceGap(expected: expected, found: fields.sequence))
        return
      }
      expectedSequence = expected + 1
      chainLinesInFile += 1
      return
    }
    guard chainLinesInFile > 0, let expected = expectedSequence else {
      fail(here, .missingChainStart)
      return
    }
    guard fields.sequence == expected else {
      fail(here, .sequenceGap(expected: expected, found: fields.sequence))
      return
    }
    expectedSequence = expected + 1
    chainLinesInFile += 1
    result.records += 1
  }

  /// Ends the current file. `trailing` is whatever follows its last `\n` (empty for a
  /// well-formed file): a crashed writer's unfinished line, or a cut.
  public mutating func endFile(trailing: some Collection<UInt8> = [UInt8]()) {
    guard fileIsOpen else { return }
    fileIsOpen = false
    guard result.failure == nil, !trailing.isEmpty else { return }
    if let torn = pendingTorn {
      fail(torn, .notARecord)
    } else {
      fail(AuditLineLocation(file: fileName, line: lineNumber + 1), .incompleteLastLine)
    }
  }

  /// Ends the check.
  public mutating func finish() -> AuditVerification {
    endFile()
    if result.failure == nil, let torn = pendingTorn { fail(torn, .notARecord) }
    return result
  }

  /// Ends a single-file check; `trailing` is whatever follows the last `\n`.
  public mutating func finish(trailing: some Collection<UInt8>) -> AuditVerification {
    endFile(trailing: trailing)
    return finish()
  }

  private mutating func fail(_ location: AuditLineLocation, _ problem: AuditChainBreak.Problem) {
    result.failure = AuditChainBreak(file: location.file, line: location.line, problem: problem)
  }

  /// Checks one file held in memory.
  public static func verify(contents: some Collection<UInt8>) -> AuditVerification {
    var verifier = AuditChainVerifier()
    var start = contents.startIndex
    var index = start
    while index != contents.endIndex {
      if contents[index] == UInt8(ascii: "\n") {
        verifier.consume(contents[start..<index])
        start = contents.index(after: index)
      }
      index = contents.index(after: index)
    }
    return verifier.finish(trailing: contents[start...])
  }

  /// Checks the one file at `path` (not its rotated files), streaming it in blocks so large
  /// logs need little memory. Locations name the file by its last path component.
  public static func verify(path: String) throws(AuditError) -> AuditVerification {
    let file = try AuditFileDescriptor(path: path, flags: O_RDONLY)
    var verifier = AuditChainVerifier()
    verifier.beginFile(named: (path as NSString).lastPathComponent)
    try verifier.stream(file)
    return verifier.finish()
  }

  /// Checks the log at `path` together with its rotated files (`<path>.N` … `<path>.1`, then
  /// `<path>`) as one chain. The files are opened before any is read, and the listing is retried
  /// when a writer rotates meanwhile, so the check sees one consistent set.
  public static func verifyWithRotatedFiles(path: String) throws(AuditError) -> AuditVerification {
    let set = try AuditRotatedFileSet.open(path: path)
    var verifier = AuditChainVerifier()
    for member in set.members {
      verifier.beginFile(named: member.name, missingBefore: member.missingBefore)
      try verifier.stream(member.file)
    }
    return verifier.finish()
  }

  /// Feeds the whole of `file` as the current file, then ends it.
  private mutating func stream(_ file: AuditFileDescriptor) throws(AuditError) {
    var offset = 0
    var pending: [UInt8] = []
    while true {
      let block = try file.read(offset..<offset + 256 * 1024)
      if block.isEmpty { break }
      offset += block.count
      var start = 0
      for (index, byte) in block.enumerated() where byte == UInt8(ascii: "\n") {
        if pending.isEmpty {
          consume(block[start..<index])
        } else {
          pending += block[start..<index]
          consume(pending)
          pending.removeAll(keepingCapacity: true)
        }
        start = index + 1
      }
      pending += block[start...]
    }
    endFile(trailing: pending)
  }
}
