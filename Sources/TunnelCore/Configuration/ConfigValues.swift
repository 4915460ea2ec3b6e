import Foundation

/// Parses durations written the way `ssh_config`, Go and systemd users write them: `500ms`, `15s`,
/// `15m`, `1h`, `1m30s`. A bare number is rejected, because "15" could mean seconds or minutes.
public enum DurationText {
  public static func parse(_ text: String) -> Duration? {
    let units: [(String, Int64)] = [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
    var rest = Substring(text.trimmingCharacters(in: .whitespaces))
    guard !rest.isEmpty else { return nil }
    var millis: Int64 = 0
    while !rest.isEmpty {
      let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
      guard !digits.isEmpty, let n = Int64(digits) else { return nil }
      rest = rest.dropFirst(digits.count)
      guard let (suffix, factor) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
      rest = rest.dropFirst(suffix.count)
      let (product, overflow) = n.multipliedReportingOverflow(by: factor)
      guard !overflow else { return nil }
      millis += product
    }
    return .milliseconds(millis)
  }

  /// The shortest exact rendering: `15m`, `1m30s`, `250ms`.
  public static func format(_ duration: Duration) -> String {
    var ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    if ms == 0 { return "0s" }
    var out = ""
    for (suffix, factor) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1_000), ("ms", 1)] where ms >= factor {
      out += "\(ms / factor)\(suffix)"
      ms %= factor
    }
    return out
  }
}

/// A `host:port` pair. IPv6 literals are written in brackets (`[::1]:7700`), as in URLs and OpenSSH.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `host:port`, `[v6]:port`, or just `host` when `defaultPort` is given.
  public init?(parsing text: String, defaultPort: Int? = nil) {
    var host: Substring
    var portText: Substring?
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]") else { return nil }
      host = text[text.index(after: text.startIndex)..<close]
      let after = text[text.index(after: close)...]
      if after.hasPrefix(":") {
        portText = after.dropFirst()
      } else if !after.isEmpty {
        return nil
      }
    } else if let colon = text.lastIndex(of: ":") {
      host = text[..<colon]
      portText = text[text.index(after: colon)...]
      if host.contains(":") { return nil }  // bare IPv6 needs brackets
    } else {
      host = Substring(text)
    }
    guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "@" || Self.isControl($0) })
    else { return nil }
    let port: Int
    if let portText {
      guard let p = Int(portText), (1...65535).contains(p), portText.allSatisfy(\.isASCII) else { return nil }
      port = p
    } else if let defaultPort {
      port = defaultPort
    } else {
      return nil
    }
    self.host = String(host)
    self.port = port
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

  /// A control or format character (NUL, ESC, bidi overrides): never part of a host or user
  /// name, and a NUL would cut the name short where it reaches C (getaddrinfo, libssh2).
  static func isControl(_ c: Character) -> Bool {
    c.unicodeScalars.contains { [.control, .format].contains($0.properties.generalCategory) }
  }

  /// Whether the host is a loopback literal or `localhost`; no DNS lookup is made.
  public var isLoopback: Bool { Self.isLoopbackHost(host) }

  public static func isLoopbackHost(_ host: String) -> Bool {
    let h = host.lowercased()
    if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
    let octets = h.split(separator: ".", omittingEmptySubsequences: false)
    guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else { return false }
    return octets[0] == "127"
  }
}

/// An SSH destination `[user@]host[:port]`, as in `ssh -J`.
public struct SSHEndpoint: Sendable, Hashable, CustomStringConvertible {
  public var user: String?
  public var address: HostPort

  public init(user: String?, address: HostPort) {
    self.user = user
    self.address = address
  }

  public init?(parsing text: String) {
    var rest = Substring(text)
    var user: String?
    if let at = rest.lastIndex(of: "@") {
      let u = rest[..<at]
      guard !u.isEmpty, !u.contains(where: { $0.isWhitespace || $0 == ":" || HostPort.isControl($0) }) else {
        return nil
      }
      user = String(u)
      rest = rest[rest.index(after: at)...]
    }
    guard let address = HostPort(parsing: String(rest), defaultPort: 22) else { return nil }
    self.user = user
    self.address = address
  }

  public var description: String { (user.map { "\($0)@" } ?? "") + address.description }
}

/// A tenant name: lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit.
///
/// Tenants are substituted into URI templates, so the alphabet is kept to characters that need no
/// escaping in a URI path, query or scope string.
public struct TenantID: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
  public let rawValue: String

  public init?(_ rawValue: String) {
    guard let first = rawValue.unicodeScalars.first, rawValue.count <= 63,
      Self.allowedFirst(first),
      rawValue.unicodeScalars.allSatisfy({ Self.allowedFirst($0) || $0 == "-" || $0 == "_" || $0 == "." })
    else { return nil }
    self.rawValue = rawValue
  }

  private static func allowedFirst(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("0"..."9").contains(c) }

  public var description: String { rawValue }
  public static func < (a: TenantID, b: TenantID) -> Bool { a.rawValue < b.rawValue }

  public init(from decoder: any Decoder) throws {
    let text = try decoder.singleValueContainer().decode(String.self)
    guard let id = TenantID(text) else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "invalid tenant \(text)"))
    }
    self = id
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(rawValue)
  }
}

/// A string that may contain `{tenant}`, substituted when a token is minted (SPEC §4: the tenant
/// reaches the issuer only through these templates).
public struct TenantTemplate: Sendable, Hashable, CustomStringConvertible {
  public let template: String

  public init(_ template: String) { self.template = template }

  public var mentionsTenant: Bool { template.contains("{tenant}") }

  public func expand(for tenant: TenantID) -> String {
    template.replacingOccurrences(of: "{tenant}", with: tenant.rawValue)
  }

  public var description: String { template }
}
