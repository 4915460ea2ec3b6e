import Foundation
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// Where and why a chain check failed. `line` is the 1-based physical line in the file, so
/// `sed -n '<line>p' file` shows it.
public struct AuditChainBreak: Sendable, Equatable, CustomStringConvertible {
  public enum Problem: Sendable, Equatable {
    /// The line is not a record (not JSON, or no `v`/`seq`/`prev`) and no later record seals it
    /// as a torn write.
    case notARecord
    /// `prev` is not the SHA-256 of the line before.
    case brokenLink(expected: String, found: String)
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

  public var line: Int
  public var problem: Problem

  public init(line: Int, problem: Problem) {
    self.line = line
    self.problem = problem
  }

  /// One line for people: what is wrong at which line.
  public var description: String {
    switch problem {
    case .notARecord: "line \(line) is not an audit record"
    case .brokenLink:
      "line \(line) does not link to line \(line - 1) (its prev is not the SHA-256 of line \(line - 1)): "
        + "line \(line - 1) was changed, or lines between them were removed or reordered"
    case .sequenceGap(let expected, let found):
      "line \(line) has seq \(found) where \(expected) was expected: records were removed, duplicated or reordered"
    case .missingChainStart: "line \(line) is not the chain-start line: the beginning of the log was removed"
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
    default:
      "keep a copy of the file for investigation and compare line \(line) and its neighbours with a backup; "
        + "new records keep chaining from the last line"
    }
  }
}

/// The result of checking a whole file.
public struct AuditVerification: Sendable, Equatable {
  /// Event records whose link and `seq` were checked (the chain-start line is not counted).
  public var records: Int
  /// Lines left unterminated by a crashed writer and sealed by the next append; listed, not failed.
  public var tornLines: [Int]
  /// The first failure, or nil when the chain is intact.
  public var failure: AuditChainBreak?

  public init(records: Int, tornLines: [Int], failure: AuditChainBreak? = nil) {
    self.records = records
    self.tornLines = tornLines
    self.failure = failure
  }

  public var isIntact: Bool { failure == nil }
}

/// Recomputes the chain of an audit file and reports the first line whose link fails (SPEC §7).
///
/// Rules, checked line by line in file order:
/// * each line's `prev` must equal the SHA-256 of the previous line's bytes (64 zeros for line 1);
/// * the first record line is a chain-start line (`seq` 0), then `seq` counts 1, 2, 3 … without gaps;
/// * a line that does not parse is accepted only as a torn write that the writer sealed: the next
///   line must link to its exact bytes. It is listed in `tornLines`.
///
/// Consequences: editing only the content of line m breaks the link of line m+1; editing line m's
/// `prev` or `seq` fails at m; deleting or reordering lines fails at the first moved line; a cut
/// last line fails as `incompleteLastLine`. Deleting whole lines at the *end*, or editing only the
/// content of the last line, cannot be detected from the file alone — no hash chain can; compare
/// the last `seq` and line hash with a copy kept elsewhere.
///
/// Feed lines with `consume(_:)`, then call `finish(trailing:)`; or use `verify(contents:)` /
/// `verify(path:)`. A value type with no I/O of its own.
public struct AuditChainVerifier: Sendable {
  private var lineNumber = 0
  private var previousHash = AuditLine.genesisHash
  private var expectedSequence: Int?  // nil until the chain-start line is seen
  private var pendingTorn: Int?
  private var result = AuditVerification(records: 0, tornLines: [], failure: nil)

  public init() {}

  /// Checks the next complete line, given without its `\n`.
  public mutating func consume(_ line: some Collection<UInt8>) {
    lineNumber += 1
    guard result.failure == nil else { return }
    let hash = SHA256.hexDigest(line)
    defer { previousHash = hash }
    guard let fields = ChainFields(line) else {
      if let earlier = pendingTorn {
        fail(earlier, .notARecord)
      } else {
        pendingTorn = lineNumber
      }
      return
    }
    guard fields.previousHash == previousHash else {
      if let torn = pendingTorn {
        fail(torn, .notARecord)
      } else {
        fail(lineNumber, .brokenLink(expected: previousHash, found: fields.previousHash))
      }
      return
    }
    if let torn = pendingTorn {
      result.tornLines.append(torn)
      pendingTorn = nil
    }
    guard fields.version == AuditLine.currentVersion else {
      fail(lineNumber, .unsupportedVersion(fields.version))
      return
    }
    guard let expected = expectedSequence else {
      guard fields.isChainStart, fields.sequence == 0 else {
        fail(lineNumber, .missingChainStart)
        return
      }
      expectedSequence = 1
      return
    }
    guard fields.sequence == expected, !fields.isChainStart else {
      fail(lineNumber, .sequenceGap(expected: expected, found: fields.sequence))
      return
    }
    expectedSequence = expected + 1
    result.records += 1
  }

  /// Ends the check. `trailing` is whatever follows the last `\n` (empty for a well-formed file).
  public mutating func finish(trailing: some Collection<UInt8> = [UInt8]()) -> AuditVerification {
    if result.failure == nil {
      if !trailing.isEmpty {
        fail(pendingTorn ?? lineNumber + 1, pendingTorn == nil ? .incompleteLastLine : .notARecord)
      } else if let torn = pendingTorn {
        fail(torn, .notARecord)
      }
    }
    return result
  }

  private mutating func fail(_ line: Int, _ problem: AuditChainBreak.Problem) {
    result.failure = AuditChainBreak(line: line, problem: problem)
  }

  /// Checks a whole file held in memory.
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

  /// Checks the file at `path`, streaming it in blocks so large logs need little memory.
  public static func verify(path: String) throws(AuditError) -> AuditVerification {
    let file = try AuditFileDescriptor(path: path, flags: O_RDONLY)
    var verifier = AuditChainVerifier()
    var offset = 0
    var pending: [UInt8] = []
    while true {
      let block = try file.read(offset..<offset + 256 * 1024)
      if block.isEmpty { break }
      offset += block.count
      var start = 0
      for (index, byte) in block.enumerated() where byte == UInt8(ascii: "\n") {
        if pending.isEmpty {
          verifier.consume(block[start..<index])
        } else {
          pending += block[start..<index]
          verifier.consume(pending)
          pending.removeAll(keepingCapacity: true)
        }
        start = index + 1
      }
      pending += block[start...]
    }
    return verifier.finish(trailing: pending)
  }
}
