import Foundation
import TokenProxy
import TunnelCore

/// The error a running `up` answered with, keeping its category (and so the exit code).
struct ControlAnswerError: UserFacingError {
  var category: FailureCategory
  var summary: String
  var fix: String?
}

/// Where the control socket of a profile lives and how to talk to it.
enum ControlChannel {
  static var encoder: JSONEncoder { ControlProtocol.encoder }
  static var decoder: JSONDecoder { ControlProtocol.decoder }

  /// Whether a tunnel seems to run for `profile` (its socket file exists).
  static func mayBeRunning(profile: String, paths: XDGPaths) -> Bool {
    let attributes = try? FileManager.default.attributesOfItem(atPath: paths.controlSocket(profile: profile))
    return attributes?[.type] as? FileAttributeType == .typeSocket
  }

  /// How long a client waits for `up` to answer `op`. `tenant use` and `token` may mint a token
  /// first: a login refresh and an RFC 8693 exchange, each bounded by the OAuth HTTP timeout (15 s),
  /// twice when the exchange refuses the subject token. Waiting less would report a slow or hung
  /// issuer as a stuck tunnel (exit 1, "restart it") instead of `up`'s own answer (exit 5 and the fix).
  static func answerTimeout(for op: ControlRequest.Operation) -> Duration {
    switch op {
    case .tenantUse, .token: .seconds(75)
    case .status, .tenantCurrent, .tenantList: .seconds(10)
    }
  }

  /// Sends `request` to the running `up` of `profile`; an error answer is thrown with its category.
  static func send(_ request: ControlRequest, profile: String, paths: XDGPaths) async throws -> ControlResponse {
    let path = paths.controlSocket(profile: profile)
    let bytes: [UInt8]
    do {
      bytes = try await ControlSocketClient.exchange(
        path: path, request: Array(try encoder.encode(request)), timeout: answerTimeout(for: request.op))
    } catch let error as ProxyError where error.category == .usage {
      throw CoreError(
        .usage, "no `mcp-tunnel up` is running for profile \(profile) (no control socket at \(path))",
        fix: "start one with: mcp-tunnel up --profile \(profile)")
    }
    let response: ControlResponse
    do {
      response = try decoder.decode(ControlResponse.self, from: Data(bytes))
    } catch {
      throw CoreError(
        .internalError, "the running tunnel answered something that is not a control response",
        fix: "restart `mcp-tunnel up`; a different mcp-tunnel version may be running")
    }
    if !response.ok, let failure = response.error {
      throw ControlAnswerError(
        category: FailureCategory(rawValue: failure.category) ?? .internalError, summary: failure.summary,
        fix: failure.fix)
    }
    return response
  }
}
