import ArgumentParser

/// `mcp-tunnel audit …`: read, follow and verify the hash-chained audit log (SPEC §2, §7).
struct AuditCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit",
    abstract: "Read, follow and verify the tamper-evident audit log.",
    discussion: """
      Every login and logout of a profile is appended to $XDG_STATE_HOME/mcp-tunnel/audit/<profile>.jsonl (mode 0600, directory \
      0700), one JSON object per line. Each line carries the SHA-256 of the line before it, so \
      editing, removing or reordering lines is detected by `audit verify`. A file that reaches \
      16 MiB is rotated to <profile>.jsonl.1 (older ones shift to .2 … .5, then are deleted) and \
      the chain continues in the new file. Token values are never written, only fingerprints.

      Example:
        $ mcp-tunnel audit tail -f
        $ mcp-tunnel audit verify --profile prod
        ok: 1284 records, chain intact
      """,
    subcommands: [AuditTail.self, AuditVerify.self, AuditPath.self]
  )
}
