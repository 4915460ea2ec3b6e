import Foundation

/// A parsed TOML document that remembers the line each key was defined on.
///
/// mcp-tunnel's configuration must name the line of an unknown or invalid key, which general TOML
/// libraries do not expose for keys that parse fine. This reader covers the TOML 1.0 subset a
/// configuration file needs — tables and dotted table headers, bare/quoted/dotted keys, basic and
/// literal strings (single line), integers, floats, booleans, arrays (possibly spanning lines) and
/// inline tables — and rejects everything else with a located error rather than guessing.
public struct TOMLDocument: Sendable, Equatable {
  public indirect enum Value: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    case array([Located])
    case table(Table)

    /// The TOML name of this value's type, for error messages.
    public var typeName: String {
      switch self {
      case .string: "string"
      case .integer: "integer"
      case .float: "float"
      case .boolean: "boolean"
      case .array: "array"
      case .table: "table"
      }
    }
  }

  /// A value with the 1-based line it starts on.
  public struct Located: Sendable, Equatable {
    public var value: Value
    public var line: Int

    public init(value: Value, line: Int) {
      self.value = value
      self.line = line
    }
  }

  /// Keys in definition order, so errors and `config show` follow the file.
  public struct Table: Sendable, Equatable {
    public private(set) var keys: [String] = []
    public private(set) var entries: [String: Located] = [:]
    /// How the table came to be, which decides what may still add to it (TOML 1.0, "Table" and
    /// "Inline Table").
    var origin = Origin.implicit

    enum Origin: Sendable, Equatable {
      /// Created on the way to a deeper `[a.b]` header: `[a]` may still define it.
      case implicit
      /// Defined by its own `[header]`: no second header, no dotted key from outside adds to it.
      case header
      /// Defined by a dotted key (`a.b = 1` defines `a`): no header may define it again, though a
      /// header may define a new table below it.
      case dotted
      /// Written whole as `{ … }`: nothing may add to it afterwards.
      case inline
    }

    public subscript(key: String) -> Located? { entries[key] }

    mutating func set(_ key: String, _ value: Located) {
      if entries[key] == nil { keys.append(key) }
      entries[key] = value
    }
  }

  public let root: Table

  /// Parses `text`; a byte-order mark at its start is ignored (editors on Windows write one).
  public init(parsing text: String, file: String? = nil) throws(CoreError) {
    var parser = TOMLParser(text: text, file: file)
    root = try parser.parseDocument()
  }

  /// `bytes` as text, or an error naming the first line that is not UTF-8 (TOML files must be
  /// UTF-8). A leading byte-order mark is dropped. For readers of raw files, so that a stray
  /// binary byte is reported like any other syntax error, at its line.
  public static func text(fromUTF8 bytes: [UInt8], file: String? = nil) throws(CoreError) -> String {
    var body = bytes[...]
    if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
    if let text = String(validating: body, as: UTF8.self) { return text }
    var line = 1
    var lineStart = body.startIndex
    var index = body.startIndex
    while index < body.endIndex {
      var iterator = body[index...].makeIterator()
      var decoder = UTF8()
      guard case .scalarValue(let scalar) = decoder.decode(&iterator) else { break }
      if scalar == "\n" {
        line += 1
        lineStart = index + 1
      }
      index += UTF8.width(scalar)
    }
    let byte = index < body.endIndex ? body[index] : 0
    throw TOMLParser.syntaxError(
      file: file, line: line,
      "byte 0x\(String(byte, radix: 16, uppercase: true)) at column \(index - lineStart + 1) is not UTF-8 text")
  }

  /// `text` for a message, in double quotes; see `escaped(_:limit:)`.
  public static func quoted(_ text: some StringProtocol, limit: Int = 80) -> String {
    "\"" + escaped(text, limit: limit) + "\""
  }

  /// `text` for a message: control and format characters shown as `\u{1B}` escapes (a
  /// configuration file shared by a team must not be able to drive the terminal that prints an
  /// error about it), cut after `limit` characters.
  public static func escaped(_ text: some StringProtocol, limit: Int = 80) -> String {
    var out = ""
    var count = 0
    for scalar in text.unicodeScalars {
      if count == limit {
        out += "…"
        break
      }
      if PrintableText.isUnprintable(scalar) {
        out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
      } else {
        out.unicodeScalars.append(scalar)
      }
      count += 1
    }
    return out
  }
}

