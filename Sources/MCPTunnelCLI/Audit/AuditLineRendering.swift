import AuditLog
import Foundation
import TunnelCore

/// How `audit tail` shows a line: one line per record for people, or the raw JSON line.
enum AuditLineRendering {
  /// `2026-11-21T10:00:00.123Z acme dev1 tools/call search ok 200 12ms` — time, tenant, actor,
  /// method (or the event name for lifecycle events), tool, outcome, HTTP status, duration; `-`
  /// where a field is absent, so every line has the same eight columns for `awk`. A `detail` is
  /// appended in parentheses.
  ///
  /// Field values come from MCP clients (tool names, ids), so control characters are replaced by
  /// `?`: a record must not be able to move the cursor or recolour the user's terminal.
  static func human(_ line: AuditLine) -> String? {
    guard let e = line.event else { return nil }
    let columns: [String?] = [
      line.timestamp, e.tenant, e.actor, e.method ?? e.event.rawValue, e.tool ?? e.prompt ?? e.resource,
      e.outcome.rawValue,
      e.status.map(String.init), e.durationMilliseconds.map { "\($0)ms" },
    ]
    var text = columns.map { field($0) }.joined(separator: " ")
    if let detail = e.detail { text += " (\(printable(detail)))" }
    return text
  }

  private static func field(_ value: String?) -> String {
    guard let value, !value.isEmpty else { return "-" }
    return printable(value).replacingOccurrences(of: " ", with: "_")
  }

  static func printable(_ text: String) -> String {
    String(
      String.UnicodeScalarView(
        text.unicodeScalars.map { scalar in
          scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) ? "?" : scalar
        }))
  }
}
