/// What `--install` did to the entry.
public enum EntryChange: String, Sendable, Equatable {
  case added
  case replaced
  case unchanged
}

/// Puts one named entry under `container` in a JSON or JSONC document and leaves every other byte
/// as it was: other members, their order, comments, indentation and line endings. A member is
/// added after the last one of its object, indented like it; an existing entry of that name has
/// its value replaced.
enum JSONEntryEditor {
  static func install(
    name: String, entry: ConfigNode, container: String, into text: String, comments: Bool
  ) throws(JSONCParseError) -> (text: String, change: EntryChange) {
    if text.allSatisfy(\.isWhitespace) {
      return (ConfigNode.object([(container, .object([(name, entry)]))]).json() + "\n", .added)
    }
    let document = try JSONCDocument(text, comments: comments)
    guard case .object(let rootMembers) = document.root.kind else {
      throw JSONCParseError(line: 1, column: 1, message: "the top level is not a JSON object")
    }
    let unit = indentUnit(document, rootMembers)
    guard let holder = rootMembers.first(where: { $0.key == container }) else {
      let text = insert(
        in: document, object: document.root, members: rootMembers, key: container,
        value: .object([(name, entry)]), unit: unit)
      return (text, .added)
    }
    guard case .object(let servers) = holder.value.kind else {
      throw position(document, holder.keyRange.lowerBound, "\"\(container)\" is not an object")
    }
    guard let existing = servers.first(where: { $0.key == name }) else {
      return (insert(in: document, object: holder.value, members: servers, key: name, value: entry, unit: unit), .added)
    }
    let rendered = render(entry, in: document, at: existing.keyRange.lowerBound, unit: unit)
    let old = String(decoding: document.bytes[existing.value.range], as: UTF8.self)
    if old == rendered { return (text, .unchanged) }
    return (splice(document, existing.value.range, rendered), .replaced)
  }

  /// One level of indentation as the document writes it: its first member's, else two spaces.
  static func indentUnit(_ document: JSONCDocument, _ rootMembers: [JSONCDocument.Member]) -> String? {
    guard let first = rootMembers.first else { return "  " }
    guard let indent = document.indentation(at: first.keyRange.lowerBound) else { return nil }
    return indent.isEmpty ? "  " : indent
  }

  /// `value` as it is written at `offset`'s line: multi-line with that line's indentation, or on
  /// one line when the document is compact there.
  static func render(_ value: ConfigNode, in document: JSONCDocument, at offset: Int, unit: String?) -> String {
    guard let unit, let indent = document.indentation(at: offset) else { return value.compactJSON }
    return value.json(prefix: indent, unit: unit).replacingNewlines(with: document.newline)
  }

  static func insert(
    in document: JSONCDocument, object: JSONCDocument.Value, members: [JSONCDocument.Member], key: String,
    value: ConfigNode, unit: String?
  ) -> String {
    let keyText = ConfigNode.jsonString(key)
    guard let last = members.last else {
      // An empty object (perhaps holding comments): written anew, one level inside its line.
      let lineIndent = document.lineIndentation(at: object.range.lowerBound)
      guard let unit else {
        return splice(document, object.range, "{" + keyText + ":" + value.compactJSON + "}")
      }
      let inner = lineIndent + unit
      let newline = document.newline
      let text =
        "{" + newline + inner + keyText + ": " + value.json(prefix: inner, unit: unit).replacingNewlines(with: newline)
        + newline + lineIndent + "}"
      return splice(document, object.range, text)
    }
    let end = last.value.range.upperBound
    guard let unit, let indent = document.indentation(at: last.keyRange.lowerBound) else {
      return splice(document, end..<end, "," + keyText + ":" + value.compactJSON)
    }
    let newline = document.newline
    let text =
      "," + newline + indent + keyText + ": "
      + value.json(prefix: indent, unit: unit).replacingNewlines(with: newline)
    return splice(document, end..<end, text)
  }

  static func splice(_ document: JSONCDocument, _ range: Range<Int>, _ text: String) -> String {
    var bytes = document.bytes
    bytes.replaceSubrange(range, with: Array(text.utf8))
    return String(decoding: bytes, as: UTF8.self)
  }

  static func position(_ document: JSONCDocument, _ offset: Int, _ message: String) -> JSONCParseError {
    let prefix = document.bytes[..<offset]
    let line = prefix.filter { $0 == UInt8(ascii: "\n") }.count + 1
    let column = prefix.reversed().prefix { $0 != UInt8(ascii: "\n") }.filter { $0 & 0xC0 != 0x80 }.count + 1
    return JSONCParseError(line: line, column: column, message: message)
  }
}

extension JSONCDocument {
  /// The whitespace at the start of the line holding `offset`, whatever follows it.
  func lineIndentation(at offset: Int) -> String {
    var start = offset
    while start > 0, bytes[start - 1] != UInt8(ascii: "\n") { start -= 1 }
    let indent = bytes[start...].prefix { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
    return String(decoding: indent, as: UTF8.self)
  }
}

extension String {
  func replacingNewlines(with newline: String) -> String {
    newline == "\n" ? self : split(separator: "\n", omittingEmptySubsequences: false).joined(separator: newline)
  }
}