/// A hand-written recursive-descent reader over the document's Unicode scalars.
struct TOMLParser {
  private let scalars: [Unicode.Scalar]
  private let file: String?
  private var index = 0
  private var line = 1
  private var root = TOMLDocument.Table()
  /// Path of the table that `key = value` lines currently go into.
  private var currentPath: [String] = []
  /// The full key of the value being read (`profiles.dev.ssh.port`), to name it in an error.
  private var valueKey: [String] = []

  /// Deepest nesting of arrays and inline tables, and the most parts a dotted key may have. Far
  /// beyond any real configuration; without a bound, a line of 100 000 `[` would overflow the
  /// stack of this recursive reader instead of being reported.
  static let maximumDepth = 32
  private var depth = 0

  init(text: String, file: String?) {
    var scalars = Array(text.unicodeScalars)
    if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
    self.scalars = scalars
    self.file = file
  }

  private func fail(_ what: String, line: Int? = nil) -> CoreError {
    Self.syntaxError(file: file, line: line ?? self.line, what)
  }

  static func syntaxError(file: String?, line: Int, _ what: String) -> CoreError {
    CoreError.config(
      file: file, line: line, what,
      fix: "correct the TOML syntax (see `mcp-tunnel config init` for a template)")
  }

  /// A non-capturing error factory for the static tree builders below.
  private var failure: (String, Int?) -> CoreError {
    let file = self.file
    let current = self.line
    return { what, line in Self.syntaxError(file: file, line: line ?? current, what) }
  }

  private var atEnd: Bool { index >= scalars.count }
  private var peek: Unicode.Scalar? { atEnd ? nil : scalars[index] }

  private mutating func advance() {
    if scalars[index] == "\n" { line += 1 }
    index += 1
  }

  private mutating func skipSpaces() {
    while let c = peek, c == " " || c == "\t" { advance() }
  }

  /// TOML 1.0: a comment may hold any character but controls other than tab.
  private mutating func skipComment() throws(CoreError) {
    guard peek == "#" else { return }
    while let c = peek, c != "\n" {
      if Self.isForbiddenControl(c) {
        if c == "\r", index + 1 < scalars.count, scalars[index + 1] == "\n" { return }
        throw fail("control character \(TOMLDocument.quoted(String(c))) in a comment")
      }
      advance()
    }
  }

  /// Controls TOML allows in no string or comment: everything below 0x20 but tab, and DEL.
  static func isForbiddenControl(_ c: Unicode.Scalar) -> Bool { c.value < 0x20 && c != "\t" || c.value == 0x7F }

  /// Skips blanks, comments and newlines (inside arrays).
  private mutating func skipTrivia() throws(CoreError) {
    while let c = peek {
      if c == "\r" {
        try skipCarriageReturn()
      } else if c == " " || c == "\t" || c == "\n" {
        advance()
      } else if c == "#" {
        try skipComment()
      } else {
        break
      }
    }
  }

  /// A newline is LF or CRLF (TOML 1.0); a CR alone, even at the end of the file, is an error.
  private mutating func skipCarriageReturn() throws(CoreError) {
    advance()
    guard peek == "\n" else { throw fail("a carriage return without a line feed; use LF or CRLF line endings") }
  }

  private mutating func expectEndOfLine() throws(CoreError) {
    skipSpaces()
    try skipComment()
    if peek == "\r" { try skipCarriageReturn() }
    guard let c = peek else { return }
    guard c == "\n" else {
      throw fail("unexpected \(TOMLDocument.quoted(String(c))) after value; expected end of line")
    }
    advance()
  }

  mutating func parseDocument() throws(CoreError) -> TOMLDocument.Table {
    while !atEnd {
      try skipTrivia()
      guard let c = peek else { break }
      if c == "[" {
        try parseHeader()
      } else {
        let keyLine = line
        let key = try parseKeyPath()
        skipSpaces()
        guard peek == "=" else {
          throw fail("expected \"=\" after key \(TOMLDocument.quoted(key.joined(separator: ".")))")
        }
        advance()
        skipSpaces()
        valueKey = currentPath + key
        let value = try parseValue()
        try insert(path: currentPath, key: key, value: TOMLDocument.Located(value: value, line: keyLine))
        try expectEndOfLine()
      }
    }
    return root
  }

