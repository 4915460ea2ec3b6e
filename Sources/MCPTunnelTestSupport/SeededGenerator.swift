import Foundation
import TunnelCore

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014): a
/// tiny generator whose whole state is one `UInt64`, so a failing property case is replayed from
/// its seed alone, on any machine, with any toolchain (`SystemRandomNumberGenerator` cannot be
/// seeded, and the standard library promises no stable algorithm for seeded generation).
/// It is TunnelCore's `SplitMix64` (the reconnect jitter's source), behind the helpers below.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var source: SplitMix64

  public init(seed: UInt64) { source = SplitMix64(seed: seed) }

  public mutating func next() -> UInt64 { source.next() }
}

/// A seeded property test: runs a check over `iterations` generated cases and reports each
/// failing case with the seed and iteration that replay it.
///
/// `MCP_TUNNEL_FUZZ_SEED` (decimal or `0x` hex) and `MCP_TUNNEL_FUZZ_ITERATIONS` override the
/// defaults. Each iteration gets its own generator derived from (seed, iteration), so iteration
/// 17 is the same input whatever the iteration count. A trap cannot be caught in-process: run
/// again with `MCP_TUNNEL_FUZZ_TRACE=1` and the last input printed to stderr is the culprit.
public struct SeededProperty: Sendable {
  public static let seedVariable = "MCP_TUNNEL_FUZZ_SEED"
  public static let iterationsVariable = "MCP_TUNNEL_FUZZ_ITERATIONS"
  public static let traceVariable = "MCP_TUNNEL_FUZZ_TRACE"
  /// "mcp-tunn" in ASCII: fixed, so CI runs the same cases every time.
  public static let defaultSeed: UInt64 = 0x6D63_702D_7475_6E6E

  public var name: String
  public var seed: UInt64
  public var iterations: Int
  public var trace: Bool

  public init(
    _ name: String, defaultIterations: Int, environment: [String: String] = ProcessInfo.processInfo.environment
  ) {
    self.name = name
    seed = environment[Self.seedVariable].flatMap(Self.parseSeed) ?? Self.defaultSeed
    iterations = environment[Self.iterationsVariable].flatMap { Int($0) }.map { max($0, 1) } ?? defaultIterations
    trace = environment[Self.traceVariable].map { !$0.isEmpty && $0 != "0" } ?? false
  }

  static func parseSeed(_ text: String) -> UInt64? {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if trimmed.lowercased().hasPrefix("0x") { return UInt64(trimmed.dropFirst(2), radix: 16) }
    return UInt64(trimmed)
  }

  /// One failing case: what was wrong, on which input, and how to run it again.
  public struct Failure: Sendable, CustomStringConvertible {
    public var property: String
    public var seed: UInt64
    public var iteration: Int
    public var input: String
    public var problem: String

    public var description: String {
      let hex = "0x" + String(seed, radix: 16)
      return """
        \(property): \(problem)
          seed \(hex), iteration \(iteration); replay: \(SeededProperty.seedVariable)=\(hex) \
        \(SeededProperty.iterationsVariable)=\(iteration + 1) (add \(SeededProperty.traceVariable)=1 after a crash)
          input: \(input)
        """
    }
  }

  /// The generator for one iteration: independent of how many iterations run.
  public func fuzzer(iteration: Int) -> Fuzzer {
    var mixer = SeededGenerator(seed: seed ^ (UInt64(truncatingIfNeeded: iteration) &* 0xD1B5_4A32_D192_ED03))
    return Fuzzer(seed: mixer.next())
  }

  /// Runs `check` once per iteration. `check` describes its input with `Fuzzer.record(_:)` and
  /// returns a problem, or nil when the case holds. Keeps the first `keep` failures.
  public func run(keep: Int = 10, _ check: (inout Fuzzer) throws -> String?) rethrows -> [Failure] {
    var failures: [Failure] = []
    for iteration in 0..<iterations {
      var fuzzer = fuzzer(iteration: iteration)
      fuzzer.traceLabel = trace ? "\(name) #\(iteration)" : nil
      if let problem = try check(&fuzzer), failures.count < keep {
        failures.append(
          Failure(property: name, seed: seed, iteration: iteration, input: fuzzer.recorded, problem: problem))
      }
    }
    return failures
  }

