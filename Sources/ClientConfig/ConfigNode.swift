import TunnelCore

/// A value of an MCP client's configuration file, with the key order kept: what `client-config`
/// renders as JSON, TOML or YAML. Only the kinds an entry needs.
public indirect enum ConfigNode: Sendable, Equatable {
  case string(String)
  case bool(Bool)
  case integer(Int)
  case array([ConfigNode])
  case object([(key: String, value: ConfigNode)])

  public static func == (lhs: ConfigNode, rhs: ConfigNode) -> Bool {
    switch (lhs, rhs) {
    case (.string(let a), .string(let b)): a == b
    case (.bool(let a), .bool(let b)): a == b
    case (.integer(let a), .integer(let b)): a == b
    case (.array(let a), .array(let b)): a == b
    case (.object(let a), .object(let b)): a.map(\.key) == b.map(\.key) && a.map(\.value) == b.map(\.value)
    default: false
    }
  }

  /// The member `key` of an object; nil for a missing key or another kind.
  public subscript(key: String) -> ConfigNode? {
    guard case .object(let members) = self else { return nil }
    return members.first { $0.key == key }?.value
  }

  // MARK: JSON

  /// Pretty JSON with two-space indentation, as the clients' own files are written.
  public func json(indent: Int = 0) -> String {
    json(prefix: String(repeating: " ", count: indent), unit: "  ")
  }

  /// Pretty JSON whose nested lines start with `prefix` plus one `unit` per level (the first line
  /// is not indented: it continues the line it is put on).
  func json(prefix: String, unit: String) -> String {
    let inner = prefix + unit
    switch self {
    case .string(let text): return Self.jsonString(text)
    case .bool(let value): return value ? "true" : "false"
    case .integer(let value): return String(value)
    case .array(let items):
      if items.isEmpty { return "[]" }
      return "[\n" + items.map { inner + $0.json(prefix: inner, unit: unit) }.joined(separator: ",\n") + "\n\(prefix)]"
    case .object(let members):
      if members.isEmpty { return "{}" }
      return "{\n"
        + members.map { inner + Self.jsonString($0.key) + ": " + $0.value.json(prefix: inner, unit: unit) }
        .joined(separator: ",\n") + "\n\(prefix)}"
    }
  }

  /// A JSON string literal (RFC 8259), also a TOML basic string and a YAML double-quoted scalar.
  static func jsonString(_ text: String) -> String { PrintableText.quotedLiteral(text) }

  // MARK: TOML

  /// A TOML key: bare when it may be (`A-Za-z0-9_-`), else a basic string.
  static func tomlKey(_ key: String) -> String {
    let bare =
      !key.isEmpty
      && key.unicodeScalars.allSatisfy {
        ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
      }
    return bare ? key : jsonString(key)
  }

  /// A TOML inline value. JSON's string escapes are all valid TOML basic-string escapes.
  func tomlValue() -> String {
    switch self {
    case .string(let text): return Self.jsonString(text)
    case .bool(let value): return value ? "true" : "false"
    case .integer(let value): return String(value)
    case .array(let items): return "[" + items.map { $0.tomlValue() }.joined(separator: ", ") + "]"
    case .object(let members):
      return "{ " + members.map { Self.tomlKey($0.key) + " = " + $0.value.tomlValue() }.joined(separator: ", ") + " }"
    }
  }

  // MARK: YAML

  /// Block YAML. Strings are double-quoted (JSON's escapes are YAML's), so no value is ever read
  /// as another type (`on`, `1e3`, `null`).
  public func yaml(indent: Int = 0) -> String {
    let pad = String(repeating: " ", count: indent)
    switch self {
    case .object(let members):
      return members.map { member in
        let key = Self.yamlKey(member.key)
        switch member.value {
        case .object(let inner) where !inner.isEmpty:
          return "\(pad)\(key):\n" + member.value.yaml(indent: indent + 2)
        case .array(let items) where !items.isEmpty:
          return "\(pad)\(key):\n" + member.value.yaml(indent: indent + 2)
        default:
          return "\(pad)\(key): " + member.value.yamlScalar()
        }
      }.joined(separator: "\n")
    case .array(let items):
      return items.map { item in
        switch item {
        case .object(let inner) where !inner.isEmpty:
          // The first member on the dash's line, the rest aligned under it.
          let body = item.yaml(indent: indent + 2)
          return pad + "- " + body.dropFirst(indent + 2)
        default:
          return pad + "- " + item.yamlScalar()
        }
      }.joined(separator: "\n")
    default:
      return pad + yamlScalar()
    }
  }

  func yamlScalar() -> String {
    switch self {
    case .string(let text): return Self.jsonString(text)
    case .bool(let value): return value ? "true" : "false"
    case .integer(let value): return String(value)
    case .array(let items): return "[" + items.map { $0.yamlScalar() }.joined(separator: ", ") + "]"
    case .object(let members):
      return "{" + members.map { Self.yamlKey($0.key) + ": " + $0.value.yamlScalar() }.joined(separator: ", ") + "}"
    }
  }

  static func yamlKey(_ key: String) -> String {
    let plain =
      !key.isEmpty
      && key.unicodeScalars.allSatisfy {
        ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
      } && !["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"].contains(key.lowercased())
    return plain ? key : jsonString(key)
  }
}

extension ConfigNode {
  /// JSON on one line with the keys of every object sorted, as every `--json` line is written.
  public var compactJSON: String {
    switch self {
    case .string(let text): return Self.jsonString(text)
    case .bool(let value): return value ? "true" : "false"
    case .integer(let value): return String(value)
    case .array(let items): return "[" + items.map(\.compactJSON).joined(separator: ",") + "]"
    case .object(let members):
      return "{"
        + members.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
        .map { Self.jsonString($0.key) + ":" + $0.value.compactJSON }.joined(separator: ",") + "}"
    }
  }
}
