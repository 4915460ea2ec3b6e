import TunnelCore

/// `doctor --json`: every check, and whether none failed. `profile` is `null` when the
/// configuration could not name one.
struct DoctorResult: JSONOutputLine, TextRenderable, Equatable {
  /// One check: `fix`, `category` and `hop` are left out when the check has none.
  struct Check: Encodable, Equatable {
    var check: String
    var name: String
    var status: String
    var detail: String
    var fix: String?
    var category: String?
    var hop: Int?
  }

  var ok: Bool
  @NullWhenAbsent var profile: String?
  var checks: [Check]

  /// The closing tally; each check's own line is `DoctorCheck.line`, printed as it is known.
  var text: String {
    let passed = checks.filter { $0.status == DoctorCheck.Outcome.pass.rawValue }.count
    let failed = checks.filter { $0.status == DoctorCheck.Outcome.fail.rawValue }.count
    return "\(passed) passed, \(failed) failed, \(checks.count - passed - failed) skipped"
  }
}

extension DoctorResult.Check {
  init(_ check: DoctorCheck) {
    self.init(
      check: check.id, name: check.name, status: check.outcome.rawValue, detail: check.detail, fix: check.fix,
      category: check.category?.rawValue, hop: check.hop)
  }
}

extension DoctorCheck {
  /// `[ok]   session bus: unix:path=/run/user/1000/bus` — a failure carries its fix on the same line.
  var line: String {
    let mark =
      switch outcome {
      case .pass: "[ok]  "
      case .fail: "[FAIL]"
      case .skip: "[skip]"
      }
    var text = "\(mark) \(name): \(detail)"
    if let fix, outcome == .fail { text += " — fix: \(fix)" }
    return text
  }
}
