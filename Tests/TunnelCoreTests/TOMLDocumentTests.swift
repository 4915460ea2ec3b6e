import Testing
import TunnelCore

@Suite("TOML reader")
struct TOMLDocumentTests {
  @Test func readsTheSubsetWithLines() throws {
    let doc = try TOMLDocument(
      parsing: """
        # comment
        a = "x\\ty\\u00e9" # trailing comment
        b = 'lit\\eral'
        [t.'quoted key'.u]
        n = 1_000
        f = 1.5
        yes = true
        list = [
          "one",  # inline comment
          "two",
        ]
        inline = { k = "v", "q k" = false }
        dotted.key = "d"
        """)
    #expect(doc.root["a"] == .init(value: .string("x\tyé"), line: 2))
    #expect(doc.root["b"]?.value == .string("lit\\eral"))
    guard case .table(let t)? = doc.root["t"]?.value, case .table(let q)? = t["quoted key"]?.value,
      case .table(let u)? = q["u"]?.value
    else {
      Issue.record("tables not nested")
      return
    }
    #expect(u["n"]?.value == .integer(1000))
    #expect(u["f"]?.value == .float(1.5))
    #expect(u["yes"]?.value == .boolean(true))
    if case .array(let items)? = u["list"]?.value {
      #expect(items.map(\.value) == [.string("one"), .string("two")])
      #expect(items.map(\.line) == [9, 10])
    } else {
      Issue.record("list is not an array")
    }
    #expect(u["list"]?.line == 8)
    if case .table(let inline)? = u["inline"]?.value {
      #expect(inline["q k"]?.value == .boolean(false))
    } else {
      Issue.record("inline is not a table")
    }
    if case .table(let dotted)? = u["dotted"]?.value {
      #expect(dotted["key"]?.value == .string("d"))
    } else {
      Issue.record("dotted is not a table")
    }
  }

  @Test(arguments: [
    ("a = \"unterminated\n", 1, "unterminated string"),
    ("a = b\n", 1, "strings must be quoted"),
    ("\n\na = \"x\" junk\n", 3, "after value"),
    ("[t]\n[t]\n", 2, "defined twice"),
    ("a = [1, 2\n", 2, "expected \",\" or \"]\""),
    ("[[arr]]\n", 1, "arrays of tables"),
    ("a = \"\"\"multi\"\"\"\n", 1, "multi-line strings"),
    ("a = \"bad \\q escape\"\n", 1, "invalid escape"),
    ("= 1\n", 1, "expected a key"),
    // A newline is LF or CRLF: a CR alone is refused at the end of the file, between lines, in an array.
    ("a = 1\r", 1, "a carriage return without a line feed"),
    ("a = 1\n\rb = 2\n", 2, "a carriage return without a line feed"),
    ("a = [\r1]\n", 1, "a carriage return without a line feed"),
  ])
  func syntaxErrorsAreLocated(text: String, line: Int, fragment: String) {
    let error = #expect(throws: CoreError.self) { try TOMLDocument(parsing: text, file: "c.toml") }
    #expect(error?.summary.hasPrefix("c.toml:\(line): ") == true, "\(error?.summary ?? "")")
    #expect(error?.summary.contains(fragment) == true, "\(error?.summary ?? "")")
  }

  // MARK: what TOML 1.0 forbids

