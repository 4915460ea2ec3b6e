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
