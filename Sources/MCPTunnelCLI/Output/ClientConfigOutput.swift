import ClientConfig
import Foundation

// What `client-config` prints.

/// `client-config --client NAME`: the entry. Its `entry` is the client's own keys, which the
/// snake_case encoder would rewrite (`serverUrl`, `httpUrl`), so the line is written from the
/// entry's nodes, keys sorted like every other line.
struct ClientEntryResult: TextRenderable, Equatable {
  var entry: ClientEntry

  var jsonLine: String {
    ConfigNode.object([
      ("client", .string(entry.client.rawValue)), ("entry", entry.entry), ("file", .string(entry.file)),
      ("name", .string(entry.name)),
    ]).compactJSON
  }

  var text: String { entry.document }
}

/// `client-config` without `--client`: the clients and their files.
struct ClientListResult: JSONOutputLine, TextRenderable, Equatable {
  struct Client: Encodable, Equatable {
    var client: String
    var name: String
    var file: String
    @NullWhenAbsent var projectFile: String?
    var format: String
    /// Whether the client connects to a URL (false: stdio only).
    var url: Bool
    /// Whether `--install` can merge into its file.
    var install: Bool
  }

  var clients: [Client]

  var text: String {
    let width = (clients.map(\.client.count).max() ?? 6) + 2
    let header = "CLIENT".padding(toLength: width, withPad: " ", startingAt: 0) + "FORMAT  INSTALL  FILE"
    return
      ([header]
      + clients.map {
        $0.client.padding(toLength: width, withPad: " ", startingAt: 0)
          + $0.format.padding(toLength: 8, withPad: " ", startingAt: 0)
          + ($0.install ? "yes" : "no").padding(toLength: 9, withPad: " ", startingAt: 0) + $0.file
          + ($0.url ? "" : "  (stdio only: starts `mcp-tunnel stdio`)")
      }).joined(separator: "\n")
  }
}

/// `client-config --install`: what changed in which file.
struct ClientInstallResult: JSONOutputLine, TextRenderable, Equatable {
  var client: String
  var name: String
  var file: String
  /// added, replaced or unchanged.
  var change: String
  @NullWhenAbsent var backup: String?
  /// What to do in the client afterwards.
  var next: String

  var text: String {
    switch change {
    case "unchanged": return "\(file) already has this entry \(name); nothing was written"
    default:
      return "\(change) entry \(name) in \(file)" + (backup.map { " (the previous file is \($0))" } ?? "")
        + "\nnext: \(next)"
    }
  }
}
