import Foundation
import MCPTunnelTestSupport
import TestTiers
import Testing
import TunnelCore

/// Configuration files with garbage in them: a seeded property over mutated files, and one
/// deterministic test per class of garbage line. Every outcome is a configuration or a usage
/// error (exit 2) located at a line of the file; never a trap, a hang, or a control character
/// echoed to the terminal.
@Suite("Configuration files with garbage lines (seeded mutation)", .offPool)
struct ConfigurationPropertyTests {
  let decoder = ConfigurationDecoder(file: "config.toml")

  static let minimalConfig = """
    [profiles.dev.ssh]
    target = "127.0.0.1:8080"
    """

  /// Inline tables, arrays over several lines, quoted and dotted keys, literal strings, comments.
  static let richConfig = """
    # team configuration
    default_profile = 'lab'

    [profiles.lab]
    idp = { issuer = "http://127.0.0.1:4593/api/oidc", client_id = "mcp-tunnel", pkce_metadata_override = true }

    [profiles.lab.session]
    method = "resource-refresh"
    resource = "https://mcp.example.com/t/{tenant}/mcp"
    tenants = [
      "acme",   # first
      "globex",
    ]
    "default_tenant" = "globex"

    [profiles.lab.ssh]
    host = "alice@127.0.0.1:2222"
    target = "127.0.0.1:8080"
    known_hosts = '~/.ssh/known_hosts'
    host_key_policy = "accept-new"

    [profiles."other-1".ssh]
    target = "[::1]:9000"
    listen.address = "localhost:7702"
    """

  static let corpus = [sampleConfig, minimalConfig, richConfig]

  /// Lines that look like TOML gone wrong.
  static let garbageLines = [
    "[profiles.prod.ssh", "[profiles..ssh]", "[[profiles]]", "[]", "= \"x\"", "key =", "key = \"unterminated",
    "key = 'unterminated", "key = \"\"\"multi\"\"\"", "target = \"127.0.0.1:1\"", "[profiles.prod.ssh]",
    "profiles = 1", "a.b.c.d = 1", "x = [1, [2, [3", "y = { a = 1, a = 2 }", "z = { a = 1", "n = 99999999999999999999",
    "f = 1e400", "b = tru", "s = \"bad \\q escape\"", "u = \"\\uD800\"", "\u{FEFF}key = 1", "key = \"nul\u{0}\"",
    "# comment with NUL \u{0} and ESC \u{1B}[2J", "\t \t", "key = \"\u{1B}]0;owned\u{07}\"", "😀 = 1",
    "jump = [\"a\", 1]", "keepalive = \"forever\"", "mode = \"udp\"", "address = \"0.0.0.0:80\"",
  ]

  @Test(
    "config: a mutated file decodes, or fails with exit 2 at a line of the file naming the key; never traps",
    .timeLimit(.minutes(5)))
  func mutatedFiles() {
    let property = SeededProperty("configuration", defaultIterations: 4000)
    let splice = Self.corpus.map { Array($0.utf8) }
    let failures = property.run { fuzzer -> String? in
      let base = fuzzer.element(Self.corpus)
      let bytes =
        fuzzer.chance(60)
        ? fuzzer.mutate(lines: base, garbage: Self.garbageLines)
        : fuzzer.mutate(bytes: Array(base.utf8), splicing: splice)
      fuzzer.record(bytes)
      // toml++ is compiled without optimization in a debug build: asking it about every case
      // would double the test's time, so a quarter of them is.
      return Self.check(bytes, againstTOMLKit: fuzzer.chance(25))
    }
    for failure in failures { Issue.record("\(failure)") }
  }

