/// The error type of `TunnelCore`: configuration and domain-rule violations.
///
/// Configuration errors carry the file and line so the message can point at the exact spot,
/// the way a compiler would (`config.toml:12: unknown key "listen.adress"`).
public struct CoreError: UserFacingError, Equatable {
  public var category: FailureCategory
  public var summary: String
  public var fix: String?

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
    return CoreError(.usage, summary, fix: fix)
  }
}
