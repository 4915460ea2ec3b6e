import Foundation

/// Finds which process listens on a local TCP port, the way `ss -ltnp` does: the socket inode
/// from `/proc/net/tcp{,6}`, then the process whose `/proc/PID/fd/*` links to `socket:[inode]`.
/// Only processes we may inspect are found (another user's process yields nil without root).
enum PortHolder {
  static func find(port: Int) -> String? {
    let inodes = listeningInodes(port: port)
    guard !inodes.isEmpty else { return nil }
    for entry in directoryEntries("/proc") where Int32(entry) != nil {
      let fdDirectory = "/proc/\(entry)/fd"
      for fd in directoryEntries(fdDirectory) {
        guard let target = linkTarget("\(fdDirectory)/\(fd)"), target.hasPrefix("socket:["),
          inodes.contains(String(target.dropFirst(8).dropLast()))
        else { continue }
        return describe(pid: entry)
      }
    }
    return nil
  }

  /// Names in a directory via readdir(3). Unlike FileManager's listing, a racing change (a
  /// descriptor closed while a busy process is scanned) never turns the whole listing into an error.
  static func directoryEntries(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  static func linkTarget(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 256)
    let n = buffer.withUnsafeMutableBufferPointer { readlink(path, $0.baseAddress!, $0.count) }
    guard n > 0 else { return nil }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Inodes of sockets in LISTEN state (st 0A) on `port`, any local address.
  static func listeningInodes(port: Int) -> Set<String> {
    var inodes: Set<String> = []
    let hexPort = String(format: "%04X", port)
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
      guard let text = readWhole(table) else { continue }
      for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 9, fields[3] == "0A", fields[1].hasSuffix(":\(hexPort)") else { continue }
        inodes.insert(String(fields[9]))
      }
    }
    return inodes
  }

  /// The whole of a `/proc` file. Foundation's `String(contentsOfFile:)` stops after the first
  /// 4 KiB page there (procfs reports size 0), which hid every socket past the first ~27 lines of
  /// `/proc/net/tcp` on a busy machine.
  static func readWhole(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      // off-pool: not needed — a /proc file is generated from kernel memory; reading it never waits
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { return nil }
      if n == 0 { break }
      bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
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