  /// nil when `bytes` decodes to a sane configuration or fails as a configuration error should,
  /// and, `againstTOMLKit`, when the document reads the same in TOMLKit if the reader accepts it.
  static func check(_ bytes: [UInt8], againstTOMLKit: Bool = false) -> String? {
    let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    if againstTOMLKit, let text = try? TOMLDocument.text(fromUTF8: bytes),
      let problem = TOMLOracle.disagreement(text, readerMayRefuse: true)
    {
      return "TOMLKit disagrees: \(problem)"
    }
    do {
      let text = try TOMLDocument.text(fromUTF8: bytes, file: "config.toml")
      return insanity(try ConfigurationDecoder(file: "config.toml").decode(text))
    } catch {
      guard error.category == .usage else { return "category \(error.category)" }
      guard let fix = error.fix, !fix.isEmpty else { return "no fix: \(error.summary)" }
      let pattern = /^config\.toml:(\d+): (.+)$/
      guard let match = error.summary.wholeMatch(of: pattern), let line = Int(match.1) else {
        return "not located at a line: \(error.summary)"
      }
      guard (1...lines.count).contains(line) else { return "line \(line) is outside 1…\(lines.count)" }
      if let bad = error.summary.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
        return "the message holds U+\(String(bad.value, radix: 16))"
      }
      guard error.summary.unicodeScalars.count <= 600 else { return "\(error.summary.count)-character message" }
      // An unknown key is named, and the named line defines it (the last part of a plain key).
      if let key = error.summary.firstMatch(of: /unknown key "([A-Za-z0-9_.-]+)"/)?.1,
        let last = key.split(separator: ".").last
      {
        let text = String(decoding: lines[line - 1], as: UTF8.self)
        guard text.contains(last) else { return "unknown key \(key) is not on line \(line): \(text.prefix(120))" }
      }
      return nil
    }
  }

  // MARK: the reader against TOMLKit

  /// Parts of documents where the reader's rules bite: a few short names, so that headers,
  /// dotted keys and inline tables often meet at the same table, and numbers on both sides of
  /// TOML's grammar. All within the reader's subset, so the reader and TOMLKit must agree both ways.
  static let shapeKeys = ["a", "b", "c", "a.b", "b.c", "a.b.c", "'a'", "\"b\"", "a . c"]
  static let shapeValues = [
    "0", "+0", "-0", "7", "-12", "1_000", "007", "+007", "-01", "0_7", "1__0", "_1", "1_", "0.5", "-0.0", "01.5",
    "1.", ".5", "1e5", "1e05", "1.5e-3", "1E+2", "1e_5", "true", "false", "\"x\"", "'y'", "\"\\u00e9\"",
    "[1, 2]", "[]", "[[1], ['z']]", "{}", "{ b = 1 }", "{ b.c = 1, d = 2 }", "{ a = { b = 007 } }", "{ a = 1, a = 2 }",
    "{ b = 1, }",
  ]

  static func shape(_ fuzzer: inout Fuzzer) -> String {
    (0..<fuzzer.int(1...7)).map { _ in
      fuzzer.chance(30)
        ? "[" + fuzzer.element(shapeKeys) + "]"
        : fuzzer.element(shapeKeys) + " = " + fuzzer.element(shapeValues)
    }.joined(separator: "\n") + "\n"
  }

  @Test(
    "TOML shapes: the reader accepts exactly what TOMLKit accepts, with the same values",
    .timeLimit(.minutes(5)))
  func readerAgreesWithTOMLKit() {
    let property = SeededProperty("toml-shapes", defaultIterations: 3000)
    let failures = property.run { fuzzer -> String? in
      let text = Self.shape(&fuzzer)
      fuzzer.record(text)
      return TOMLOracle.disagreement(text, readerMayRefuse: false)
    }
    for failure in failures { Issue.record("\(failure)") }
  }

  /// What no decoded configuration may hold.
  static func insanity(_ configuration: Configuration) -> String? {
    for (name, profile) in configuration.profiles {
      guard name == profile.name, !name.isEmpty else { return "profile name \(name) ≠ \(profile.name)" }
      guard profile.listen.address.isLoopback else { return "listen \(profile.listen.address) is not loopback" }
      if let session = profile.session {
        guard session.maxTTL > .zero, session.maxTTL <= SessionSettings.maximumTTL else {
          return "max_ttl \(session.maxTTL) out of range"
        }
        if let t = session.defaultTenant, !session.tenants.isEmpty, !session.tenants.contains(t) {
          return "default_tenant \(t) not in tenants"
        }
      }
    }
    if let name = configuration.defaultProfile, configuration.profiles[name] == nil {
      return "default_profile \(name) is not a profile"
    }
    return nil
  }

  // MARK: one class of garbage at a time

  /// `sampleConfig` with `line` inserted before line `at` (1-based).
  static func sample(inserting line: String, at: Int) -> String {
    var lines = sampleConfig.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    lines.insert(line, at: at - 1)
    return lines.joined(separator: "\n")
  }

  @Test(
    "config: a garbage line is reported at its own line number, with the key when there is one",
    arguments: [
      ("binary", "\u{1}\u{2}\u{3}\u{7F}", "expected a key, found \"\\u{1}\""),
      ("unterminated string", "scope = \"mcp", "unterminated string"),
      ("unterminated table", "[profiles.prod.extra", "expected \"]\""),
      ("duplicate key", "target = \"127.0.0.1:9\"", "key \"target\" is already defined on line 18"),
      ("duplicate table", "[profiles.prod.idp]", "table [profiles.prod.idp] is defined twice"),
      ("NUL in a value", "target2 = \"a\u{0}b\"", "control character \"\\u{0}\" in string"),
      ("NUL in a literal", "target2 = 'a\u{0}b'", "control character \"\\u{0}\" in string"),
      ("NUL in a comment", "# a\u{0}b", "control character \"\\u{0}\" in a comment"),
      ("ESC in a comment", "# \u{1B}[2J", "control character \"\\u{1B}\" in a comment"),
      ("lone CR", "a = 1\rb = 2", "a carriage return without a line feed"),
      ("BOM mid-file", "\u{FEFF}x = 1", "expected a key, found \"\\u{FEFF}\""),
      ("very long line", "k = " + String(repeating: "9", count: 100_000), "invalid value"),
      ("unknown key", "keepalive2 = \"5s\"", "unknown key \"profiles.prod.ssh.keepalive2\""),
      ("deep arrays", "jump = " + String(repeating: "[", count: 100_000), "nested more than 32 deep"),
      ("deep inline tables", "jump = " + String(repeating: "{a=", count: 100_000), "nested more than 32 deep"),
      ("long dotted key", Array(repeating: "a", count: 100_000).joined(separator: ".") + " = 1", "more than 32 parts"),
      ("long header", "[" + Array(repeating: "t", count: 100_000).joined(separator: ".") + "]", "more than 32 parts"),
    ])
  func garbageLine(_ name: String, _ line: String, _ expected: String) {
    // Line 19 of sampleConfig is `keepalive = "1m30s"`, inside [profiles.prod.ssh].
    let text = Self.sample(inserting: line, at: 19)
    let error = #expect(throws: CoreError.self, "\(name)") { try decoder.decode(text) }
    #expect(error?.category == .usage, "\(name)")
    #expect(error?.summary.hasPrefix("config.toml:19: ") == true, "\(name): \(error?.summary.prefix(200) ?? "")")
    #expect(error?.summary.contains(expected) == true, "\(name): \(error?.summary.prefix(200) ?? "")")
    #expect(error?.fix?.isEmpty == false, "\(name)")
    #expect((error?.summary.count ?? 0) < 400, "\(name)")
  }

  @Test("config: CRLF line endings and a leading byte-order mark decode like the plain file")
  func crlfAndBOM() throws {
    let plain = try decoder.decode(sampleConfig)
    let crlf = sampleConfig.replacingOccurrences(of: "\n", with: "\r\n")
    #expect(try decoder.decode(crlf) == plain)
    #expect(try decoder.decode("\u{FEFF}" + crlf) == plain)
    let bytes = [0xEF, 0xBB, 0xBF] + Array(crlf.utf8)
    #expect(try decoder.decode(try TOMLDocument.text(fromUTF8: bytes, file: "config.toml")) == plain)
    // A CRLF file still names the right line.
    let broken = Self.sample(inserting: "oops", at: 19).replacingOccurrences(of: "\n", with: "\r\n")
    let error = #expect(throws: CoreError.self) { try decoder.decode(broken) }
    #expect(error?.summary.hasPrefix("config.toml:19: ") == true, "\(error?.summary ?? "")")
  }

  @Test("config: bytes that are not UTF-8 are an error at their line and column, not an unreadable file")
  func invalidUTF8() {
    var bytes = Array(Self.sample(inserting: "# café", at: 19).utf8)
    let eAcute = bytes.firstRange(of: Array("é".utf8))!
    bytes.replaceSubrange(eAcute, with: [0xE9])  // Latin-1 é
    let error = #expect(throws: CoreError.self) { try TOMLDocument.text(fromUTF8: bytes, file: "config.toml") }
    #expect(error?.summary == "config.toml:19: byte 0xE9 at column 6 is not UTF-8 text")
    #expect(error?.category == .usage)
    #expect(error?.fix?.isEmpty == false)
    let start = #expect(throws: CoreError.self) { try TOMLDocument.text(fromUTF8: [0xFF, 0x0A], file: "c.toml") }
    #expect(start?.summary == "c.toml:1: byte 0xFF at column 1 is not UTF-8 text")
  }

  @Test("config: echoed values are escaped, so a shared file cannot drive the terminal")
  func echoedValuesAreEscaped() {
    let text = sampleConfig.replacingOccurrences(
      of: "mode = \"tcp\"", with: "mode = \"\\u001b]0;owned\\u0007\\u001b[2J\"")
    let error = #expect(throws: CoreError.self) { try decoder.decode(text) }
    #expect(error?.summary == "config.toml:23: mode \"\\u{1B}]0;owned\\u{7}\\u{1B}[2J\" is not one of: http, tcp")
  }

  @Test("config: a NUL, ESC or bidi override inside a host or user is refused, never cut short where it reaches C")
  func controlsInHosts() {
    for (line, replacement) in [
      ("address = \"127.0.0.1:7701\"", "address = \"127.0.0.1\\u0000.evil:7701\""),
      ("target = \"127.0.0.1:8080\"", "target = \"127.0.0.1\\u0000:8080\""),
      ("\"hop2.example.com\"", "\"hop2\\u001b[2J.example.com\""),
      ("\"alice@bastion", "\"al\\u202eice@bastion"),
    ] {
      let error = #expect(throws: CoreError.self, "\(replacement)") {
        try decoder.decode(sampleConfig.replacingOccurrences(of: line, with: replacement))
      }
      #expect(error?.summary.contains("is not") == true, "\(error?.summary ?? "")")
      #expect(error?.summary.unicodeScalars.allSatisfy { $0.properties.generalCategory != .control } == true)
    }
  }

  @Test(
    "config: a 20 000-key file is read and its first unknown key named (the time limit catches a hang)",
    .timeLimit(.minutes(5)))
  func manyKeys() {
    let text = (0..<20_000).map { "k\($0) = \"v\"" }.joined(separator: "\n")
    let error = #expect(throws: CoreError.self) { try decoder.decode(text) }
    #expect(error?.summary == "config.toml:1: unknown key \"k0\"")
  }
}
