import Foundation
import TunnelCore

/// The on-disk form of one audit line (SPEC §7) and its canonical encoding.
///
/// Invariants the chain relies on:
/// * A line is one JSON object on one line, encoded by `encode` with a fixed key order and no
///   optional whitespace, so the same record always has the same bytes.
/// * `prev` is the lowercase hex SHA-256 of the previous line's bytes *without* its terminating
///   `\n` (so a line torn just before its newline hashes the same once the newline is added).
/// * Line 1 of a file is a chain-start line (`event` `chain_start`, a random `nonce`): the first
///   record then links to a value unique to this file, so records cannot be spliced in from
///   another file and deleting the first record is detected. In a new log it has `seq` 0 and a
///   `prev` of 64 zeros. In the file that replaces a rotated one it continues the chain: `prev`
///   is the SHA-256 of the rotated file's last line, `seq` is the last record's `seq` (the chain
///   start consumes no number), and `previous_file` names the rotated file as it was called then.
/// * Records count `seq` from 1, without gaps, in file order across rotated files.
public struct AuditLine: Sendable, Equatable {
  /// The record format version written by this code.
  public static let currentVersion = 1
  /// The `event` value of the line that starts a chain.
  public static let chainStartEvent = "chain_start"
  /// `prev` of the first line in a file.
  public static let genesisHash = String(repeating: "0", count: 64)

  /// What the line carries after the chain fields.
  public enum Body: Sendable, Equatable {
    /// The first line of a file; `nonce` is 32 random hex characters. `previousFile` is set when
    /// the file continues a rotated one: that file's name at rotation (e.g. `dev.jsonl.1`; later
    /// rotations shift it to `.2`, `.3` …), for people — the link itself is `prev`.
    case chainStart(nonce: String, previousFile: String? = nil)
    case event(AuditEvent)
  }

  public var version: Int
  public var sequence: Int
  /// RFC 3339 UTC with milliseconds, exactly as written (`2026-11-21T10:00:00.123Z`).
  public var timestamp: String
  public var body: Body
  public var previousHash: String

  public init(
    version: Int = AuditLine.currentVersion, sequence: Int, timestamp: String, body: Body, previousHash: String
  ) {
    self.version = version
    self.sequence = sequence
    self.timestamp = timestamp
    self.body = body
    self.previousHash = previousHash
  }

  /// The event, or nil for a chain-start line.
  public var event: AuditEvent? {
    if case .event(let event) = body { return event }
    return nil
  }

  /// The canonical bytes of the line, without the trailing newline.
  ///
  /// Key order: `v, seq, ts, event, profile, tenant, actor, session, connection, via, elevated, method, tool,
  /// prompt, resource, rpc_id, status, rpc_error, outcome, duration_ms, bytes_in, bytes_out,
  /// token_id, peer_uid, detail, prev` (SPEC §7 order, its additions next to their kin), or `v, seq, ts, event, nonce,
  /// previous_file, prev` for a chain start; absent optional fields are omitted rather than
  /// written as null.
  public func encode() -> [UInt8] {
    var json = CanonicalJSONObject()
    json.add("v", version)
    json.add("seq", sequence)
    json.add("ts", timestamp)
    switch body {
    case .chainStart(let nonce, let previousFile):
      json.add("event", Self.chainStartEvent)
      json.add("nonce", nonce)
      json.add("previous_file", previousFile)
    case .event(let e):
      json.add("event", e.event.rawValue)
      json.add("profile", e.profile)
      json.add("tenant", e.tenant)
      json.add("actor", e.actor)
      json.add("session", e.session)
      json.add("connection", e.connection)
      json.add("via", e.via)
      json.add("elevated", e.elevated)
      json.add("method", e.method)
      json.add("tool", e.tool)
      json.add("prompt", e.prompt)
      json.add("resource", e.resource)
      json.add("rpc_id", e.rpcID)
      json.add("status", e.status)
      json.add("rpc_error", e.rpcError)
      json.add("outcome", e.outcome.rawValue)
      json.add("duration_ms", e.durationMilliseconds)
      json.add("bytes_in", e.bytesIn)
      json.add("bytes_out", e.bytesOut)
      json.add("token_id", e.tokenID)
      json.add("peer_uid", e.peerUID)
      json.add("detail", e.detail)
    }
    json.add("prev", previousHash)
    return json.finish()
  }

