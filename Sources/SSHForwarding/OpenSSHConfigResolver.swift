import Foundation
import TunnelCore

/// The live `SSHConfigResolver`: asks OpenSSH's own client, `ssh -G`, what it would use for a
/// destination, so Host, Match, Include, CanonicalizeHostname and first-value-wins follow OpenSSH's
/// rules exactly. `ssh -G` only prints the configuration; it connects nowhere (the transport stays
/// libssh2). It does run what `Match exec` names in the config, as `ssh` itself would.
///
/// The child gets a minimal environment (`HOME`, `USER`, `PATH`), stdin from /dev/null, and no
/// secret. It is run, waited for and read on a thread of its own (`runOffPool`), never on the
/// cooperative pool, and killed after `timeout`. The file ssh reads by itself
/// (`<passwd home>/.ssh/config`) is read the way `ssh alias` reads it, system-wide
/// `/etc/ssh/ssh_config` included; any other file with `-F`, which reads that file alone.
public struct OpenSSHConfigResolver: SSHConfigResolver {
  public var executable: String
  public var environment: [String: String]
  public var timeout: Duration

  public init(
    executable: String = "/usr/bin/ssh", environment: [String: String] = ProcessInfo.processInfo.environment,
    timeout: Duration = .seconds(15)
  ) {
    self.executable = executable
    self.environment = environment
    self.timeout = timeout
  }

  public func effectiveConfig(for query: SSHConfigQuery) async throws -> SSHEffectiveConfig? {
    let resolver = self
    return try await runOffPool { try resolver.resolve(query) }
  }

  /// Blocks (spawns and waits for ssh): call through `runOffPool`.
  func resolve(_ query: SSHConfigQuery) throws(SSHError) -> SSHEffectiveConfig? {
    guard FileManager.default.fileExists(atPath: query.configFile) else { return nil }
    guard FileManager.default.isExecutableFile(atPath: executable) else {
      throw SSHError(
        .usage,
        "ssh.ssh_config \(query.configFile) is read with OpenSSH's `ssh -G`, but \(executable) is not installed",
        fix: "install the OpenSSH client (apt install openssh-client), or set ssh_config = \"none\" in [ssh]",
        retryable: false)
    }
    var arguments = ["-G"]
    if !Self.isDefaultUserConfig(query.configFile) { arguments += ["-F", query.configFile] }
    if let user = query.user { arguments += ["-l", user] }
    if let port = query.port { arguments += ["-p", String(port)] }
    arguments += ["--", query.host]
    var childEnvironment = ["PATH": "/usr/local/bin:/usr/bin:/bin"]
    for key in ["HOME", "USER"] { if let v = environment[key] { childEnvironment[key] = v } }
    let (status, output, errors) = try run(arguments, environment: childEnvironment, query: query)
    guard status == 0 else {
      let message = errors.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty && !$0.contains("Pseudo-terminal") }.prefix(3).joined(separator: "; ")
      throw SSHError(
        .usage,
        "OpenSSH cannot resolve \(query.host) with \(query.configFile): "
          + (message.isEmpty ? "ssh -G exited \(status)" : message),
        fix: "fix the line it names (check with: \(query)), or set ssh_config = \"none\" in [ssh]", retryable: false)
    }
    let scanner = SSHConfigScanner(home: environment["HOME"] ?? "")
    let lines = scanner.lines(of: query.configFile)
    return SSHEffectiveConfig(
      parsing: output, origin: scanner.origin(of: query.host, in: lines),
      lines: scanner.settingLines(
        for: query.host, keywords: SSHConfigScanner.reportedKeywords, in: lines))
  }

  /// Whether ssh reads `path` without `-F` (its own `~/.ssh/config`, from the passwd entry).
  static func isDefaultUserConfig(_ path: String) -> Bool {
    guard let pw = getpwuid(geteuid()), let dir = pw.pointee.pw_dir else { return false }
    let own = URL(fileURLWithPath: String(cString: dir)).appendingPathComponent(".ssh/config").standardizedFileURL
    return own.path == URL(fileURLWithPath: path).standardizedFileURL.path
  }

  private func run(
    _ arguments: [String], environment: [String: String], query: SSHConfigQuery
  ) throws(SSHError) -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    do {
      try process.runWithNoSignalBlocked()
    } catch {
      throw SSHError(
        .usage, "cannot run \(executable) to read the ssh config: \(error)",
        fix: "check that OpenSSH's client is installed, or set ssh_config = \"none\" in [ssh]", retryable: false)
    }
    // stderr is read on a second thread so that neither pipe can fill up and stall ssh.
    let errors = ThreadCollected()
    // off-pool: a Thread of its own, reading ssh's stderr to EOF
    let reader = Thread { errors.finish(err.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
    let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
    DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: watchdog)
    // off-pool: OpenSSHConfigResolver.resolve runs through runOffPool
    let output = out.fileHandleForReading.readDataToEndOfFile()
    // off-pool: OpenSSHConfigResolver.resolve runs through runOffPool
    process.waitUntilExit()
    watchdog.cancel()
    // off-pool: OpenSSHConfigResolver.resolve runs through runOffPool
    let errorText = String(decoding: errors.wait(), as: UTF8.self)
    if process.terminationReason == .uncaughtSignal {
      throw SSHError(
        .usage, "\(query) did not finish within \(DurationText.format(timeout))",
        fix: "check the config's Match exec commands, or set ssh_config = \"none\" in [ssh]", retryable: false)
    }
    return (process.terminationStatus, String(decoding: output, as: UTF8.self), errorText)
  }
}