  @Test(
    "a number with a leading zero or a stray underscore is refused, naming its key and line",
    arguments: [
      ("port = 007", "number \"007\" of key \"port\" has a leading zero, which TOML does not allow"),
      ("port = +007", "number \"+007\" of key \"port\" has a leading zero"),
      ("port = -01", "number \"-01\" of key \"port\" has a leading zero"),
      ("port = 0_7", "number \"0_7\" of key \"port\" has a leading zero"),
      ("ratio = 01.5", "number \"01.5\" of key \"ratio\" has a leading zero"),
      ("ratio = -00.5e2", "number \"-00.5e2\" of key \"ratio\" has a leading zero"),
      ("n = 1__000", "number \"1__000\" of key \"n\" has an underscore that is not between two digits"),
      ("n = _1", "number \"_1\" of key \"n\" has an underscore that is not between two digits"),
      ("n = 1_", "number \"1_\" of key \"n\" has an underscore that is not between two digits"),
      ("f = 1_.5", "number \"1_.5\" of key \"f\" has an underscore that is not between two digits"),
      ("f = 1e_5", "number \"1e_5\" of key \"f\" has an underscore that is not between two digits"),
      ("f = .5", "number \".5\" of key \"f\" needs a digit before \".\""),
      ("f = 5.", "number \"5.\" of key \"f\" needs a digit after \".\""),
      ("f = 1.e5", "number \"1.e5\" of key \"f\" needs a digit after \".\""),
      ("f = 0x1.8p3", "number \"0x1.8p3\" of key \"f\" is not a hexadecimal integer"),
      ("n = 0x", "number \"0x\" of key \"n\" is not a hexadecimal integer"),
      ("n = +0x1F", "number \"+0x1F\" of key \"n\" has a sign, which a TOML hexadecimal integer may not have"),
      ("n = 0o78", "number \"0o78\" of key \"n\" is not an octal integer"),
      ("n = 0b_1", "number \"0b_1\" of key \"n\" has an underscore that is not between two digits"),
      ("n = 0x1_0000_0000_0000_0000", "number \"0x1_0000_0000_0000_0000\" of key \"n\" is out of range"),
      ("d = 1979-05-27", "value \"1979-05-27\" of key \"d\" is a TOML date or time, which no mcp-tunnel setting"),
      ("t = 07:32:00", "value \"07:32:00\" of key \"t\" is a TOML date or time"),
      ("x = infinity", "invalid value \"infinity\"; strings must be quoted"),
      ("f = 1e400", "number \"1e400\" of key \"f\" is out of range for a float"),
      ("f = -1_0e3_08", "number \"-1_0e3_08\" of key \"f\" is out of range for a float"),
    ])
  func numberOutsideTOMLGrammarIsRefusedWithItsKey(line: String, message: String) {
    let error = #expect(throws: CoreError.self) { try TOMLDocument(parsing: "# c\n\(line)\n", file: "c.toml") }
    #expect(error?.summary.hasPrefix("c.toml:2: \(message)") == true, "\(error?.summary ?? "")")
  }

  @Test("TOML's hexadecimal, octal and binary integers and inf/nan floats read as TOML 1.0 says")
  func nonDecimalNumbers() throws {
    let document = try TOMLDocument(
      parsing: "a = 0xDEAD_beef\nb = 0o755\nc = 0b1101\nd = 0x00\ne = inf\nf = -inf\ng = +nan\nh = 0o0_7\n")
    #expect(document.root.keys == ["a", "b", "c", "d", "e", "f", "g", "h"])
    let table = document.root.entries.mapValues(\.value)
    #expect(table["a"] == .integer(0xDEAD_BEEF))
    #expect(table["b"] == .integer(0o755))
    #expect(table["c"] == .integer(0b1101))
    #expect(table["d"] == .integer(0))
    #expect(table["e"] == .float(.infinity))
    #expect(table["f"] == .float(-.infinity))
    if case .float(let nan) = table["g"] {
      #expect(nan.isNaN)
    } else {
      Issue.record("g is \(String(describing: table["g"]))")
    }
    #expect(table["h"] == .integer(7))
  }