  private mutating func parseHeader() throws(CoreError) {
    let headerLine = line
    advance()  // [
    if peek == "[" { throw fail("arrays of tables ([[...]]) are not used in mcp-tunnel's configuration") }
    skipSpaces()
    let path = try parseKeyPath()
    skipSpaces()
    guard peek == "]" else { throw fail("expected \"]\" to close the table header") }
    advance()
    try expectEndOfLine()
    try defineTable(path: path, line: headerLine)
    currentPath = path
  }

  private mutating func parseKeyPath() throws(CoreError) -> [String] {
    var parts: [String] = []
    while true {
      skipSpaces()
      parts.append(try parseSimpleKey())
      guard parts.count <= Self.maximumDepth else {
        throw fail("a dotted key has more than \(Self.maximumDepth) parts")
      }
      skipSpaces()
      if peek == "." {
        advance()
      } else {
        return parts
      }
    }
  }

  private mutating func parseSimpleKey() throws(CoreError) -> String {
    guard let c = peek else { throw fail("expected a key") }
    if c == "\"" { return try parseBasicString() }
    if c == "'" { return try parseLiteralString() }
    var key = ""
    while let c = peek,
      c.properties.isASCIIHexDigit || ("a"..."z").contains(c) || ("A"..."Z").contains(c)
        || ("0"..."9").contains(c) || c == "_" || c == "-"
    {
      key.unicodeScalars.append(c)
      advance()
    }
    guard !key.isEmpty else { throw fail("expected a key, found \(TOMLDocument.quoted(String(c)))") }
    return key
  }

  private mutating func parseValue() throws(CoreError) -> TOMLDocument.Value {
    guard let c = peek else { throw fail("expected a value") }
    switch c {
    case "\"":
      if lookahead("\"\"\"") { throw fail("multi-line strings are not supported here; use a single-line string") }
      return .string(try parseBasicString())
    case "'":
      if lookahead("'''") { throw fail("multi-line strings are not supported here; use a single-line string") }
      return .string(try parseLiteralString())
    case "[", "{":
      guard depth < Self.maximumDepth else {
        throw fail("arrays and inline tables are nested more than \(Self.maximumDepth) deep")
      }
      depth += 1
      defer { depth -= 1 }
      return c == "[" ? try parseArray() : try parseInlineTable()
    case "t", "f":
      if lookahead("true") {
        for _ in 0..<4 { advance() }
        return .boolean(true)
      }
      if lookahead("false") {
        for _ in 0..<5 { advance() }
        return .boolean(false)
      }
      throw fail("invalid value; strings must be quoted")
    default:
      return try parseNumber()
    }
  }

  private func lookahead(_ s: String) -> Bool {
    var i = index
    for u in s.unicodeScalars {
      guard i < scalars.count, scalars[i] == u else { return false }
      i += 1
    }
    return true
  }

  private mutating func parseBasicString() throws(CoreError) -> String {
    advance()  // "
    var out = String.UnicodeScalarView()
    while true {
      guard let c = peek, c != "\n" else { throw fail("unterminated string") }
      advance()
      if c == "\"" { return String(out) }
      if c == "\\" {
        guard let e = peek else { throw fail("unterminated string") }
        advance()
        switch e {
        case "\"": out.append("\"")
        case "\\": out.append("\\")
        case "n": out.append("\n")
        case "t": out.append("\t")
        case "r": out.append("\r")
        case "b": out.append("\u{08}")
        case "f": out.append("\u{0C}")
        case "u", "U":
          let count = e == "u" ? 4 : 8
          var hex = ""
          for _ in 0..<count {
            guard let h = peek, h.properties.isASCIIHexDigit else { throw fail("invalid \\\(e) escape") }
            hex.unicodeScalars.append(h)
            advance()
          }
          guard let v = UInt32(hex, radix: 16), let s = Unicode.Scalar(v) else {
            throw fail("invalid \\\(e) escape")
          }
          out.append(s)
        default:
          throw fail("invalid escape \(TOMLDocument.quoted("\\" + String(e))) in string")
        }
      } else if Self.isForbiddenControl(c) {
        throw fail("control character \(TOMLDocument.quoted(String(c))) in string")
      } else {
        out.append(c)
      }
    }
  }

