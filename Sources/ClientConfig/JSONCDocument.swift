/// A JSON (or JSONC: comments and trailing commas, as VS Code's and Zed's settings files allow)
/// document read with the byte range of every value and key, so that `client-config --install` can
/// change one entry and leave every other byte of the file as it was.
struct JSONCDocument {
  indirect enum Kind {
    case object([Member])
    case array([Value])
    case scalar
  }

  struct Value {
    var kind: Kind
    /// The value's bytes in the text, from its first to its last byte.
    var range: Range<Int>
  }

  struct Member {
    var key: String
    var keyRange: Range<Int>
    var value: Value
  }

  let bytes: [UInt8]
  let root: Value

  /// Reads `text`; with `comments`, `//` and `/* */` comments and trailing commas are allowed.
  /// Throws a message with the line and column of the first problem.
  init(_ text: String, comments: Bool) throws(JSONCParseError) {
    bytes = Array(text.utf8)
    var reader = Reader(bytes: bytes, comments: comments)
    try reader.skipTrivia()
    root = try reader.value(depth: 0)
    try reader.skipTrivia()
    guard reader.index == bytes.count else { throw reader.error("unexpected text after the document's end") }
  }

  /// The whitespace before the line's first character at `offset`, when only whitespace precedes
  /// it on its line; nil when something else does (a compact, one-line document).
  func indentation(at offset: Int) -> String? {
    var start = offset
    while start > 0, bytes[start - 1] != UInt8(ascii: "\n") { start -= 1 }
    let prefix = bytes[start..<offset]
    guard prefix.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) else { return nil }
    return String(decoding: prefix, as: UTF8.self)
  }

  /// The line ending the document uses (CRLF when its first line break is one).
  var newline: String {
    guard let index = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return "\n" }
    return index > 0 && bytes[index - 1] == UInt8(ascii: "\r") ? "\r\n" : "\n"
  }

  private struct Reader {
    let bytes: [UInt8]
    let comments: Bool
    var index = 0

    static let maximumDepth = 200

    func error(_ what: String) -> JSONCParseError {
      var line = 1
      var column = 1
      for byte in bytes[..<min(index, bytes.count)] {
        if byte == UInt8(ascii: "\n") {
          line += 1
          column = 1
        } else if byte & 0xC0 != 0x80 {
          column += 1
        }
      }
      return JSONCParseError(line: line, column: column, message: what)
    }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipTrivia() throws(JSONCParseError) {
      while let byte = peek {
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
          index += 1
        case UInt8(ascii: "/") where comments && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "/"):
          while let c = peek, c != UInt8(ascii: "\n") { index += 1 }
        case UInt8(ascii: "/") where comments && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*"):
          let start = index
          index += 2
          while index + 1 < bytes.count, !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/")) {
            index += 1
          }
          guard index + 1 < bytes.count else {
            index = start
            throw error("a /* comment is not closed")
          }
          index += 2
        case 0xEF where index == 0 && bytes.count >= 3 && bytes[1] == 0xBB && bytes[2] == 0xBF:
          index += 3
        default:
          return
        }
      }
    }

    mutating func value(depth: Int) throws(JSONCParseError) -> Value {
      guard depth < Self.maximumDepth else { throw error("nested more than \(Self.maximumDepth) deep") }
      guard let byte = peek else { throw error("expected a value, found the end of the file") }
      let start = index
      switch byte {
      case UInt8(ascii: "{"): return Value(kind: .object(try object(depth: depth)), range: start..<index)
      case UInt8(ascii: "["): return Value(kind: .array(try array(depth: depth)), range: start..<index)
      case UInt8(ascii: "\""):
        _ = try string()
        return Value(kind: .scalar, range: start..<index)
      default:
        while let c = peek,
          (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
            || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: "E")
        {
          index += 1
        }
        let word = String(decoding: bytes[start..<index], as: UTF8.self)
        guard ["true", "false", "null"].contains(word) || Self.isNumber(word) else {
          index = start
          throw error(word.isEmpty ? "unexpected character" : "\"\(word.prefix(20))\" is not a JSON value")
        }
        return Value(kind: .scalar, range: start..<index)
      }
    }

    static func isNumber(_ word: String) -> Bool {
      // RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
      var rest = Substring(word)
      if rest.first == "-" { rest = rest.dropFirst() }
      let digits = { (s: Substring) in s.prefix { $0.isASCII && $0.isNumber } }
      let whole = digits(rest)
      guard !whole.isEmpty, whole == "0" || whole.first != "0" else { return false }
      rest = rest.dropFirst(whole.count)
      if rest.first == "." {
        let fraction = digits(rest.dropFirst())
        guard !fraction.isEmpty else { return false }
        rest = rest.dropFirst(1 + fraction.count)
      }
      if rest.first == "e" || rest.first == "E" {
        rest = rest.dropFirst()
        if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
        let exponent = digits(rest)
        guard !exponent.isEmpty else { return false }
        rest = rest.dropFirst(exponent.count)
      }
      return rest.isEmpty
    }

    mutating func object(depth: Int) throws(JSONCParseError) -> [Member] {
      index += 1
      var members: [Member] = []
      try skipTrivia()
      if peek == UInt8(ascii: "}") {
        index += 1
        return members
      }
      while true {
        guard peek == UInt8(ascii: "\"") else { throw error("expected a member name in double quotes") }
        let keyStart = index
        let key = try string()
        let keyRange = keyStart..<index
        try skipTrivia()
        guard peek == UInt8(ascii: ":") else { throw error("expected \":\" after the member name") }
        index += 1
        try skipTrivia()
        let value = try value(depth: depth + 1)
        if members.contains(where: { $0.key == key }) {
          index = keyStart
          throw error("the member \"\(key)\" appears twice in one object")
        }
        members.append(Member(key: key, keyRange: keyRange, value: value))
        try skipTrivia()
        switch peek {
        case UInt8(ascii: ","):
          index += 1
          try skipTrivia()
          if peek == UInt8(ascii: "}") {
            guard comments else { throw error("a trailing comma before \"}\" is not JSON") }
            index += 1
            return members
          }
        case UInt8(ascii: "}"):
          index += 1
          return members
        default:
          throw error("expected \",\" or \"}\"")
        }
      }
    }

    mutating func array(depth: Int) throws(JSONCParseError) -> [Value] {
      index += 1
      var items: [Value] = []
      try skipTrivia()
      if peek == UInt8(ascii: "]") {
        index += 1
        return items
      }
      while true {
        items.append(try value(depth: depth + 1))
        try skipTrivia()
        switch peek {
        case UInt8(ascii: ","):
          index += 1
          try skipTrivia()
          if peek == UInt8(ascii: "]") {
            guard comments else { throw error("a trailing comma before \"]\" is not JSON") }
            index += 1
            return items
          }
        case UInt8(ascii: "]"):
          index += 1
          return items
        default:
          throw error("expected \",\" or \"]\"")
        }
      }
    }

    /// A string literal; returns its decoded text.
    mutating func string() throws(JSONCParseError) -> String {
      let start = index
      index += 1
      var out: [UInt8] = []
      while let byte = peek {
        index += 1
        switch byte {
        case UInt8(ascii: "\""):
          return String(decoding: out, as: UTF8.self)
        case UInt8(ascii: "\\"):
          guard let escaped = peek else { break }
          index += 1
          switch escaped {
          case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
          case UInt8(ascii: "b"): out.append(8)
          case UInt8(ascii: "f"): out.append(12)
          case UInt8(ascii: "n"): out.append(10)
          case UInt8(ascii: "r"): out.append(13)
          case UInt8(ascii: "t"): out.append(9)
          case UInt8(ascii: "u"):
            guard index + 4 <= bytes.count,
              let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
            else { throw error("a \\u escape needs four hexadecimal digits") }
            index += 4
            out += Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{FFFD}").utf8)
          default:
            index -= 1
            throw error("unknown escape \\\(Character(Unicode.Scalar(escaped)))")
          }
        case 0..<0x20:
          index -= 1
          throw error("a control character inside a string must be escaped")
        default:
          out.append(byte)
        }
      }
      index = start
      throw error("a string is not closed")
    }
  }
}

/// Where and why a client's config file could not be read.
struct JSONCParseError: Error, Equatable {
  var line: Int
  var column: Int
  var message: String
}
