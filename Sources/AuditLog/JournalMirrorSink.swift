import Foundation
import Synchronization
import TunnelCore

/// `audit.journal = true` (SPEC §3, §11): every record goes to the hash-chained file first — the
/// source of truth, whose errors are the caller's — and then, as a copy outside the user's files,
/// to the systemd journal with structured fields (`MCP_TUNNEL_EVENT`, `MCP_TUNNEL_TENANT`,
/// `MCP_TUNNEL_SEQ`, `MCP_TUNNEL_HASH`, the whole line in `MCP_TUNNEL_RECORD`, …).
///
/// A journal that is missing or refuses a record never fails the call: the failure is counted
/// (`journalFailures`) and reported through `onJournalError` once per distinct message. Blocking:
/// `record` writes the file (like `AuditFileWriter`); run it behind `QueuedAuditSink`.
public final class JournalMirrorSink: AuditSink {
  /// `SYSLOG_IDENTIFIER` of every entry.
  public static let identifier = "mcp-tunnel"

  private let file: any AuditSink
  private let journal: JournalSocket
  private let onJournalError: @Sendable (AuditError) -> Void
  private let reported = Mutex(Set<String>())
  private let failures = Atomic<Int>(0)

  public init(
    file: any AuditSink, journal: JournalSocket = JournalSocket(),
    onJournalError: @escaping @Sendable (AuditError) -> Void = { _ in }
  ) {
    self.file = file
    self.journal = journal
    self.onJournalError = onJournalError
  }

  /// Records the journal did not take, since the start.
  public var journalFailures: Int { failures.load(ordering: .relaxed) }

  public func record(_ event: AuditEvent) throws {
    // The chain fields come from the line the file writer wrote; another sink (a test twin) gives
    // the event's fields alone.
    let fields: [(name: String, value: String)]
    if let writer = file as? AuditFileWriter {
      fields = Self.fields(try writer.append(event))
    } else {
      try file.record(event)
      fields = Self.fields(CredentialRedactor.redact(event).event, line: nil)
    }
    do {
      try journal.send(fields)
    } catch {
      failures.add(1, ordering: .relaxed)
      let first = reported.withLock { $0.count < 64 && $0.insert(error.summary).inserted }
      if first { onJournalError(error) }
    }
  }

  /// The journal entry for one written line. Field names are fixed; values are the record's own
  /// (already redacted by the writer: no secret reaches the journal that the file does not hold).
  static func fields(_ line: AuditLine) -> [(name: String, value: String)] {
    guard let event = line.event else { return [] }
    return fields(event, line: line)
  }

  static func fields(_ event: AuditEvent, line: AuditLine?) -> [(name: String, value: String)] {
    var fields: [(name: String, value: String)] = []
    func add(_ name: String, _ value: String?) {
      if let value { fields.append((name, value)) }
    }
    add("MESSAGE", message(event))
    add("PRIORITY", String(priority(event.outcome)))
    add("SYSLOG_IDENTIFIER", identifier)
    add("MCP_TUNNEL_EVENT", event.event.rawValue)
    add("MCP_TUNNEL_OUTCOME", event.outcome.rawValue)
    add("MCP_TUNNEL_PROFILE", event.profile)
    add("MCP_TUNNEL_TENANT", event.tenant)
    add("MCP_TUNNEL_ACTOR", event.actor)
    add("MCP_TUNNEL_SESSION", event.session)
    add("MCP_TUNNEL_METHOD", event.method)
    add("MCP_TUNNEL_TOOL", event.tool)
    add("MCP_TUNNEL_PROMPT", event.prompt)
    add("MCP_TUNNEL_RESOURCE", event.resource)
    add("MCP_TUNNEL_STATUS", event.status.map(String.init))
    add("MCP_TUNNEL_PEER_UID", event.peerUID.map(String.init))
    add("MCP_TUNNEL_DETAIL", event.detail)
    if let line {
      let bytes = line.encode()
      add("MCP_TUNNEL_SEQ", String(line.sequence))
      add("MCP_TUNNEL_TS", line.timestamp)
      add("MCP_TUNNEL_PREV", line.previousHash)
      add("MCP_TUNNEL_HASH", AuditHash.hexDigest(of: bytes))
      add("MCP_TUNNEL_RECORD", String(decoding: bytes, as: UTF8.self))
    }
    return fields
  }

  /// One line for `journalctl`: what, for whom, how it ended.
  static func message(_ event: AuditEvent) -> String {
    var parts = ["mcp-tunnel audit: \(event.event.rawValue)"]
    if let method = event.method { parts.append(method) }
    if let tool = event.tool { parts.append(tool) }
    parts.append("profile=\(event.profile)")
    if let tenant = event.tenant { parts.append("tenant=\(tenant)") }
    parts.append("outcome=\(event.outcome.rawValue)")
    if let detail = event.detail { parts.append("(\(detail))") }
    return parts.joined(separator: " ")
  }

  /// syslog priorities: 6 info for ok, 5 notice for a denial, 4 warning for an error.
  static func priority(_ outcome: AuditOutcome) -> Int {
    switch outcome {
    case .ok: 6
    case .denied: 5
    case .error: 4
    }
  }
}
