/// The error type of `TunnelCore`: configuration and domain-rule violations.
///
/// Configuration errors carry the file and line so the message can point at the exact spot,
/// the way a compiler would (`config.toml:12: unknown key "listen.adress"`).
public struct CoreError: UserFacingError, Equatable {
  public var category: FailureCategory
  public var summary: String
  public var fix: String?
  /// For a configuration error: the line it is at, and the problem without its location (the
  /// summary has both), so a caller can place it in its own terms without reading the text.
  public var line: Int?
  public var problem: String?

  public init(_ category: FailureCategory, _ summary: String, fix: String? = nil) {
    self.category = category
    self.summary = summary
    self.fix = fix
  }

  /// A problem in the configuration file, located at `file:line` when the line is known.
  public static func config(
    file: String?,
    line: Int?,
    _ what: String,
    fix: String? = nil
  ) -> CoreError {
    var location = ""
    if let file { location = file }
    if let line { location += location.isEmpty ? "line \(line)" : ":\(line)" }
    let summary = location.isEmpty ? what : "\(location): \(what)"
    var error = CoreError(.usage, summary, fix: fix)
    error.line = line
    error.problem = what
    return error
  }
}