/// Bytes a helper thread read, handed to the thread that waits for them.
private final class ThreadCollected: @unchecked Sendable {
  private let condition = NSCondition()
  private var data: Data?

  func finish(_ value: Data) {
    condition.lock()
    data = value
    condition.signal()
    condition.unlock()
  }

  /// Blocks until `finish`; off-pool only (called from `OpenSSHConfigResolver.run`).
  func wait() -> Data {
    condition.lock()
    defer { condition.unlock() }
    // off-pool: called only from OpenSSHConfigResolver.run, on a runOffPool thread
    while data == nil { condition.wait() }
    return data ?? Data()
  }
}

/// Reads an OpenSSH client config (following `Include`) only to say *where* a setting came from —
/// the `Host` line of an alias, the line of a `ProxyCommand` — for messages, `doctor` and `ready`.
/// What the settings *are* always comes from `ssh -G`; a line this scanner misattributes costs a
/// less precise message, never a different connection.
struct SSHConfigScanner {
  var home: String

  /// The keywords whose line is named in refusals and warnings.
  static let reportedKeywords = [
    "proxycommand", "proxyjump", "stricthostkeychecking", "knownhostscommand", "pkcs11provider",
  ]

  struct Line {
    var file: String
    var number: Int
    var keyword: String
    var arguments: [String]
    var text: String
    /// The `Host` patterns of the block the line is in; nil outside any (top of file) and `[]` in a `Match` block.
    var hostPatterns: [String]?
  }

  /// Every line of `file` and the files it includes, in the order ssh reads them.
  func lines(of file: String) -> [Line] {
    var out: [Line] = []
    read(file, block: nil, depth: 0, into: &out)
    return out
  }

