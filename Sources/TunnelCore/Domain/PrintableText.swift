/// Text from outside — a server's answer, a configuration file — before it reaches a terminal or a
/// log line: which Unicode scalars must not be shown as they are (WWWA-04).
public enum PrintableText {
  /// Control (ESC of terminal escapes, CR/LF, NUL), format (bidi overrides), line and paragraph
  /// separators, surrogates, private-use and unassigned scalars.
  public static func isUnprintable(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned: true
    default: false
    }
  }

  /// `text` as a double-quoted string literal that JSON, TOML (basic string) and YAML (double-quoted
  /// scalar) all read back as `text`: `"` and `\` escaped, tab and line feed as `\t` and `\n`,
  /// every other control character and DEL as `\uXXXX`.
  public static func quotedLiteral(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20 || scalar.value == 0x7F:
        let hex = String(scalar.value, radix: 16, uppercase: true)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}
