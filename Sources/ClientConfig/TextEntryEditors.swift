import Foundation
import TunnelCore
import Yams

/// Why an entry could not be merged into a TOML or YAML file (nothing is written then).
struct EntryEditError: Error, Equatable {
  /// `LINE:COLUMN` or `LINE`, when the problem has a place.
  var location: String?
  var message: String
}

/// The file as lines (without their line ends), and the line end it uses.
struct TextLines {
  var lines: [String]
  let newline: String
  let endsWithNewline: Bool

  init(_ text: String) {
    newline = text.contains("\r\n") ? "\r\n" : "\n"
    let normalized = newline == "\r\n" ? text.replacingOccurrences(of: "\r\n", with: "\n") : text
    endsWithNewline = normalized.hasSuffix("\n")
    var lines = normalized.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if endsWithNewline || normalized.isEmpty { lines.removeLast() }
    self.lines = lines
  }

  var text: String {
    lines.joined(separator: newline) + (lines.isEmpty ? "" : newline)
  }

  /// Whether line `index` (0-based) holds nothing but blanks or a comment.
  func isTrivia(_ index: Int) -> Bool {
    let trimmed = lines[index].trimmingCharacters(in: .whitespaces)
    return trimmed.isEmpty || trimmed.hasPrefix("#")
  }

  /// `range` without the blank and comment lines at its end (they belong to what follows).
  func trimmed(_ range: Range<Int>) -> Range<Int> {
    var end = range.upperBound
    while end > range.lowerBound, isTrivia(end - 1) { end -= 1 }
    return range.lowerBound..<end
  }

  /// Replaces `range` with the lines of `block`; returns whether anything changed.
  mutating func replace(_ range: Range<Int>, with block: String) -> Bool {
    let new = block.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if Array(lines[range]) == new { return false }
    lines.replaceSubrange(range, with: new)
    return true
  }
}

/// Codex's `config.toml`: the entry is the table `[mcp_servers.NAME]`. The file must read with
/// mcp-tunnel's TOML reader (which keeps lines); an existing table of that name is replaced
/// (its header to the next header), a new one is appended at the end. The result is read again
/// and must hold the entry, or nothing is written.
enum TOMLEntryEditor {
  static func install(
    name: String, entry: ConfigNode, into text: String
  ) throws(EntryEditError) -> (
    text: String, change: EntryChange
  ) {
    let document = try read(text)
    var lines = TextLines(text)
    let block = ClientEntry.document(client: .codex, name: name, entry: entry)
    let change: EntryChange
    if let servers = document.root.entries["mcp_servers"], case .table(let table) = servers.value,
      table.entries[name] != nil
    {
      guard let header = lines.lines.firstIndex(where: { isHeader($0, name: name) }) else {
        throw EntryEditError(
          location: String(servers.line),
          message: "mcp_servers.\(name) is written with dotted keys or an inline table, which --install does not edit")
      }
      let next = lines.lines[(header + 1)...].firstIndex { $0.trimmingCharacters(in: .whitespaces).hasPrefix("[") }
      change = lines.replace(lines.trimmed(header..<(next ?? lines.lines.count)), with: block) ? .replaced : .unchanged
    } else {
      if !lines.lines.isEmpty, !lines.isTrivia(lines.lines.count - 1) { lines.lines.append("") }
      lines.lines += block.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      change = .added
    }
    let result = lines.text
    let reread = try read(result)
    guard case .table(let servers)? = reread.root.entries["mcp_servers"]?.value,
      case .table(let written)? = servers.entries[name]?.value, matches(written, entry)
    else {
      throw EntryEditError(
        location: nil, message: "the entry could not be merged safely (mcp_servers is not a table here)")
    }
    return (result, change)
  }

  static func read(_ text: String) throws(EntryEditError) -> TOMLDocument {
    do {
      return try TOMLDocument(parsing: text)
    } catch {
      throw EntryEditError(location: error.line.map(String.init), message: error.problem ?? error.summary)
    }
  }

