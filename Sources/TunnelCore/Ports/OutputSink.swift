/// Where a command's output goes. stdout carries results (and `--json` events); stderr carries
/// everything else — progress, prompts, warnings, errors (DESIGN.md §3.6).
public protocol OutputSink: Sendable {
  func writeResult(_ text: String)
  func writeDiagnostic(_ text: String)
  /// Whether stdout is a terminal (some commands refuse to print secrets to one).
  var resultIsTerminal: Bool { get }
  /// Whether stderr is a terminal (progress such as a countdown is only drawn on one).
  var diagnosticIsTerminal: Bool { get }
}

extension OutputSink {
  public var diagnosticIsTerminal: Bool { false }
}
