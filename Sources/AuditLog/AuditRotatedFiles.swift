import Foundation
import TunnelCore

#if canImport(Glibc)
  import Glibc
#endif

/// When `AuditFileWriter` starts a new file, and how many old ones it keeps.
///
/// A rotated log keeps one chain: the new `<profile>.jsonl` begins with a chain-start line whose
/// `prev` is the SHA-256 of the last line of the file it replaced (now `<profile>.jsonl.1`), and
/// `seq` continues. Older files shift up (`.1` → `.2` …); the one that would become `.<keep+1>` is
/// deleted, which is why `AuditChainVerifier` accepts a chain whose oldest present file continues
/// a file that is gone — and says so.
public struct AuditRotationPolicy: Sendable, Equatable {
  /// A file is rotated before an append that would make it larger than this. A single record
  /// larger than the limit is still written (into a fresh file), never refused.
  public var maxFileBytes: Int
  /// How many rotated files (`.1` … `.keep`) are kept; 0 keeps none.
  public var keptFiles: Int

  public init(maxFileBytes: Int = 16 * 1024 * 1024, keptFiles: Int = 5) {
    self.maxFileBytes = max(1, maxFileBytes)
    self.keptFiles = max(0, keptFiles)
  }
}

/// Names and identities of one log's files: the current `<name>` and the rotated `<name>.1` (newest)
/// … `<name>.N` (oldest). Pure naming plus `stat`; it never opens or changes a file.
struct AuditRotatedFiles {
  /// The current file, e.g. `/…/audit/dev.jsonl`.
  let path: String

  init(path: String) { self.path = path }

  var directory: String { (path as NSString).deletingLastPathComponent }
  var baseName: String { (path as NSString).lastPathComponent }

  /// `<path>.<index>`; index 0 is the current file itself.
  func path(index: Int) -> String { index == 0 ? path : "\(path).\(index)" }

  /// The file name (no directory) of `path(index:)`.
  func name(index: Int) -> String { index == 0 ? baseName : "\(baseName).\(index)" }

  /// Indices of the rotated files that exist, ascending (newest first). Found by listing the
  /// directory, not by probing `.1`, `.2` …, so a missing middle file does not hide older ones.
  func rotatedIndices() -> [Int] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
    let prefix = baseName + "."
    var indices: [Int] = []
    for name in names where name.hasPrefix(prefix) {
      let suffix = name.dropFirst(prefix.count)
      guard !suffix.isEmpty, !suffix.hasPrefix("0"), suffix.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
        let index = Int(suffix)
      else { continue }
      indices.append(index)
    }
    return indices.sorted()
  }

  /// Where a rotation writes the new file before renaming it over `path`: hidden, unique, and in
  /// the same directory so the rename is atomic.
  func temporaryPath(unique: String) -> String { "\(directory)/.\(baseName).\(unique).new" }

  /// Temporary files left by a writer that died mid-rotation. Only the writer holding the
  /// current file's lock rotates, so while it holds it every such file is stale.
  func abandonedTemporaryPaths() -> [String] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
    return names.filter { $0.hasPrefix(".\(baseName).") && $0.hasSuffix(".new") }.map { "\(directory)/\($0)" }
  }

  /// Device and inode of the file at `path`, or nil when it does not exist (`stat` follows no
  /// link here: `lstat`, since the log is never a symlink).
  static func identity(of path: String) -> AuditFileIdentity? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return AuditFileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
  }
}

/// The files of a rotated log, opened together, oldest first, with the current file last: what
/// the verifier and `audit tail -n` read. Opening every file before reading any, and listing
/// again when a writer rotated meanwhile, gives one consistent set.
struct AuditRotatedFileSet {
  struct Member {
    var name: String
    var file: AuditFileDescriptor
    /// Rotated-file names absent between the previous member and this one.
    var missingBefore: [String]
  }

  var members: [Member]

  /// Opens `path` and its rotated files. Fails only when `path` itself cannot be opened.
  static func open(path: String) throws(AuditError) -> AuditRotatedFileSet {
    let names = AuditRotatedFiles(path: path)
    var attempt = 0
    while true {
      attempt += 1
      let current = try AuditFileDescriptor(path: path, flags: O_RDONLY)
      let indices = names.rotatedIndices()
      var opened: [(index: Int, file: AuditFileDescriptor)] = []
      var stable = true
      for index in indices.reversed() {
        guard let file = try? AuditFileDescriptor(path: names.path(index: index), flags: O_RDONLY) else {
          stable = false  // renamed away by a rotation since the listing
          break
        }
        opened.append((index, file))
      }
      // Still the same files under the same names? Otherwise a writer rotated meanwhile: again.
      if stable {
        let sameCurrent = AuditRotatedFiles.identity(of: path) == current.identity()
        let sameRotated = opened.allSatisfy { (index: Int, file: AuditFileDescriptor) -> Bool in
          AuditRotatedFiles.identity(of: names.path(index: index)) == file.identity()
        }
        stable = sameCurrent && sameRotated && names.rotatedIndices() == indices
      }
      if !stable, attempt < 5 { continue }

      var members: [Member] = []
      var seen: Set<AuditFileIdentity> = current.identity().map { [$0] } ?? []
      var previousIndex: Int?
      for (index, file) in opened {
        let gap = previousIndex.map { Array((index + 1)..<$0) } ?? []
        previousIndex = index
        // A rotation that stopped after naming the current file `.1` leaves one file under two
        // names: check it once, as the current file.
        if let identity = file.identity(), !seen.insert(identity).inserted { continue }
        members.append(
          Member(
            name: names.name(index: index), file: file, missingBefore: gap.reversed().map { names.name(index: $0) }))
      }
      let gap = previousIndex.map { Array(1..<$0) } ?? []
      members.append(
        Member(name: names.name(index: 0), file: current, missingBefore: gap.reversed().map { names.name(index: $0) }))
      return AuditRotatedFileSet(members: members)
    }
  }
}

/// Which file an open descriptor or a path refers to; a rename keeps it, a new file changes it.
public struct AuditFileIdentity: Sendable, Hashable {
  public var device: UInt64
  public var inode: UInt64

  public init(device: UInt64, inode: UInt64) {
    self.device = device
    self.inode = inode
  }
}