  private mutating func parseLiteralString() throws(CoreError) -> String {
    advance()  // '
    var out = String.UnicodeScalarView()
    while true {
      guard let c = peek, c != "\n" else { throw fail("unterminated string") }
      advance()
      if c == "'" { return String(out) }
      if Self.isForbiddenControl(c) { throw fail("control character \(TOMLDocument.quoted(String(c))) in string") }
      out.append(c)
    }
  }

  private mutating func parseArray() throws(CoreError) -> TOMLDocument.Value {
    advance()  // [
    var items: [TOMLDocument.Located] = []
    while true {
      try skipTrivia()
      if peek == "]" {
        advance()
        return .array(items)
      }
      let itemLine = line
      let value = try parseValue()
      items.append(.init(value: value, line: itemLine))
      try skipTrivia()
      if peek == "," {
        advance()
      } else if peek == "]" {
        advance()
        return .array(items)
      } else {
        throw fail("expected \",\" or \"]\" in array")
      }
    }
  }

  private mutating func parseInlineTable() throws(CoreError) -> TOMLDocument.Value {
    let tableLine = line
    advance()  // {
    var table = TOMLDocument.Table()
    skipSpaces()
    if peek == "}" {
      advance()
      table.origin = .inline
      return .table(table)
    }
    while true {
      skipSpaces()
      let keyLine = line
      let key = try parseKeyPath()
      skipSpaces()
      guard peek == "=" else { throw fail("expected \"=\" in inline table") }
      advance()
      skipSpaces()
      let outerKey = valueKey
      valueKey = outerKey + key
      let value = try parseValue()
      valueKey = outerKey
      try Self.insert(into: &table, at: outerKey, key: key, value: .init(value: value, line: keyLine), fail: failure)
      skipSpaces()
      if peek == "," {
        advance()
      } else if peek == "}" {
        advance()
        _ = tableLine
        table.origin = .inline
        return .table(table)
      } else {
        throw fail("expected \",\" or \"}\" in inline table")
      }
    }
  }

  private mutating func parseNumber() throws(CoreError) -> TOMLDocument.Value {
    var text = ""
    while let c = peek,
      !(c == " " || c == "\t" || c == "\n" || c == "\r" || c == "," || c == "]" || c == "}" || c == "#")
    {
      text.unicodeScalars.append(c)
      advance()
    }
    if text.isEmpty { throw fail("expected a value") }
    let named = "\(TOMLDocument.quoted(text, limit: 40)) of key \(TOMLDocument.quoted(valueKey.joined(separator: ".")))"
    switch Self.specialNumber(text) {
    case .value(let value): return value
    case .problem(let problem): throw fail("number \(named) \(problem)")
    case .dateOrTime:
      throw fail(
        "value \(named) is a TOML date or time, which no mcp-tunnel setting takes; if a string is meant, quote it")
    case nil: break
    }
    let digits = text.replacingOccurrences(of: "_", with: "")
    let value: TOMLDocument.Value
    if let i = Int(digits) {
      value = .integer(i)
    } else if digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let d = Double(digits) {
      value = .float(d)
    } else {
      throw fail("invalid value \(TOMLDocument.quoted(text, limit: 40)); strings must be quoted")
    }
    // Swift reads more than TOML allows (`007`, `1__0`, `.5`, `0x1p3`): hold the text to TOML's grammar.
    var problem = Self.numberProblem(text)
    // Swift reads `1e400` as infinity; TOML has `inf` for that and no float beyond binary64's range.
    if problem == nil, case .float(let d) = value, !d.isFinite { problem = "is out of range for a float" }
    if let problem {
      throw fail(
        "number \(TOMLDocument.quoted(text, limit: 40)) of key "
          + "\(TOMLDocument.quoted(valueKey.joined(separator: "."))) \(problem)")
    }
    return value
  }