  /// The async twin of `run`, for checks that go through an async client.
  public func run(keep: Int = 10, _ check: (inout Fuzzer) async throws -> String?) async rethrows -> [Failure] {
    var failures: [Failure] = []
    for iteration in 0..<iterations {
      var fuzzer = fuzzer(iteration: iteration)
      fuzzer.traceLabel = trace ? "\(name) #\(iteration)" : nil
      if let problem = try await check(&fuzzer), failures.count < keep {
        failures.append(
          Failure(property: name, seed: seed, iteration: iteration, input: fuzzer.recorded, problem: problem))
      }
    }
    return failures
  }
}

/// Random choices and input mutations for one property case, all drawn from one `SeededGenerator`.
public struct Fuzzer {
  public var random: SeededGenerator
  /// The description of the case's input, shown when it fails.
  public private(set) var recorded = "(not recorded)"
  var traceLabel: String?

  public init(seed: UInt64) { random = SeededGenerator(seed: seed) }

  /// Keeps `bytes` as this case's input (escaped and shortened for the report), and prints it at
  /// once when tracing so that a trap still shows what caused it.
  public mutating func record(_ bytes: [UInt8]) { record(description: Self.describe(bytes)) }

  public mutating func record(_ text: String) { record(Array(text.utf8)) }

  /// Several inputs (header fields, say), each described on its own, joined by ` | `.
  public mutating func record(_ texts: [String]) {
    record(description: texts.map { Self.describe(Array($0.utf8), limit: 400) }.joined(separator: " | "))
  }

  private mutating func record(description: String) {
    recorded = description
    if let traceLabel {
      FileHandle.standardError.write(Data("[fuzz \(traceLabel)] \(recorded)\n".utf8))
    }
  }

  // MARK: choices

