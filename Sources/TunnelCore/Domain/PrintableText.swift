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
}
