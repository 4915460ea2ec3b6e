import Foundation

/// The `--json` contract (SPEC §2, DESIGN §3.6) in one place: every object a command prints with
/// `--json` — each `up` event, each result, the error line — is one of the `Encodable` types in
/// this folder, with its text rendering beside it, and is encoded by `JSONOutput.encoder` alone.
///
/// The encoder writes snake_case keys in sorted order and leaves `/` unescaped, which is what the
/// `[String: Any]` + `JSONSerialization` lines before it printed: for keys of lowercase letters and
/// `_`, as all of ours are, both sort orders agree. `JSONOutputGoldenTests` pins the bytes of every
/// type. A missing value is either a key left out (a plain optional, as synthesized `Encodable`
/// does) or `null` (`@NullWhenAbsent`), as the contract of that line says.
enum JSONOutput {
  static let encoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
  }()

  /// One JSON object, without the newline.
  static func line(_ value: some Encodable) -> String {
    guard let data = try? encoder.encode(value) else { return "{}" }
    return String(decoding: data, as: UTF8.self)
  }
}

/// A value printed as one `--json` line.
protocol JSONOutputLine: Encodable {}

extension JSONOutputLine {
  /// The object on one line, without the newline.
  var jsonLine: String { JSONOutput.line(self) }
}

/// An optional whose key stays in the object, as `null`, when it has no value (synthesized
/// `Encodable` would leave the key out).
@propertyWrapper
struct NullWhenAbsent<Wrapped: Encodable & Sendable>: Encodable, Sendable {
  var wrappedValue: Wrapped?

  init(wrappedValue: Wrapped?) { self.wrappedValue = wrappedValue }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
  }
}

extension NullWhenAbsent: Equatable where Wrapped: Equatable {}

/// A value with a text rendering for people, printed when `--json` is not given.
protocol TextRenderable {
  /// The text, without a final newline unless it spans several lines that each end in one.
  var text: String { get }
}
