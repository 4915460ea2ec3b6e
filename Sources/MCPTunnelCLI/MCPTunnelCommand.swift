import ArgumentParser
import Foundation
import Keyring
import TunnelCore

/// The root of the command tree. The executable target only adds `@main`.
public struct MCPTunnelCommand: AsyncParsableCommand {
  public static let version = BuildVersion.current

  public static let configuration = CommandConfiguration(
    commandName: "mcp-tunnel",
    abstract: "Secure access from your laptop to an MCP server that listens on loopback inside a cluster.",
    discussion: """
      mcp-tunnel signs you in at your identity provider, opens an SSH path through your bastions, \
      and serves a local MCP endpoint on 127.0.0.1 that injects a short-lived, tenant-scoped token \
      into every request. Configuration lives in $XDG_CONFIG_HOME/mcp-tunnel/config.toml.

      Exit codes: 0 success, 1 internal error, 2 usage or configuration error, 3 login required, \
      4 keyring unavailable, 5 identity provider error, 6 SSH host key verification failed, \
      7 SSH connection or authentication failed, 8 listen address in use, 9 access denied, \
      130 interrupted.

      Example:
        $ mcp-tunnel config init
        $ mcp-tunnel login
        $ mcp-tunnel status
      """,
    version: version,
    subcommands: [
      Login.self, Logout.self, Status.self, Up.self, TenantCommand.self, Token.self, AuditCommand.self,
      Doctor.self, ConfigCommand.self, ClientConfigCommand.self, Stdio.self, Elevate.self,
    ]
  )

  public init() {}

  /// The process: parses `CommandLine.arguments`, runs the command with the live environment and
  /// exits with the SPEC §8 code (argument-parser's own usage error code, 64, becomes 2). Called by
  /// the executable's top-level code (Sources/mcp-tunnel/main.swift).
  ///
  /// Synchronous on purpose. An `async` main ends in `dispatch_main()`, which parks the main thread
  /// by `pthread_exit` — a forced unwind of the main thread that reads the binary's unwind tables
  /// (`.eh_frame_hdr`/`.eh_frame`), ~0.7 MiB of which then stay resident for as long as `up` runs.
  /// Nothing here runs on the main actor (no `@MainActor` in the sources or the dependencies), so
  /// the command runs as a detached task on the global executor, which exits the process, and the
  /// main thread only has to stay alive, the way `dispatch_main` leaves it: in `sigsuspend` with no
  /// signal blocked, so SIGINT/SIGTERM reach the dispatch signal sources (`TerminationSignals`)
  /// exactly as before. The main thread is not one of the cooperative pool's threads.
  public static func runProcess() -> Never {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if let answer = quickAnswer(to: arguments) {
      FileHandle.standardOutput.write(Data(answer.utf8))
      Foundation.exit(0)
    }
    if arguments == [keyringHelperArgument] {
      Task.detached { Foundation.exit(await serveKeyringHelper()) }
    } else {
      Task.detached {
        let status = await run(arguments: arguments, environment: .live())
        Foundation.exit(status)
      }
    }
    var nothingBlocked = sigset_t()
    sigemptyset(&nothingBlocked)
    pthread_sigmask(SIG_SETMASK, &nothingBlocked, nil)
    while true { sigsuspend(&nothingBlocked) }
  }

  /// The one argument that makes this process the keyring helper of another mcp-tunnel
  /// (`HelperProcessKeyring`, `KeyringHelper`): not a command — argument-parser never sees it, so
  /// it is in no help, man page or completion — and nothing a user types.
  static let keyringHelperArgument = "--internal-keyring-helper"

  /// The keyring helper: one request on stdin, the answer of the Secret Service (through libsecret,
  /// in this process only) on stdout. Exit 0 even when the keyring failed: the error is the answer.
  static func serveKeyringHelper() async -> Int32 {
    do {
      try await runOffPool {
        // off-pool: runOffPool's own thread; the parent writes the request and closes the pipe
        let request = FileHandle.standardInput.readDataToEndOfFile()
        FileHandle.standardOutput.write(KeyringHelper.answer(request, using: SecretServiceKeyring()))
      }
      return 0
    } catch {
      return 1
    }
  }

  /// What `mcp-tunnel --version` prints, answered before argument-parser builds the command tree:
  /// that costs ~12 M instructions of runtime conformance look-ups (a scan of every conformance
  /// record in the binary per look-up), more than the rest of the process start together (README
  /// "Install": the `--version` start-up budget). Exactly the same text as argument-parser's own
  /// answer (`quickVersionAnswerIsArgumentParsersOwn`); anything but the bare flag goes through the parser.
  static func quickAnswer(to arguments: [String]) -> String? {
    arguments == ["--version"] ? "\(version)\n" : nil
  }

  /// Runs one invocation against `environment` and returns the exit status; used by `runProcess()` and
  /// by in-process CLI tests.
  public static func run(arguments: [String], environment: AppEnvironment) async -> Int32 {
    let json = arguments.contains("--json")
    do {
      var command = try parseAsRoot(arguments)
      try await AppEnvironment.$current.withValue(environment) {
        if var asyncCommand = command as? any AsyncParsableCommand {
          try await asyncCommand.run()
        } else {
          try command.run()
        }
      }
      return 0
    } catch {
      return ErrorReporter(output: environment.output, json: json).report(error)
    }
  }
}
