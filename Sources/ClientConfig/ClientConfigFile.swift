import Foundation
import TunnelCore

/// `client-config --install`: merges one entry into a client's config file without losing what
/// the file held (SPEC §9). The file is read whole; one that cannot be parsed is refused and left
/// untouched (exit 2); the new text goes to a temporary file in the same directory, is synced and
/// renamed over the file, and the previous content is kept as `FILE.bak`. A symlinked file (a
/// dotfiles repository) is written through to its target, so the link stays a link.
public enum ClientConfigFile {
  public struct Outcome: Sendable, Equatable {
    /// The file written (a symlink's target).
    public var file: String
    public var change: EntryChange
    /// `FILE.bak`, when there was a previous file and it changed.
    public var backup: String?
  }

  /// Whether `--install` can merge into `client`'s file: every client that connects to a URL.
  public static func canInstall(_ client: MCPClient) -> Bool { true }

  /// The object that holds the servers in `client`'s JSON file.
  static func container(_ client: MCPClient) -> String {
    switch client {
    case .vscode: "servers"
    case .zed: "context_servers"
    default: "mcpServers"
    }
  }

  public static func install(_ entry: ClientEntry, into path: String) throws(ClientConfigError) -> Outcome {
    let client = entry.client
    guard canInstall(client) else {
      throw ClientConfigError(
        .usage,
        "--install cannot merge into \(client.displayName)'s \(client.format.rawValue.uppercased()) file yet",
        fix:
          "add the fragment by hand: mcp-tunnel client-config --client \(client.rawValue) (it prints exactly the part to add)"
      )
    }
    let file = resolved(path)
    let original = try read(file)
    let edited = try edit(entry, text: original?.text ?? "", file: file)
    guard edited.change != .unchanged || original == nil else {
      return Outcome(file: file, change: .unchanged, backup: nil)
    }
    let directory = (file as NSString).deletingLastPathComponent
    do {
      try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
      throw ClientConfigError(.usage, "cannot create \(directory): \(error.localizedDescription)")
    }
    var backup: String?
    if let original {
      backup = file + ".bak"
      try write(Array(original.text.utf8), to: backup!, mode: original.mode)
    }
    try write(Array(edited.text.utf8), to: file, mode: original?.mode ?? 0o600)
    return Outcome(file: file, change: edited.change, backup: backup)
  }

  /// The file's new text, by the client's format.
  static func edit(
    _ entry: ClientEntry, text: String, file: String
  ) throws(ClientConfigError) -> (
    text: String, change: EntryChange
  ) {
    let refused = { (location: String?, message: String) in
      ClientConfigError(
        .usage, "\(file)\(location.map { ":\($0)" } ?? ""): \(message); the file was not changed",
        fix: "fix the file (or move it away) and run the command again, or add the fragment by hand: "
          + "mcp-tunnel client-config --client \(entry.client.rawValue)")
    }
    do {
      switch entry.client {
      case .codex:
        return try TOMLEntryEditor.install(name: entry.name, entry: entry.entry, into: text)
      case .goose:
        return try YAMLEntryEditor.install(
          name: entry.name, entry: entry.entry, shape: .mapping(container: "extensions"), into: text)
      case .continue:
        return try YAMLEntryEditor.install(
          name: entry.name, entry: entry.entry, shape: .listByName(container: "mcpServers"), into: text)
      default:
        do {
          return try JSONEntryEditor.install(
            name: entry.name, entry: entry.entry, container: container(entry.client), into: text,
            comments: entry.client.format == .jsonc)
        } catch {
          throw refused("\(error.line):\(error.column)", error.message)
        }
      }
    } catch let error as EntryEditError {
      throw refused(error.location, error.message)
    } catch let error as ClientConfigError {
      throw error
    } catch {
      throw refused(nil, "\(error)")
    }
  }

  /// `path` with a final symlink followed (a dangling one is written as its target path).
  static func resolved(_ path: String) -> String {
    var target = path
    for _ in 0..<40 {
      guard let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: target) else { break }
      target =
        destination.hasPrefix("/")
        ? destination : ((target as NSString).deletingLastPathComponent as NSString).appendingPathComponent(destination)
    }
    return target
  }

  /// The file's text and mode; nil when there is no file.
  static func read(_ file: String) throws(ClientConfigError) -> (text: String, mode: mode_t)? {
    var info = stat()
    guard stat(file, &info) == 0 else {
      guard errno == ENOENT else {
        throw ClientConfigError(.usage, "cannot read \(file): \(String(cString: strerror(errno)))")
      }
      return nil
    }
    guard info.st_mode & S_IFMT == S_IFREG else {
      throw ClientConfigError(.usage, "\(file) is not a regular file; it was not changed")
    }
    guard let data = FileManager.default.contents(atPath: file) else {
      throw ClientConfigError(.usage, "cannot read \(file)", fix: "check its permissions")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw ClientConfigError(.usage, "\(file) is not UTF-8 text; it was not changed")
    }
    return (text, info.st_mode & 0o7777)
  }

  /// Writes `bytes` to a temporary file beside `file`, syncs it and renames it over `file`.
  static func write(_ bytes: [UInt8], to file: String, mode: mode_t) throws(ClientConfigError) {
    let temporary = file + ".mcp-tunnel-\(getpid()).tmp"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
    guard descriptor >= 0 else {
      throw ClientConfigError(.usage, "cannot write \(temporary): \(String(cString: strerror(errno)))")
    }
    var done = 0
    var failure: Int32 = 0
    while done < bytes.count {
      let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + done, bytes.count - done) }
      if written < 0 {
        if errno == EINTR { continue }
        failure = errno
        break
      }
      done += written
    }
    if failure == 0, fchmod(descriptor, mode) != 0 || fsync(descriptor) != 0 { failure = errno }
    close(descriptor)
    guard failure == 0, rename(temporary, file) == 0 else {
      let code = failure != 0 ? failure : errno
      unlink(temporary)
      throw ClientConfigError(.usage, "cannot write \(file): \(String(cString: strerror(code))); it was not changed")
    }
  }
}