  enum SpecialNumber {
    case value(TOMLDocument.Value)
    case problem(String)
    case dateOrTime
  }

  /// TOML 1.0's numbers that are not decimal: `0x`/`0o`/`0b` integers (no sign, an underscore only
  /// between digits, within 64 bits) and the floats `inf` and `nan` with an optional sign; and
  /// the shape of a date or time (`1979-05-27`, `07:32:00`), which this reader does not take. nil
  /// for anything else (a decimal number, or not a number at all).
  static func specialNumber(_ text: String) -> SpecialNumber? {
    switch text {
    case "inf", "+inf": return .value(.float(.infinity))
    case "-inf": return .value(.float(-.infinity))
    case "nan", "+nan": return .value(.float(.nan))
    case "-nan": return .value(.float(-.nan))
    default: break
    }
    let scalars = Array(text.unicodeScalars)
    let isDigit = { (c: Unicode.Scalar) in ("0"..."9").contains(c) }
    if scalars.count >= 5, scalars.prefix(4).allSatisfy(isDigit), scalars[4] == "-" { return .dateOrTime }
    if scalars.count >= 3, scalars.prefix(2).allSatisfy(isDigit), scalars[2] == ":" { return .dateOrTime }
    var body = Substring(text)
    let signed = body.first == "+" || body.first == "-"
    if signed { body = body.dropFirst() }
    guard body.count >= 2, body.first == "0" else { return nil }
    let (radix, name): (Int, String)
    switch body.dropFirst().first {
    case "x": (radix, name) = (16, "hexadecimal")
    case "o": (radix, name) = (8, "octal")
    case "b": (radix, name) = (2, "binary")
    default: return nil
    }
    if signed { return .problem("has a sign, which a TOML \(name) integer may not have") }
    let digits = body.dropFirst(2)
    guard !digits.isEmpty, digits.allSatisfy({ $0 == "_" || Int(String($0), radix: radix) != nil }) else {
      return .problem("is not \(name == "octal" ? "an" : "a") \(name) integer")
    }
    if digits.first == "_" || digits.last == "_" || digits.contains("__") {
      return .problem("has an underscore that is not between two digits")
    }
    guard let value = Int(digits.replacingOccurrences(of: "_", with: ""), radix: radix) else {
      return .problem("is out of range for a 64-bit integer")
    }
    return .value(.integer(value))
  }

  /// Why `text`, a number Swift reads, is not a TOML 1.0 decimal integer or float; nil when it is
  /// one. TOML: an optional sign, a whole part without leading zeros, then an optional fraction
  /// (`.` and digits) and exponent (`e`, optional sign, digits); an underscore only between digits.
  static func numberProblem(_ text: String) -> String? {
    var rest = Substring(text)
    if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
    let exponentStart = rest.firstIndex { $0 == "e" || $0 == "E" }
    let mantissa = rest[..<(exponentStart ?? rest.endIndex)]
    let dot = mantissa.firstIndex(of: ".")
    let whole = mantissa[..<(dot ?? mantissa.endIndex)]
    let fraction = dot.map { mantissa[mantissa.index(after: $0)...] }
    var exponent = exponentStart.map { rest[rest.index(after: $0)...] }
    if exponent?.first == "+" || exponent?.first == "-" { exponent = exponent?.dropFirst() }
    if whole.isEmpty { return "needs a digit before \".\"" }
    if fraction?.isEmpty == true { return "needs a digit after \".\"" }
    if exponent?.isEmpty == true { return "needs a digit after its exponent's \"e\"" }
    for part in [whole, fraction, exponent].compactMap(\.self) {
      guard part.allSatisfy({ $0 == "_" || ("0"..."9").contains($0) }) else { return "is not a decimal number" }
      if part.first == "_" || part.last == "_" || part.contains("__") {
        return "has an underscore that is not between two digits"
      }
    }
    if whole.count > 1, whole.first == "0" { return "has a leading zero, which TOML does not allow" }
    return nil
  }

  // MARK: building the tree

