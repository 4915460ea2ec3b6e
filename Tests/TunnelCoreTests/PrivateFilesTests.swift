import Foundation
import Synchronization
import Testing

@testable import TunnelCore

/// TunnelCore's one private-directory policy and one `flock` (SPEC §6). Real files in a scratch
/// directory; no process is started.
@Suite("PrivateDirectory and FileLock")
struct PrivateFilesTests {
  @Test("missing components are created 0700; an existing directory of ours is tightened to 0700")
  func createsAndTightens() throws {
    let root = try scratch()
    defer { try? FileManager.default.removeItem(atPath: root) }
    try PrivateDirectory.ensure(root + "/a/b")
    #expect(mode(root + "/a") == 0o700)
    #expect(mode(root + "/a/b") == 0o700)
    #expect(chmod(root + "/a/b", 0o755) == 0)
    try PrivateDirectory.ensure(root + "/a/b")
    #expect(mode(root + "/a/b") == 0o700)
  }

  @Test("a symlink or a file in place of the directory is refused with a usage error and left alone")
  func refusesSymlinkAndFile() throws {
    let root = try scratch()
    defer { try? FileManager.default.removeItem(atPath: root) }
    #expect(mkdir(root + "/real", 0o755) == 0)
    #expect(symlink(root + "/real", root + "/link") == 0)
    let link = #expect(throws: CoreError.self) { try PrivateDirectory.ensure(root + "/link") }
    #expect(link?.category == .usage)
    #expect(link?.summary.contains("symlink") == true)
    #expect(mode(root + "/real") == 0o755)
    #expect(FileManager.default.createFile(atPath: root + "/file", contents: Data()))
    let file = #expect(throws: CoreError.self) { try PrivateDirectory.ensure(root + "/file") }
    #expect(file?.category == .usage)
  }

  @Test("a directory of another user is refused, naming its owner", .enabled(if: geteuid() == 0, "needs root to chown"))
  func refusesForeignOwner() throws {
    let root = try scratch()
    defer { try? FileManager.default.removeItem(atPath: root) }
    #expect(mkdir(root + "/theirs", 0o700) == 0)
    #expect(chown(root + "/theirs", 65534, 65534) == 0)
    let error = #expect(throws: CoreError.self) { try PrivateDirectory.ensure(root + "/theirs") }
    #expect(error?.category == .usage)
    #expect(error?.summary.contains("uid 65534") == true)
  }

  @Test("two descriptors of one lock file exclude each other; closing or unlocking releases")
  func descriptorsExclude() throws {
    let root = try scratch()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let path = root + "/p.lock"
    let first = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    let second = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    defer { close(second) }
    #expect(try FileLock.tryLockExclusive(first))
    #expect(try !FileLock.tryLockExclusive(second))
    FileLock.unlock(first)
    #expect(try FileLock.tryLockExclusive(second))
    FileLock.unlock(second)
    #expect(try FileLock.tryLockExclusive(first))
    close(first)
    #expect(try FileLock.tryLockExclusive(second))
  }

  @Test("lockExclusive gives up after its limit while another holds the lock, and takes it once released")
  func pollingWaitGivesUpOrTakes() async throws {
    let root = try scratch()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let path = root + "/p.lock"
    let holder = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    let waiter = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    defer { close(waiter) }
    #expect(try FileLock.tryLockExclusive(holder))
    #expect(try await !FileLock.lockExclusive(waiter, pollEvery: .milliseconds(1), giveUpAfter: .milliseconds(20)))
    close(holder)
    #expect(try await FileLock.lockExclusive(waiter, pollEvery: .milliseconds(1), giveUpAfter: nil))
  }

  @Test("withLock runs one body at a time across two FileLock values of one path")
  func withLockSerializes() async throws {
    let root = try scratch()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let inside = Counter()
    let most = Counter()
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<4 {
        group.addTask {
          try await FileLock(path: root + "/p.lock").withLock {
            let now = inside.value.withLock { count in
              count += 1
              return count
            }
            most.value.withLock { $0 = max($0, now) }
            await Task.yield()
            inside.value.withLock { $0 -= 1 }
          }
        }
      }
      try await group.waitForAll()
    }
    #expect(most.value.withLock { $0 } == 1)
  }

  private func scratch() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("private-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    return path
  }

  private func mode(_ path: String) -> mode_t? {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
  }
}

private final class Counter: Sendable {
  let value = Mutex(0)
}
