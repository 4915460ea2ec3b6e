import Foundation

/// Finds which process listens on a local TCP port, the way `ss -ltnp` does: the socket inode
/// from `/proc/net/tcp{,6}`, then the process whose `/proc/PID/fd/*` links to `socket:[inode]`.
/// Only processes we may inspect are found (another user's process yields nil without root).
enum PortHolder {
  static func find(port: Int) -> String? {
    let inodes = listeningInodes(port: port)
    guard !inodes.isEmpty else { return nil }
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries where Int32(entry) != nil {
      let fdDirectory = "/proc/\(entry)/fd"
      guard let fds = try? FileManager.default.contentsOfDirectory(atPath: fdDirectory) else { continue }
      for fd in fds {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(fd)"),
          target.hasPrefix("socket:["), inodes.contains(String(target.dropFirst(8).dropLast()))
        else { continue }
        return describe(pid: entry)
      }
    }
    return nil
  }

  /// Inodes of sockets in LISTEN state (st 0A) on `port`, any local address.
  static func listeningInodes(port: Int) -> Set<String> {
    var inodes: Set<String> = []
    let hexPort = String(format: "%04X", port)
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
      guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
      for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 9, fields[3] == "0A", fields[1].hasSuffix(":\(hexPort)") else { continue }
        inodes.insert(String(fields[9]))
      }
    }
    return inodes
  }

  static func describe(pid: String) -> String {
    let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")))
      .map { data in data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ") }
    let name = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
      .trimmingCharacters(in: .whitespacesAndNewlines)
    let shown = (command?.isEmpty == false ? command : name) ?? "?"
    return "pid \(pid) (\(shown.count > 120 ? String(shown.prefix(117)) + "..." : shown))"
  }
}
