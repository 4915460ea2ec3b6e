import Foundation
import NIOHTTP1
import TunnelCore

/// An answer the proxy gives itself, without the upstream: a status and a small JSON body
/// `{"error": code, "message": …, "fix": …}` (`fix` omitted when there is none), or `rawBody`.
struct LocalAnswer: Sendable, Equatable {
  var status: HTTPResponseStatus
  /// Machine-readable reason, the body's `error` member.
  var code: String
  var message: String
  var fix: String?
  /// Close the client connection after answering (refusals that say the client misbehaves).
  var closeConnection: Bool
  /// Close as soon as the answer is written, without reading the rest of the request: its framing
  /// cannot be trusted, or it is over a limit. Implies `closeConnection`.
  var abortRequest: Bool
  /// Counted in `ProxyCounters.errors` (the well-known 404 is an expected answer, not an error).
  var countsAsError: Bool = true
  /// A JSON body of its own instead of `{error, message, fix}` (the step-up answer's JSON-RPC error).
  var rawBody: Data?

  init(
    _ status: HTTPResponseStatus, _ code: String, _ message: String, fix: String? = nil, close: Bool = false,
    abort: Bool = false, countsAsError: Bool = true
  ) {
    self.status = status
    self.code = code
    self.message = message
    self.fix = fix
    self.closeConnection = close || abort
    self.abortRequest = abort
    self.countsAsError = countsAsError
  }

  private struct Body: Encodable {
    var error: String
    var message: String
    var fix: String?
  }

  var body: Data {
    if let rawBody { return rawBody }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? encoder.encode(Body(error: code, message: message, fix: fix))) ?? Data("{}".utf8)
  }

  /// The whole HTTP/1.1 response with `Connection: close`, as bytes: for answers written below
  /// NIO's HTTP codec, when no request head was parsed (a malformed or timed-out head).
  var serializedClosingResponse: [UInt8] {
    let body = self.body
    let head =
      "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: application/json\r\n"
      + "Content-Length: \(body.count)\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    return Array(head.utf8) + Array(body)
  }

  /// The `503` for a token source failure: the error's own summary and fix (SPEC §5).
  static func tokenUnavailable(_ error: any Error) -> LocalAnswer {
    let user = error as? any UserFacingError
    let code: String
    var fix = user?.fix
    switch user?.category {
    case .loginRequired?:
      code = "login_required"
      fix = fix ?? "run: mcp-tunnel login"
    case .accessDenied?: code = "access_denied"
    case .keyringUnavailable?: code = "keyring_unavailable"
    default: code = "token_unavailable"
    }
    let message = user?.summary ?? "no tenant token could be obtained: \(type(of: error))"
    return LocalAnswer(.serviceUnavailable, code, message, fix: fix ?? "check: mcp-tunnel status")
  }
}

// MARK: the answers of the connection handler

extension LocalAnswer {
  /// The answer to a request NIO's parser refused. llhttp reports a `Transfer-Encoding` other than
  /// a final `chunked` (and `Content-Length` before it) only as `.unknown`.
  static func parseRefusal(_ error: HTTPParserError, limits: HTTPTokenProxy.Limits) -> LocalAnswer {
    let why: String
    switch error {
    case .headerOverflow:
      return LocalAnswer(
        .requestHeaderFieldsTooLarge, "request_head_too_large",
        "the request target and header fields are larger than \(limits.requestHead) bytes, "
          + "or there are more than \(limits.headerFields) header fields",
        fix: "send a shorter URL and fewer or smaller header fields", abort: true)
    case .invalidVersion, .paused:
      return LocalAnswer(
        .httpVersionNotSupported, "http_version_not_supported",
        "the request line must end in HTTP/1.1 or HTTP/1.0 and CRLF (HTTP/0.9, HTTP/2 and bare LF line ends "
          + "are not accepted)",
        fix: "configure the MCP client for plain HTTP/1.1 (no HTTP/2 prior knowledge)", abort: true)
    case .invalidContentLength, .unexpectedContentLength, .invalidChunkSize:
      return LocalAnswer(
        .badRequest, "bad_framing",
        error == .invalidChunkSize
          ? "a chunk size of the request body is malformed"
          : "Content-Length is malformed, repeated with another value, or sent with Transfer-Encoding",
        fix: "send one valid Content-Length, or Transfer-Encoding: chunked alone with valid chunks", abort: true)
    case .invalidMethod: why = "the request method is malformed"
    case .invalidURL: why = "the request target is malformed"
    case .invalidHeaderToken, .invalidCharactersUsed:
      why = "a header field holds a forbidden character (CR, LF, NUL, a space before the colon, a folded line)"
    case .lfExpected, .invalidConstant, .strictModeAssertion:
      why = "a line of the request is malformed (CR without LF, or a misspelled constant)"
    default:
      why =
        "the request's framing or header fields are malformed (a Transfer-Encoding other than chunked, "
        + "Transfer-Encoding with Content-Length, chunk data without its CRLF, or a bare LF)"
    }
    return LocalAnswer(
      .badRequest, "bad_request", why,
      fix: "check the MCP client: it must send plain HTTP/1.1 with CRLF line ends and clean header fields",
      abort: true)
  }

