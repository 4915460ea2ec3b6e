import TOMLKit
import TunnelCore

/// A TOML value without lines or key order: what the hand-written reader and TOMLKit (toml++, a
/// TOML 1.0 parser that passes toml-test) are compared on. Test-only: TOMLKit is never a
/// dependency of a product target.
indirect enum NormalTOML: Equatable, CustomStringConvertible {
  case string(String)
  case integer(Int)
  /// The bit pattern, so that `-0.0` and `0.0` differ and equality is exact.
  case float(UInt64)
  case boolean(Bool)
  case array([NormalTOML])
  case table([String: NormalTOML])
  /// A kind the reader does not produce (date, time, date-time): never equal to what it read.
  case unsupported(String)

  init(_ table: TOMLDocument.Table) {
    var entries: [String: NormalTOML] = [:]
    for key in table.keys { entries[key] = table[key].map { NormalTOML($0.value) } }
    self = .table(entries)
  }

  init(_ value: TOMLDocument.Value) {
    switch value {
    case .string(let s): self = .string(Self.cString(s))
    case .integer(let i): self = .integer(i)
    case .float(let d): self = .float(d.bitPattern)
    case .boolean(let b): self = .boolean(b)
    case .array(let items): self = .array(items.map { NormalTOML($0.value) })
    case .table(let t): self.init(t)
    }
  }

  init(_ table: TOMLTable) {
    var entries: [String: NormalTOML] = [:]
    for key in table.keys { entries[key] = table[key].map { NormalTOML(oracle: $0) } }
    self = .table(entries)
  }

  init(oracle value: any TOMLValueConvertible) {
    switch value.type {
    case .string: self = .string(value.string ?? "")
    case .int: self = .integer(value.int ?? 0)
    case .double: self = .float((value.double ?? .nan).bitPattern)
    case .bool: self = .boolean(value.bool ?? false)
    case .array: self = .array(value.array.map { $0.map { NormalTOML(oracle: $0) } } ?? [])
    case .table: self = value.table.map { NormalTOML($0) } ?? .unsupported("table")
    default: self = .unsupported("\(value.type)")
    }
  }

  /// TOMLKit hands strings over as C strings, so a `\u0000` escape ends them there.
  private static func cString(_ s: String) -> String {
    s.firstIndex(of: "\u{0}").map { String(s[..<$0]) } ?? s
  }

  var description: String {
    switch self {
    case .string(let s): TOMLDocument.quoted(s)
    case .integer(let i): "\(i)"
    case .float(let bits): "\(Double(bitPattern: bits))"
    case .boolean(let b): "\(b)"
    case .array(let items): "[" + items.map(\.description).joined(separator: ", ") + "]"
    case .table(let entries):
      "{" + entries.keys.sorted().map { "\(TOMLDocument.quoted($0)) = \(entries[$0]!)" }.joined(separator: ", ") + "}"
    case .unsupported(let kind): "<\(kind)>"
    }
  }
}

/// Reads `text` with the hand-written reader and with TOMLKit, and says how they disagree.
enum TOMLOracle {
  /// nil when both accept `text` with the same values or both refuse it, else what differs.
  ///
  /// With `readerMayRefuse`, a document the reader refuses is not given to TOMLKit at all: the
  /// reader covers a subset of TOML (no dates, multi-line strings, hex integers…), and toml++
  /// checks its own invariants with `assert` in a debug build, which some malformed input trips
  /// (a U+0085 inside an array aborts the test process). Only documents made of known shapes
  /// (see `ConfigurationPropertyTests.shapeValues`) are given to it either way.
  static func disagreement(_ text: String, readerMayRefuse: Bool) -> String? {
    let ours: NormalTOML?
    let ourError: String?
    do {
      ours = NormalTOML(try TOMLDocument(parsing: text).root)
      ourError = nil
    } catch {
      if readerMayRefuse { return nil }
      ours = nil
      ourError = error.summary
    }
    let theirs: NormalTOML?
    let theirError: String?
    do {
      theirs = NormalTOML(try TOMLTable(string: text))
      theirError = nil
    } catch {
      theirs = nil
      theirError = "\(error)"
    }
    switch (ours, theirs) {
    case (let ours?, let theirs?):
      return ours == theirs ? nil : "the reader read \(ours), TOMLKit \(theirs)"
    case (_?, nil):
      return "the reader accepts what TOMLKit refuses (\(theirError ?? "?"))"
    case (nil, _?):
      return "the reader refuses what TOMLKit accepts: \(ourError ?? "?")"
    case (nil, nil):
      return nil
    }
  }
}