  /// What walks the tree, which decides the tables it may pass through, define or create.
  private enum Walk {
    /// To the table a `[header]` defines (its last part), creating implicit tables on the way.
    case header
    /// To the table the current `[header]` defined: it exists.
    case section
    /// Through the leading parts of a dotted key (`a.b` of `a.b.c = 1`), creating dotted tables.
    case dottedKey
  }

  /// `[path]`: defines the table at `path`.
  private mutating func defineTable(path: [String], line: Int) throws(CoreError) {
    let failure = self.failure
    let what = "table [\(TOMLDocument.escaped(path.joined(separator: ".")))]"
    try Self.withTable(at: path, from: [], in: &root, walk: .header, for: what, createLine: line, fail: failure) {
      _ throws(CoreError) in
    }
  }

  private mutating func insert(path: [String], key: [String], value: TOMLDocument.Located) throws(CoreError) {
    let failure = self.failure
    try Self.withTable(
      at: path, from: [], in: &root, walk: .section, for: "", createLine: value.line, fail: failure
    ) { (table: inout TOMLDocument.Table) throws(CoreError) in
      try Self.insert(into: &table, at: path, key: key, value: value, fail: failure)
    }
  }

  /// Sets `key` (relative to `table`, which is at `prefix` in the document) to `value`.
  private static func insert(
    into table: inout TOMLDocument.Table, at prefix: [String], key: [String], value: TOMLDocument.Located,
    fail: (String, Int?) -> CoreError
  ) throws(CoreError) {
    let head = Array(key.dropLast())
    let last = key[key.count - 1]
    let what = "key \(TOMLDocument.quoted(key.joined(separator: ".")))"
    try withTable(
      at: head, from: prefix, in: &table, walk: .dottedKey, for: what, createLine: value.line, fail: fail
    ) { (t: inout TOMLDocument.Table) throws(CoreError) in
      if let existing = t[last] {
        throw fail("\(what) is already defined on line \(existing.line)", value.line)
      }
      t.set(last, value)
    }
  }

  /// Walks (creating as `walk` allows) to the table at `path` below `table` and runs `body` on it
  /// in place. `prefix` is where `table` is in the document and `what` names the header or key
  /// walking, both for messages.
  private static func withTable(
    at path: [String], from prefix: [String], in table: inout TOMLDocument.Table, walk: Walk, for what: String,
    createLine: Int, fail: (String, Int?) -> CoreError,
    _ body: (inout TOMLDocument.Table) throws(CoreError) -> Void
  ) throws(CoreError) {
    guard let first = path.first else {
      try body(&table)
      return
    }
    let here = prefix + [first]
    let isLast = path.count == 1
    var child: TOMLDocument.Table
    var line = createLine
    if let existing = table[first] {
      guard case .table(let t) = existing.value else {
        throw fail(
          "\(TOMLDocument.quoted(first)) is a \(existing.value.typeName) (line \(existing.line)), not a table",
          createLine)
      }
      child = t
      line = existing.line
      let name = TOMLDocument.escaped(here.joined(separator: "."))
      switch (walk, child.origin) {
      case (.section, _):
        break
      case (_, .inline):
        throw fail(
          "\(what) adds to the inline table \"\(name)\" of line \(existing.line); "
            + "write all of an inline table's keys inside its braces",
          createLine)
      case (.header, .header) where isLast:
        throw fail("\(what) is defined twice", createLine)
      case (.header, .dotted) where isLast:
        throw fail(
          "\(what) is already defined by the dotted key on line \(existing.line); "
            + "a table that dotted keys define cannot have a header of its own",
          createLine)
      case (.header, .implicit) where isLast:
        child.origin = .header
      case (.header, _):
        break
      case (.dottedKey, .header):
        throw fail(
          "\(what) adds to table [\(name)], which its own header defines; put the key under that header",
          createLine)
      case (.dottedKey, .implicit), (.dottedKey, .dotted):
        break
      }
    } else {
      child = TOMLDocument.Table()
      switch walk {
      case .header: child.origin = isLast ? .header : .implicit
      case .section, .dottedKey: child.origin = .dotted
      }
    }
    try withTable(
      at: Array(path.dropFirst()), from: here, in: &child, walk: walk, for: what, createLine: createLine, fail: fail,
      body)
    table.set(first, .init(value: .table(child), line: line))
  }
}