  public mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }

  /// True with `percent`% probability.
  public mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

  public mutating func element<T>(_ items: [T]) -> T { items[int(0...items.count - 1)] }

  public mutating func byte() -> UInt8 { UInt8.random(in: 0...255, using: &random) }

  /// A size that is usually small and sometimes very large (up to `maximum`), so huge values are
  /// tried without making every case slow.
  public mutating func size(maximum: Int = 1 << 16) -> Int {
    switch int(0...99) {
    case 0..<70: int(0...16)
    case 70..<95: int(17...512)
    default: int(513...max(513, maximum))
    }
  }

  // MARK: hostile pieces

  /// Single bytes that tend to matter to parsers: NUL, whitespace, line ends, ESC, quotes,
  /// brackets, separators, DEL, UTF-8 lead and continuation bytes that start invalid sequences.
  public static let interestingBytes: [UInt8] = [
    0x00, 0x09, 0x0A, 0x0D, 0x1B, 0x20, 0x22, 0x23, 0x27, 0x2C, 0x2E, 0x3A, 0x3D, 0x5B, 0x5C, 0x5D, 0x7B, 0x7D,
    0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xEF, 0xF0, 0xF8, 0xFE, 0xFF,
  ]

  /// Text fragments that have broken parsers and terminals before.
  public static let interestingStrings: [String] = [
    "\u{0}", "\r\n", "\r", "\n", "\t", "\u{1B}[31m", "\u{1B}]0;title\u{07}", "\u{1B}[2J", "\u{FEFF}", "\u{202E}",
    "\u{2028}", "\u{85}", "é", "\u{301}", "𝄞", "😀", "\u{FFFD}", "\\", "\\u0000", "\\uD800", "\"", "'", "=", ",", ";",
    "[", "]", "{", "}", "[[", "#", ".", "\"\"\"", "'''", "true", "null", "nan", "-inf", "-0", "1e400", "0x10",
    "9223372036854775808", "-9223372036854775809", "%00", "%0d%0a",
  ]

  /// A string built to hurt: very long, control characters, terminal escapes, odd Unicode, NUL.
  public mutating func hostileString() -> String {
    switch int(0...5) {
    case 0:
      return String(repeating: element(["A", "é", "\u{1B}[0m", " ", "%"]), count: size(maximum: 1 << 18))
    case 1:
      return (0..<int(1...8)).map { _ in element(Self.interestingStrings) }.joined()
    case 2:
      var scalars = String.UnicodeScalarView()
      for _ in 0..<int(1...32) {
        let value = element([
          UInt32(int(0...0x7F)), UInt32(int(0x80...0x7FF)), UInt32(int(0x800...0xD7FF)),
          UInt32(int(0xE000...0x10FFFF)),
        ])
        if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
      }
      return String(scalars)
    case 3:
      return "line one\r\nline two\n\u{1B}[1;31mred\u{1B}[0m\u{0}after NUL"
    case 4:
      return ""
    default:
      return String(repeating: "x", count: int(1...64)) + element(Self.interestingStrings)
    }
  }

  /// JSON number literals at and beyond the edges: zero, negative, fractions, exponents, Int64
  /// limits and past them, and forms some parsers reject (`-0`, `1E+2`).
  public mutating func edgeNumberLiteral() -> String {
    element([
      "0", "-1", "1", "-0", "0.5", "3600.0", "3600.9", "1e3", "1E+2", "1e300", "-1e300", "1e-300", "1e400",
      "2147483648", "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
      "18446744073709551616", "1" + String(repeating: "0", count: int(20...400)), "31536000", "31536001",
    ])
  }

  // MARK: byte mutations

  /// Applies one to `rounds` random byte-level mutations; `corpus` feeds the splice.
  public mutating func mutate(
    bytes input: [UInt8], splicing corpus: [[UInt8]] = [], rounds: ClosedRange<Int> = 1...3
  ) -> [UInt8] {
    var bytes = input
    for _ in 0..<int(rounds) {
      switch int(0...9) {
      case 0: flipBit(&bytes)
      case 1: overwriteByte(&bytes)
      case 2: insert(&bytes, (0..<int(1...4)).map { _ in element(Self.interestingBytes) })
      case 3: insert(&bytes, Array(element(Self.interestingStrings).utf8))
      case 4: deleteRange(&bytes)
      case 5: duplicateRange(&bytes)
      case 6: splice(&bytes, from: corpus.isEmpty ? [input] : corpus)
      case 7: truncate(&bytes)
      case 8: insert(&bytes, (0..<size(maximum: 1 << 12)).map { _ in byte() })
      default: insert(&bytes, Array(hostileString().utf8))
      }
    }
    return bytes
  }

  public mutating func flipBit(_ bytes: inout [UInt8]) {
    guard !bytes.isEmpty else { return }
    bytes[int(0...bytes.count - 1)] ^= UInt8(1) << UInt8(int(0...7))
  }

  public mutating func overwriteByte(_ bytes: inout [UInt8]) {
    guard !bytes.isEmpty else { return }
    bytes[int(0...bytes.count - 1)] = chance(50) ? element(Self.interestingBytes) : byte()
  }

  public mutating func insert(_ bytes: inout [UInt8], _ piece: [UInt8]) {
    bytes.insert(contentsOf: piece, at: int(0...bytes.count))
  }

  public mutating func deleteRange(_ bytes: inout [UInt8]) {
    guard !bytes.isEmpty else { return }
    let start = int(0...bytes.count - 1)
    bytes.removeSubrange(start..<min(bytes.count, start + int(1...16)))
  }

  public mutating func duplicateRange(_ bytes: inout [UInt8]) {
    guard !bytes.isEmpty else { return }
    let start = int(0...bytes.count - 1)
    let piece = Array(bytes[start..<min(bytes.count, start + int(1...64))])
    insert(&bytes, piece)
  }

  /// Replaces a random tail of `bytes` with a random tail of another input.
  public mutating func splice(_ bytes: inout [UInt8], from corpus: [[UInt8]]) {
    let other = element(corpus)
    let cut = int(0...bytes.count)
    let from = int(0...other.count)
    bytes = Array(bytes[..<cut]) + Array(other[from...])
  }

  public mutating func truncate(_ bytes: inout [UInt8]) {
    guard !bytes.isEmpty else { return }
    bytes.removeSubrange(int(0...bytes.count - 1)...)
  }

  // MARK: line mutations

  /// Mutates `text` line by line: duplicates, drops, swaps, garbage lines, CRLF endings, a BOM, a
  /// very long line; then sometimes a byte mutation on top. The result may not be UTF-8.
  public mutating func mutate(lines text: String, garbage: [String] = [], rounds: ClosedRange<Int> = 1...3) -> [UInt8] {
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.utf8) }
    for _ in 0..<int(rounds) {
      let index = int(0...max(0, lines.count - 1))
      switch int(0...9) {
      case 0: if !lines.isEmpty { lines.insert(lines[index], at: int(0...lines.count)) }
      case 1: if !lines.isEmpty { lines.remove(at: index) }
      case 2: if lines.count > 1 { lines.swapAt(index, int(0...lines.count - 1)) }
      case 3: lines.insert(garbage.isEmpty ? Array(hostileString().utf8) : Array(element(garbage).utf8), at: index)
      case 4: lines = lines.map { $0 + [0x0D] }
      case 5: lines.insert((0..<int(1...80)).map { _ in byte() }, at: index)
      case 6: if !lines.isEmpty { lines[index] += Array(String(repeating: "A", count: int(1000...70_000)).utf8) }
      case 7: if !lines.isEmpty { lines[0] = [0xEF, 0xBB, 0xBF] + lines[0] }
      case 8: if !lines.isEmpty { lines[index] = mutate(bytes: lines[index], rounds: 1...2) }
      default: if !lines.isEmpty { truncate(&lines[index]) }
      }
    }
    return Array(lines.joined(separator: [0x0A]))
  }

  // MARK: JSON mutations

  /// Applies one to `rounds` structural mutations to `json`: a member's value swapped for another
  /// type, an edge number, a hostile string; a member dropped, duplicated or added; the document
  /// replaced by a non-object or nested deeply.
  public mutating func mutate(json: FuzzJSON, rounds: ClosedRange<Int> = 1...3) -> FuzzJSON {
    var value = json
    for _ in 0..<int(rounds) { value = mutateOnce(value, depth: 0) }
    return value
  }

  private mutating func mutateOnce(_ value: FuzzJSON, depth: Int) -> FuzzJSON {
    switch value {
    case .object(var members) where !members.isEmpty && (depth == 0 || chance(60)):
      let index = int(0...members.count - 1)
      switch int(0...9) {
      case 0: members.remove(at: index)
      case 1: members.insert((members[index].key, randomValue()), at: int(0...members.count))
      case 2:
        members.append(
          (
            element(["unknown", "x-\(int(0...99))", "", "\u{0}", members[index].key.uppercased()]),
            randomValue()
          ))
      case 3: members[index].value = randomValue()
      default: members[index].value = mutateOnce(members[index].value, depth: depth + 1)
      }
      if depth == 0, chance(3) { return replaceDocument(.object(members)) }
      return .object(members)
    case .array(var items) where !items.isEmpty && chance(60):
      let index = int(0...items.count - 1)
      items[index] = mutateOnce(items[index], depth: depth + 1)
      return .array(items)
    default:
      if depth == 0 { return replaceDocument(value) }
      return randomValue()
    }
  }

  private mutating func replaceDocument(_ value: FuzzJSON) -> FuzzJSON {
    switch int(0...4) {
    case 0: return .array([value])
    case 1: return .string(hostileString())
    case 2: return .number(edgeNumberLiteral())
    case 3: return .null
    default:
      var nested = value
      for _ in 0..<int(1...600) { nested = .array([nested]) }
      return nested
    }
  }

  /// A value of a random JSON type, biased to the edges.
  public mutating func randomValue() -> FuzzJSON {
    switch int(0...7) {
    case 0: .null
    case 1: .bool(chance(50))
    case 2, 3: .number(edgeNumberLiteral())
    case 4, 5: .string(hostileString())
    case 6: .array((0..<int(0...3)).map { _ in chance(50) ? .number(edgeNumberLiteral()) : .string(hostileString()) })
    default: .object([(element(["a", "access_token", "error"]), .string(hostileString()))])
    }
  }

  // MARK: describing inputs

  /// `bytes` as a quoted Swift-style literal: printable ASCII as is, other scalars `\u{…}`,
  /// bytes that are not UTF-8 `\x{…}`; the middle of a long input elided.
  public static func describe(_ bytes: [UInt8], limit: Int = 600) -> String {
    func escape(_ part: ArraySlice<UInt8>) -> String {
      var out = ""
      var index = part.startIndex
      while index < part.endIndex {
        // A fresh decoder per scalar, so a bad byte costs exactly one `\x{…}` and decoding resumes
        // right after it.
        var iterator = part[index...].makeIterator()
        var decoder = UTF8()
        guard case .scalarValue(let scalar) = decoder.decode(&iterator) else {
          out += "\\x{\(String(part[index], radix: 16))}"
          index += 1
          continue
        }
        index += UTF8.width(scalar)
        switch scalar {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case " "..."~": out.unicodeScalars.append(scalar)
        default: out += "\\u{\(String(scalar.value, radix: 16))}"
        }
      }
      return out
    }
    guard bytes.count > limit else { return "\"\(escape(bytes[...]))\" (\(bytes.count) bytes)" }
    let head = escape(bytes[..<(limit / 2)])
    let tail = escape(bytes[(bytes.count - limit / 4)...])
    return "\"\(head)\" … \"\(tail)\" (\(bytes.count) bytes)"
  }
}