  static let tenantSwitched = LocalAnswer(
    .serviceUnavailable, "tenant_switched",
    "the tunnel switched tenants; this connection belonged to the previous tenant and is closed",
    fix: "retry the request: a new connection uses the current tenant", close: true)

  static func upstreamUnavailable(_ error: any Error) -> LocalAnswer {
    let user = error as? any UserFacingError
    return LocalAnswer(
      .badGateway, "ssh_unavailable",
      "cannot reach the MCP server over SSH: \(user?.summary ?? String(describing: type(of: error)))",
      fix: user?.fix ?? "check the SSH path with: mcp-tunnel doctor")
  }

  static let upstreamClosed = LocalAnswer(
    .badGateway, "upstream_closed", "the MCP server closed the connection before answering",
    fix: "retry; if it persists, check the MCP server's logs")

  /// The `503` for an upstream `401` that is not retried: `afterRemint` when the rejected token was
  /// already a fresh one.
  static func tokenRejected(afterRemint: Bool) -> LocalAnswer {
    LocalAnswer(
      .serviceUnavailable, "token_rejected",
      afterRemint
        ? "the MCP server rejected a freshly minted tenant token"
        : "the MCP server refused the tenant token",
      fix: "check the [session] resource/audience settings for this server, or run: mcp-tunnel login")
  }

  /// The `503` when a fresh token was minted after a `401`, but the request cannot be replayed.
  static let tokenRejectedBodyTooLarge = LocalAnswer(
    .serviceUnavailable, "token_rejected",
    "the MCP server rejected the tenant token; a fresh one was minted, but this request's body "
      + "is too large to replay",
    fix: "retry the request")

  /// The `408` when a request head did not arrive in full within `waited`.
  static func headTimeout(_ waited: Duration) -> LocalAnswer {
    LocalAnswer(
      .requestTimeout, "request_timeout",
      "the request head did not arrive in full within \(describe(waited))",
      fix: "send the whole request head at once; check the MCP client", abort: true)
  }

  /// The `408` when the request body paused for `waited`.
  static func bodyTimeout(_ waited: Duration) -> LocalAnswer {
    LocalAnswer(
      .requestTimeout, "request_timeout", "the request body stopped arriving: nothing for \(describe(waited))",
      fix: "send the whole request body without pausing; check the MCP client", abort: true)
  }

  /// `10 s`, or `500 ms` below a second.
  static func describe(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    if seconds >= 1 || attoseconds == 0 { return "\(seconds) s" }
    return "\(attoseconds / 1_000_000_000_000_000) ms"
  }

  /// The answer's response head: JSON, no caching, `Connection: close` when `closing`; HTTP/1.0 to
  /// an HTTP/1.0 request.
  func responseHead(requestVersion: HTTPVersion, closing: Bool) -> HTTPResponseHead {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "application/json")
    headers.add(name: "Content-Length", value: "\(body.count)")
    headers.add(name: "Cache-Control", value: "no-store")
    if closing { headers.add(name: "Connection", value: "close") }
    let version: HTTPVersion = requestVersion == .http1_0 ? .http1_0 : .http1_1
    return HTTPResponseHead(version: version, status: status, headers: headers)
  }
}