  @Test("a number inside an array or inline table is named by the key that holds it, at its own line")
  func numberInAnArrayOrInlineTableIsNamedByItsKey() {
    let inArray = #expect(throws: CoreError.self) {
      try TOMLDocument(parsing: "[t]\nports = [\n  1,\n  08,\n]\n", file: "c.toml")
    }
    #expect(
      inArray?.summary == "c.toml:4: number \"08\" of key \"t.ports\" has a leading zero, which TOML does not allow")
    let inInline = #expect(throws: CoreError.self) {
      try TOMLDocument(parsing: "a = { b.c = { d = 00 } }\n", file: "c.toml")
    }
    #expect(inInline?.summary.hasPrefix("c.toml:1: number \"00\" of key \"a.b.c.d\" has a leading zero") == true)
  }

  @Test("zero, signed zeros and numbers TOML allows still read")
  func numbersTOMLAllowsStillRead() throws {
    let doc = try TOMLDocument(
      parsing: """
        a = 0
        b = +0
        c = -0
        d = 0.5
        e = -0.0
        f = 0e5
        g = 1_000_000
        h = 1.000_5e0_1
        i = -7
        j = 1E+2
        k = 10
        """)
    let values = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"].map { doc.root[$0]?.value }
    #expect(
      values == [
        .integer(0), .integer(0), .integer(0), .float(0.5), .float(-0.0), .float(0), .integer(1_000_000),
        .float(10.005), .integer(-7), .float(100), .integer(10),
      ])
  }

  @Test(
    "a table that dotted keys defined cannot be reopened by a header",
    arguments: [
      (
        "[x]\na.b.c = 1\n[x.a.b]\n", 3,
        "table [x.a.b] is already defined by the dotted key on line 2; "
          + "a table that dotted keys define cannot have a header of its own"
      ),
      ("[x]\na.b.c = 1\n[x.a]\n", 3, "table [x.a] is already defined by the dotted key on line 2"),
      ("a.b = 1\n[a]\n", 2, "table [a] is already defined by the dotted key on line 1"),
      ("[x]\na.b = 1\n[y]\n[x.a]\n", 4, "table [x.a] is already defined by the dotted key on line 2"),
      ("[x]\n[x]\n", 2, "table [x] is defined twice"),
      ("[x.y]\n[x]\n[x]\n", 3, "table [x] is defined twice"),
      ("[x.y]\n[x.y]\n", 2, "table [x.y] is defined twice"),
    ])
  func tableDefinedByDottedKeysCannotBeReopenedByAHeader(text: String, line: Int, message: String) {
    let error = #expect(throws: CoreError.self) { try TOMLDocument(parsing: text, file: "c.toml") }
    #expect(error?.summary.hasPrefix("c.toml:\(line): \(message)") == true, "\(error?.summary ?? "")")
  }

  @Test(
    "an inline table cannot be extended afterwards, by a dotted key or a header",
    arguments: [
      (
        "a = { b = 1 }\na.c = 2\n", 2,
        "key \"a.c\" adds to the inline table \"a\" of line 1; write all of an inline table's keys inside its braces"
      ),
      ("a = { b = 1 }\n[a]\n", 2, "table [a] adds to the inline table \"a\" of line 1"),
      ("a = { b = 1 }\n[a.d]\n", 2, "table [a.d] adds to the inline table \"a\" of line 1"),
      ("[t]\na = { b = { c = 1 } }\na.b.d = 2\n", 3, "key \"a.b.d\" adds to the inline table \"t.a\" of line 2"),
      ("a = { b = { c = 1 } }\n[a.b.e]\n", 2, "table [a.b.e] adds to the inline table \"a\" of line 1"),
      ("a = { b = { c = 1 }, b.d = 2 }\n", 1, "key \"b.d\" adds to the inline table \"a.b\" of line 1"),
      ("a = { b = 1 }\na.b = 2\n", 2, "key \"a.b\" adds to the inline table \"a\" of line 1"),
    ])
  func inlineTableCannotBeExtended(text: String, line: Int, message: String) {
    let error = #expect(throws: CoreError.self) { try TOMLDocument(parsing: text, file: "c.toml") }
    #expect(error?.summary.hasPrefix("c.toml:\(line): \(message)") == true, "\(error?.summary ?? "")")
  }

  @Test(
    "dotted keys cannot add to a table that its own header defined",
    arguments: [
      (
        "[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n", 4,
        "key \"b.c.t\" adds to table [a.b.c], which its own header defines; put the key under that header"
      ),
      ("[a.b.c.d]\nz = 9\n[a]\nb.c.d.k.t = 1\n", 4, "key \"b.c.d.k.t\" adds to table [a.b.c.d]"),
    ])
  func headerTableCannotBeExtendedByDottedKeys(text: String, line: Int, message: String) {
    let error = #expect(throws: CoreError.self) { try TOMLDocument(parsing: text, file: "c.toml") }
    #expect(error?.summary.hasPrefix("c.toml:\(line): \(message)") == true, "\(error?.summary ?? "")")
  }

  @Test("headers may still define tables below dotted-key tables and define implicit tables once")
  func headersMayDefineTablesBelowDottedAndImplicitOnes() throws {
    let doc = try TOMLDocument(
      parsing: """
        [fruit]
        apple.color = "red"
        apple.taste.sweet = true
        [fruit.apple.texture]
        smooth = true
        [a.b.c]
        z = 1
        [a]
        y = 2
        [x]
        i = { p.q = 1, p.r = 2 }
        """)
    guard case .table(let fruit)? = doc.root["fruit"]?.value, case .table(let apple)? = fruit["apple"]?.value,
      case .table(let texture)? = apple["texture"]?.value, case .table(let a)? = doc.root["a"]?.value,
      case .table(let x)? = doc.root["x"]?.value, case .table(let i)? = x["i"]?.value,
      case .table(let p)? = i["p"]?.value
    else {
      Issue.record("tables not nested as written")
      return
    }
    #expect(apple.keys == ["color", "taste", "texture"])
    #expect(texture["smooth"]?.value == .boolean(true))
    #expect(a.keys == ["b", "y"])
    #expect(p.keys == ["q", "r"])
  }
}