  /// Decodes a line written by `encode` (or by a future writer with extra keys, which are ignored).
  /// Returns nil for anything that is not a complete, well-formed line: garbage, a torn write, an
  /// unknown `event` or `outcome`.
  public static func decode(_ bytes: some Collection<UInt8>) -> AuditLine? {
    guard let fields = ChainFields(bytes), let object = fields.object else { return nil }
    guard let ts = object["ts"] as? String, let eventName = object["event"] as? String else { return nil }
    if eventName == chainStartEvent {
      guard let nonce = object["nonce"] as? String else { return nil }
      let body = Body.chainStart(nonce: nonce, previousFile: object["previous_file"] as? String)
      return AuditLine(
        version: fields.version, sequence: fields.sequence, timestamp: ts, body: body,
        previousHash: fields.previousHash)
    }
    guard let kind = AuditEventKind(rawValue: eventName),
      let profile = object["profile"] as? String,
      let outcome = (object["outcome"] as? String).flatMap(AuditOutcome.init(rawValue:))
    else { return nil }
    let event = AuditEvent(
      event: kind, profile: profile, tenant: object["tenant"] as? String, actor: object["actor"] as? String,
      session: object["session"] as? String, method: object["method"] as? String, tool: object["tool"] as? String,
      rpcID: object["rpc_id"] as? String, status: integer(object["status"]), outcome: outcome,
      durationMilliseconds: integer(object["duration_ms"]), tokenID: object["token_id"] as? String,
      detail: object["detail"] as? String, prompt: object["prompt"] as? String,
      resource: object["resource"] as? String, connection: integer(object["connection"]),
      rpcError: integer(object["rpc_error"]), bytesIn: integer(object["bytes_in"]),
      bytesOut: integer(object["bytes_out"]), via: object["via"] as? String,
      peerUID: integer(object["peer_uid"]), elevated: object["elevated"] as? Bool)
    return AuditLine(
      version: fields.version, sequence: fields.sequence, timestamp: ts, body: .event(event),
      previousHash: fields.previousHash)
  }

  fileprivate static func integer(_ value: Any?) -> Int? {
    guard let number = value as? NSNumber else { return nil }
    // Refuse fractions and values a Double cannot hold exactly.
    let double = number.doubleValue
    guard double == double.rounded(), abs(double) < 9e15 else { return nil }
    return number.intValue
  }

  /// Formats `date` as RFC 3339 UTC with milliseconds, e.g. `2026-11-21T10:00:00.123Z`.
  /// Milliseconds are truncated, not rounded, so a timestamp never lies in the future.
  public static func timestamp(_ date: Date) -> String { Timestamp.withMilliseconds(date) }
}

/// The fields every line must have for the chain to be checked: `v`, `seq`, `prev`.
///
/// The writer and the verifier both use this one parser, so they always agree on which lines are
/// "records" (chain members) and which are torn or foreign bytes.
struct ChainFields {
  var version: Int
  var sequence: Int
  var previousHash: String
  var event: String?
  var object: [String: Any]?

  init?(_ bytes: some Collection<UInt8>) {
    guard let first = bytes.first, first == UInt8(ascii: "{"),
      let parsed = try? JSONSerialization.jsonObject(with: Data(bytes)),
      let object = parsed as? [String: Any],
      let version = AuditLine.integer(object["v"]),
      let sequence = AuditLine.integer(object["seq"]),
      let prev = object["prev"] as? String, prev.utf8.count == 64
    else { return nil }
    self.version = version
    self.sequence = sequence
    self.previousHash = prev
    self.event = object["event"] as? String
    self.object = object
  }

  var isChainStart: Bool { event == AuditLine.chainStartEvent }
}

/// Builds one JSON object in insertion order with minimal, deterministic escaping.
struct CanonicalJSONObject {
  private var bytes: [UInt8] = [UInt8(ascii: "{")]
  private var empty = true

  mutating func add(_ key: String, _ value: String?) {
    guard let value else { return }
    addKey(key)
    Self.appendString(value, to: &bytes)
  }

  mutating func add(_ key: String, _ value: Int?) {
    guard let value else { return }
    addKey(key)
    bytes.append(contentsOf: String(value).utf8)
  }

  mutating func add(_ key: String, _ value: Bool?) {
    guard let value else { return }
    addKey(key)
    bytes.append(contentsOf: (value ? "true" : "false").utf8)
  }

  private mutating func addKey(_ key: String) {
    if !empty { bytes.append(UInt8(ascii: ",")) }
    empty = false
    Self.appendString(key, to: &bytes)
    bytes.append(UInt8(ascii: ":"))
  }

  func finish() -> [UInt8] { bytes + [UInt8(ascii: "}")] }

  /// JSON string escaping: `"` and `\` and control characters; everything else as UTF-8. U+2028
  /// and U+2029 are escaped too so a line is safe to embed in JavaScript and never looks split.
  static func appendString(_ text: String, to out: inout [UInt8]) {
    let hexDigits = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "\""))
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
      case "\\": out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
      case "\n": out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
      case "\r": out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
      case "\t": out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
      default:
        let value = scalar.value
        if value < 0x20 || value == 0x7f || value == 0x2028 || value == 0x2029 {
          out.append(contentsOf: Array("\\u".utf8))
          for shift in stride(from: 12, through: 0, by: -4) {
            out.append(hexDigits[Int((value >> UInt32(shift)) & 0xf)])
          }
        } else {
          out.append(contentsOf: Array(String(scalar).utf8))
        }
      }
    }
    out.append(UInt8(ascii: "\""))
  }
}
