import Foundation
import NIOHTTP1
import TunnelCore

/// Rewrites heads crossing the proxy: the client's request gets the tenant token and loses every
/// credential of its own (USE-01/02); responses lose hop-by-hop fields and every authentication
/// challenge (USE-06). Everything else, MCP headers included (USE-07), passes unchanged.
enum AuthorizationRewriter {
  /// Credentials a local client may send; never forwarded (USE-02).
  static let clientCredentialFields: Set<String> = ["authorization", "proxy-authorization", "cookie", "dpop"]

  /// Hop-by-hop fields (RFC 9110 §7.6.1), plus `Trailer`: this proxy re-frames every message.
  static let hopByHopFields: Set<String> = [
    "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "trailer",
  ]

  /// The internal field `mcp-tunnel stdio` puts on each request it sends to the proxy, naming the
  /// path the call came by for the audit log. Never forwarded upstream.
  static let viaField = "mcp-tunnel-via"
  /// The values of `MCP-Tunnel-Via` the audit log records; any other is dropped unrecorded.
  static let knownVias: Set<String> = ["stdio"]

  /// `via` for the request's record: `"stdio"` when the request carries exactly one
  /// `MCP-Tunnel-Via: stdio`, else nil. A label, not an authentication (any local client may send it).
  static func via(_ headers: HTTPHeaders) -> String? {
    let values = headers[viaField]
    guard values.count == 1, let value = values.first?.trimmingCharacters(in: .whitespaces),
      knownVias.contains(value)
    else { return nil }
    return value
  }

  /// Challenges from the upstream; relaying them would make an OAuth-capable client start its own
  /// flow against the MCP server's authorization server (USE-06).
  static let challengeFields: Set<String> = ["www-authenticate", "proxy-authenticate"]

  /// The names a `Connection` field nominates as hop-by-hop, lower-cased.
  static func nominatedByConnection(_ headers: HTTPHeaders) -> Set<String> {
    Set(
      headers["connection"].flatMap { $0.split(separator: ",") }.map {
        $0.trimmingCharacters(in: .whitespaces).lowercased()
      }.filter { !$0.isEmpty })
  }

  /// The head sent upstream: HTTP/1.1, `Host` set to what the MCP server expects (the SSH
  /// target's `host:port`), `Authorization: Bearer <token>`, `Transfer-Encoding: chunked` when the
  /// client's body had no length. `Expect` is dropped: the proxy answers `100-continue` itself, and
  /// so is the internal `MCP-Tunnel-Via`.
  static func upstreamRequestHead(
    from client: HTTPRequestHead, token: AccessToken, upstreamHost: String, chunkedBody: Bool
  ) -> HTTPRequestHead {
    let dropped =
      clientCredentialFields.union(hopByHopFields).union(nominatedByConnection(client.headers))
      .union(["host", "expect", viaField])
    var headers = HTTPHeaders()
    headers.add(name: "Host", value: upstreamHost)
    for (name, value) in client.headers where !dropped.contains(name.lowercased()) {
      headers.add(name: name, value: value)
    }
    headers.add(name: "Authorization", value: "Bearer \(token.revealedForTransmission)")
    if chunkedBody { headers.add(name: "Transfer-Encoding", value: "chunked") }
    return HTTPRequestHead(version: .http1_1, method: client.method, uri: client.uri, headers: headers)
  }

  /// The head relayed to the client, without hop-by-hop fields and challenges; `Connection: close`
  /// when the proxy will close the client connection after this response. An HTTP/1.0 client gets
  /// an HTTP/1.0 head (no chunked coding; the body then ends with the connection).
  static func clientResponseHead(
    from upstream: HTTPResponseHead, clientVersion: HTTPVersion, closing: Bool
  ) -> HTTPResponseHead {
    let dropped = hopByHopFields.union(challengeFields).union(nominatedByConnection(upstream.headers))
    var headers = HTTPHeaders()
    for (name, value) in upstream.headers where !dropped.contains(name.lowercased()) {
      headers.add(name: name, value: value)
    }
    if closing { headers.add(name: "Connection", value: "close") }
    let version: HTTPVersion = clientVersion == .http1_0 ? .http1_0 : .http1_1
    return HTTPResponseHead(version: version, status: upstream.status, headers: headers)
  }
}
