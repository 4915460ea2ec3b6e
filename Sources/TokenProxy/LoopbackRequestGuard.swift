import Foundation
import NIOHTTP1
import TunnelCore

/// Screens a client request before any token is fetched: `Host` and `Origin` (DNS rebinding,
/// LP-01), request framing (smuggling), request-target form, and the OAuth discovery paths that are
/// answered locally (USE-06). Pure: no I/O, so the whole matrix is unit-testable.
struct LoopbackRequestGuard: Sendable {
  /// Lower-cased `host:port` forms accepted in `Host`.
  let allowedHosts: Set<String>
  /// Largest `Content-Length` accepted (`HTTPTokenProxy.Limits.requestBody`).
  let maxRequestBody: Int

  /// `listen` is the bound address (its real port).
  init(listen: HostPort, maxRequestBody: Int = .max) {
    let port = listen.port
    var hosts: Set<String> = ["localhost:\(port)", "127.0.0.1:\(port)", "[::1]:\(port)"]
    hosts.insert(listen.description.lowercased())
    allowedHosts = hosts
    self.maxRequestBody = maxRequestBody
  }

  /// Paths an OAuth-capable MCP client probes to start its own flow; never forwarded.
  static let discoveryPrefixes = [
    "/.well-known/oauth-protected-resource", "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
  ]

  /// Nil when the request may be forwarded; otherwise the answer to give.
  func screen(_ head: HTTPRequestHead) -> LocalAnswer? {
    if let refusal = Self.checkFraming(head.headers) { return refusal }
    if let length = head.headers["content-length"].first.flatMap({ UInt64($0.trimmingCharacters(in: .whitespaces)) }),
      length > UInt64(max(0, maxRequestBody))
    {
      return Self.bodyTooLarge(limit: maxRequestBody)
    }
    let url = "http://\(allowedHosts.sorted().first ?? "127.0.0.1")/mcp"
    guard head.method != .CONNECT else {
      return LocalAnswer(
        .methodNotAllowed, "method_not_allowed", "CONNECT is not accepted: the tunnel is no forward proxy",
        fix: "point the MCP client at \(url), without proxy settings", abort: true)
    }
    guard head.uri.hasPrefix("/") else {
      return LocalAnswer(
        .badRequest, "bad_request_target", "only origin-form request targets (/path) are accepted",
        fix: "point the MCP client at \(url), without proxy settings", close: true)
    }
    let hosts = head.headers["host"]
    guard hosts.count == 1, let host = hosts.first else {
      return LocalAnswer(
        .badRequest, "bad_host", "the request must carry exactly one Host header",
        fix: "send HTTP/1.1 requests to \(url)", close: true)
    }
    guard allowedHosts.contains(host.trimmingCharacters(in: .whitespaces).lowercased()) else {
      return LocalAnswer(
        .forbidden, "forbidden_host",
        "Host is not this tunnel's loopback address (DNS rebinding protection)",
        fix: "connect to \(url)", close: true)
    }
    let origins = head.headers["origin"]
    if !origins.isEmpty {
      guard origins.count == 1, Self.isLoopbackOrigin(origins[0]) else {
        return LocalAnswer(
          .forbidden, "forbidden_origin",
          "Origin is not a loopback origin (DNS rebinding protection)",
          fix: "call the tunnel from a local MCP client, or a page served from localhost", close: true)
      }
    }
    let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
    if let path = path?.lowercased(),
      Self.discoveryPrefixes.contains(where: { path.hasPrefix($0) })
        || path.hasSuffix("/.well-known/openid-configuration")
    {
      return LocalAnswer(
        .notFound, "not_found",
        "mcp-tunnel authorizes requests itself; the MCP client needs no OAuth metadata",
        fix: "point the MCP client at this URL without any authorization settings", countsAsError: false)
    }
    return nil
  }

  /// The `413` for a body over `limit`, declared or grown; the rest of the request is not read.
  static func bodyTooLarge(limit: Int) -> LocalAnswer {
    LocalAnswer(
      .payloadTooLarge, "body_too_large", "the request body is larger than the tunnel accepts (\(limit) bytes)",
      fix: "send a smaller request body", abort: true)
  }

  /// Refuses ambiguous framing (request smuggling): `Content-Length` with `Transfer-Encoding`,
  /// differing or malformed `Content-Length`s, and any transfer coding other than plain `chunked`.
  /// NIO's parser already rejects most of these; this is the second line.
  static func checkFraming(_ headers: HTTPHeaders) -> LocalAnswer? {
    let lengths = headers["content-length"].flatMap { $0.split(separator: ",") }.map {
      $0.trimmingCharacters(in: .whitespaces)
    }
    let codings = headers["transfer-encoding"]
    func refuse(_ message: String) -> LocalAnswer {
      LocalAnswer(
        .badRequest, "bad_framing", message, fix: "send one Content-Length, or Transfer-Encoding: chunked alone",
        abort: true)
    }
    if !lengths.isEmpty && !codings.isEmpty {
      return refuse("a request must not carry both Content-Length and Transfer-Encoding")
    }
    if lengths.contains(where: { $0.isEmpty || !$0.allSatisfy(\.isASCII) || UInt64($0) == nil }) {
      return refuse("malformed Content-Length")
    }
    if Set(lengths.compactMap { UInt64($0) }).count > 1 { return refuse("differing Content-Length values") }
    if !codings.isEmpty {
      let joined = codings.flatMap { $0.split(separator: ",") }.map {
        $0.trimmingCharacters(in: .whitespaces).lowercased()
      }
      if joined != ["chunked"] { return refuse("only Transfer-Encoding: chunked is accepted") }
    }
    return nil
  }

  /// `http(s)://` + a loopback host (`localhost`, `127.x.y.z`, `[::1]`) + optional port, nothing else.
  static func isLoopbackOrigin(_ origin: String) -> Bool {
    let value = origin.trimmingCharacters(in: .whitespaces).lowercased()
    let authority: Substring
    if value.hasPrefix("http://") {
      authority = value.dropFirst(7)
    } else if value.hasPrefix("https://") {
      authority = value.dropFirst(8)
    } else {
      return false
    }
    guard !authority.contains("/"), let address = HostPort(parsing: String(authority), defaultPort: 80) else {
      return false
    }
    return address.isLoopback
  }
}
