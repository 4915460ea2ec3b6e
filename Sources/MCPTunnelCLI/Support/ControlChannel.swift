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
    case .status, .tenantCurrent, .tenantList, .elevationInfo, .elevate: .seconds(10)
    }
  }

  /// Sends `request` to the running `up` of `profile`, at `environment`'s paths and waiting as long
  /// as its `controlAnswerTimeout`; an error answer is thrown with its category.
  static func send(
    _ request: ControlRequest, profile: String, environment: AppEnvironment
  ) async throws -> ControlResponse {
    guard let response = try await send(request, profile: profile, environment: environment, noListener: .fail) else {
      preconditionFailure("send(noListener: .fail) answers or throws")
    }
    return response
  }

  /// What `send` does when nobody listens on the socket (none there, or the stale file of a
  /// crashed `up`): fail with the fix, or answer nil ("no tunnel") for callers that only report.
  enum NoListener { case fail, answerNil }

  /// `send`, where no `up` listening is an error or nil as `noListener` says; every other failure
  /// (permission denied, a path too long, no answer) is thrown, saying what happened.
  static func send(
    _ request: ControlRequest, profile: String, environment: AppEnvironment, noListener: NoListener
  ) async throws -> ControlResponse? {
    let path = environment.paths.controlSocket(profile: profile)
    let bytes: [UInt8]
    let line = Array(try encoder.encode(request))
    do {
      bytes = try await ControlSocketClient.exchange(
        path: path, request: line, timeout: environment.controlAnswerTimeout(request.op))
    } catch {
      if error.kind == .noListener, noListener == .answerNil { return nil }
      throw exchangeFailure(error, profile: profile, path: path)
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

  /// What the person at the terminal hears when the control socket of `profile` at `path` cannot
  /// be used, by the error's kind (never its text). The category, so the exit code, is the
  /// client's.
  static func exchangeFailure(_ error: ProxyError, profile: String, path: String) -> any Error {
    switch error.kind {
    case .noListener:
      return CoreError(
        error.category, "no `mcp-tunnel up` is running for profile \(profile) (no control socket at \(path))",
        fix: "start one with: mcp-tunnel up --profile \(profile)")
    case .permissionDenied:
      let me = geteuid()
      if let owner = owner(of: path), owner.id != me {
        return CoreError(
          error.category,
          "the control socket of profile \(profile) (\(path)) belongs to \(owner.description), "
            + "so you cannot talk to its `mcp-tunnel up` (permission denied)",
          fix: "run the command as \(owner.name ?? "uid \(owner.id)"), who started that tunnel; "
            + "or set XDG_RUNTIME_DIR to your own runtime directory (/run/user/\(me))")
      }
      return CoreError(
        error.category, "permission denied on the control socket of profile \(profile) (\(path))",
        fix: "check the permissions of \(path) and its directory: `mcp-tunnel up` makes them 0600 and 0700, "
          + "owned by the user who runs it")
    case .socketPathTooLong:
      return CoreError(
        error.category,
        "the control socket path of profile \(profile), \(path), is \(path.utf8.count) bytes long; "
          + "a Unix socket path may have at most \(ControlSocketClient.maximumPathBytes)",
        fix: "set XDG_RUNTIME_DIR to a shorter directory (such as /run/user/\(geteuid())), "
          + "or use a shorter profile name")
    default:
      return error
    }
  }

  /// The user who owns `path`, or the nearest directory above it that can be looked at (a
  /// directory that refuses the caller hides the socket inside it).
  static func owner(of path: String) -> (id: uid_t, name: String?, description: String)? {
    var candidate = path
    while !candidate.isEmpty {
      if let attributes = try? FileManager.default.attributesOfItem(atPath: candidate),
        let id = (attributes[.ownerAccountID] as? NSNumber).map({ uid_t($0.uint32Value) })
      {
        let name = attributes[.ownerAccountName] as? String
        return (id, name, name.map { "user \($0) (uid \(id))" } ?? "uid \(id)")
      }
      guard let slash = candidate.lastIndex(of: "/"), slash != candidate.startIndex else { break }
      candidate = String(candidate[..<slash])
    }
    return nil
  }
}