/// A JSON document that can say what `JSONSerialization` will not write: number literals out of
/// every range (`1e400`, twenty digits), duplicate member names, members in a fixed order.
public indirect enum FuzzJSON: Sendable {
  case null
  case bool(Bool)
  /// The literal as written.
  case number(String)
  case string(String)
  case array([FuzzJSON])
  case object([(key: String, value: FuzzJSON)])

  /// The member `key` of an object (the first one, when duplicated).
  public subscript(key: String) -> FuzzJSON? {
    guard case .object(let members) = self else { return nil }
    return members.first { $0.key == key }?.value
  }

  public var stringValue: String? {
    if case .string(let s) = self { return s }
    return nil
  }

  /// Compact JSON text; strings escaped per RFC 8259 (controls as `\u00XX`).
  public var text: String {
    var out = ""
    write(to: &out)
    return out
  }

  public var bytes: [UInt8] { Array(text.utf8) }

  private func write(to out: inout String) {
    switch self {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .number(let literal): out += literal
    case .string(let s): Self.quote(s, into: &out)
    case .array(let items):
      out += "["
      for (i, item) in items.enumerated() {
        if i > 0 { out += "," }
        item.write(to: &out)
      }
      out += "]"
    case .object(let members):
      out += "{"
      for (i, member) in members.enumerated() {
        if i > 0 { out += "," }
        Self.quote(member.key, into: &out)
        out += ":"
        member.value.write(to: &out)
      }
      out += "}"
    }
  }

  private static func quote(_ s: String, into out: inout String) {
    out += "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 {
          out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    out += "\""
  }
}
