import AuditLog

/// `audit verify --json`: the chain's files and records; where it starts after a removed file,
/// which files are absent (both left out when not so); and, on failure, `file`, `line` and
/// `problem`. `torn_lines` is always there, empty when none.
struct AuditVerifyResult: JSONOutputLine, TextRenderable, Equatable {
  struct Location: Encodable, Equatable {
    var file: String
    var line: Int
  }

  struct Continuation: Encodable, Equatable {
    var file: String
    var afterSeq: Int
    var previousFile: String?
  }

  var ok: Bool
  var path: String
  var records: Int
  var files: [String]
  var tornLines: [Location]
  var continuesRemovedFile: Continuation?
  var absentFiles: [String]?
  var file: String?
  var line: Int?
  var problem: String?

  /// Only for an intact chain; what else a person should know goes to stderr as notes.
  var text: String {
    "ok: \(records) records\(files.count > 1 ? " in \(files.count) files" : ""), chain intact"
  }
}

extension AuditVerifyResult {
  init(_ result: AuditVerification, path: String) {
    self.init(
      ok: result.isIntact, path: path, records: result.records, files: result.files,
      tornLines: result.tornLines.map { Location(file: $0.file ?? "", line: $0.line) },
      continuesRemovedFile: result.continuation.map {
        Continuation(file: $0.file ?? "", afterSeq: $0.sequence, previousFile: $0.previousFile)
      },
      absentFiles: result.absentNames.isEmpty ? nil : result.absentNames,
      file: result.failure.map { $0.file ?? "" }, line: result.failure?.line, problem: result.failure?.description)
  }
}
