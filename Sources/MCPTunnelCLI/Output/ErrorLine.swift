import TunnelCore

/// A failure as the user sees it, on stderr: with `--json`
/// `{"event":"error","category":…,"message":…,"fix":…,"exit_code":…}` (no `fix` key when there is
/// none), else `error: …` and `  fix: …`.
struct ErrorEvent: JSONOutputLine, TextRenderable, Equatable {
  let event = "error"
  var category: String
  var message: String
  var fix: String?
  var exitCode: Int32

  var text: String { "error: \(message)\n" + (fix.map { "  fix: \($0)\n" } ?? "") }
}

extension ErrorEvent {
  init(category: FailureCategory, message: String, fix: String?) {
    self.init(category: category.rawValue, message: message, fix: fix, exitCode: ExitStatus.code(for: category))
  }
}
