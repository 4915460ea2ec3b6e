import Foundation
import TunnelCore

@testable import AuditLog

/// A fresh directory under /tmp for one test, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
  var template = Array("/tmp/audit-tests-XXXXXX".utf8CString)
  guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!).map { String(cString: $0) } })
  else { throw AuditError(.internalError, "mkdtemp failed") }
  defer { try? FileManager.default.removeItem(atPath: path) }
  return try await body(path)
}

func fileBytes(_ path: String) throws -> [UInt8] {
  Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
  try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// The file's complete lines, without newlines.
func fileLines(_ path: String) throws -> [[UInt8]] {
  var lines = try fileBytes(path).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
  if lines.last?.isEmpty == true { lines.removeLast() }
  return lines
}

func joinLines(_ lines: [[UInt8]]) -> [UInt8] {
  lines.flatMap { $0 + [UInt8(ascii: "\n")] }
}

func mode(of path: String) -> mode_t {
  var info = stat()
  _ = stat(path, &info)
  return info.st_mode & 0o777
}

/// `threads` tasks, each with a writer of its own from `makeWriter`, record `perThread` events
/// (`sampleEvent(thread * 1000 + index)`); returns the errors they met, as text.
func recordConcurrently(
  threads: Int, perThread: Int, _ makeWriter: @escaping @Sendable () throws -> AuditFileWriter
) async -> [String] {
  await withTaskGroup(of: String?.self) { group in
    for thread in 0..<threads {
      group.addTask {
        do {
          let writer = try makeWriter()
          for index in 0..<perThread { try writer.record(sampleEvent(thread * 1000 + index)) }
          return nil
        } catch {
          return "\(error)"
        }
      }
    }
    return await group.compactMap { $0 }.reduce(into: []) { $0.append($1) }
  }
}

func sampleEvent(_ index: Int = 0, tool: String = "search") -> AuditEvent {
  AuditEvent(
    event: .call, profile: "dev", tenant: "acme", actor: "dev1", session: "s-1", method: "tools/call", tool: tool,
    rpcID: String(index), status: 200, outcome: .ok, durationMilliseconds: 12)
}

/// Writes a log of `count` records at `path` and returns its lines.
func makeLog(_ path: String, count: Int) throws -> [[UInt8]] {
  let writer = try AuditFileWriter(path: path)
  for index in 1...count { try writer.record(sampleEvent(index)) }
  return try fileLines(path)
}

/// Starts one test of this test binary in a child process: the way these tests get a second
/// writer process without another executable. The child test returns at once unless
/// `environment` carries the variables it looks for, so it is harmless in a normal run.
func startChildTest(_ test: String, environment: [String: String]) throws -> Process {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
  process.arguments = ["--testing-library", "swift-testing", "--filter", test]
  process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  process.standardOutput = FileHandle.nullDevice
  process.standardError = FileHandle.nullDevice
  try process.run()
  return process
}

/// Every line of the log at `path` and its rotated files, oldest file first.
func rotatedLogLines(_ path: String) throws -> [[UInt8]] {
  let names = AuditRotatedFiles(path: path)
  return try (names.rotatedIndices().reversed() + [0]).flatMap { try fileLines(names.path(index: $0)) }
}

/// Polls `condition` every 10 ms for up to `seconds`.
func waitUntil(seconds: Double = 120, _ condition: () throws -> Bool) async throws -> Bool {
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if try condition() { return true }
    try await Task.sleep(for: .milliseconds(10))
  }
  return try condition()
}
