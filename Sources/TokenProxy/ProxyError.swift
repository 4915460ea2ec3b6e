import TunnelCore

/// The error type of the `TokenProxy` module.
///
/// `category` picks the exit code; `kind` says what happened, for code that must tell failures of
/// one category apart (the CLI says "no `up` is running" only when nothing listens on the control
/// socket, never for a permission problem that is `.usage` too). Nothing may branch on `summary`.
public struct ProxyError: UserFacingError, Equatable {
  public var kind: Kind
  public var category: FailureCategory
  public var summary: String
  public var fix: String?

  public init(_ category: FailureCategory, _ summary: String, fix: String? = nil, kind: Kind = .unclassified) {
    self.kind = kind
    self.category = category
    self.summary = summary
    self.fix = fix
  }

  /// What went wrong, as far as a caller may need to tell. Extensible without breaking a caller's
  /// `switch` (a struct with static members, as `NIOSSHError.ErrorType` does): a new kind is a new
  /// member, and callers keep a `default:`.
  public struct Kind: Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable {
      case unclassified
      case noListener
      case permissionDenied
      case socketPathTooLong
      case noAnswer
      case closedWithoutAnswer
      case answerTooLarge
      case interrupted
    }

    private let base: Base

    private init(_ base: Base) { self.base = base }

    /// Anything no caller needs to tell apart (its summary says what happened).
    public static let unclassified = Kind(.unclassified)
    /// Nothing listens on the control socket: no socket file, or a stale one (connection refused).
    public static let noListener = Kind(.noListener)
    /// The socket, or a directory above it, is not the caller's to use (EACCES, EPERM).
    public static let permissionDenied = Kind(.permissionDenied)
    /// The socket path does not fit in `sockaddr_un.sun_path`.
    public static let socketPathTooLong = Kind(.socketPathTooLong)
    /// The peer accepted the connection but did not answer within the time allowed.
    public static let noAnswer = Kind(.noAnswer)
    /// The peer closed the connection (or reset it) before a whole answer arrived.
    public static let closedWithoutAnswer = Kind(.closedWithoutAnswer)
    /// The answer grew past the limit.
    public static let answerTooLarge = Kind(.answerTooLarge)
    /// The calling task was cancelled while it waited.
    public static let interrupted = Kind(.interrupted)

    public var description: String {
      switch base {
      case .unclassified: "unclassified"
      case .noListener: "noListener"
      case .permissionDenied: "permissionDenied"
      case .socketPathTooLong: "socketPathTooLong"
      case .noAnswer: "noAnswer"
      case .closedWithoutAnswer: "closedWithoutAnswer"
      case .answerTooLarge: "answerTooLarge"
      case .interrupted: "interrupted"
      }
    }
  }
}

// MARK: control socket failures

extension ProxyError {
  /// Nothing listens at `path` (exit 2).
  public static func noListener(path: String) -> ProxyError {
    ProxyError(
      .usage, "no `mcp-tunnel up` is running (no control socket at \(path))", fix: "start one with: mcp-tunnel up",
      kind: .noListener)
  }

  /// The socket at `path` or a directory above it refused the caller (exit 2).
  public static func permissionDenied(path: String) -> ProxyError {
    ProxyError(
      .usage, "permission denied on the control socket \(path): it or its directory belongs to another user",
      fix: "run the command as the user who started `mcp-tunnel up`", kind: .permissionDenied)
  }

  /// `path` is longer than `limit`, the most `sun_path` holds (exit 2).
  public static func socketPathTooLong(path: String, limit: Int) -> ProxyError {
    ProxyError(
      .usage,
      "control socket path \(path) is \(path.utf8.count) bytes long; a Unix socket path may have at most \(limit)",
      fix: "set XDG_RUNTIME_DIR to a shorter directory, or use a shorter profile name", kind: .socketPathTooLong)
  }

  /// The process on `path` did not answer within `timeout` (exit 1).
  public static func noAnswer(path: String, timeout: Duration) -> ProxyError {
    ProxyError(
      .internalError, "the tunnel process did not answer on its control socket \(path) within \(timeout)",
      fix: "check the terminal of `mcp-tunnel up`; restart it if it is stuck", kind: .noAnswer)
  }

  /// The process on `path` hung up before answering (exit 1).
  public static func closedWithoutAnswer(path: String) -> ProxyError {
    ProxyError(
      .internalError, "the tunnel process closed its control socket connection (\(path)) without answering",
      fix: "check the terminal of `mcp-tunnel up` for errors", kind: .closedWithoutAnswer)
  }

  /// The answer on `path` is longer than `limit` bytes (exit 1).
  public static func answerTooLarge(path: String, limit: Int) -> ProxyError {
    ProxyError(
      .internalError, "the answer on the control socket \(path) is longer than \(limit) bytes",
      fix: "this is a bug; please report it", kind: .answerTooLarge)
  }

  /// The caller was cancelled while it waited on `path` (exit 130).
  public static func interrupted(path: String) -> ProxyError {
    ProxyError(.interrupted, "interrupted while waiting for the tunnel process on \(path)", kind: .interrupted)
  }
}