  private func read(_ file: String, block: [String]?, depth: Int, into out: inout [Line]) {
    guard depth <= 16, let data = FileManager.default.contents(atPath: file) else { return }
    var current = block
    let text = String(decoding: data, as: UTF8.self)
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
      guard !line.isEmpty, !line.hasPrefix("#"), let (keyword, arguments) = Self.split(line) else { continue }
      switch keyword {
      case "host": current = arguments
      case "match": current = []
      default: break
      }
      out.append(
        Line(file: file, number: index + 1, keyword: keyword, arguments: arguments, text: line, hostPatterns: current))
      if keyword == "include" {
        for pattern in arguments {
          for path in expand(pattern) { read(path, block: current, depth: depth + 1, into: &out) }
        }
      }
    }
  }

  /// An `Include` argument: `~/` is HOME, a relative path is under `~/.ssh`, globs are expanded.
  private func expand(_ pattern: String) -> [String] {
    var path = SSHRoutePlanner.expandTilde(pattern, home: home)
    if !path.hasPrefix("/") { path = home + "/.ssh/" + path }
    var result = glob_t()
    defer { globfree(&result) }
    guard glob(path, 0, nil, &result) == 0 else { return [] }
    return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }
  }

  /// The `Host` line that names `host`: one listing it literally, else one whose wildcard pattern
  /// (other than a bare `*`) matches it.
  func origin(of host: String, in lines: [Line]) -> String? {
    let hostLines = lines.filter { $0.keyword == "host" && Self.hostMatches(host, patterns: $0.arguments) }
    let literal = hostLines.first { $0.arguments.contains { $0.lowercased() == host.lowercased() } }
    let pattern = hostLines.first { $0.arguments.contains { $0 != "*" && !$0.hasPrefix("!") } }
    return (literal ?? pattern).map(describe)
  }

  /// The first line setting each keyword in a block that applies to `host` (first value wins in
  /// ssh_config); `Match` blocks are assumed to apply.
  func settingLines(for host: String, keywords: [String], in lines: [Line]) -> [String: String] {
    var found: [String: String] = [:]
    for line in lines where keywords.contains(line.keyword) && found[line.keyword] == nil {
      if let patterns = line.hostPatterns, !patterns.isEmpty, !Self.hostMatches(host, patterns: patterns) { continue }
      found[line.keyword] = describe(line)
    }
    return found
  }

  func describe(_ line: Line) -> String {
    var file = line.file
    if !home.isEmpty, file.hasPrefix(home + "/") { file = "~" + file.dropFirst(home.count) }
    return "\(file):\(line.number): \(line.text)"
  }

  /// `Host` semantics: some pattern matches and no negated one does (ssh_config(5) PATTERNS).
  static func hostMatches(_ host: String, patterns: [String]) -> Bool {
    var matched = false
    for pattern in patterns {
      let negated = pattern.hasPrefix("!")
      let body = negated ? String(pattern.dropFirst()) : pattern
      let items = body.split(separator: ",").map(String.init)
      if items.contains(where: { wildcardMatch(Array(host.lowercased()), Array($0.lowercased())) }) {
        if negated { return false }
        matched = true
      }
    }
    return matched
  }

  static func wildcardMatch(_ text: [Character], _ pattern: [Character]) -> Bool {
    var t = 0
    var p = 0
    var star: Int?
    var resume = 0
    while t < text.count {
      if p < pattern.count, pattern[p] == "?" || pattern[p] == text[t] {
        t += 1
        p += 1
      } else if p < pattern.count, pattern[p] == "*" {
        star = p
        resume = t
        p += 1
      } else if let s = star {
        p = s + 1
        resume += 1
        t = resume
      } else {
        return false
      }
    }
    while p < pattern.count, pattern[p] == "*" { p += 1 }
    return p == pattern.count
  }

  /// `Keyword args…` or `Keyword=args…`, with double-quoted arguments kept whole.
  static func split(_ line: String) -> (String, [String])? {
    let keywordEnd = line.firstIndex(where: { $0 == " " || $0 == "\t" || $0 == "=" }) ?? line.endIndex
    let keyword = line[..<keywordEnd].lowercased()
    guard !keyword.isEmpty else { return nil }
    var rest = line[keywordEnd...].drop(while: { $0 == " " || $0 == "\t" })
    if rest.first == "=" { rest = rest.dropFirst().drop(while: { $0 == " " || $0 == "\t" }) }
    var arguments: [String] = []
    var current = ""
    var quoted = false
    var inArgument = false
    for c in rest {
      if c == "\"" {
        quoted.toggle()
        inArgument = true
      } else if !quoted, c == " " || c == "\t" {
        if inArgument { arguments.append(current) }
        current = ""
        inArgument = false
      } else {
        current.append(c)
        inArgument = true
      }
    }
    if inArgument { arguments.append(current) }
    return (keyword, arguments)
  }
}
