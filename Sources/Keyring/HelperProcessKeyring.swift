import Foundation
import TunnelCore

/// The live `SecretStore`: every call runs `SecretServiceKeyring` in a child process
/// (`KeyringHelper`), so this process never maps libsecret, GLib, GIO or libgcrypt. Each call
/// starts one child (about 10 ms), which a login, a refresh-token rotation or a logout can afford.
///
/// Like `SecretServiceKeyring`, every method blocks its thread until the child has answered, so
/// callers run them through `runOffPool`, never on the cooperative pool.
public struct HelperProcessKeyring: SecretStore {
  /// The program to start (the running binary: `/proc/self/exe`) and its arguments (the one
  /// internal argument, `MCPTunnelCommand.keyringHelperArgument`).
  let executable: String
  let arguments: [String]

  public init(executable: String, arguments: [String]) {
    self.executable = executable
    self.arguments = arguments
  }

  public var backendName: String { "secret-service" }

  public func checkAvailable() throws {
    _ = try call(KeyringHelper.Request(operation: .check))
  }

  public func store(_ login: StoredLogin, for key: StoredLoginKey) throws {
    _ = try call(KeyringHelper.Request(operation: .store, key: key, login: login))
  }

  public func load(_ key: StoredLoginKey) throws -> StoredLogin? {
    try call(KeyringHelper.Request(operation: .load, key: key)).login?.value
  }

  @discardableResult
  public func delete(_ key: StoredLoginKey) throws -> Bool {
    try call(KeyringHelper.Request(operation: .delete, key: key)).existed ?? false
  }

  /// One child: the request on its stdin, the response from its stdout; its stderr is ours.
  private func call(_ request: KeyringHelper.Request) throws -> KeyringHelper.Response {
    let body = try KeyringHelper.encoder.encode(request)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    do {
      try process.runWithNoSignalBlocked()
    } catch {
      throw helperFailed("it could not be started: \(error)")
    }
    // The request is a few hundred bytes, far below a pipe's buffer: this write never waits for the
    // child to read.
    input.fileHandleForWriting.write(body)
    try? input.fileHandleForWriting.close()
    // off-pool: HelperProcessKeyring's methods run through runOffPool (see the type's comment)
    let answer = output.fileHandleForReading.readDataToEndOfFile()
    // off-pool: as above; the child has closed stdout, so it is exiting
    process.waitUntilExit()
    guard process.terminationReason == .exit, process.terminationStatus == 0 else {
      throw helperFailed("it ended with status \(process.terminationStatus)")
    }
    guard let response = try? KeyringHelper.decoder.decode(KeyringHelper.Response.self, from: answer) else {
      throw helperFailed("its answer was not readable (\(answer.count) bytes)")
    }
    if let error = response.error { throw error.value }
    return response
  }

  private func helperFailed(_ detail: String) -> KeyringError {
    let command = ([executable] + arguments).joined(separator: " ")
    return KeyringError(
      .keyringUnavailable, "the keyring helper (\(command)) failed: \(detail)",
      fix: "run `mcp-tunnel doctor`; if the keyring checks pass there, this is a bug worth reporting")
  }
}
