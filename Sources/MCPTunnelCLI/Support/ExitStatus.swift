import ArgumentParser
import Foundation
import TunnelCore

/// SPEC.md §8 in one place: failure category → process exit code.
public enum ExitStatus {
  public static func code(for category: FailureCategory) -> Int32 {
    switch category {
    case .internalError: 1
    case .usage: 2
    case .loginRequired: 3
    case .keyringUnavailable: 4
    case .identityProvider: 5
    case .hostKeyVerification: 6
    case .sshConnection: 7
    case .addressInUse: 8
    case .accessDenied: 9
    case .interrupted: 130
    }
  }
}

/// Prints an error the way SPEC asks — what failed, then what to do — and picks the exit code.
///
/// Errors always go to stderr. With `--json` the stderr line is a JSON object
/// `{"event":"error","category":…,"message":…,"fix":…,"exit_code":…}` so scripts can parse it
/// without scraping text; stdout stays reserved for results.
struct ErrorReporter {
  var output: any OutputSink
  var json: Bool

  func report(_ error: any Error) -> Int32 {
    if let failure = error as? any UserFacingError {
      return emit(category: failure.category, message: failure.summary, fix: failure.fix)
    }
    // argument-parser: help, --version and clean exits print to stdout and succeed.
    let code = MCPTunnelCommand.exitCode(for: error)
    let message = MCPTunnelCommand.fullMessage(for: error)
    if code == .success {
      if !message.isEmpty { output.writeResult(message + "\n") }
      return 0
    }
    if code == .validationFailure {
      if json {
        return emit(category: .usage, message: message, fix: "run `mcp-tunnel help` for usage")
      }
      output.writeDiagnostic(message + "\n")
      return ExitStatus.code(for: .usage)
    }
    if error is CancellationError {
      return emit(category: .interrupted, message: "interrupted", fix: nil)
    }
    return emit(
      category: .internalError, message: message.isEmpty ? "\(error)" : message, fix: "please report this as a bug")
  }

  private func emit(category: FailureCategory, message: String, fix: String?) -> Int32 {
    let line = ErrorEvent(category: category, message: message, fix: fix)
    output.writeDiagnostic(json ? line.jsonLine + "\n" : line.text)
    return line.exitCode
  }
}