  /// `[mcp_servers.NAME]` with the name bare or quoted, blanks and a comment allowed.
  static func isHeader(_ line: String, name: String) -> Bool {
    var rest = Substring(line.trimmingCharacters(in: .whitespaces))
    guard rest.hasPrefix("["), !rest.hasPrefix("[[") else { return false }
    if let hash = rest.firstIndex(of: "#"), !rest[..<hash].contains("\"") && !rest[..<hash].contains("'") {
      rest = rest[..<hash]
    }
    rest = Substring(rest.trimmingCharacters(in: .whitespaces))
    guard rest.hasSuffix("]") else { return false }
    let parts = rest.dropFirst().dropLast().split(separator: ".", maxSplits: 1).map {
      $0.trimmingCharacters(in: .whitespaces)
    }
    guard parts.count == 2, parts[0] == "mcp_servers" || parts[0] == "\"mcp_servers\"" else { return false }
    return parts[1] == name || parts[1] == ConfigNode.jsonString(name) || parts[1] == "'\(name)'"
  }

  static func matches(_ table: TOMLDocument.Table, _ entry: ConfigNode) -> Bool {
    guard case .object(let members) = entry else { return false }
    return members.allSatisfy { member in
      switch (member.value, table.entries[member.key]?.value) {
      case (.string(let a), .string(let b)?): a == b
      case (.bool(let a), .boolean(let b)?): a == b
      case (.integer(let a), .integer(let b)?): a == b
      default: false
      }
    }
  }
}

/// Goose's and Continue's `config.yaml`: the entry is `extensions.NAME` (a mapping) or the item of
/// the `mcpServers` list whose `name` is NAME. The file must read with libyaml (Yams); the entry is
/// spliced in as lines at its place (replacing the old entry's lines), every other line stays; the
/// result is read again and must hold the entry, or nothing is written. Flow-style (`{…}`/`[…]`)
/// holders other than an empty one are refused.
enum YAMLEntryEditor {
  enum Shape {
    /// `container: { NAME: entry }` (Goose's `extensions`).
    case mapping(container: String)
    /// `container: [ entry ]`, the item found by its `name` (Continue's `mcpServers`).
    case listByName(container: String)

    var container: String {
      switch self {
      case .mapping(let container), .listByName(let container): container
      }
    }
  }

