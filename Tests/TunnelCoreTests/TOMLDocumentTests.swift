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
  ])
  func syntaxErrorsAreLocated(text: String, line: Int, fragment: String) {
    let error = #expect(throws: CoreError.self) { try TOMLDocument(parsing: text, file: "c.toml") }
    #expect(error?.summary.hasPrefix("c.toml:\(line): ") == true, "\(error?.summary ?? "")")
    #expect(error?.summary.contains(fragment) == true, "\(error?.summary ?? "")")
  }
}
