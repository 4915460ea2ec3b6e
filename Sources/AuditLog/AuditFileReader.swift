import Foundation
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// The end of an audit log as `audit tail` shows it.
public struct AuditFileTail: Sendable, Equatable {
  /// Complete lines, oldest first, each without its `\n`. Holds at least the requested number of
  /// event records when the log has that many, reaching back into rotated files when the current
  /// file has fewer; chain-start and unparseable lines met on the way are included so the caller
  /// decides what to show.
  public var lines: [[UInt8]]
  /// Byte offset, in the current file, just after its last complete line: where following should
  /// start so a torn or half-written last line is read once it is complete.
  public var endOffset: Int
  /// The file `endOffset` belongs to. If a writer rotates it before following starts,
  /// `AuditFileFollower.lines(after:)` still finishes that file first.
  public var file: AuditFileIdentity?
}

/// Reads audit files without writing or locking them (readers never block writers).
public struct AuditFileReader: Sendable {
  public let path: String

  public init(path: String) { self.path = path }

  /// Whether the log exists yet.
  public var exists: Bool { access(path, F_OK) == 0 }

  /// The last `count` event records (and any other lines between them), read backwards from the
  /// end so a long log costs only what is shown: the current file first, then its rotated files
  /// (`.1`, `.2` …) while fewer than `count` records were found. A missing file is an `AuditError`.
  public func tail(records count: Int) throws(AuditError) -> AuditFileTail {
    let set = try AuditRotatedFileSet.open(path: path)
    let newestFirst = set.members.reversed()
    let current = newestFirst.first!.file  // the set always ends with the current file
    var endOffset = 0
    var lines: [[UInt8]] = []
    var found = 0
    for member in newestFirst where found < count || member.file === current {
      var reader = ReverseLineReader(member.file, size: try member.file.size())
      _ = try reader.previous()  // the unterminated remainder, if any, is not a complete line yet
      if member.file === current { endOffset = reader.position }
      while found < count, let line = try reader.previous() {
        lines.append(line)
        if AuditLine.decode(line)?.event != nil { found += 1 }
      }
    }
    return AuditFileTail(lines: lines.reversed(), endOffset: endOffset, file: current.identity())
  }

  /// Every complete line of the current file decoded, in order; nil entries for lines that do not
  /// decode.
  public func allLines() throws(AuditError) -> [AuditLine?] {
    let file = try AuditFileDescriptor(path: path, flags: O_RDONLY)
    let contents = try file.read(0..<(try file.size()))
    var lines = contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    lines.removeLast()  // after the last newline: empty, or a line that is not complete yet
    return lines.map { AuditLine.decode($0) }
  }
}