  static func install(
    name: String, entry: ConfigNode, shape: Shape, into text: String
  ) throws(EntryEditError) -> (
    text: String, change: EntryChange
  ) {
    var lines = TextLines(text)
    let holder: ConfigNode =
      switch shape {
      case .mapping: .object([(name, entry)])
      case .listByName: .array([entry])
      }
    let change: EntryChange
    let root = try compose(text)
    if let root, root.mapping == nil {
      throw EntryEditError(location: root.mark.map { "\($0)" }, message: "the top level is not a mapping")
    }
    let pairs = root?.mapping.map { Array($0) } ?? []
    guard let index = pairs.firstIndex(where: { $0.key.string == shape.container }) else {
      if let root, isFlow(root, lines) {
        throw EntryEditError(
          location: "1", message: "the top level is written in flow style ({…}), which --install does not edit")
      }
      if !lines.lines.isEmpty, !lines.isTrivia(lines.lines.count - 1) { lines.lines.append("") }
      lines.lines += ConfigNode.object([(shape.container, holder)]).yaml()
        .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      return (try verified(lines.text, name: name, entry: entry, shape: shape), .added)
    }
    let key = pairs[index].key
    let value = pairs[index].value
    let keyLine = (key.mark?.line ?? 1) - 1
    // The holder's lines: after its key to the next top-level key (or the end).
    let end =
      index + 1 < pairs.count ? (pairs[index + 1].key.mark?.line ?? lines.lines.count + 1) - 1 : lines.lines.count
    let body = lines.trimmed((keyLine + 1)..<max(keyLine + 1, end))

    let children: [(key: String?, node: Node, line: Int)]
    let childIndent: Int
    switch (shape, value) {
    case (_, .scalar(let scalar)) where scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null":
      // `extensions:` with nothing under it: the entry goes right below.
      children = []
      childIndent = 2
    case (.mapping, .mapping(let mapping)) where !isFlow(value, lines):
      children = mapping.map { ($0.key.string, $0.key, ($0.key.mark?.line ?? 1) - 1) }
      childIndent = children.first.map { ($0.node.mark?.column ?? 3) - 1 } ?? 2
    case (.listByName, .sequence(let sequence)) where !isFlow(value, lines):
      children = sequence.map { ($0["name"]?.string, $0, ($0.mark?.line ?? 1) - 1) }
      childIndent =
        children.first.map { child in lines.lines[child.line].prefix { $0 == " " }.count } ?? 2
    case (_, _) where isFlow(value, lines) && (value.mapping?.isEmpty ?? value.sequence?.isEmpty ?? false):
      // `extensions: {}`: the line becomes the block.
      let rendered = ConfigNode.object([(shape.container, holder)]).yaml()
      _ = lines.replace(keyLine..<(keyLine + 1), with: rendered)
      return (try verified(lines.text, name: name, entry: entry, shape: shape), .added)
    default:
      throw EntryEditError(
        location: key.mark.map { "\($0)" },
        message:
          "\(shape.container) is not a block-style \(shape.isList ? "list" : "mapping"), which --install does not edit")
    }
    let rendered: String
    switch shape {
    case .mapping: rendered = ConfigNode.object([(name, entry)]).yaml(indent: childIndent)
    case .listByName: rendered = ConfigNode.array([entry]).yaml(indent: childIndent)
    }
    if let position = children.firstIndex(where: { $0.key == name }) {
      let start = children[position].line
      let stop = position + 1 < children.count ? children[position + 1].line : body.upperBound
      change = lines.replace(lines.trimmed(start..<max(start + 1, stop)), with: rendered) ? .replaced : .unchanged
    } else {
      let at = max(body.upperBound, keyLine + 1)
      lines.lines.insert(
        contentsOf: rendered.split(separator: "\n", omittingEmptySubsequences: false).map(String.init), at: at)
      change = .added
    }
    if change == .unchanged { return (text, .unchanged) }
    return (try verified(lines.text, name: name, entry: entry, shape: shape), change)
  }

  /// Whether `node` is written in flow style (`{…}` or `[…]`), read from the text at its start:
  /// Yams 6.2 reports every collection's style as `.any`.
  static func isFlow(_ node: Node, _ lines: TextLines) -> Bool {
    guard node.mapping != nil || node.sequence != nil, let mark = node.mark, mark.line - 1 < lines.lines.count else {
      return false
    }
    let line = Array(lines.lines[mark.line - 1].unicodeScalars)
    guard mark.column - 1 < line.count else { return false }
    return line[mark.column - 1] == "{" || line[mark.column - 1] == "["
  }

  static func compose(_ text: String) throws(EntryEditError) -> Node? {
    do {
      return try Yams.compose(yaml: text)
    } catch let error as YamlError {
      switch error {
      case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
        throw EntryEditError(location: "\(mark)", message: problem)
      default:
        throw EntryEditError(location: nil, message: "\(error)")
      }
    } catch {
      throw EntryEditError(location: nil, message: "\(error)")
    }
  }

  /// Reads `text` again and checks that it holds `entry` where `shape` says.
  static func verified(_ text: String, name: String, entry: ConfigNode, shape: Shape) throws(EntryEditError) -> String {
    let root = try compose(text)
    let holder = root?[shape.container]
    let written: Node? =
      switch shape {
      case .mapping: holder?[name]
      case .listByName: holder?.sequence?.first { $0["name"]?.string == name }
      }
    guard let written, matches(written, entry) else {
      throw EntryEditError(location: nil, message: "the entry could not be merged safely")
    }
    return text
  }

  static func matches(_ node: Node, _ entry: ConfigNode) -> Bool {
    guard case .object(let members) = entry else { return false }
    return members.allSatisfy { member in
      switch member.value {
      case .string(let text): node[member.key]?.string == text
      case .bool(let value): node[member.key]?.bool == value
      case .integer(let value): node[member.key]?.int == value
      default: false
      }
    }
  }
}

extension YAMLEntryEditor.Shape {
  var isList: Bool {
    if case .listByName = self { return true }
    return false
  }
}
